/**
 * ⑥ The session Durable Object: the home of one legacy-era client session (named
 * `<tenant>:<session id>`), and of the 2026-07-28 clients of a tenant with a legacy backend (one
 * object per tenant, principal and capabilities: the legacy backends behind it hold upstream
 * sessions initialized with those capabilities).
 *
 * An RPC shell over the engine (worker/engine/): one public method per client-facing HTTP
 * exchange, each returning the Response to send, and alarm() for idle expiry. Beside it: its life
 * (lifecycle.ts), the legacy reply and its resumable event log (legacyReply.ts, outbox.ts,
 * storage.ts), its GET and listen streams (listening.ts), modern calls parked (parked.ts).
 *
 * Policy freshness: lists and calls use the newest tenant config seen (from a request, or from the
 * tenant's object, asked every POLICY_CHECK_INTERVAL_MS while a stream or reply is open).
 */
import { DurableObject } from "cloudflare:workers";
import { mergeCapabilities, mergeInstructions } from "../../worker/broker/merge.ts";
import { StateSealer } from "../../worker/broker/sealed.ts";
import type { Env } from "../../worker/env.ts";
import { bounded, failureReason, fanOut, maxTimeout } from "../../worker/engine/fanout.ts";
import type { Produced } from "../../worker/engine/handler.ts";
import { local, toClientError } from "../../worker/engine/answers.ts";
import type { EngineHost } from "../../worker/engine/host.ts";
import { createEngine, type Engine } from "../../worker/engine/engine.ts";
import type { Caller, InitializeInput, ListenInput, ModernInput, PostInput, TenantRef } from "../../worker/engine/inputs.ts";
import { modernReply, serveModern, type ModernHost } from "../../worker/engine/modern.ts";
import { PolicyWatch } from "../../worker/engine/policyWatch.ts";
import { jsonResponse } from "../../worker/engine/reply.ts";
import { logger } from "../../worker/observe/log.ts";
import { SessionObserver } from "../../worker/engine/observer.ts";
import { grantHolds } from "../../worker/oauth/grants.ts";
import { GrantRequiredError } from "../../worker/upstream/errors.ts";
import { grantRefused, userTokenSource } from "../../worker/connections/userTokens.ts";
import { GatewayError } from "../../worker/protocol/errors.ts";
import { GATEWAY_INFO } from "../../worker/protocol/identity.ts";
import { asRecord, isNotification, isRequest, isResponse, LOG_LEVELS, result, type JsonRpcMessage, type JsonRpcNotification, type JsonRpcRequest } from "../../worker/protocol/jsonrpc.ts";
import { MODERN_VERSION } from "../../worker/protocol/modern.ts";
import { allowsBatches } from "../../worker/protocol/versions.ts";
import type { TenantConfig } from "../../worker/tenant/schema.ts";
import { loadTenant, tenantObject } from "../../worker/tenant/store.ts";
import { OutboundCredentials } from "../../worker/upstream/credentials.ts";
import { LegacyReplies } from "./legacyReply.ts";
import { SessionLifecycle } from "./lifecycle.ts";
import { SessionListening } from "./listening.ts";
import { ParkedCalls } from "./parked.ts";
import { SessionStorage, type SessionMeta } from "./storage.ts";

export class SessionObject extends DurableObject<Env> {
  readonly #storage: SessionStorage;
  readonly #lifecycle: SessionLifecycle;
  readonly #engine: Engine;
  readonly #replies: LegacyReplies;
  readonly #listening: SessionListening;
  readonly #parked = new ParkedCalls();
  readonly #policyWatch: PolicyWatch;
  /** Keyed from STATE_SECRET when set, so pass-through states open in the Worker's stateless home too (sealed.ts). */
  readonly #sealer: StateSealer;
  /** The newest tenant config seen, and who is calling now. */
  #config: TenantConfig | null = null;
  #caller: Caller | null = null;
  /** Set while #end runs: its backends' sessions are closing and its storage is about to go. */
  #ending = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#storage = new SessionStorage(ctx.storage);
    this.#lifecycle = new SessionLifecycle(ctx, this.#storage);
    const waitUntil = (promise: Promise<unknown>): void => ctx.waitUntil(promise);
    // Outbound credentials per backend (client credentials, RFC 8693 exchange, users' own grants).
    const credentials = new OutboundCredentials(env, undefined, {}, userTokenSource(env));
    const host: EngineHost = {
      env,
      store: this.#storage,
      sessionId: ctx.id.toString(),
      observer: new SessionObserver(env, waitUntil, ctx.id.toString()),
      waitUntil,
      config: () => this.#config,
      caller: () => this.#caller!,
      client: () => {
        const meta = this.#lifecycle.meta;
        const name = meta?.clientInfo.name;
        return { version: meta?.clientVersion ?? MODERN_VERSION, capabilities: meta?.clientCapabilities ?? {}, name: typeof name === "string" ? name : undefined, logLevel: meta?.logLevel };
      },
      tenant: () => this.#tenant(),
      resubscribe: (backend) => this.#listening.reopen(backend),
    };
    const user = () => {
      const caller = this.#caller;
      const tenant = this.#config?.id;
      return caller && tenant ? { tenant, principal: caller.principal.sub, origin: new URL(caller.resourceMetadataUrl).origin } : null;
    };
    this.#engine = createEngine(host, {
      credentials: (backend, signal) => credentials.headers(backend, this.#caller?.subjectToken ?? null, signal, user()),
      refused: async (backend) => {
        const who = user();
        return who ? grantRefused(env, backend, who) : new Error(`${backend}: refused`);
      },
    });
    const { handler, relay, backends } = this.#engine;
    this.#policyWatch = new PolicyWatch({
      authority: () => this.#tenant(),
      current: () => this.#config?.version ?? Infinity,
      onNewer: (config) => this.#useConfig(config),
      needed: () => this.#listening.open,
    });
    this.#replies = new LegacyReplies({
      storage: this.#storage,
      handler,
      relay,
      observer: host.observer,
      waitUntil,
      watch: () => this.#policyWatch.hold(),
      standalone: () => this.#listening.standalone,
    });
    this.#listening = new SessionListening({
      storage: this.#storage,
      backends,
      relay,
      tenant: () => this.#config?.id ?? this.#lifecycle.meta?.tenant ?? "",
      waitUntil,
      toClient: (message) => handler.toClient(message, undefined, this.#lifecycle.meta?.clientVersion ?? MODERN_VERSION),
      request: (request) => this.#request(request, this.#config!, "listen"),
    });
    this.#sealer = new StateSealer(env.STATE_SECRET || undefined);
  }

  // --- RPC surface ------------------------------------------------------------------------

  /** `initialize` (2025-11-25 basic/lifecycle): negotiate, initialize every backend, merge. */
  async initialize(input: InitializeInput): Promise<Response> {
    const { request } = input;
    if (this.#lifecycle.meta) return new GatewayError("invalid_request", { detail: "session id reused" }).toResponse(request.id);
    const config = await this.#configFor(input.tenant);
    if (!config) return new GatewayError("tenant_not_found").toResponse(request.id);
    const meta = SessionLifecycle.negotiate(input, config, Date.now());
    this.#adopt(input, config);
    const backends = this.#engine.backends;
    backends.restore(config, meta.clientCapabilities);
    const settled = await bounded(maxTimeout(config), (signal) => fanOut(config.backends, signal, (backend, s) => backends.get(backend, s)));
    // A backend that acts for the user, who has not connected it yet, is not down: it offers its
    // connect tool (docs/connections.md), so it counts as tools, not as a failure.
    const unconnected = settled.failed.filter((f) => f.error instanceof GrantRequiredError).length;
    settled.failed = settled.failed.filter((f) => !(f.error instanceof GrantRequiredError));
    for (const failure of settled.failed) {
      logger.warn("backend_initialize_failed", { tenant: config.id, backend: failure.backend, reason: failureReason(failure.error), detail: String(failure.error) });
    }
    // Failure semantics (worker/engine/README.md): fail-closed refuses a session with a backend
    // down; fail-open starts one unless every backend failed.
    if (settled.failed.length > 0 && (config.failureMode === "closed" || settled.ok.length + unconnected === 0)) {
      await bounded(5_000, (signal) => backends.terminateAll(signal));
      await this.ctx.storage.deleteAll();
      const kind = config.failureMode === "closed" && settled.ok.length > 0 ? "backend_unavailable" : "all_backends_failed";
      return jsonResponse(new GatewayError(kind).toRpc(request.id));
    }
    await this.#lifecycle.begin(meta);
    const infos = backends.infos(config);
    const initializeResult: Record<string, unknown> = {
      protocolVersion: meta.clientVersion,
      capabilities: mergeCapabilities([...infos.map((i) => i.capabilities), ...(unconnected > 0 ? [{ tools: { listChanged: true } }] : [])]),
      serverInfo: GATEWAY_INFO,
    };
    const instructions = mergeInstructions(infos);
    if (instructions !== undefined) initializeResult.instructions = instructions;
    return jsonResponse(result(request.id, initializeResult), { "mcp-session-id": input.sessionId });
  }

  /** A POST inside the session: requests, notifications and responses from the client. */
  async post(input: PostInput): Promise<Response> {
    const meta = await this.#authorize(input);
    if (!meta) return new GatewayError("session_not_found").toResponse();
    const config = this.#config!;
    if (input.batch && !allowsBatches(meta.clientVersion)) return new GatewayError("batch_not_supported").toResponse();
    // Client responses and notifications first: they may unblock a call this POST is about.
    for (const message of input.messages) {
      if (isResponse(message)) {
        const delivered = await this.#engine.relay.answer(message, config.backends).catch(() => false);
        if (!delivered && !input.batch) return new GatewayError("invalid_request", { publicMessage: "Invalid Request: no such pending request" }).toResponse(message.id ?? null);
      } else if (isNotification(message)) {
        await this.#notification(message, config);
      }
    }
    const requests = input.messages.filter(isRequest);
    // 2025-11-25 basic/transports, "Sending Messages" 4: notifications and responses get 202.
    if (requests.length === 0) return new Response(null, { status: 202 });
    const stream = `p${this.#storage.nextCounter()}`;
    const produced: Produced[] = [];
    for (const request of requests) produced.push(await this.#request(request, config, stream, input.limitsDeferred === true));
    // A refusal the HTTP layer can express (403 insufficient_scope, 429) is answered as such
    // when the POST carried just that one request.
    const only = produced[0]!;
    if (requests.length === 1 && !only.routed && only.refusal) return only.refusal.toResponse(requests[0]!.id);
    return this.#replies.answer(stream, produced, requests, meta, input);
  }

  /**
   * A 2026-07-28 request. The client holds no session: this object holds only what backends of
   * the legacy era need (their upstream sessions) and calls parked while the client answers an
   * input request. A modern request's logLevel travels in its own _meta (engine/modern.ts),
   * never through this object's state, where a concurrent request would pick it up.
   */
  async modern(input: ModernInput): Promise<Response> {
    const config = await this.#configFor(input.tenant);
    if (!config) return new GatewayError("tenant_not_found").toResponse(input.request.id);
    this.#lifecycle.beginModern(input, config);
    if (!(await this.#authorize(input))) return new GatewayError("session_not_found").toResponse();
    return serveModern(input, this.#modernHost());
  }

  /** GET: the standalone stream, or the resume of any stream after `Last-Event-ID`. */
  async listen(input: ListenInput): Promise<Response> {
    const meta = await this.#authorize(input);
    if (!meta) return new GatewayError("session_not_found").toResponse();
    const resumed = input.lastEventId === null ? null : this.#replies.resume(input.lastEventId, this.#listening.standalone);
    if (resumed) return resumed;
    const response = this.#listening.listen(meta, this.#config!.backends);
    this.#policyWatch.start();
    return response;
  }

  /** DELETE (2025-11-25 basic/transports "Session Management" 5): end the session everywhere. */
  async terminate(input: Caller): Promise<Response> {
    if (!(await this.#authorize(input))) return new GatewayError("session_not_found").toResponse();
    await this.#end();
    return new Response(null, { status: 204 });
  }

  /** The user connected or lost their account at `backend` (worker/connections/announce.ts): its lists are read again. */
  async connectionsChanged(backend: string): Promise<void> {
    this.#engine.catalog.invalidate(backend, ["tools", "prompts", "resources", "resourceTemplates"]);
    this.#listening.announceListChanges();
  }

  /** Idle expiry: a session unused for its idle time is ended like a DELETE. */
  override async alarm(): Promise<void> {
    if (!(await this.#lifecycle.expired())) return;
    logger.info("session_expired", { tenant: this.#lifecycle.meta?.tenant, session: this.ctx.id.toString() });
    await this.#end();
  }

  // --- requests -----------------------------------------------------------------------------

  async #request(request: JsonRpcRequest, config: TenantConfig, stream: string, limitsDeferred = false): Promise<Produced> {
    switch (request.method) {
      // What only a legacy session has; the rest is the engine's (engine/handler.ts).
      case "ping":
        return local(result(request.id, {}));
      case "initialize":
        return local(new GatewayError("invalid_request", { publicMessage: "Invalid Request: session already initialized" }).toRpc(request.id));
      case "logging/setLevel":
        return bounded(maxTimeout(config), async (signal) => local(await this.#setLevel(request, config, signal))).catch((error) => local(toClientError(request.id, error)));
      default:
        return this.#engine.handler.request(request, config, stream, limitsDeferred);
    }
  }

  /** `logging/setLevel` applies to the gateway's own messages and fans out to every backend that logs. */
  async #setLevel(request: JsonRpcRequest, config: TenantConfig, signal: AbortSignal): Promise<JsonRpcMessage> {
    const level = request.params?.level;
    if (typeof level !== "string" || !LOG_LEVELS.includes(level)) {
      return new GatewayError("invalid_params", { publicMessage: "Invalid params: level" }).toRpc(request.id);
    }
    this.#lifecycle.setLogLevel(level);
    const backends = this.#engine.backends;
    backends.logLevel = level;
    await fanOut(config.backends, signal, async (backend, s) => {
      await backends.withUpstream(backend, s, async (upstream) => {
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
      case "notifications/cancelled":
        await this.#engine.relay.cancel(message.params?.requestId, message.params?.reason);
        return;
      case "notifications/roots/list_changed": {
        // Every backend may have asked for roots, so every backend hears the change.
        const backends = this.#engine.backends;
        await bounded(maxTimeout(config), (signal) => fanOut(config.backends, signal, (backend, s) => backends.withUpstream(backend, s, (u) => u.send(message, s))));
        return;
      }
      default:
        return; // notifications/initialized and the rest concern the gateway only; it needs none of them
    }
  }

  /** What engine/modern.ts needs from this object: it parks, resumes and holds listen streams. */
  #modernHost(): ModernHost {
    return {
      handler: this.#engine.handler,
      sealer: this.#sealer,
      config: this.#config!,
      nextStream: () => `m${this.#storage.nextCounter()}`,
      waitUntil: (promise) => this.ctx.waitUntil(promise),
      cancel: (id) => this.ctx.waitUntil(this.#engine.relay.cancel(id, "client closed the stream")),
      subscribe: async (input) => {
        const response = await this.#listening.subscribe(input, this.#config!.backends);
        this.#policyWatch.start();
        return response;
      },
      park: (iterator, method) => this.#parked.park(iterator, method),
      resume: (input, park, responses) => this.#resume(input, park, responses),
      watch: () => this.#policyWatch.hold(),
    };
  }

  /** The retry of a parked call: hands the client's answers to the backends, then goes on. */
  async #resume(input: ModernInput, park: string, responses: Record<string, unknown>): Promise<Response> {
    const parked = this.#parked.take(park);
    if (!parked) return jsonResponse(new GatewayError("invalid_request_state").toRpc(input.request.id));
    for (const [gwId, answer] of Object.entries(responses)) {
      await this.#engine.relay.answer({ jsonrpc: "2.0", id: gwId, result: asRecord(answer) }, this.#config!.backends).catch(() => false);
    }
    return modernReply(input, parked.iterator, parked.method, this.#modernHost());
  }

  // --- the session's state ------------------------------------------------------------------

  /** The caller's facts and touch when it may use this session; null when it may not (404). */
  async #authorize(caller: Caller): Promise<SessionMeta | null> {
    // A session being ended (revoked grant, idle expiry) is already gone for new requests.
    if (this.#ending) return null;
    const meta = this.#lifecycle.authorize(caller);
    if (!meta) return null;
    const config = await this.#configFor(caller.tenant);
    if (!config) return null;
    this.#adopt(caller, config);
    this.#engine.backends.restore(this.#config!, meta.clientCapabilities);
    this.#engine.backends.logLevel = meta.logLevel;
    return meta;
  }

  /** Takes the caller, and its config when it is newer than the one in hand. */
  #adopt(caller: Caller, config: TenantConfig): void {
    this.#caller = caller;
    this.#useConfig(config);
  }

  /**
   * The config of the version the Worker resolved, or a newer one (issue 13: referenced by
   * version, not cloned into each RPC). Usually the one in hand; after a change, or when the
   * object starts, this isolate's tenant cache (tenant/store.ts), and the tenant's object itself
   * while that cache is older than the version the Worker saw. Null when the tenant is gone.
   */
  async #configFor(ref: TenantRef): Promise<TenantConfig | null> {
    const held = this.#config;
    if (held && held.id === ref.id && held.version >= ref.version) return held;
    const cached = await loadTenant(this.env, ref.id);
    if (cached && cached.version >= ref.version) return cached;
    return tenantObject(this.env, ref.id).config();
  }

  /** A change of version drops the list caches and tells the client its lists may have changed. */
  #useConfig(config: TenantConfig): void {
    const previous = this.#config;
    if (previous && previous.version >= config.version) return;
    this.#config = config;
    this.#engine.catalog.useConfig(config);
    if (previous) {
      this.#listening.announceListChanges();
      void this.#checkGrant(config.id);
    }
  }

  /**
   * A session under a revoked grant of the gateway's own login ends (revoking bumps the tenant's
   * version, which brings it here within seconds: worker/admin/oauth.ts); then 401 sends it to log in.
   */
  async #checkGrant(tenant: string): Promise<void> {
    const grant = this.#caller?.principal.grant;
    if (!grant || (await grantHolds(this.env, tenant, grant))) return;
    logger.info("session_ended_grant_revoked", { tenant, grant });
    await this.#end();
  }

  #tenant() {
    const tenant = this.#config?.id ?? this.#lifecycle.meta?.tenant;
    return tenant ? tenantObject(this.env, tenant) : null;
  }

  async #end(): Promise<void> {
    this.#ending = true;
    const now = Date.now();
    this.#engine.relay.abortAll();
    this.#policyWatch.stop();
    this.#parked.clear();
    this.#replies.closeAll(now);
    this.#listening.stop(now);
    await bounded(5_000, (signal) => this.#engine.backends.terminateAll(signal));
    await this.#lifecycle.forget();
    this.#ending = false;
  }
}
