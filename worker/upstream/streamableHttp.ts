/**
 * Client side of the Streamable HTTP transport (MCP 2025-03-26 .. 2025-11-25 basic/transports),
 * one instance per backend per client session.
 *
 * Replies are read as they arrive: a JSON body is one message (or a batch); an SSE body yields
 * each event's message as soon as it is parsed, so progress reaches the client while the tool
 * runs. A stream that ends before the response is resumed with GET + Last-Event-ID
 * (2025-11-25 basic/transports "Resumability and Redelivery").
 */
import { asRecord, classify, isResponse, type JsonRpcMessage, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse, type RequestId } from "../protocol/jsonrpc.ts";
import { isContentType, JSON_TYPE, SSE_TYPE } from "../protocol/mediaType.ts";
import { BodyTooLargeError, readTextCapped } from "../protocol/body.ts";
import { decodeEvents, type SseEvent } from "../protocol/sse.ts";
import { LATEST_LEGACY_VERSION, isSupportedLegacyVersion } from "../protocol/versions.ts";
import { legacyRequest, META, MODERN_VERSION, requestHeaders, requestMeta } from "../protocol/modern.ts";
import { knownEra, rememberEra } from "./era.ts";
import { idleLimit, sleep } from "./idle.ts";
import { UpstreamError } from "./errors.ts";
import type { Fetcher, HeaderSource, Upstream, UpstreamInfo } from "./types.ts";

/** A JSON reply larger than this is refused: bodies that big belong in a stream. */
export const MAX_UPSTREAM_JSON_BYTES = 16 * 1024 * 1024;
/** One SSE event larger than this ends the stream (a backend gone wrong must not exhaust memory). */
export const MAX_UPSTREAM_EVENT_BYTES = 8 * 1024 * 1024;
/** How many times a dropped reply stream is resumed before the call fails. */
export const MAX_RESUME_ATTEMPTS = 3;
/** Wait before resuming when the backend sent no `retry` field. */
export const DEFAULT_RESUME_DELAY_MS = 100;
/** Cap on a backend-requested `retry` delay, so a backend cannot park a call for long. */
export const MAX_RESUME_DELAY_MS = 5_000;

export interface StreamableHttpOptions {
  backend: string;
  url: string;
  fetcher: Fetcher;
  /** Headers from config and secrets; never anything the client sent. */
  headers: Record<string, string>;
  /** Credentials computed per request (OAuth tokens); merged over `headers`. */
  dynamicHeaders?: HeaderSource;
  /** The backend's era when known from config; "auto" probes with `server/discover` first. */
  era?: "auto" | "legacy" | "modern";
  /** What a modern backend is told about the client on every request (2026-07-28 `_meta`). */
  client?: () => { capabilities: Record<string, unknown>; info: Record<string, unknown>; logLevel?: string | undefined };
  /** Resource URIs whose updates the listen stream of a modern backend should carry. */
  resourceSubscriptions?: () => string[];
  /** Where the backend is, for the isolate's era memo (era.ts); the URL when not given. */
  eraKey?: string;
  /** Idle limit: no byte from the backend for this long fails the call. */
  timeoutMs: number;
  info?: UpstreamInfo | null;
}


export class StreamableHttpUpstream implements Upstream {
  readonly backend: string;
  #info: UpstreamInfo | null;
  readonly #opts: StreamableHttpOptions;

  constructor(opts: StreamableHttpOptions) {
    this.backend = opts.backend;
    this.#opts = opts;
    this.#info = opts.info ?? null;
  }

  get info(): UpstreamInfo | null {
    return this.#info;
  }

  /** True when the backend speaks the stateless 2026-07-28 revision. */
  get modern(): boolean {
    return this.#info?.protocolVersion === MODERN_VERSION;
  }

  async initialize(params: Record<string, unknown>, signal: AbortSignal): Promise<UpstreamInfo> {
    // Each initialize starts a new upstream session; a stale id must not be sent with it.
    this.#info = null;
    const era = this.#opts.era ?? "auto";
    // Era detection (2026-07-28 basic/versioning "Backward Compatibility"): try the modern
    // `server/discover`; a legacy server answers it with an HTTP or JSON-RPC error.
    const eraKey = this.#opts.eraKey ?? this.#opts.url;
    if (era === "modern" || (era === "auto" && knownEra(eraKey) !== "legacy")) {
      const modern = await this.#discover(signal);
      if (modern) {
        rememberEra(eraKey, "modern");
        this.#info = modern;
        return modern;
      }
      if (era === "modern") throw new UpstreamError("bad_response", this.backend, "server/discover failed on a backend configured as modern");
      rememberEra(eraKey, "legacy");
    }
    const request: JsonRpcRequest = {
      jsonrpc: "2.0",
      id: "gw-init",
      method: "initialize",
      params: { ...params, protocolVersion: LATEST_LEGACY_VERSION },
    };
    const { response, sessionId } = await this.#post(request, signal);
    let reply: JsonRpcResponse | undefined;
    for await (const message of this.#replies(response, request.id, signal)) {
      if (isResponse(message)) reply = message;
    }
    if (!reply || "error" in reply) {
      throw new UpstreamError("bad_response", this.backend, `initialize failed: ${reply ? reply.error.message : "no response"}`);
    }
    const result = reply.result;
    const version = typeof result.protocolVersion === "string" ? result.protocolVersion : "";
    if (!isSupportedLegacyVersion(version)) {
      throw new UpstreamError("bad_response", this.backend, `unsupported protocol version ${JSON.stringify(version)}`);
    }
    const info: UpstreamInfo = {
      backend: this.backend,
      sessionId,
      protocolVersion: version,
      capabilities: asRecord(result.capabilities),
      serverInfo: asRecord(result.serverInfo),
    };
    if (typeof result.instructions === "string") info.instructions = result.instructions;
    this.#info = info;
    // 2025-11-25 basic/lifecycle "Initialization": the client sends `initialized` after the result.
    await this.send({ jsonrpc: "2.0", method: "notifications/initialized" }, signal);
    return info;
  }

  async *request(message: JsonRpcRequest, signal: AbortSignal, headers?: Record<string, string>): AsyncIterable<JsonRpcMessage> {
    const { body, extra } = this.modern ? this.#modernRequest(message) : { body: legacyRequest(message), extra: {} };
    const { response } = await this.#post(body, signal, { ...extra, ...headers });
    yield* this.#replies(response, message.id, signal);
  }

  async send(message: JsonRpcNotification | JsonRpcResponse, signal: AbortSignal): Promise<void> {
    // 2026-07-28: no client notifications or responses travel over Streamable HTTP; a call is
    // cancelled by closing its stream (the caller aborts it), and input goes in a retry (MRTR).
    if (this.modern) return;
    const { response } = await this.#post(message, signal);
    // 2025-11-25 basic/transports: notifications and responses are answered 202 with no body.
    await response.body?.cancel().catch(() => {});
  }

  async listen(signal: AbortSignal): Promise<AsyncIterable<JsonRpcMessage> | null> {
    if (this.modern) return this.#subscribe(signal);
    const response = await this.#fetch("GET", null, signal, { accept: SSE_TYPE });
    // 2025-11-25 basic/transports "Listening for Messages": 405 means no GET stream is offered.
    if (response.status === 405 || !response.ok || !isContentType(response.headers.get("content-type"), SSE_TYPE)) {
      await response.body?.cancel().catch(() => {});
      return null;
    }
    return this.#sseMessages(response, null, signal);
  }

  async terminate(signal: AbortSignal): Promise<void> {
    if (this.modern || !this.#info?.sessionId) return;
    try {
      const response = await this.#fetch("DELETE", null, signal, {});
      await response.body?.cancel().catch(() => {});
    } catch {
      // Best effort: the backend expires the session on its own.
    }
    this.#info = null;
  }

  /** The body and headers of a request to a modern backend: `_meta` filled in, headers mirrored. */
  #modernRequest(message: JsonRpcRequest): { body: JsonRpcRequest; extra: Record<string, string> } {
    const client = this.#opts.client?.() ?? { capabilities: {}, info: {} };
    const params = { ...(message.params ?? {}), _meta: requestMeta(message.params?._meta, client) };
    return {
      body: { ...message, params },
      extra: { ...requestHeaders(message.method, params), "mcp-protocol-version": MODERN_VERSION },
    };
  }

  /** `server/discover`: the backend's info when it speaks 2026-07-28, null when it is legacy. */
  async #discover(signal: AbortSignal): Promise<UpstreamInfo | null> {
    const request: JsonRpcRequest = { jsonrpc: "2.0", id: "gw-discover", method: "server/discover" };
    const previous = this.#info;
    // #modernRequest reads the era from #info, so build the request as if modern.
    this.#info = { backend: this.backend, sessionId: null, protocolVersion: MODERN_VERSION, capabilities: {}, serverInfo: {} };
    const { body, extra } = this.#modernRequest(request);
    this.#info = previous;
    let reply: JsonRpcResponse | undefined;
    try {
      const { response } = await this.#post(body, signal, extra);
      for await (const message of this.#replies(response, request.id, signal)) if (isResponse(message)) reply = message;
    } catch (error) {
      // 400/404/405 are how legacy servers refuse a request outside a session: fall back.
      if (error instanceof UpstreamError && (error.kind === "http_status" || error.kind === "bad_response")) return null;
      throw error;
    }
    if (!reply || "error" in reply) return null;
    const result = reply.result;
    const versions = Array.isArray(result.supportedVersions) ? result.supportedVersions : [];
    if (!versions.includes(MODERN_VERSION)) return null;
    const info: UpstreamInfo = {
      backend: this.backend,
      sessionId: null,
      protocolVersion: MODERN_VERSION,
      capabilities: asRecord(result.capabilities),
      serverInfo: asRecord(asRecord(result._meta)[META.serverInfo]),
    };
    if (typeof result.instructions === "string") info.instructions = result.instructions;
    return info;
  }

  /**
   * The modern replacement of the GET stream: `subscriptions/listen` for every list change
   * (2026-07-28 basic/patterns/subscriptions). The acknowledgement is the gateway's, not the client's.
   */
  async #subscribe(signal: AbortSignal): Promise<AsyncIterable<JsonRpcMessage> | null> {
    const request: JsonRpcRequest = {
      jsonrpc: "2.0",
      id: "gw-listen",
      method: "subscriptions/listen",
      params: {
        notifications: {
          toolsListChanged: true,
          promptsListChanged: true,
          resourcesListChanged: true,
          resourceSubscriptions: this.#opts.resourceSubscriptions?.() ?? [],
        },
      },
    };
    const { body, extra } = this.#modernRequest(request);
    const { response } = await this.#post(body, signal, extra);
    if (!isContentType(response.headers.get("content-type"), SSE_TYPE)) {
      await response.body?.cancel().catch(() => {});
      return null;
    }
    const messages = this.#sseMessages(response, null, signal);
    return (async function* () {
      for await (const message of messages) {
        if ("method" in message && message.method === "notifications/subscriptions/acknowledged") continue;
        yield message;
      }
    })();
  }

  async #post(message: JsonRpcMessage, signal: AbortSignal, headers: Record<string, string> = {}): Promise<{ response: Response; sessionId: string | null }> {
    const response = await this.#fetch("POST", JSON.stringify(message), signal, {
      ...headers,
      accept: `${JSON_TYPE}, ${SSE_TYPE}`,
      "content-type": JSON_TYPE,
    });
    if (response.status === 404 && this.#info?.sessionId) {
      await response.body?.cancel().catch(() => {});
      // 2025-11-25 basic/transports "Session Management": 404 means the session is gone.
      throw new UpstreamError("session_expired", this.backend, "upstream session expired", 404);
    }
    // A modern backend answers a request it refuses with 400/404 and a JSON-RPC error body
    // (2026-07-28 streamable-http, e.g. -32021 MissingRequiredClientCapability): that error is
    // the answer to relay, not a transport failure. Bodies are read as replies, so they are capped.
    const modernError = this.modern && !response.ok && response.status < 500 && isContentType(response.headers.get("content-type"), JSON_TYPE);
    if (!response.ok && !modernError) {
      await response.body?.cancel().catch(() => {});
      throw new UpstreamError("http_status", this.backend, `HTTP ${response.status}`, response.status);
    }
    return { response, sessionId: response.headers.get("mcp-session-id") };
  }

  async #fetch(method: string, body: string | null, signal: AbortSignal, extra: Record<string, string>): Promise<Response> {
    const headers = new Headers(this.#opts.headers);
    if (this.#opts.dynamicHeaders) for (const [k, v] of Object.entries(await this.#opts.dynamicHeaders(signal))) headers.set(k, v);
    for (const [k, v] of Object.entries(extra)) headers.set(k, v);
    if (this.#info?.sessionId && !this.modern) headers.set("mcp-session-id", this.#info.sessionId);
    if (this.#info) headers.set("mcp-protocol-version", this.#info.protocolVersion);
    // The timeout covers waiting for headers only; a long reply stream is bounded by the idle
    // timeout in #sseMessages instead, so a tool that streams progress for minutes keeps going.
    const headersTimeout = new AbortController();
    const timer = setTimeout(() => headersTimeout.abort(), this.#opts.timeoutMs);
    try {
      return await this.#opts.fetcher(
        new Request(this.#opts.url, { method, headers, body, signal: AbortSignal.any([signal, headersTimeout.signal]) }),
      );
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      if (signal.aborted) throw new UpstreamError("cancelled", this.backend, "cancelled by the client");
      if (headersTimeout.signal.aborted) {
        throw new UpstreamError("timeout", this.backend, `no answer within ${this.#opts.timeoutMs} ms`);
      }
      throw new UpstreamError("unreachable", this.backend, error instanceof Error ? error.message : String(error));
    } finally {
      clearTimeout(timer);
    }
  }

  async *#replies(response: Response, id: RequestId, signal: AbortSignal): AsyncIterable<JsonRpcMessage> {
    const type = response.headers.get("content-type");
    if (isContentType(type, SSE_TYPE)) {
      yield* this.#sseMessages(response, id, signal);
      return;
    }
    if (response.status === 202 || !isContentType(type, JSON_TYPE)) {
      await response.body?.cancel().catch(() => {});
      throw new UpstreamError("bad_response", this.backend, `unexpected reply (${response.status} ${type ?? "no content type"})`);
    }
    let text: string;
    try {
      text = await readTextCapped(response, MAX_UPSTREAM_JSON_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw new UpstreamError("bad_response", this.backend, error.message);
      throw this.#readError(error, signal);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new UpstreamError("bad_response", this.backend, "reply is not JSON");
    }
    for (const value of Array.isArray(parsed) ? parsed : [parsed]) {
      const message = toMessage(value);
      if (message) yield message;
    }
  }

  /**
   * Yields the messages of an SSE reply. With `id` set, the stream is the reply to that request:
   * it ends at the response, and a stream that drops before the response is resumed.
   */
  async *#sseMessages(response: Response, id: RequestId | null, signal: AbortSignal): AsyncIterable<JsonRpcMessage> {
    let current: Response | null = response;
    let lastEventId: string | undefined;
    let retryMs = DEFAULT_RESUME_DELAY_MS;
    for (let attempt = 0; current !== null; attempt++) {
      const events = decodeEvents(current.body ?? new ReadableStream()).getReader();
      // A reply stream is bounded by the idle limit; a listen stream (no id) may rightly stay
      // quiet for hours, and ends only when the backend closes it or the session aborts it.
      const limit = id === null ? null : idleLimit(events, signal, this.#opts.timeoutMs, this.backend);
      try {
        for (;;) {
          const { done, value } = limit ? await limit.read() : await events.read();
          if (done) break;
          const event: SseEvent = value;
          if (event.id) lastEventId = event.id;
          // Read before priming events are skipped: the retry usually comes with one.
          if (event.retry !== undefined) retryMs = event.retry;
          if (event.data.length > MAX_UPSTREAM_EVENT_BYTES) {
            throw new UpstreamError("bad_response", this.backend, "SSE event too large");
          }
          // Priming events carry an id and empty data (2025-11-25 basic/transports, POST item 6).
          if (event.data.trim() === "" || (event.event !== undefined && event.event !== "message")) continue;
          let parsed: unknown;
          try {
            parsed = JSON.parse(event.data);
          } catch {
            throw new UpstreamError("bad_response", this.backend, "SSE event is not JSON");
          }
          const message = toMessage(parsed);
          if (!message) continue;
          yield message;
          if (id !== null && isResponse(message) && message.id === id) return;
        }
      } catch (error) {
        if (error instanceof UpstreamError) throw error;
        throw this.#readError(error, signal);
      } finally {
        limit?.stop();
        await events.cancel().catch(() => {});
      }
      current = null;
      if (id === null) return; // a GET stream that ends is simply over
      if (lastEventId === undefined || attempt >= MAX_RESUME_ATTEMPTS) {
        throw new UpstreamError("bad_response", this.backend, "reply stream ended before the response");
      }
      await sleep(Math.min(retryMs, MAX_RESUME_DELAY_MS), signal);
      const resumed = await this.#fetch("GET", null, signal, { accept: SSE_TYPE, "last-event-id": lastEventId });
      if (!resumed.ok || !isContentType(resumed.headers.get("content-type"), SSE_TYPE)) {
        await resumed.body?.cancel().catch(() => {});
        throw new UpstreamError("bad_response", this.backend, `resume failed with HTTP ${resumed.status}`);
      }
      current = resumed;
    }
  }

  #readError(error: unknown, signal: AbortSignal): UpstreamError {
    if (signal.aborted) return new UpstreamError("cancelled", this.backend, "cancelled by the client");
    return new UpstreamError("unreachable", this.backend, `stream broke: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function toMessage(value: unknown): JsonRpcMessage | null {
  const classified = classify(value);
  // A backend's malformed message is dropped, not relayed: the client must only see valid JSON-RPC.
  return classified.kind === "invalid" ? null : classified.message;
}
