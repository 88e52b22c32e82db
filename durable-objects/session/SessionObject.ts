/**
 * The session Durable Object: one per client session of the legacy (2025-era) protocol.
 *
 * Storage layout: see storage.ts. Lifecycle: created by `initialize`, touched by every request,
 * expired by alarm after the tenant's idle time (closing its upstream sessions), ended by DELETE.
 * Public surface: four RPC methods, one per client-facing HTTP exchange, each returning the
 * HTTP response to send; nothing else is callable.
 *
 * Policy: every list is filtered and every call decided here (access.ts), against the newest
 * tenant config the session has seen. While streams are open the session asks the tenant's
 * object for the current version every POLICY_CHECK_INTERVAL_MS, so a revoked tool stops
 * streaming within seconds even when the client sends nothing.
 *
 * Trade-offs: backend lists are cached in memory only (an idle session stays a few KiB; an
 * eviction costs one re-list); SSE events are written to storage before they are sent (a resume
 * never loses one; each event costs a row write).
 */
import { DurableObject } from "cloudflare:workers";
import { LIST_KIND_BY_METHOD, mergeCapabilities, mergeInstructions } from "../../worker/broker/merge.ts";
import { filterMessage } from "../../worker/broker/filter.ts";
import { recordAudit, type AuditEvent } from "../../worker/audit/audit.ts";
import type { Principal } from "../../worker/env.ts";
import { checkToolLimits } from "../../worker/limits/rate.ts";
import type { Decision, PolicyItem } from "../../worker/policy/engine.ts";
import { redact } from "../../worker/policy/redact.ts";
import { GatewayError } from "../../worker/protocol/errors.ts";
import { GATEWAY_INFO } from "../../worker/protocol/identity.ts";
import {
  isNotification,
  isRequest,
  isResponse,
  notification,
  result,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
} from "../../worker/protocol/jsonrpc.ts";
import { SSE_HEADERS } from "../../worker/protocol/sse.ts";
import { MODERN_VERSION } from "../../worker/protocol/modern.ts";
import { KEEPALIVE_INTERVAL_MS } from "./outbox.ts";
import { allowsBatches, atLeast, negotiateVersion } from "../../worker/protocol/versions.ts";
import type { BackendConfig, TenantConfig } from "../../worker/tenant/schema.ts";
import type { RateLimiter } from "../ratelimit/RateLimiter.ts";
import type { TenantObject } from "../tenant/TenantObject.ts";
import { decideCall, visibility } from "./access.ts";
import { Backends } from "./backends.ts";
import { OutboundCredentials } from "../../worker/upstream/credentials.ts";
import { Catalog } from "./catalog.ts";
import { fanOut, failureReason, bounded } from "./fanout.ts";
import { Outbox, parseEventId } from "./outbox.ts";
import { Relay, toClientError, type CallContext } from "./relay.ts";
import type { Caller, InitializeInput, ListenInput, ModernInput, PostInput } from "./rpc.ts";
import { honoured, listenFilter, modernResponse, tagged, wanted, withoutModernMeta, type ListenFilter } from "./modern.ts";
import { REQUEST_STATE_TTL_MS, StateSealer } from "../../worker/broker/sealed.ts";
import { SUPPORTED_VERSIONS } from "../../worker/ingress/modern.ts";
import { encodeComment, encodeEvent } from "../../worker/protocol/sse.ts";
import { META, paramHeaders } from "../../worker/protocol/modern.ts";
import { SessionStorage, type SessionMeta } from "./storage.ts";
import { SessionObserver } from "../../worker/observe/session.ts";
import { logger } from "../../worker/observe/log.ts";

/**
 * How long a POST with one routed request waits for the backend's first message before it opens
 * an SSE stream: a response that comes first within it is answered as JSON (`#single`).
 */
export const SINGLE_REPLY_WAIT_MS = 1_000;
/** How long a reply stream whose client went away keeps its backend call alive for a resume. */
export const RESUME_GRACE_MS = 60_000;
/** How often a session with open streams checks the tenant's config version (issue 4: "within seconds"). */
export const POLICY_CHECK_INTERVAL_MS = 2_000;
/**
 * lastSeenAt is written at most this often (a quarter of the idle time when that is shorter):
 * the idle expiry does not need finer time. The alarm adds the same slack, so a session is never
 * expired while its last request is younger than the idle time.
 */
const TOUCH_INTERVAL_MS = 5_000;
/** Log levels in order (2025-11-25 server/utilities/logging, RFC 5424). */
const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
/** Methods whose results carry backend content, so redaction applies to them. */
const CONTENT_METHODS = new Set(["tools/call", "resources/read", "prompts/get"]);
/** Methods that leave an audit row (issue 4: every call, read, get and denial). */
const AUDITED_METHODS = new Set(["tools/call", "resources/read", "prompts/get"]);

/** A request routed to a backend: what it is about, so it can be re-decided when policy changes. */
interface Routed {
  request: JsonRpcRequest;
  item: PolicyItem;
  args: Record<string, unknown>;
}

type Produced =
  | { routed: false; messages: JsonRpcMessage[]; refusal?: GatewayError }
  | { routed: true; messages: AsyncIterable<JsonRpcMessage>; about: Routed };

export class SessionObject extends DurableObject<Record<string, unknown>> {
  readonly #storage: SessionStorage;
  readonly #backends: Backends;
  readonly #catalog: Catalog;
  readonly #relay: Relay;
  /** Metrics and log lines of calls, refusals and streams (worker/observe/session.ts). */
  readonly #observer: SessionObserver;
  #meta: SessionMeta | null;
  /** The newest tenant config seen (from a request or the tenant object), and who is calling. */
  #config: TenantConfig | null = null;
  #principal: Principal | null = null;
  #caller: Caller | null = null;
  readonly #outboxes = new Map<string, Outbox>();
  #standalone: Outbox | null = null;
  #listeners: AbortController | null = null;
  #policyWatch: ReturnType<typeof setInterval> | null = null;
  /** Modern-era calls waiting for the client's retry with input, by park id (see worker/broker/sealed.ts). */
  readonly #parked = new Map<string, { iterator: AsyncIterator<JsonRpcMessage>; method: string; timer: ReturnType<typeof setTimeout> }>();
  readonly #sealer = new StateSealer();
  /** Open `subscriptions/listen` streams of modern clients. */
  readonly #subscribers = new Set<{ filter: ListenFilter; id: string | number; push: (message: JsonRpcMessage) => void }>();

  constructor(ctx: DurableObjectState, env: Record<string, unknown>) {
    super(ctx, env);
    this.#storage = new SessionStorage(ctx.storage);
    // Outbound credentials per backend (OAuth client credentials, RFC 8693 exchange of the
    // current caller's token); tokens are cached in memory by the credentials module.
    const credentials = new OutboundCredentials(env);
    this.#backends = new Backends(this.#storage, env, (backend, signal) => credentials.headers(backend, this.#caller?.subjectToken ?? null, signal));
    const nextId = () => this.#storage.nextCounter();
    this.#observer = new SessionObserver(env, (promise) => ctx.waitUntil(promise), ctx.id.toString());
    this.#catalog = new Catalog(this.#storage, this.#backends, nextId, (tools) => this.#tenantObject()!.pin(tools));
    this.#relay = new Relay({
      storage: this.#storage,
      backends: this.#backends,
      catalog: this.#catalog,
      nextId,
      clientCapabilities: () => this.#meta?.clientCapabilities ?? {},
      clientIsModern: () => this.#meta?.clientVersion === MODERN_VERSION,
      now: () => Date.now(),
      observer: this.#observer,
    });
    this.#meta = this.#storage.readMeta();
  }

  // --- RPC surface ------------------------------------------------------------------------

  /** `initialize` (2025-11-25 basic/lifecycle): negotiate, initialize every backend, merge. */
  async initialize(input: InitializeInput): Promise<Response> {
    const { config, request } = input;
    if (this.#meta) return new GatewayError("invalid_request", { detail: "session id reused" }).toResponse(request.id);
    const params = request.params ?? {};
    const now = Date.now();
    const meta: SessionMeta = {
      tenant: config.id,
      principal: input.principal.sub,
      clientVersion: negotiateVersion(params.protocolVersion),
      clientCapabilities: asRecord(params.capabilities),
      clientInfo: asRecord(params.clientInfo),
      createdAt: now,
      lastSeenAt: now,
      idleMs: config.limits.sessionIdleMs,
    };
    this.#adopt(input);
    this.#backends.restore(config, meta.clientCapabilities);
    const settled = await bounded(maxTimeout(config), (signal) => fanOut(config.backends, signal, (backend, s) => this.#backends.get(backend, s)));
    for (const failure of settled.failed) {
      logger.warn("backend_initialize_failed", { tenant: config.id, backend: failure.backend, reason: failureReason(failure.error), detail: String(failure.error) });
    }
    const refuse = settled.failed.length > 0 && (config.failureMode === "closed" || settled.ok.length === 0);
    if (refuse) {
      await bounded(5_000, (signal) => this.#backends.terminateAll(signal));
      await this.ctx.storage.deleteAll();
      const kind = config.failureMode === "closed" && settled.ok.length > 0 ? "backend_unavailable" : "all_backends_failed";
      return json(new GatewayError(kind).toRpc(request.id));
    }
    this.#meta = meta;
    this.#storage.writeMeta(meta);
    await this.ctx.storage.setAlarm(now + meta.idleMs);
    const infos = this.#backends.infos(config);
    const initializeResult: Record<string, unknown> = {
      protocolVersion: meta.clientVersion,
      capabilities: mergeCapabilities(infos.map((i) => i.capabilities)),
      serverInfo: GATEWAY_INFO,
    };
    const instructions = mergeInstructions(infos);
    if (instructions !== undefined) initializeResult.instructions = instructions;
    return json(result(request.id, initializeResult), { "mcp-session-id": input.sessionId });
  }

  /** A POST inside the session: requests, notifications and responses from the client. */
  async post(input: PostInput): Promise<Response> {
    const meta = this.#authorize(input);
    if (meta instanceof Response) return meta;
    const config = this.#config!;
    if (input.batch && !allowsBatches(meta.clientVersion)) {
      return new GatewayError("batch_not_supported").toResponse();
    }
    // Client responses and notifications first: they may unblock a call this POST is about.
    for (const message of input.messages) {
      if (isResponse(message)) {
        const delivered = await this.#relay.answer(message, config.backends).catch(() => false);
        if (!delivered && !input.batch) return new GatewayError("invalid_request", { publicMessage: "Invalid Request: no such pending request" }).toResponse(message.id ?? null);
      } else if (isNotification(message)) {
        await this.#notification(message, config);
      }
    }
    const requests = input.messages.filter(isRequest);
    // 2025-11-25 basic/transports, "Sending Messages" 4: notifications and responses get 202.
    if (requests.length === 0) return new Response(null, { status: 202 });

    const produced: Produced[] = [];
    const stream = `p${this.#storage.nextCounter()}`;
    for (const request of requests) produced.push(await this.#request(request, config, stream));
    // A refusal the HTTP layer can express (403 insufficient_scope, 429) is answered as such
    // when the POST carried just that one request.
    const only = produced[0];
    if (requests.length === 1 && only && !only.routed && only.refusal) return only.refusal.toResponse(requests[0]!.id);
    const routed = produced.some((p) => p.routed);
    const local = produced.flatMap((p) => (p.routed ? [] : p.messages));
    const hasNotes = local.some((m) => !isResponse(m));

    if (input.acceptsSse && (routed || hasNotes)) {
      if (requests.length === 1 && produced[0]!.routed) {
        const single = await this.#single(produced[0]!, requests[0]!, meta, input.batch);
        if (single instanceof Response) return single;
        produced[0] = single;
      }
      return this.#sse(stream, produced, requests, meta);
    }
    const responses: JsonRpcMessage[] = [];
    for (const [i, p] of produced.entries()) {
      for await (const message of p.messages) {
        const filtered = this.#toClient(message, requests[i]!.method, meta);
        if (!filtered) continue;
        if (isResponse(filtered)) responses.push(filtered);
        else this.#standalone?.push(filtered); // JSON replies carry responses only; the rest goes to GET
      }
    }
    return json(input.batch ? responses : (responses[0] ?? null));
  }

  /**
   * A 2026-07-28 request. The client holds no session: this object is keyed by tenant, principal
   * and capabilities, and holds only what backends of the legacy era need (their upstream
   * sessions) and calls parked while the client answers an input request.
   */
  async modern(input: ModernInput): Promise<Response> {
    const meta = this.#modernMeta(input);
    if (meta instanceof Response) return meta;
    const config = this.#config!;
    const { request } = input;
    const params = request.params ?? {};
    // A retry after an InputRequiredResult (2026-07-28 basic/patterns/mrtr): either it resumes a
    // call parked here, or it carries a modern backend's own state, passed through sealed.
    let retry: Record<string, unknown> = {};
    if (typeof params.requestState === "string") {
      const opened = await this.#sealer.open(params.requestState, this.#bound());
      if (opened && opened.park !== "") return this.#resume(input, opened.park, asRecord(params.inputResponses));
      if (!opened || opened.m !== request.method || opened.n !== itemOf(request)) return json(new GatewayError("invalid_request_state").toRpc(request.id));
      retry = { inputResponses: asRecord(params.inputResponses), ...(opened.bs !== undefined ? { requestState: opened.bs } : {}) };
    } else if (params.inputResponses !== undefined) {
      // Input offered without a state is the backend's to judge (2026-07-28 mrtr: servers ignore
      // what they did not ask for); it passes through as sent.
      retry = { inputResponses: params.inputResponses };
    }
    if (request.method === "server/discover") return json(modernResponse(result(request.id, await this.#discover(config)), request.method));
    if (request.method === "subscriptions/listen") return this.#subscribe(input);
    const clean: JsonRpcRequest = { ...request, params: { ...withoutModernMeta(params), ...retry } };
    if (request.method === "tools/call") {
      const mismatch = await this.#checkParamHeaders(clean, input.paramHeaders, config);
      if (mismatch) return mismatch.toResponse(request.id);
    }
    const produced = await this.#request(clean, config, `m${this.#storage.nextCounter()}`);
    if (!produced.routed && produced.refusal) return produced.refusal.toResponse(request.id);
    const source = (produced.messages as AsyncIterable<JsonRpcMessage>)[Symbol.asyncIterator]
      ? (produced.messages as AsyncIterable<JsonRpcMessage>)[Symbol.asyncIterator]()
      : toAsync(produced.messages as JsonRpcMessage[]);
    // A backend's protocol-level refusal that ends the call at once (-32020/-32021/-32022) is
    // answered as the spec says a server answers it: HTTP 400 with the JSON-RPC error.
    const first = await source.next();
    if (!first.done && isResponse(first.value) && "error" in first.value && HTTP_400_CODES.has(first.value.error.code)) {
      return new Response(JSON.stringify({ ...first.value, id: request.id }), { status: 400, headers: { "content-type": "application/json" } });
    }
    return this.#modernReply(input, prepend(first, source), request.method);
  }

  /** Creates the object's state on first use (no initialize in 2026-07-28), else checks the caller. */
  #modernMeta(input: ModernInput): SessionMeta | Response {
    if (!this.#meta) {
      const now = Date.now();
      const meta: SessionMeta = {
        tenant: input.config.id,
        principal: input.principal.sub,
        clientVersion: MODERN_VERSION,
        clientCapabilities: input.clientCapabilities,
        clientInfo: input.clientInfo,
        createdAt: now,
        lastSeenAt: now,
        idleMs: input.config.limits.sessionIdleMs,
      };
      this.#meta = meta;
      this.#storage.writeMeta(meta);
      this.ctx.waitUntil(this.ctx.storage.setAlarm(now + meta.idleMs));
    }
    const meta = this.#authorize(input);
    if (!(meta instanceof Response)) this.#backends.logLevel = input.logLevel ?? undefined;
    return meta;
  }

  /** `server/discover` answered for the merged backends (2026-07-28 server/discover). */
  async #discover(config: TenantConfig): Promise<Record<string, unknown>> {
    await bounded(maxTimeout(config), (signal) => fanOut(config.backends, signal, (backend, s) => this.#backends.get(backend, s)));
    const infos = this.#backends.infos(config);
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
   * Answers a modern request from the messages its call produces: notifications stream as they
   * come (log messages only when the request asked for a level); a legacy backend's
   * server-to-client request parks the call and answers with an InputRequiredResult; the
   * response ends it. Closing the stream cancels the call (2026-07-28 streamable-http "Cancellation").
   */
  async #modernReply(input: ModernInput, iterator: AsyncIterator<JsonRpcMessage>, method: string): Promise<Response> {
    const id = input.request.id;
    const meta = this.#meta!;
    const pump = async (emit: (message: JsonRpcMessage) => void): Promise<void> => {
      for (;;) {
        const step = await iterator.next();
        if (step.done) return;
        const message = step.value;
        if (isRequest(message)) {
          const park = crypto.randomUUID();
          const timer = setTimeout(() => {
            this.#parked.delete(park);
            void iterator.return?.();
          }, REQUEST_STATE_TTL_MS);
          this.#parked.set(park, { iterator, method, timer });
          const requestState = await this.#sealer.seal({ park, exp: Date.now() + REQUEST_STATE_TTL_MS }, this.#bound());
          emit(result(id, { resultType: "input_required", inputRequests: { [String(message.id)]: { method: message.method, params: message.params ?? {} } }, requestState }));
          return;
        }
        const filtered = this.#toClient(isResponse(message) ? { ...message, id } : message, method, meta);
        if (!filtered) continue;
        if (isResponse(filtered)) {
          if ("result" in filtered && filtered.result.resultType === "input_required") {
            // A modern backend's own input request passes through; its state is sealed inside
            // ours, bound to this principal and to this method and item.
            const backendState = filtered.result.requestState;
            const state = { park: "", exp: Date.now() + REQUEST_STATE_TTL_MS, m: method, n: itemOf(input.request), ...(typeof backendState === "string" ? { bs: backendState } : {}) };
            emit({ ...filtered, result: { ...filtered.result, requestState: await this.#sealer.seal(state, this.#bound()) } });
            return;
          }
          emit(modernResponse(filtered, method));
          return;
        }
        // 2026-07-28 server/utilities/logging: no log messages for a request that set no level.
        if ("method" in filtered && filtered.method === "notifications/message" && input.logLevel === null) continue;
        emit(filtered);
      }
    };
    if (!input.acceptsSse) {
      // JSON carries the answer only; progress has no place to go without a stream.
      let final: JsonRpcMessage | null = null;
      await pump((m) => {
        if (isResponse(m)) final = m;
      }).catch((error) => {
        final = toClientError(id, error);
      });
      return json(final ?? new GatewayError("backend_unavailable").toRpc(id));
    }
    let keepalive: ReturnType<typeof setInterval> | null = null;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        keepalive = setInterval(() => controller.enqueue(encodeComment("keepalive")), KEEPALIVE_INTERVAL_MS);
        const done = pump((m) => controller.enqueue(encodeEvent({ data: JSON.stringify(m) })))
          .catch((error) => controller.enqueue(encodeEvent({ data: JSON.stringify(toClientError(id, error)) })))
          .finally(() => {
            if (keepalive) clearInterval(keepalive);
            try {
              controller.close();
            } catch {
              // the client already went away
            }
          });
        this.ctx.waitUntil(done);
      },
      cancel: () => {
        if (keepalive) clearInterval(keepalive);
        // The client closed the stream: that is the cancellation of this request.
        void iterator.return?.();
      },
    });
    return sseResponse(body);
  }

  /** The retry of a parked call: hands the client's answers to the backends, then goes on. */
  async #resume(input: ModernInput, park: string, responses: Record<string, unknown>): Promise<Response> {
    const { request } = input;
    const parked = this.#parked.get(park);
    if (!parked) return json(new GatewayError("invalid_request_state").toRpc(request.id));
    this.#parked.delete(park);
    clearTimeout(parked.timer);
    for (const [gwId, answer] of Object.entries(responses)) {
      await this.#relay.answer({ jsonrpc: "2.0", id: gwId, result: asRecord(answer) }, this.#config!.backends).catch(() => false);
    }
    return this.#modernReply(input, parked.iterator, parked.method);
  }

  /** `subscriptions/listen`: one stream of the change notifications the client opted in to, from every backend. */
  #subscribe(input: ModernInput): Response {
    const filter = listenFilter(input.request.params ?? {});
    // The subscription's id is the listen request's own id (2026-07-28 basic/patterns/subscriptions).
    const subscriptionId = input.request.id;
    let entry: { filter: ListenFilter; id: string | number; push: (message: JsonRpcMessage) => void } | null = null;
    let keepalive: ReturnType<typeof setInterval> | null = null;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        // The acknowledgement comes first, and nothing before it (basic/patterns/subscriptions).
        const ack = tagged({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { notifications: honoured(filter) } }, subscriptionId);
        controller.enqueue(encodeEvent({ data: JSON.stringify(ack) }));
        entry = {
          filter,
          id: subscriptionId,
          push: (message) => {
            if (!wanted(filter, message) || !("method" in message)) return;
            try {
              controller.enqueue(encodeEvent({ data: JSON.stringify(tagged(message as JsonRpcMessage & { method: string }, subscriptionId)) }));
            } catch {
              // closed
            }
          },
        };
        this.#subscribers.add(entry);
        keepalive = setInterval(() => controller.enqueue(encodeComment("keepalive")), KEEPALIVE_INTERVAL_MS);
      },
      cancel: () => {
        if (entry) this.#subscribers.delete(entry);
        if (keepalive) clearInterval(keepalive);
      },
    });
    this.#startListeners(this.#config!, null);
    this.#watchPolicy();
    return sseResponse(body);
  }

  /**
   * 2026-07-28 streamable-http "Server Validation": a tools/call's Mcp-Param-* headers must match
   * the arguments its tool's `x-mcp-header` annotations name, after decoding.
   */
  async #checkParamHeaders(request: JsonRpcRequest, given: Record<string, string>, config: TenantConfig): Promise<GatewayError | null> {
    const name = request.params?.name;
    if (typeof name !== "string") return null;
    const definition = await bounded(maxTimeout(config), (signal) => this.#catalog.definition(name, config, signal));
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

  /** What a sealed requestState is bound to: this tenant and this principal. */
  #bound(): string {
    return `${this.#meta?.tenant ?? ""}\u0000${this.#meta?.principal ?? ""}`;
  }

  /** GET: the standalone stream, or the resume of any stream after `Last-Event-ID`. */
  async listen(input: ListenInput): Promise<Response> {
    const meta = this.#authorize(input);
    if (meta instanceof Response) return meta;
    const resume = input.lastEventId === null ? null : parseEventId(input.lastEventId);
    if (resume) {
      const live = this.#outboxes.get(resume.stream) ?? (this.#standalone?.id === resume.stream ? this.#standalone : undefined);
      if (live) return sseResponse(live.attach(resume.seq));
      const state = this.#storage.streamState(resume.stream);
      if (state) {
        // The stream's producer is gone (finished, or lost with an eviction): replay what was logged.
        const replay = new Outbox(this.#storage, resume.stream, { prime: false, now: Date.now(), resumeFrom: this.#storage.lastSeq(resume.stream) });
        // Unfinished, it died with the process (a restart, an eviction): its calls can never be
        // answered now, so they end with an error, logged like any event so every resume agrees.
        if (!state.done) for (const id of this.#storage.unansweredRequests(resume.stream)) replay.push(INTERRUPTED.toRpc(id));
        replay.close(Date.now());
        return sseResponse(replay.attach(resume.seq));
      }
    }
    if (!this.#standalone) {
      this.#standalone = new Outbox(this.#storage, `g${this.#storage.nextCounter()}`, {
        prime: atLeast(meta.clientVersion, "2025-11-25"),
        now: Date.now(),
      });
    }
    this.#startListeners(this.#config!, this.#standalone);
    this.#watchPolicy();
    return sseResponse(this.#standalone.attach(null));
  }

  /** DELETE (2025-11-25 basic/transports "Session Management" 5): end the session everywhere. */
  async terminate(input: Caller): Promise<Response> {
    const meta = this.#authorize(input);
    if (meta instanceof Response) return meta;
    await this.#end();
    return new Response(null, { status: 204 });
  }

  /** Idle expiry: a session unused for its idle time is ended like a DELETE. */
  override async alarm(): Promise<void> {
    const meta = this.#meta;
    if (!meta) return;
    const now = Date.now();
    const due = meta.lastSeenAt + meta.idleMs + touchInterval(meta);
    if (now < due) {
      this.#storage.prune(now);
      await this.ctx.storage.setAlarm(due);
      return;
    }
    logger.info("session_expired", { tenant: meta.tenant, session: this.ctx.id.toString() });
    await this.#end();
  }

  // --- dispatch ---------------------------------------------------------------------------

  async #request(request: JsonRpcRequest, config: TenantConfig, stream: string): Promise<Produced> {
    // Bounds the gateway's own work on the request (lists, name resolution); a routed call is
    // bounded by its backend's timeout inside the relay instead.
    return bounded(maxTimeout(config), (signal) => this.#dispatch(request, config, stream, signal));
  }

  async #dispatch(request: JsonRpcRequest, config: TenantConfig, stream: string, signal: AbortSignal): Promise<Produced> {
    const params = request.params ?? {};
    try {
      switch (request.method) {
        case "ping":
          return local(result(request.id, {}));
        case "initialize":
          return local(new GatewayError("invalid_request", { publicMessage: "Invalid Request: session already initialized" }).toRpc(request.id));
        case "logging/setLevel":
          return local(await this.#setLevel(request, config, signal));
        case "tools/list":
        case "prompts/list":
        case "resources/list":
        case "resources/templates/list": {
          const visible = visibility(config, this.#principal!, this.#catalog);
          const outcome = await this.#catalog.list(LIST_KIND_BY_METHOD[request.method]!, params, config, signal, visible);
          const warnings = outcome.failed.map((f) =>
            notification("notifications/message", { level: "warning", logger: "gateway", data: { message: `backend ${f.backend} is unavailable; its items are omitted`, backend: f.backend, reason: f.reason } }),
          );
          return { routed: false, messages: [...this.#logFiltered(warnings), result(request.id, outcome.result)] };
        }
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
          if (!entry) return unknown();
          const item: PolicyItem = { kind: tool ? "tool" : "prompt", backend: entry.backend, name: entry.original };
          // Quarantine decides on the definition as it is now, even when the client did not list again.
          if (tool && config.policy.pinning === "quarantine") {
            await this.#catalog.ensureTools(backendOf(config, entry.backend), signal);
            // A session whose list is cached may not have heard of a change another session saw:
            // the tenant's pin store is the authority on whether this definition was approved.
            const stored = await this.#tenantObject()?.status(entry.backend, entry.original);
            if (stored) this.#catalog.notePin(entry.backend, entry.original, stored);
          }
          const args = asRecord(params.arguments);
          const refused = await this.#admit(request, item, args, config, tool ? name : null);
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
          const owner = await this.#catalog.resolveUri(uri, config, signal);
          if (!owner) return notFound();
          const item: PolicyItem = { kind: "resource", backend: owner, name: uri };
          const refused = await this.#admit(request, item, {}, config, null);
          if (refused === "hidden") return notFound();
          if (refused) return refused;
          if (request.method !== "resources/read") {
            // 2026-07-28 removed resources/subscribe: for a modern owner the gateway keeps the
            // subscription itself and asks for the URI's updates on its subscriptions/listen stream.
            const upstream = await this.#backends.get(backendOf(config, owner), signal);
            if (upstream.info?.protocolVersion === MODERN_VERSION) {
              if (request.method === "resources/subscribe") this.#backends.resourceSubscriptions.add(uri);
              else this.#backends.resourceSubscriptions.delete(uri);
              return local(result(request.id, {}));
            }
          }
          return this.#route(request, backendOf(config, owner), params, stream, { request, item, args: {} });
        }
        case "completion/complete":
          return this.#completion(request, config, stream, signal);
        default:
          return local(new GatewayError("method_not_found", { publicMessage: `Method not found: ${request.method}` }).toRpc(request.id));
      }
    } catch (error) {
      return local(toClientError(request.id, error));
    }
  }

  /**
   * Decides whether a request may leave for its backend: policy, then tool rate limits. Returns
   * null to go ahead, "hidden" when the client must see the item as nonexistent, or a refusal.
   */
  async #admit(request: JsonRpcRequest, item: PolicyItem, args: Record<string, unknown>, config: TenantConfig, tool: string | null): Promise<Produced | "hidden" | null> {
    const decision = decideCall(config, this.#principal!, this.#catalog, item, args);
    if (decision.effect !== "allow") {
      this.#audit(request, item, decision, "denied", args);
      if (decision.effect === "deny") return "hidden";
      const refusal = new GatewayError("insufficient_scope", {
        headers: { "www-authenticate": `Bearer error="insufficient_scope", scope="${decision.scopes.join(" ")}", resource_metadata="${this.#caller!.resourceMetadataUrl}"` },
        detail: `rule ${decision.rule}`,
      });
      return { routed: false, messages: [refusal.toRpc(request.id)], refusal };
    }
    if (tool !== null) {
      const limited = await checkToolLimits(this.env.LIMITERS as DurableObjectNamespace<RateLimiter>, config, this.#principal!.sub, tool);
      if (!limited.ok) {
        this.#audit(request, item, decision, "rate_limited", args);
        const refusal = new GatewayError("rate_limited", {
          headers: { "retry-after": String(limited.retryAfterSeconds) },
          data: { retryAfterSeconds: limited.retryAfterSeconds },
          detail: limited.limit,
        });
        return { routed: false, messages: [refusal.toRpc(request.id)], refusal };
      }
    }
    return null;
  }

  async #completion(request: JsonRpcRequest, config: TenantConfig, stream: string, signal: AbortSignal): Promise<Produced> {
    const params = request.params ?? {};
    const ref = asRecord(params.ref);
    if (ref.type === "ref/prompt" && typeof ref.name === "string") {
      const unknown = () => local(new GatewayError("invalid_params", { publicMessage: `Unknown prompt: ${ref.name}` }).toRpc(request.id));
      const entry = await this.#catalog.resolve("prompts", ref.name, config, signal);
      if (!entry) return unknown();
      const item: PolicyItem = { kind: "prompt", backend: entry.backend, name: entry.original };
      if (decideCall(config, this.#principal!, this.#catalog, item, {}).effect === "deny") return unknown();
      return this.#route(request, backendOf(config, entry.backend), { ...params, ref: { ...ref, name: entry.original } }, stream, { request, item, args: {} });
    }
    if (ref.type === "ref/resource" && typeof ref.uri === "string") {
      const notFound = () => local(new GatewayError("resource_not_found", { data: { uri: ref.uri } }).toRpc(request.id));
      const owner = await this.#catalog.resolveUri(ref.uri, config, signal);
      if (!owner) return notFound();
      const item: PolicyItem = { kind: "resource", backend: owner, name: ref.uri };
      if (decideCall(config, this.#principal!, this.#catalog, item, {}).effect === "deny") return notFound();
      return this.#route(request, backendOf(config, owner), params, stream, { request, item, args: {} });
    }
    return local(new GatewayError("invalid_params", { publicMessage: "Invalid params: ref" }).toRpc(request.id));
  }

  #route(request: JsonRpcRequest, backend: BackendConfig, params: Record<string, unknown>, stream: string, about: Routed): Produced {
    const context: CallContext = { tenant: this.#config!.id, principal: this.#principal!.sub, traceparent: this.#caller!.traceparent };
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
      this.#audit(about.request, about.item, { effect: "allow", rule: null }, outcome, about.args, Date.now() - started, resultBody);
    }
  }

  /** `logging/setLevel` applies to the gateway's own messages and fans out to every backend that logs. */
  async #setLevel(request: JsonRpcRequest, config: TenantConfig, signal: AbortSignal): Promise<JsonRpcMessage> {
    const level = request.params?.level;
    if (typeof level !== "string" || !LOG_LEVELS.includes(level)) {
      return new GatewayError("invalid_params", { publicMessage: "Invalid params: level" }).toRpc(request.id);
    }
    const meta = this.#meta!;
    meta.logLevel = level;
    this.#storage.writeMeta(meta);
    this.#backends.logLevel = level;
    await fanOut(config.backends, signal, async (backend, s) => {
      await this.#backends.withUpstream(backend, s, async (upstream) => {
        // Modern backends take the level per request in `_meta` instead (2026-07-28 changelog 5).
        if (typeof upstream.info?.capabilities.logging !== "object" || upstream.info.protocolVersion === MODERN_VERSION) return;
        const id = this.#storage.nextCounter();
        for await (const message of upstream.request({ jsonrpc: "2.0", id, method: "logging/setLevel", params: { level } }, s)) {
          if (isResponse(message)) break;
        }
      });
    });
    return result(request.id, {});
  }

  async #notification(message: JsonRpcNotification, config: TenantConfig): Promise<void> {
    switch (message.method) {
      case "notifications/initialized":
        return; // the gateway answers requests from initialize on; nothing to record
      case "notifications/cancelled":
        await this.#relay.cancel(message.params?.requestId, message.params?.reason);
        return;
      case "notifications/roots/list_changed":
        // Every backend may have asked for roots, so every backend hears the change.
        await bounded(maxTimeout(config), (signal) =>
          fanOut(config.backends, signal, (backend, s) => this.#backends.withUpstream(backend, s, (u) => u.send(message, s))),
        );
        return;
      default:
        return; // other client notifications concern the gateway only, and it needs none of them
    }
  }

  // --- streams ----------------------------------------------------------------------------

  /**
   * One routed request: its first message decides the form of the reply. When that is the
   * response, nothing else can follow, so it goes back as JSON (2025-11-25 basic/transports
   * "Sending Messages" 5: the server may answer a POST with JSON or SSE when the client accepts
   * both), with no stream, event log or priming event: there is nothing to resume. Anything else
   * first (progress, a server-to-client request), or nothing within SINGLE_REPLY_WAIT_MS, and the
   * reply is an SSE stream as before, every event logged for Last-Event-ID, the first one included.
   */
  async #single(p: Extract<Produced, { routed: true }>, request: JsonRpcRequest, meta: SessionMeta, batch: boolean): Promise<Response | Produced> {
    const iterator = p.messages[Symbol.asyncIterator]();
    const first = iterator.next();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = await Promise.race([first, new Promise<null>((resolve) => (timer = setTimeout(resolve, SINGLE_REPLY_WAIT_MS, null)))])
      .catch(() => null) // a failure surfaces in the stream's pump, as it always did
      .finally(() => clearTimeout(timer));
    if (waited && !waited.done && isResponse(waited.value) && waited.value.id === request.id && this.#stillAllowed(p.about)) {
      const response = this.#toClient(waited.value, request.method, meta);
      // The call's generators end after its response (the audit row and backend metric are written then).
      for (let step = await iterator.next(); !step.done; step = await iterator.next()) {
        const filtered = this.#toClient(step.value, request.method, meta);
        if (filtered && !isResponse(filtered)) this.#standalone?.push(filtered);
      }
      return json(batch ? (response ? [response] : []) : response);
    }
    return { ...p, messages: continued(first, iterator) };
  }

  #sse(stream: string, produced: Produced[], requests: JsonRpcRequest[], meta: SessionMeta): Response {
    const openedAt = Date.now(); // observed: the stream's duration
    const outbox = new Outbox(this.#storage, stream, { prime: atLeast(meta.clientVersion, "2025-11-25"), now: openedAt });
    this.#storage.recordRequests(stream, requests.map((r) => r.id));
    this.#outboxes.set(stream, outbox);
    this.#watchPolicy();
    const body = outbox.attach(null);
    let graceTimer: ReturnType<typeof setTimeout> | null = null;
    outbox.onDetach = () => {
      // The client went away: keep the call running for a resume, then cancel it upstream.
      graceTimer = setTimeout(() => {
        if (!outbox.attached && !outbox.done) for (const r of requests) void this.#relay.cancel(r.id, "client disconnected");
      }, RESUME_GRACE_MS);
    };
    const pump = Promise.all(
      produced.map(async (p, i) => {
        const request = requests[i]!;
        for await (const message of p.messages) {
          if (p.routed && !this.#stillAllowed(p.about)) {
            // The policy changed under a running call: stop it, and answer as for an item that is gone.
            await this.#relay.cancel(request.id, "no longer allowed by policy");
            outbox.push(goneAnswer(request));
            return;
          }
          const filtered = this.#toClient(message, request.method, meta);
          if (filtered) outbox.push(filtered);
        }
      }),
    )
      .catch((error) => logger.error("stream_bug", { error: String(error) }))
      .finally(() => {
        if (graceTimer) clearTimeout(graceTimer);
        this.#observer.stream(meta.tenant, requests.length > 1 ? "batch" : requests[0]!.method, Date.now() - openedAt, this.#storage.lastSeq(stream));
        outbox.close(Date.now());
        this.#outboxes.delete(stream);
        this.#storage.prune(Date.now());
      });
    this.ctx.waitUntil(pump);
    return sseResponse(body);
  }

  /** Opens each backend's own stream once and merges them into the standalone stream and subscriptions. */
  #startListeners(config: TenantConfig, outbox: Outbox | null): void {
    if (this.#listeners) return;
    const controller = new AbortController();
    this.#listeners = controller;
    for (const backend of config.backends) {
      const task = (async () => {
        const upstream = await this.#backends.get(backend, controller.signal);
        const messages = await upstream.listen(controller.signal);
        if (!messages) return;
        for await (const message of messages) {
          const mapped = await this.#relay.inbound(backend, message, this.#standalone?.id ?? outbox?.id ?? "listen");
          const filtered = mapped && this.#toClient(mapped, undefined, this.#meta!);
          if (!filtered) continue;
          (this.#standalone ?? outbox)?.push(filtered);
          for (const subscriber of this.#subscribers) subscriber.push(filtered);
        }
      })().catch((error) => {
        if (!controller.signal.aborted) logger.warn("backend_listen_failed", { backend: backend.name, reason: failureReason(error) });
      });
      this.ctx.waitUntil(task);
    }
  }

  // --- policy freshness -------------------------------------------------------------------

  /**
   * Takes the caller's config when it is newer than the one in hand. A change of version drops
   * the list caches (catalog.useConfig) and tells the client its lists may have changed.
   */
  #adopt(caller: Caller): void {
    this.#caller = caller;
    this.#principal = caller.principal;
    this.#useConfig(caller.config);
  }

  #useConfig(config: TenantConfig): void {
    const previous = this.#config;
    if (previous && previous.version >= config.version) return;
    this.#config = config;
    this.#catalog.useConfig(config);
    if (previous) {
      for (const method of ["notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed"]) {
        this.#standalone?.push(notification(method));
        for (const subscriber of this.#subscribers) subscriber.push(notification(method));
      }
    }
  }

  /** While any stream is open, polls the tenant's version so running streams follow policy changes. */
  #watchPolicy(): void {
    if (this.#policyWatch !== null) return;
    this.#policyWatch = setInterval(() => {
      const open = this.#outboxes.size > 0 || this.#standalone?.attached === true || this.#subscribers.size > 0;
      if (!open || !this.#config) {
        clearInterval(this.#policyWatch!);
        this.#policyWatch = null;
        return;
      }
      const authority = this.#tenantObject();
      if (!authority) return;
      void authority
        .version()
        .then(async (version) => {
          if (this.#config && version > this.#config.version) {
            const fresh = await authority.config();
            if (fresh) this.#useConfig(fresh);
          }
        })
        .catch((error) => logger.warn("policy_check_failed", { error: String(error) }));
    }, POLICY_CHECK_INTERVAL_MS);
  }

  #stillAllowed(about: Routed): boolean {
    if (!this.#config || !this.#principal) return true;
    return decideCall(this.#config, this.#principal, this.#catalog, about.item, about.args).effect === "allow";
  }

  #tenantObject(): DurableObjectStub<TenantObject> | null {
    const ns = this.env.TENANTS as DurableObjectNamespace<TenantObject> | undefined;
    const tenant = this.#config?.id ?? this.#meta?.tenant;
    return ns && tenant ? ns.get(ns.idFromName(tenant)) : null;
  }

  // --- helpers ----------------------------------------------------------------------------

  #toClient(message: JsonRpcMessage, method: string | undefined, meta: SessionMeta): JsonRpcMessage | null {
    const filtered = filterMessage(message, { direction: "to-client", peerVersion: meta.clientVersion, ...(method ? { method } : {}) });
    if (filtered && "result" in filtered && method !== undefined && CONTENT_METHODS.has(method) && this.#config) {
      return { ...filtered, result: redact(this.#config.policy, filtered.result) };
    }
    return filtered;
  }

  /** Drops gateway log messages below the level the client set (2025-11-25 server/utilities/logging). */
  #logFiltered(messages: JsonRpcNotification[]): JsonRpcNotification[] {
    const min = LOG_LEVELS.indexOf(this.#meta?.logLevel ?? "debug");
    return messages.filter((m) => LOG_LEVELS.indexOf(String(m.params?.level)) >= min);
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
    const config = this.#config;
    const meta = this.#meta;
    if (!config || !meta) return;
    const detail: Record<string, unknown> = { rule: decision.rule, traceparent: this.#caller?.traceparent };
    if (config.policy.audit.arguments) detail.arguments = redact(config.policy, args);
    if (config.policy.audit.results && resultBody !== undefined) detail.result = redact(config.policy, resultBody);
    const event: AuditEvent = {
      at: Date.now(),
      tenant: config.id,
      principal: meta.principal,
      clientName: typeof meta.clientInfo.name === "string" ? meta.clientInfo.name : undefined,
      sessionId: this.ctx.id.toString(),
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
    this.ctx.waitUntil(recordAudit(this.env.AUDIT as D1Database | undefined, event));
    this.#observer.call(event);
  }

  /**
   * The session answers only the tenant and principal that created it; anyone else is told it
   * does not exist (404), exactly as for an unknown id, so ids cannot be probed.
   */
  #authorize(caller: Caller): SessionMeta | Response {
    const meta = this.#meta;
    if (!meta || meta.tenant !== caller.config.id || meta.principal !== caller.principal.sub) {
      return new GatewayError("session_not_found").toResponse();
    }
    this.#adopt(caller);
    this.#backends.restore(this.#config!, meta.clientCapabilities);
    this.#backends.logLevel = meta.logLevel;
    const now = Date.now();
    if (now - meta.lastSeenAt > touchInterval(meta)) {
      meta.lastSeenAt = now;
      this.#storage.writeMeta(meta);
    }
    return meta;
  }

  async #end(): Promise<void> {
    this.#relay.abortAll();
    this.#listeners?.abort();
    this.#listeners = null;
    if (this.#policyWatch !== null) clearInterval(this.#policyWatch);
    this.#policyWatch = null;
    for (const outbox of this.#outboxes.values()) outbox.close(Date.now());
    this.#standalone?.close(Date.now());
    this.#standalone = null;
    await bounded(5_000, (signal) => this.#backends.terminateAll(signal));
    this.#meta = null;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }
}

/** The answer to a call whose stream died with the process before its response (listen). */
const INTERRUPTED = new GatewayError("backend_unavailable", { publicMessage: "Backend unavailable: the call was interrupted by a gateway restart" });

/**
 * The answer to a request whose item was revoked while it ran: exactly what the same request
 * gets when sent now (unknown tool or prompt, resource not found), so revoked reads as gone.
 */
function goneAnswer(request: JsonRpcRequest): JsonRpcMessage {
  const params = request.params ?? {};
  switch (request.method) {
    case "tools/call":
      return new GatewayError("unknown_tool", { publicMessage: `Unknown tool: ${String(params.name)}` }).toRpc(request.id);
    case "prompts/get":
      return new GatewayError("invalid_params", { publicMessage: `Unknown prompt: ${String(params.name)}` }).toRpc(request.id);
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe":
      return new GatewayError("resource_not_found", { data: { uri: params.uri } }).toRpc(request.id);
    default:
      return new GatewayError("invalid_params").toRpc(request.id);
  }
}

/** 2026-07-28 errors a server answers with HTTP 400 (streamable-http, versioning). */
const HTTP_400_CODES = new Set([-32020, -32021, -32022]);

/** An iterator that yields an already pulled step first. */
function prepend<T>(first: IteratorResult<T>, rest: AsyncIterator<T>): AsyncIterator<T> {
  let pending: IteratorResult<T> | null = first;
  return {
    next: () => {
      if (pending) {
        const step = pending;
        pending = null;
        return Promise.resolve(step);
      }
      return rest.next();
    },
    return: (value?: unknown) => rest.return?.(value) ?? Promise.resolve({ done: true, value: undefined as T }),
  };
}

/** The item a request names (tool or prompt name, resource URI), for binding sealed state to it. */
function itemOf(request: JsonRpcRequest): string {
  const params = request.params ?? {};
  return String(params.name ?? params.uri ?? "");
}

/** The rest of an iterator whose next step was already asked for (`#single`), without another generator layer. */
function continued<T>(first: Promise<IteratorResult<T>>, rest: AsyncIterator<T>): AsyncIterable<T> {
  let pending: Promise<IteratorResult<T>> | null = first;
  const iterator: AsyncIterator<T> = {
    next: () => {
      const step = pending ?? rest.next();
      pending = null;
      return step;
    },
    return: async (value?: unknown) => (await rest.return?.(value)) ?? { done: true, value: undefined as T },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

async function* toAsync(messages: JsonRpcMessage[]): AsyncGenerator<JsonRpcMessage> {
  yield* messages;
}

function local(message: JsonRpcMessage): Produced {
  return { routed: false, messages: [message] };
}

function touchInterval(meta: SessionMeta): number {
  return Math.min(TOUCH_INTERVAL_MS, Math.floor(meta.idleMs / 4));
}

function backendOf(config: TenantConfig, name: string): BackendConfig {
  const backend = config.backends.find((b) => b.name === name);
  if (!backend) throw new GatewayError("backend_unavailable", { detail: `backend ${name} is not configured` });
  return backend;
}

function maxTimeout(config: TenantConfig): number {
  return Math.max(1_000, ...config.backends.map((b) => b.timeoutMs));
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function json(body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json", ...headers } });
}

function sseResponse(body: ReadableStream<Uint8Array>): Response {
  return new Response(body, { status: 200, headers: SSE_HEADERS });
}
