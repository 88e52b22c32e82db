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
import { mergeCapabilities, mergeInstructions } from "../../worker/broker/merge.ts";
import type { Principal } from "../../worker/env.ts";
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
import type { TenantObject } from "../tenant/TenantObject.ts";
import { Backends } from "../../worker/engine/backends.ts";
import { OutboundCredentials } from "../../worker/upstream/credentials.ts";
import { Catalog } from "../../worker/engine/catalog.ts";
import { fanOut, failureReason, bounded } from "../../worker/engine/fanout.ts";
import { Outbox, parseEventId } from "./outbox.ts";
import { Relay, toClientError } from "../../worker/engine/relay.ts";
import type { Caller, InitializeInput, ListenInput, ModernInput, PostInput } from "../../worker/engine/inputs.ts";
import { honoured, listenFilter, tagged, wanted, type ListenFilter } from "../../worker/engine/listen.ts";
import { REQUEST_STATE_TTL_MS, StateSealer } from "../../worker/broker/sealed.ts";
import { encodeComment, encodeEvent } from "../../worker/protocol/sse.ts";
import { SessionStorage, type SessionMeta } from "./storage.ts";
import { SessionObserver } from "../../worker/observe/session.ts";
import { logger } from "../../worker/observe/log.ts";
import { asRecord, Dispatcher, goneAnswer, LOG_LEVELS, local, maxTimeout, type Produced, type Routed } from "../../worker/engine/handler.ts";
import { modernReply, serveModern, type ModernHost } from "../../worker/engine/modern.ts";

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

export class SessionObject extends DurableObject<Env> {
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
  /** Each backend's own stream under #listeners, so one can be re-opened alone. */
  readonly #backendListeners = new Map<string, AbortController>();
  #listenOutbox: Outbox | null = null;
  #policyWatch: ReturnType<typeof setInterval> | null = null;
  /** Modern-era calls waiting for the client's retry with input, by park id (see worker/broker/sealed.ts). */
  /** 2026-07-28 replies in progress: while any is, the policy watch keeps this object's config current. */
  #modernReplies = 0;
  readonly #parked = new Map<string, { iterator: AsyncIterator<JsonRpcMessage>; method: string; timer: ReturnType<typeof setTimeout> }>();
  /** Keyed from STATE_SECRET when set, so pass-through states open on the Worker's stateless path too (sealed.ts). */
  readonly #sealer: StateSealer;
  /** The decisions shared with the Worker's stateless path (dispatch.ts). */
  readonly #dispatcher: Dispatcher;
  /** How many open listen streams of modern clients follow each resource URI (#follow). */
  readonly #followed = new Map<string, number>();
  /** Open `subscriptions/listen` streams of modern clients. */
  readonly #subscribers = new Set<{ filter: ListenFilter; id: string | number; push: (message: JsonRpcMessage) => void }>();

  constructor(ctx: DurableObjectState, env: Env) {
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
    this.#sealer = new StateSealer(typeof env.STATE_SECRET === "string" && env.STATE_SECRET !== "" ? env.STATE_SECRET : undefined);
    this.#dispatcher = new Dispatcher({
      env,
      catalog: this.#catalog,
      backends: this.#backends,
      relay: this.#relay,
      observer: this.#observer,
      config: () => this.#config,
      principal: () => this.#principal!,
      caller: () => this.#caller!,
      tenantObject: () => this.#tenantObject(),
      waitUntil: (promise) => ctx.waitUntil(promise),
      sessionId: ctx.id.toString(),
      clientName: () => (typeof this.#meta?.clientInfo.name === "string" ? this.#meta.clientInfo.name : undefined),
      logLevel: () => this.#meta?.logLevel,
      resubscribe: (backend) => this.#resubscribe(backend),
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
    return serveModern(input, this.#modernHost());
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
    // A modern request's logLevel travels in its own _meta (serveModern), never through this
    // object's shared state, where a concurrent request of the same principal would pick it up.
    return this.#authorize(input);
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
    return modernReply(input, parked.iterator, parked.method, this.#modernHost());
  }

  /** What serveModern.ts needs from this object: it parks, resumes and holds listen streams. */
  #modernHost(): ModernHost {
    return {
      dispatcher: this.#dispatcher,
      sealer: this.#sealer,
      config: this.#config!,
      nextStream: () => `m${this.#storage.nextCounter()}`,
      waitUntil: (promise) => this.ctx.waitUntil(promise),
      cancel: (id) => this.ctx.waitUntil(this.#relay.cancel(id, "client closed the stream")),
      subscribe: (input) => this.#subscribe(input),
      park: (iterator, method) => {
        const park = crypto.randomUUID();
        const timer = setTimeout(() => {
          this.#parked.delete(park);
          void iterator.return?.();
        }, REQUEST_STATE_TTL_MS);
        this.#parked.set(park, { iterator, method, timer });
        return park;
      },
      resume: (input, park, responses) => this.#resume(input, park, responses),
      watch: () => {
        this.#modernReplies++;
        this.#watchPolicy();
        return () => {
          this.#modernReplies--;
        };
      },
    };
  }

  /** `subscriptions/listen`: one stream of the change notifications the client opted in to, from every backend. */
  async #subscribe(input: ModernInput): Promise<Response> {
    const asked = listenFilter(input.request.params ?? {});
    // 2026-07-28 has no resources/subscribe: the filter's URIs are followed as a legacy client's
    // subscriptions are (dispatch.ts), policy first, then on a modern owner's listen stream or by
    // resources/subscribe to a legacy owner. What cannot be followed is left out of the acknowledgement.
    const followed: string[] = [];
    for (const uri of asked.resourceSubscriptions) if (await this.#follow(uri, true)) followed.push(uri);
    const filter = { ...asked, resourceSubscriptions: followed };
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
        for (const uri of followed) this.ctx.waitUntil(this.#follow(uri, false));
      },
    });
    this.#startListeners(this.#config!, null);
    this.#watchPolicy();
    return sseResponse(body);
  }

  /**
   * Follows (or stops following) a resource's updates for a modern client's listen stream; the
   * object subscribes once per URI however many streams follow it. False when it cannot be
   * followed (unknown, hidden by policy, refused by its backend).
   */
  async #follow(uri: string, on: boolean): Promise<boolean> {
    const count = this.#followed.get(uri) ?? 0;
    const next = on ? count + 1 : Math.max(0, count - 1);
    if ((count === 0) === (next === 0)) {
      if (next > 0) this.#followed.set(uri, next);
      else this.#followed.delete(uri);
      return true;
    }
    const request: JsonRpcRequest = { jsonrpc: "2.0", id: `gw-follow-${this.#storage.nextCounter()}`, method: on ? "resources/subscribe" : "resources/unsubscribe", params: { uri } };
    let ok = false;
    try {
      const produced = await this.#request(request, this.#config!, "listen");
      for await (const message of produced.messages) if (isResponse(message) && message.id === request.id) ok = "result" in message;
    } catch (error) {
      logger.warn("resource_follow_failed", { error: String(error) });
    }
    if (on && !ok) return false;
    if (next > 0) this.#followed.set(uri, next);
    else this.#followed.delete(uri);
    return true;
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
    switch (request.method) {
      // What only a legacy session has; the rest is the shared dispatch (dispatch.ts).
      case "ping":
        return local(result(request.id, {}));
      case "initialize":
        return local(new GatewayError("invalid_request", { publicMessage: "Invalid Request: session already initialized" }).toRpc(request.id));
      case "logging/setLevel":
        return bounded(maxTimeout(config), async (signal) => local(await this.#setLevel(request, config, signal))).catch((error) => local(toClientError(request.id, error)));
      default:
        return this.#dispatcher.request(request, config, stream);
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
    this.#listeners = new AbortController();
    this.#listenOutbox = outbox;
    for (const backend of config.backends) this.#listenTo(backend);
  }

  /** One backend's own stream, until the session ends or the stream is re-opened (#resubscribe). */
  #listenTo(backend: BackendConfig): void {
    const parent = this.#listeners;
    if (!parent) return;
    const controller = new AbortController();
    parent.signal.addEventListener("abort", () => controller.abort(), { once: true });
    this.#backendListeners.get(backend.name)?.abort();
    this.#backendListeners.set(backend.name, controller);
    const task = (async () => {
      const upstream = await this.#backends.get(backend, controller.signal);
      const messages = await upstream.listen(controller.signal);
      if (!messages) return;
      for await (const message of messages) {
        const outbox = this.#listenOutbox;
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

  /**
   * A modern backend's `subscriptions/listen` names its resource subscriptions when it opens
   * (2026-07-28 basic/patterns/subscriptions), so a legacy client's resources/subscribe or
   * unsubscribe after it opened re-opens it with the new list. Nothing is open yet: the first
   * open asks for the current list anyway.
   */
  #resubscribe(backend: BackendConfig): void {
    if (!this.#listeners || !this.#backendListeners.has(backend.name)) return;
    this.#listenTo(backend);
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
      const open = this.#outboxes.size > 0 || this.#standalone?.attached === true || this.#subscribers.size > 0 || this.#modernReplies > 0;
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
    return this.#dispatcher.stillAllowed(about);
  }

  #tenantObject(): DurableObjectStub<TenantObject> | null {
    const ns = this.env.TENANTS;
    const tenant = this.#config?.id ?? this.#meta?.tenant;
    return ns && tenant ? ns.get(ns.idFromName(tenant)) : null;
  }

  // --- helpers ----------------------------------------------------------------------------

  #toClient(message: JsonRpcMessage, method: string | undefined, meta: SessionMeta): JsonRpcMessage | null {
    return this.#dispatcher.toClient(message, method, meta.clientVersion);
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
    this.#backendListeners.clear();
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

function touchInterval(meta: SessionMeta): number {
  return Math.min(TOUCH_INTERVAL_MS, Math.floor(meta.idleMs / 4));
}

function json(body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json", ...headers } });
}

function sseResponse(body: ReadableStream<Uint8Array>): Response {
  return new Response(body, { status: 200, headers: SSE_HEADERS });
}
