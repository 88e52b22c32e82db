/**
 * ⑦ The engine's decisions on one client request, the same in both homes: lists merged and
 * filtered by policy, calls routed by name with policy admission, tool rate limits,
 * quarantine, audit and redaction. What differs between the homes (where the catalog and
 * upstream sessions live, who the tenant's authority is, how background work is kept alive)
 * comes in through the EngineHost (host.ts).
 */
import { mergeCapabilities, mergeInstructions } from "../broker/merge.ts";
import { filterMessage } from "../broker/filter.ts";
import { queueAudit, type AuditEvent } from "../audit/audit.ts";
import { checkCallLimits } from "../limits/rate.ts";
import type { Decision, PolicyItem } from "../policy/engine.ts";
import { traceIdOf } from "../observe/trace.ts";
import { redact } from "../policy/redact.ts";
import { GatewayError } from "../protocol/errors.ts";
import { GATEWAY_INFO } from "../protocol/identity.ts";
import { asRecord, isResponse, result, type JsonRpcMessage, type JsonRpcRequest } from "../protocol/jsonrpc.ts";
import { META, MODERN_VERSION, paramHeaders } from "../protocol/modern.ts";
import { SUPPORTED_VERSIONS } from "../protocol/versions.ts";
import type { BackendConfig, TenantConfig } from "../tenant/schema.ts";
import { credentialMode } from "../upstream/credentials.ts";
import { decideCall } from "./access.ts";
import type { Backends } from "./backends.ts";
import type { Catalog } from "./catalog.ts";
import { bounded, fanOut, maxTimeout } from "./fanout.ts";
import type { CallContext, Relay } from "./relay.ts";
import { local, rateLimitedAnswer, toClientError, type Produced, type Routed } from "./answers.ts";
import { gateCall, type ApprovalNote, type Confirmation } from "./approvals.ts";
import { connectFirst } from "./consent.ts";
import type { EngineHost } from "./host.ts";
import { answerList, searchCall } from "./search.ts";

/** Methods whose results carry backend content, so redaction applies to them. */
const CONTENT_METHODS = new Set(["tools/call", "resources/read", "prompts/get"]);
/** Outcomes of calls that reached their backend. */
const LEFT_OUTCOMES = new Set<AuditEvent["outcome"]>(["ok", "error", "timeout", "cancelled"]);
/** Methods that leave an audit row: every call, read and get, allowed or denied. */
const AUDITED_METHODS = new Set(["tools/call", "resources/read", "prompts/get"]);

export type { Produced, Routed } from "./answers.ts";

/** The engine parts a handler works with (host.ts createEngine wires them). */
export interface HandlerParts {
  catalog: Catalog;
  backends: Backends;
  relay: Relay;
}

export class Handler {
  readonly #host: EngineHost;
  readonly #catalog: Catalog;
  readonly #backends: Backends;
  readonly #relay: Relay;
  /** The approval behind a gated call, for its audit row, and the caller's yes it may wait for (engine/approvals.ts). */
  readonly #approvals = new WeakMap<JsonRpcRequest, { note: ApprovalNote; confirm?: Confirmation | undefined }>();

  constructor(host: EngineHost, parts: HandlerParts) {
    this.#host = host;
    this.#catalog = parts.catalog;
    this.#backends = parts.backends;
    this.#relay = parts.relay;
  }

  /**
   * Bounds the gateway's own work on a request (lists, name resolution); a routed call is bounded
   * by its backend's timeout in the relay instead. A call or get needs no deadline of its own:
   * resolving its name is a lookup, and the lists it may fetch first are bounded per backend
   * (fanout.ts, Catalog.ensureTools), so the common case sets no timer (issue 13).
   */
  request(request: JsonRpcRequest, config: TenantConfig, stream: string, limitsDeferred = false): Promise<Produced> {
    if (request.method === "tools/call" || request.method === "prompts/get") return this.dispatch(request, config, stream, new AbortController().signal, limitsDeferred);
    return bounded(maxTimeout(config), (signal) => this.dispatch(request, config, stream, signal, limitsDeferred));
  }

  /**
   * `limitsDeferred`: the Worker left this request's principal rate limits to the engine (a lone
   * `tools/call`, limits/rate.ts checkCallLimits); they are counted exactly once, whatever the answer.
   */
  async dispatch(request: JsonRpcRequest, config: TenantConfig, stream: string, signal: AbortSignal, limitsDeferred = false): Promise<Produced> {
    if (limitsDeferred && request.method === "tools/call") return this.#limitedCall(request, config, stream, signal);
    return this.#dispatch(request, config, stream, signal, null);
  }

  async #dispatch(given: JsonRpcRequest, config: TenantConfig, stream: string, signal: AbortSignal, deferred: DeferredLimits | null): Promise<Produced> {
    // Search mode (search.ts): search_tools is answered there, call_tool becomes the call it names.
    const request = await searchCall(this.#host, this.#catalog, given, config, signal).catch((error: unknown) => local(toClientError(given.id, error)));
    if (!("method" in request)) return request;
    const params = request.params ?? {};
    try {
      switch (request.method) {
        case "tools/list":
        case "prompts/list":
        case "resources/list":
        case "resources/templates/list":
          return await answerList(this.#host, this.#catalog, request, config, signal);
        case "tools/call":
        case "prompts/get": {
          const name = params.name;
          if (typeof name !== "string") return local(new GatewayError("invalid_params", { publicMessage: "Invalid params: name must be a string" }).toRpc(request.id));
          // The schema makes arguments an object: anything else is refused here, not forwarded (policy would see {}).
          if (params.arguments !== undefined && asRecord(params.arguments) !== params.arguments) {
            return local(new GatewayError("invalid_params", { publicMessage: "Invalid params: arguments must be an object" }).toRpc(request.id));
          }
          const tool = request.method === "tools/call";
          // Unknown, denied and quarantined items all get this same answer, so a hidden item is
          // indistinguishable from one that does not exist (2025-11-25 server/tools "Error Handling").
          const unknown = () =>
            local(new GatewayError(tool ? "unknown_tool" : "invalid_params", { publicMessage: tool ? `Unknown tool: ${name}` : `Unknown prompt: ${name}` }).toRpc(request.id));
          const entry = await this.#catalog.resolve(tool ? "tools" : "prompts", name, config, signal);
          if (!entry) return (tool && (await connectFirst(this.#backends, request, name, config, signal))) || unknown();
          const item: PolicyItem = { kind: tool ? "tool" : "prompt", backend: entry.backend, name: entry.original };
          // Quarantine decides on the definition as it is now, even when the client did not list again.
          if (tool && config.policy.pinning === "quarantine") {
            await this.#catalog.ensureTools(backendOf(config, entry.backend), signal);
            // A session whose list is cached may not have heard of a change another session saw:
            // the tenant's pin store is the authority on whether this definition was approved.
            const stored = await this.#host.tenant()?.status(entry.backend, entry.original);
            if (stored) this.#catalog.notePin(entry.backend, entry.original, stored);
          }
          const args = asRecord(params.arguments);
          const refused = await this.#admit(request, item, args, config, tool ? name : null, deferred);
          if (refused === "hidden") return unknown();
          if (refused) return refused;
          return this.#route(request, backendOf(config, entry.backend), { ...params, name: entry.original }, stream, { request, item, args });
        }
        case "resources/read":
        case "resources/subscribe":
        case "resources/unsubscribe": {
          const uri = params.uri;
          if (typeof uri !== "string") return local(new GatewayError("invalid_params", { publicMessage: "Invalid params: uri must be a string" }).toRpc(request.id));
          const notFound = () => local(new GatewayError("resource_not_found", { data: { uri } }).toRpc(request.id));
          const found = await this.#catalog.resolveUri(uri, config, signal);
          if (!found) return notFound();
          const { backend: owner, original } = found;
          const item: PolicyItem = { kind: "resource", backend: owner, name: original };
          const refused = await this.#admit(request, item, {}, config, null);
          if (refused === "hidden") return notFound();
          if (refused) return refused;
          if (request.method !== "resources/read") {
            // 2026-07-28 removed resources/subscribe (changelog; basic/patterns/subscriptions): for a
            // modern owner the gateway keeps the subscription itself and asks for the URI's updates
            // on the owner's subscriptions/listen stream, re-opened when it is already open.
            const backend = backendOf(config, owner);
            const upstream = await this.#backends.get(backend, signal);
            if (upstream.info?.protocolVersion === MODERN_VERSION) {
              if (this.#backends.subscribeResource(owner, original, request.method === "resources/subscribe")) this.#host.resubscribe?.(backend);
              return local(result(request.id, {}));
            }
          }
          return this.#route(request, backendOf(config, owner), { ...params, uri: original }, stream, { request, item, args: {} });
        }
        case "completion/complete":
          return await this.#completion(request, config, stream, signal);
        default:
          return local(new GatewayError("method_not_found", { publicMessage: `Method not found: ${request.method}` }).toRpc(request.id));
      }
    } catch (error) {
      return local(toClientError(request.id, error));
    }
  }

  /** `server/discover` answered for the merged backends (2026-07-28 server/discover). */
  async discover(config: TenantConfig): Promise<Record<string, unknown>> {
    const backends = this.#backends;
    await bounded(maxTimeout(config), (signal) => fanOut(config.backends, signal, (backend, s) => backends.get(backend, s)));
    const infos = backends.infos(config);
    const discovered: Record<string, unknown> = {
      supportedVersions: SUPPORTED_VERSIONS,
      capabilities: mergeCapabilities(infos.map((i) => i.capabilities)),
      _meta: { [META.serverInfo]: GATEWAY_INFO },
    };
    const instructions = mergeInstructions(infos);
    if (instructions !== undefined) discovered.instructions = instructions;
    return discovered;
  }

  /**
   * 2026-07-28 streamable-http "Server Validation": a tools/call's Mcp-Param-* headers must match
   * the arguments its tool's `x-mcp-header` annotations name, after decoding.
   */
  async checkParamHeaders(request: JsonRpcRequest, given: Record<string, string>, config: TenantConfig): Promise<GatewayError | null> {
    const name = request.params?.name;
    if (typeof name !== "string") return null;
    // A lookup; a list it may need first is bounded per backend (fanout.ts), so no timer here.
    const definition = await this.#catalog.definition(name, config, new AbortController().signal);
    if (!definition) return null;
    const expected = paramHeaders(definition.inputSchema, asRecord(request.params?.arguments));
    for (const [header, value] of Object.entries(expected)) {
      if (given[header] === undefined) return new GatewayError("header_mismatch", { publicMessage: `Header mismatch: ${header} is required` });
      const numeric = Number(value);
      const same = given[header] === value || (Number.isFinite(numeric) && Number(given[header]) === numeric);
      if (!same) return new GatewayError("header_mismatch", { publicMessage: `Header mismatch: ${header} does not match the body` });
    }
    return null;
  }

  /**
   * The resources of a 2026-07-28 `subscriptions/listen` the principal may follow, by owning
   * backend: a URI no backend serves, or one policy hides, is left out (and so left out of the
   * acknowledgement: 2026-07-28 basic/patterns/subscriptions "Acknowledgment").
   */
  async resourceOwners(uris: readonly string[], config: TenantConfig): Promise<Map<string, { backend: string; original: string }>> {
    const owners = new Map<string, { backend: string; original: string }>();
    if (uris.length === 0) return owners;
    await bounded(maxTimeout(config), async (signal) => {
      for (const uri of uris) {
        const owner = await this.#catalog.resolveUri(uri, config, signal);
        if (!owner) continue;
        const item: PolicyItem = { kind: "resource", backend: owner.backend, name: owner.original };
        if (decideCall(config, this.#host.caller().principal, this.#catalog, item, {}).effect === "allow") owners.set(uri, owner);
      }
    });
    return owners;
  }

  /** Whether a running call is still allowed under the newest config. */
  stillAllowed(about: Routed): boolean {
    const config = this.#host.config();
    if (!config) return true;
    return decideCall(config, this.#host.caller().principal, this.#catalog, about.item, about.args).effect === "allow";
  }

  /** A message on its way to the client: adapted to its revision, content methods redacted. */
  toClient(message: JsonRpcMessage, method: string | undefined, clientVersion: string): JsonRpcMessage | null {
    const filtered = filterMessage(message, { direction: "to-client", peerVersion: clientVersion, ...(method ? { method } : {}) });
    const config = this.#host.config();
    if (filtered && "result" in filtered && method !== undefined && CONTENT_METHODS.has(method) && config) {
      return { ...filtered, result: redact(config.policy, filtered.result) };
    }
    return filtered;
  }

  /**
   * A tools/call whose principal limits the Worker deferred: decided as any call, with the
   * principal's limits counted in the same hit as the tool's when it may leave, and alone when
   * it is answered here (unknown, denied, bad params), so every call counts once either way.
   * Over a principal limit, the answer is the 429 the Worker would have given.
   */
  async #limitedCall(request: JsonRpcRequest, config: TenantConfig, stream: string, signal: AbortSignal): Promise<Produced> {
    const deferred: DeferredLimits = { counted: false };
    const produced = await this.#dispatch(request, config, stream, signal, deferred);
    if (deferred.counted) return produced;
    const limited = await checkCallLimits(this.#host.env.LIMITERS, config, this.#host.caller().principal.sub, null, true);
    return limited.ok ? produced : rateLimitedAnswer(request.id, limited);
  }

  /**
   * Decides whether a request may leave for its backend: policy, then tool rate limits. Returns
   * null to go ahead, "hidden" when the client must see the item as nonexistent, or a refusal.
   */
  async #admit(request: JsonRpcRequest, item: PolicyItem, args: Record<string, unknown>, config: TenantConfig, tool: string | null, deferred: DeferredLimits | null = null): Promise<Produced | "hidden" | null> {
    const principal = this.#host.caller().principal;
    const decision = decideCall(config, principal, this.#catalog, item, args);
    if (decision.effect !== "allow") {
      this.#audit(request, item, decision, "denied", args);
      if (decision.effect === "deny") return "hidden";
      const refusal = new GatewayError("insufficient_scope", {
        headers: { "www-authenticate": `Bearer error="insufficient_scope", scope="${decision.scopes.join(" ")}", resource_metadata="${this.#host.caller().resourceMetadataUrl}"` },
        detail: `rule ${decision.rule}`,
      });
      return { routed: false, messages: [refusal.toRpc(request.id)], refusal };
    }
    if (decision.approval && item.kind === "tool") {
      const gate = await gateCall(this.#host, config, request, item, args, decision.approval);
      if (gate.note) this.#approvals.set(request, { note: gate.note, confirm: gate.go ? gate.confirm : undefined });
      if (!gate.go) {
        this.#audit(request, item, decision, gate.outcome, args);
        return gate.produced;
      }
    }
    if (tool !== null) {
      // One hit for the tool's limits and, when the Worker deferred them, the principal's own.
      const limited = await checkCallLimits(this.#host.env.LIMITERS, config, principal.sub, tool, deferred !== null);
      if (deferred) deferred.counted = true;
      if (!limited.ok) {
        this.#audit(request, item, decision, "rate_limited", args);
        return rateLimitedAnswer(request.id, limited);
      }
    }
    return null;
  }

  async #completion(request: JsonRpcRequest, config: TenantConfig, stream: string, signal: AbortSignal): Promise<Produced> {
    const params = request.params ?? {};
    const ref = asRecord(params.ref);
    const catalog = this.#catalog;
    const principal = this.#host.caller().principal;
    if (ref.type === "ref/prompt" && typeof ref.name === "string") {
      const unknown = () => local(new GatewayError("invalid_params", { publicMessage: `Unknown prompt: ${ref.name}` }).toRpc(request.id));
      const entry = await catalog.resolve("prompts", ref.name, config, signal);
      if (!entry) return unknown();
      const item: PolicyItem = { kind: "prompt", backend: entry.backend, name: entry.original };
      if (decideCall(config, principal, catalog, item, {}).effect === "deny") return unknown();
      return this.#route(request, backendOf(config, entry.backend), { ...params, ref: { ...ref, name: entry.original } }, stream, { request, item, args: {} });
    }
    if (ref.type === "ref/resource" && typeof ref.uri === "string") {
      const notFound = () => local(new GatewayError("resource_not_found", { data: { uri: ref.uri } }).toRpc(request.id));
      const owner = await catalog.resolveUri(ref.uri, config, signal);
      if (!owner) return notFound();
      const item: PolicyItem = { kind: "resource", backend: owner.backend, name: owner.original };
      if (decideCall(config, principal, catalog, item, {}).effect === "deny") return notFound();
      return this.#route(request, backendOf(config, owner.backend), { ...params, ref: { ...ref, uri: owner.original } }, stream, { request, item, args: {} });
    }
    return local(new GatewayError("invalid_params", { publicMessage: "Invalid params: ref" }).toRpc(request.id));
  }

  #route(request: JsonRpcRequest, backend: BackendConfig, params: Record<string, unknown>, stream: string, about: Routed): Produced {
    const caller = this.#host.caller();
    const context: CallContext = { tenant: this.#host.config()!.id, principal: caller.principal.sub, traceparent: caller.traceparent, confirm: this.#approvals.get(request)?.confirm };
    const messages = this.#relay.call(request, backend, params, stream, context);
    return { routed: true, messages: AUDITED_METHODS.has(request.method) ? this.#audited(messages, about) : messages, about };
  }

  /** Passes a call's messages through, writing its audit row when the response has gone by. */
  async *#audited(messages: AsyncIterable<JsonRpcMessage>, about: Routed): AsyncIterable<JsonRpcMessage> {
    const started = Date.now();
    let outcome: AuditEvent["outcome"] = "cancelled";
    let resultBody: unknown;
    try {
      for await (const message of messages) {
        if (isResponse(message) && message.id === about.request.id) {
          outcome = "error" in message ? (message.error.message === "Backend timed out" ? "timeout" : "error") : "ok";
          if ("result" in message) resultBody = message.result;
        }
        yield message;
      }
    } finally {
      // A call that waited for its caller's yes and did not get it never left (engine/approvals.ts confirmFirst).
      const note = this.#approvals.get(about.request)?.note;
      if (note && note.state !== "approved") outcome = note.state === "denied" ? "denied" : "approval_required";
      this.#audit(about.request, about.item, { effect: "allow", rule: null }, outcome, about.args, Date.now() - started, resultBody);
    }
  }

  #audit(
    request: JsonRpcRequest,
    item: PolicyItem,
    decision: Decision,
    outcome: AuditEvent["outcome"],
    args: Record<string, unknown>,
    latencyMs?: number,
    resultBody?: unknown,
  ): void {
    const config = this.#host.config();
    if (!config) return;
    const detail: Record<string, unknown> = { rule: decision.rule, traceparent: this.#host.caller().traceparent };
    const approval = this.#approvals.get(request)?.note;
    if (approval) detail.approval = approval;
    if (config.policy.audit.arguments) detail.arguments = redact(config.policy, args);
    if (config.policy.audit.results && resultBody !== undefined) detail.result = redact(config.policy, resultBody);
    const caller = this.#host.caller();
    const backend = item.backend === undefined ? undefined : config.backends.find((b) => b.name === item.backend);
    const event: AuditEvent = {
      at: Date.now(),
      tenant: config.id,
      principal: caller.principal.sub,
      agent: caller.principal.agent,
      actor: caller.principal.actor,
      clientName: this.#host.client().name,
      // Only a call that went to its backend used a credential there.
      credential: backend && LEFT_OUTCOMES.has(outcome) ? credentialMode(backend) : undefined,
      traceId: traceIdOf(caller.traceparent),
      sessionId: this.#host.sessionId,
      requestId: String(request.id),
      method: request.method,
      backend: item.backend,
      item: item.name,
      decision: decision.effect === "allow" ? "allow" : "deny",
      policyVersion: config.version,
      latencyMs,
      outcome,
      detail,
    };
    queueAudit(this.#host.env.AUDIT, this.#host.waitUntil, event, config.policy.audit.export ? this.#host.env.AUDIT_EXPORT : undefined);
    this.#host.observer.call(event);
  }
}

/** A tools/call whose principal limits the Worker deferred: whether they were counted yet. */
interface DeferredLimits {
  counted: boolean;
}

export function backendOf(config: TenantConfig, name: string): BackendConfig {
  const backend = config.backends.find((b) => b.name === name);
  if (!backend) throw new GatewayError("backend_unavailable", { detail: `backend ${name} is not configured` });
  return backend;
}
