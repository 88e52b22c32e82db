/**
 * Relaying one client request to the backend that owns it, and everything that flows back.
 *
 * Ids: the backend sees a session-unique id the gateway minted, never the client's, so no two
 * requests in flight can be confused however the clients number theirs. Progress tokens are
 * minted the same way and mapped back. Server-to-client requests (sampling, elicitation, roots)
 * reach the client under `<backend>:<n>` ids, recorded in storage until the client answers.
 */
import { filterMessage } from "../broker/filter.ts";
import { LIST_CHANGED } from "../broker/merge.ts";
import { GatewayError } from "../protocol/errors.ts";
import { asRecord, isRequest, isResponse, type JsonRpcError, type JsonRpcMessage, type JsonRpcRequest, type JsonRpcResponse, type RequestId } from "../protocol/jsonrpc.ts";
import type { BackendConfig } from "../tenant/schema.ts";
import { GrantRequiredError, UpstreamError } from "../upstream/errors.ts";
import { forUser, type ClientAnswers } from "./consent.ts";
import { confirmFirst, type Confirmation } from "./approvals.ts";
import { toClientError } from "./answers.ts";
import type { Backends } from "./backends.ts";
import type { Catalog } from "./catalog.ts";
import { bounded } from "./fanout.ts";
import { MODERN_VERSION, paramHeaders } from "../protocol/modern.ts";
import type { EngineHost } from "./host.ts";
import { TRACE_META_KEY } from "../observe/trace.ts";

/** The client capability each server-to-client request needs (2025-11-25 client/*). */
const REQUIRED_CAPABILITY: Record<string, string> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots",
};

/** Input rounds one call may take with a modern backend before the gateway stops it (a loop guard). */
export const MAX_INPUT_ROUNDS = 8;
/** How long a call waits for the client to answer an input request (a person may be typing). */
export const INPUT_WAIT_MS = 10 * 60_000;

/** The client answered an input request with an error; the call ends with that error. */
class ClientAnswerError extends Error {
  readonly error: JsonRpcError["error"];
  constructor(error: JsonRpcError["error"]) {
    super(error.message);
    this.error = error;
  }
}

/** A result asking for more input (2026-07-28 basic/patterns/mrtr "InputRequiredResult"). */
function isInputRequired(response: JsonRpcResponse): response is JsonRpcResponse & { result: Record<string, unknown> } {
  return "result" in response && response.result.resultType === "input_required";
}

/** Who and what a call is for, injected into backend requests where the backend's config asks. */
export interface CallContext {
  tenant: string;
  principal: string;
  traceparent: string;
  /** The caller's yes this call waits for, asked in its stream (engine/approvals.ts). */
  confirm?: Confirmation | undefined;
}

/** The `_meta` key under which context is injected (a reverse-DNS prefix, 2025-11-25 basic/index "_meta"). */
export const CONTEXT_META_KEY = "io.edge-mcp-gateway/context";

interface InFlight {
  backend: BackendConfig;
  /** The id of the request now at the backend (a retry after input gets a new one). */
  upstreamId: RequestId;
  controller: AbortController;
  cancelled: boolean;
}

/** The engine parts a relay works with. */
export interface RelayParts {
  backends: Backends;
  catalog: Catalog;
}

export class Relay {
  readonly #host: EngineHost;
  readonly #backends: Backends;
  readonly #catalog: Catalog;
  readonly #inflight = new Map<string, InFlight>();
  /** upstream progress token -> the client's token */
  readonly #progress = new Map<string, RequestId>();
  /** gateway id of an input request asked for a modern backend -> what to do with the answer */
  readonly #inputWaiters = new Map<string, (response: JsonRpcResponse) => void>();

  constructor(host: EngineHost, parts: RelayParts) {
    this.#host = host;
    this.#backends = parts.backends;
    this.#catalog = parts.catalog;
  }

  /**
   * Sends `request` (params already rewritten to the backend's names) and yields the messages
   * for the client: notifications and server-to-client requests as they come, the response last.
   * Failures become a JSON-RPC error for this request; a cancelled request yields nothing more.
   */
  async *call(
    request: JsonRpcRequest,
    backend: BackendConfig,
    params: Record<string, unknown>,
    stream: string,
    context: CallContext,
  ): AsyncIterable<JsonRpcMessage> {
    const key = JSON.stringify(request.id);
    const upstreamId = this.#host.store.nextCounter();
    const controller = new AbortController();
    const flight: InFlight = { backend, upstreamId, controller, cancelled: false };
    this.#inflight.set(key, flight);

    const meta: Record<string, unknown> = { ...(params._meta as Record<string, unknown> | undefined) };
    const clientToken = meta.progressToken;
    let upstreamToken: string | undefined;
    if (typeof clientToken === "string" || typeof clientToken === "number") {
      upstreamToken = `p${upstreamId}`;
      this.#progress.set(upstreamToken, clientToken);
      meta.progressToken = upstreamToken;
    }
    const facts = { tenant: context.tenant, principal: context.principal, requestId: String(request.id), traceparent: context.traceparent };
    if (backend.inject.meta) meta[CONTEXT_META_KEY] = facts;
    // Trace context always travels, header and _meta (worker/observe/trace.ts; 2026-07-28 basic/index).
    meta[TRACE_META_KEY] = facts.traceparent;
    const upstreamParams = Object.keys(meta).length > 0 ? { ...params, _meta: meta } : params;
    const headers: Record<string, string> = backend.inject.headers
      ? { "x-mcp-tenant": facts.tenant, "x-mcp-principal": facts.principal, "x-request-id": facts.requestId, traceparent: facts.traceparent }
      : { traceparent: facts.traceparent };
    const upstreamRequest: JsonRpcRequest = { jsonrpc: "2.0", id: upstreamId, method: request.method, params: upstreamParams };
    const started = Date.now();
    let outcome = "cancelled"; // observed: what the backend did (metrics, backend health)
    try {
      const answers: ClientAnswers = (id, signal) => this.#clientAnswer(id, signal);
      const run = () => forUser(this.#host, backend, upstreamRequest, context, () => this.#run(flight, upstreamRequest, stream, headers), answers, controller.signal);
      const response = yield* confirmFirst(this.#host, context.confirm, answers, controller.signal, run);
      outcome = "error" in response ? "rpc_error" : "ok";
      if (flight.cancelled) return;
      yield await this.#catalog.exposeUris(backend.name, { ...response, id: request.id } as JsonRpcResponse, this.#host.config());
    } catch (error) {
      outcome = error instanceof UpstreamError ? error.kind : "error";
      if (flight.cancelled) return;
      if (error instanceof GrantRequiredError) {
        // The user's grant is gone (refused by the backend, or its refresh was): the backend's
        // own items leave this user's lists until they connect again, and the client hears so.
        this.#catalog.invalidate(backend.name, ["tools", "prompts", "resources", "resourceTemplates"]);
        yield { jsonrpc: "2.0", method: "notifications/tools/list_changed" };
      }
      // The client refused an input request: its own error answers the call it was asked for.
      if (error instanceof ClientAnswerError) yield { jsonrpc: "2.0", id: request.id, error: error.error };
      else yield toClientError(request.id, error);
    } finally {
      const observed = { tenant: context.tenant, backend: backend.name, method: request.method, outcome, requestId: facts.requestId, traceparent: facts.traceparent, stream };
      this.#host.observer.backendCall({ ...observed, tool: typeof params.name === "string" ? params.name : undefined, durationMs: Date.now() - started });
      this.#inflight.delete(key);
      if (upstreamToken) this.#progress.delete(upstreamToken);
    }
  }

  /** The client cancelled one of its requests (2025-11-25 basic/utilities/cancellation). */
  async cancel(clientId: unknown, reason: unknown): Promise<void> {
    const flight = this.#inflight.get(JSON.stringify(clientId));
    if (!flight || flight.cancelled) return;
    flight.cancelled = true;
    const params: Record<string, unknown> = { requestId: flight.upstreamId };
    if (typeof reason === "string") params.reason = reason;
    try {
      await bounded(flight.backend.timeoutMs, async (signal) => {
        const upstream = await this.#backends.get(flight.backend, signal);
        await upstream.send({ jsonrpc: "2.0", method: "notifications/cancelled", params }, signal);
      });
    } catch {
      // The backend may already be gone; the local abort below still frees the session.
    }
    flight.controller.abort();
  }

  /** Cancels every request in flight (session ending). */
  abortAll(): void {
    for (const flight of this.#inflight.values()) {
      flight.cancelled = true;
      flight.controller.abort();
    }
  }

  /** The client answered a server-to-client request; its answer goes to the backend that asked. */
  async answer(response: JsonRpcResponse, backends: readonly BackendConfig[]): Promise<boolean> {
    if (response.id === null || response.id === undefined) return false;
    const waiter = this.#inputWaiters.get(String(response.id));
    if (waiter) {
      this.#inputWaiters.delete(String(response.id));
      waiter(response);
      return true;
    }
    const pending = this.#host.store.takePending(String(response.id));
    if (!pending) return false;
    const backend = backends.find((b) => b.name === pending.backend);
    if (!backend) return false;
    const upstreamId = JSON.parse(pending.upstreamId) as RequestId;
    return bounded(backend.timeoutMs, async (signal) => {
      const upstream = await this.#backends.get(backend, signal);
      const outbound = toBackend({ ...response, id: upstreamId } as JsonRpcResponse, upstream.info?.protocolVersion);
      if (!outbound) return false;
      await upstream.send(outbound as JsonRpcResponse, signal);
      return true;
    });
  }

  /**
   * Maps one message a backend sent (during a call or on its own stream) to what the client
   * should get, or null when the gateway handles it itself or it must not reach the client.
   */
  async inbound(backend: BackendConfig, message: JsonRpcMessage, stream: string): Promise<JsonRpcMessage | null> {
    if (isRequest(message)) return this.#serverRequest(backend, message, stream);
    if (isResponse(message)) return null; // responses are matched by the caller; strays are dropped
    const params = message.params ?? {};
    switch (message.method) {
      case "notifications/progress": {
        const token = params.progressToken;
        const clientToken = typeof token === "string" ? this.#progress.get(token) : undefined;
        // Progress for a token this session did not mint (or no longer tracks) goes nowhere.
        return clientToken === undefined ? null : { ...message, params: { ...params, progressToken: clientToken } };
      }
      case "notifications/cancelled": {
        const pending = this.#host.store.findPendingByUpstream(backend.name, JSON.stringify(params.requestId ?? null));
        if (!pending) return null;
        this.#host.store.takePending(pending.gwId);
        return { ...message, params: { ...params, requestId: pending.gwId } };
      }
      case "notifications/resources/updated":
        // The URI as this client knows it (broker/uris.ts), so its subscription matches.
        return this.#catalog.exposeUris(backend.name, message, this.#host.config());
      default: {
        const kinds = LIST_CHANGED[message.method];
        if (kinds) this.#catalog.invalidate(backend.name, kinds);
        return message;
      }
    }
  }

  /** Waits for the client's answer to a request the gateway itself sent it (engine/consent.ts). */
  #clientAnswer(id: string, signal: AbortSignal): Promise<JsonRpcResponse> {
    return new Promise((resolve, reject) => {
      signal.addEventListener("abort", () => reject(new Error("cancelled", { cause: this.#inputWaiters.delete(id) })), { once: true });
      this.#inputWaiters.set(id, resolve);
    });
  }

  async *#run(flight: InFlight, request: JsonRpcRequest, stream: string, callHeaders: Record<string, string>): AsyncGenerator<JsonRpcMessage, JsonRpcResponse> {
    let headers = callHeaders;
    const { backend, controller } = flight;
    let upstream = await this.#backends.get(backend, controller.signal);
    if (!toBackend(request, upstream.info?.protocolVersion)) throw new GatewayError("forbidden", { detail: "filtered" });
    if (upstream.info?.protocolVersion === MODERN_VERSION && request.method === "tools/call") {
      // Mcp-Param-* headers recomputed from the backend's own definition, after the name was
      // restored (2026-07-28 streamable-http "Custom Headers from Tool Parameters").
      const definition = this.#catalog.cachedDefinition(backend.name, String(request.params?.name));
      headers = { ...headers, ...paramHeaders(definition?.inputSchema, asRecord(request.params?.arguments)) };
    }
    let current = request;
    for (let round = 0; ; round++) {
      const iterator = upstream.request(current, controller.signal, headers)[Symbol.asyncIterator]();
      // Pull the first message before yielding anything, so an expired upstream session is
      // detected (and the request re-sent on a new one) before the client saw any of it.
      let first: IteratorResult<JsonRpcMessage> | null;
      let active = iterator;
      try {
        first = await iterator.next();
      } catch (error) {
        if (!(error instanceof UpstreamError) || error.kind !== "session_expired") throw error;
        upstream = await this.#backends.reinitialize(backend, controller.signal);
        active = upstream.request(current, controller.signal, headers)[Symbol.asyncIterator]();
        first = null;
      }
      const response = yield* this.#drain(backend, current, active, first, stream);
      // A modern client takes an InputRequiredResult as it is (the session wraps its requestState).
      if (!isInputRequired(response) || this.#host.client().version === MODERN_VERSION) return response;
      // A modern backend asked for input (2026-07-28 basic/patterns/mrtr). A legacy client knows
      // server-to-client requests instead: ask it those on its stream, then retry with the answers.
      if (round >= MAX_INPUT_ROUNDS) throw new UpstreamError("bad_response", backend.name, `more than ${MAX_INPUT_ROUNDS} input rounds`);
      const answers = yield* this.#askClient(backend, response.result, stream, controller.signal);
      const retryParams: Record<string, unknown> = { ...(request.params ?? {}), inputResponses: answers };
      if (typeof response.result.requestState === "string") retryParams.requestState = response.result.requestState;
      current = { jsonrpc: "2.0", id: this.#host.store.nextCounter(), method: request.method, params: retryParams };
      flight.upstreamId = current.id;
    }
  }

  /** Relays one reply stream until its response, which it returns. */
  async *#drain(
    backend: BackendConfig,
    request: JsonRpcRequest,
    iterator: AsyncIterator<JsonRpcMessage>,
    first: IteratorResult<JsonRpcMessage> | null,
    stream: string,
  ): AsyncGenerator<JsonRpcMessage, JsonRpcResponse> {
    try {
      let step = first ?? (await iterator.next());
      while (!step.done) {
        const message = step.value;
        if (isResponse(message) && message.id === request.id) return message;
        const mapped = await this.inbound(backend, message, stream);
        if (mapped) yield mapped;
        step = await iterator.next();
      }
    } finally {
      await iterator.return?.();
    }
    throw new UpstreamError("bad_response", backend.name, "reply ended without a response");
  }

  /**
   * Turns an InputRequiredResult's `inputRequests` into server-to-client requests for a legacy
   * client and collects its answers, keyed as the backend keyed the requests (`inputResponses`).
   */
  async *#askClient(backend: BackendConfig, result: Record<string, unknown>, stream: string, signal: AbortSignal): AsyncGenerator<JsonRpcMessage, Record<string, unknown>> {
    const requests = asRecord(result.inputRequests);
    const answers: Record<string, unknown> = {};
    const waits: Promise<void>[] = [];
    const asked: { gwId: string; timer: ReturnType<typeof setTimeout> }[] = [];
    try {
      for (const [key, value] of Object.entries(requests)) {
        const input = asRecord(value);
        const method = typeof input.method === "string" ? input.method : "";
        const capability = REQUIRED_CAPABILITY[method];
        if (capability === undefined || typeof this.#host.client().capabilities[capability] !== "object") {
          throw new GatewayError("client_capability_missing", { detail: `input request ${method}` });
        }
        const gwId = `${backend.name}:${this.#host.store.nextCounter()}`;
        const wait = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new UpstreamError("timeout", backend.name, "the client did not answer an input request in time")), INPUT_WAIT_MS);
          asked.push({ gwId, timer });
          this.#inputWaiters.set(gwId, (response) => {
            clearTimeout(timer);
            if ("result" in response) {
              answers[key] = response.result;
              resolve();
            } else {
              reject(new ClientAnswerError(response.error));
            }
          });
        });
        // Observed by Promise.all below; this keeps a rejection that comes while later requests
        // are still being asked from counting as unhandled.
        wait.catch(() => {});
        waits.push(wait);
        yield { jsonrpc: "2.0", id: gwId, method, params: asRecord(input.params) };
      }
      // The call's cancellation ends the wait at once (the client cancelled, or closed the stream).
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(new UpstreamError("cancelled", backend.name, "cancelled while waiting for the client's input"));
        if (signal.aborted) return onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
        Promise.all(waits).then(() => resolve(), reject).finally(() => signal.removeEventListener("abort", onAbort));
      });
      return answers;
    } finally {
      // Answered, failed, cancelled or abandoned: no timer and no waiter outlives the call.
      for (const { gwId, timer } of asked) {
        clearTimeout(timer);
        this.#inputWaiters.delete(gwId);
      }
    }
  }

  async #serverRequest(backend: BackendConfig, request: JsonRpcRequest, stream: string): Promise<JsonRpcMessage | null> {
    const reply = async (response: JsonRpcResponse) => {
      await bounded(backend.timeoutMs, async (signal) => {
        const upstream = await this.#backends.get(backend, signal);
        await upstream.send(response, signal);
      }).catch(() => {});
    };
    // 2025-11-25 basic/utilities/ping: either side may ping; the gateway answers for its client.
    if (request.method === "ping") {
      await reply({ jsonrpc: "2.0", id: request.id, result: {} });
      return null;
    }
    const capability = REQUIRED_CAPABILITY[request.method];
    const declared = capability !== undefined && typeof this.#host.client().capabilities[capability] === "object";
    if (!declared) {
      // The client never said it can do this, so it must not be asked (2025-11-25 basic/lifecycle "Capability Negotiation").
      await reply(new GatewayError("client_capability_missing").toRpc(request.id) as JsonRpcResponse);
      return null;
    }
    const gwId = `${backend.name}:${this.#host.store.nextCounter()}`;
    this.#host.store.addPending(
      { gwId, backend: backend.name, upstreamId: JSON.stringify(request.id), stream, method: request.method },
      Date.now(),
    );
    return { ...request, id: gwId };
  }
}

/** The filter point for what leaves towards a backend (worker/broker/filter.ts). */
function toBackend(message: JsonRpcMessage, version: string | undefined): JsonRpcMessage | null {
  return filterMessage(message, { direction: "to-backend", peerVersion: version ?? "2025-03-26" });
}
