/**
 * Client side of the 2024-11-05 HTTP+SSE transport (spec 2024-11-05 basic/transports "HTTP with
 * SSE"): one long-lived GET stream carries everything the backend sends; its first event,
 * `endpoint`, names the URL every client message is POSTed to.
 *
 * The transport has no way to tie a backend's message to the request it concerns except the
 * response id and the progress token, so: responses go to their request, progress to the request
 * whose token it carries, and other messages to the one request in flight when there is exactly
 * one, else to the session's standalone stream.
 *
 * The stream lives in memory: after an eviction the backend's session is gone with it, so calls
 * report `session_expired` and the session re-initializes this backend.
 */
import { classify, isRequest, isResponse, type JsonRpcMessage, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse } from "../protocol/jsonrpc.ts";
import { isContentType, JSON_TYPE, SSE_TYPE } from "../protocol/mediaType.ts";
import { decodeEvents } from "../protocol/sse.ts";
import { legacyRequest } from "../protocol/modern.ts";
import { UpstreamError } from "./errors.ts";
import { AsyncQueue } from "./queue.ts";
import type { StreamableHttpOptions } from "./streamableHttp.ts";
import type { Upstream, UpstreamInfo } from "./types.ts";

interface Call {
  queue: AsyncQueue<JsonRpcMessage>;
  progressToken: unknown;
}

export class LegacySseUpstream implements Upstream {
  readonly backend: string;
  readonly #opts: StreamableHttpOptions;
  #info: UpstreamInfo | null;
  #endpoint: string | null = null;
  #stream: AbortController | null = null;
  readonly #calls = new Map<string, Call>();
  readonly #unsolicited = new AsyncQueue<JsonRpcMessage>();
  #nextId = 1;

  constructor(opts: StreamableHttpOptions) {
    this.backend = opts.backend;
    this.#opts = opts;
    // Restored info is kept for its capabilities, but without a live stream the session is gone.
    this.#info = opts.info ?? null;
  }

  get info(): UpstreamInfo | null {
    return this.#info;
  }

  async initialize(params: Record<string, unknown>, signal: AbortSignal): Promise<UpstreamInfo> {
    this.#close();
    await this.#connect(signal);
    const id = `gw-init-${this.#nextId++}`;
    let reply: JsonRpcResponse | undefined;
    for await (const message of this.#call({ jsonrpc: "2.0", id, method: "initialize", params: { ...params, protocolVersion: "2024-11-05" } }, signal)) {
      if (isResponse(message)) reply = message;
    }
    if (!reply || "error" in reply) throw new UpstreamError("bad_response", this.backend, "initialize failed");
    const result = reply.result;
    const info: UpstreamInfo = {
      backend: this.backend,
      sessionId: null,
      protocolVersion: typeof result.protocolVersion === "string" ? result.protocolVersion : "2024-11-05",
      capabilities: (result.capabilities as Record<string, unknown>) ?? {},
      serverInfo: (result.serverInfo as Record<string, unknown>) ?? {},
      endpoint: this.#endpoint ?? "",
    };
    if (typeof result.instructions === "string") info.instructions = result.instructions;
    this.#info = info;
    await this.send({ jsonrpc: "2.0", method: "notifications/initialized" }, signal);
    return info;
  }

  async *request(message: JsonRpcRequest, signal: AbortSignal, headers?: Record<string, string>): AsyncIterable<JsonRpcMessage> {
    // Thrown on the first read, like every other upstream failure, so callers handle one path.
    if (!this.#stream) throw new UpstreamError("session_expired", this.backend, "legacy SSE stream is not connected");
    yield* this.#call(legacyRequest(message), signal, headers);
  }

  async send(message: JsonRpcNotification | JsonRpcResponse, signal: AbortSignal): Promise<void> {
    if (!this.#stream) throw new UpstreamError("session_expired", this.backend, "legacy SSE stream is not connected");
    await this.#post(message, signal);
  }

  async listen(): Promise<AsyncIterable<JsonRpcMessage> | null> {
    return this.#stream ? this.#unsolicited : null;
  }

  async terminate(): Promise<void> {
    // 2024-11-05 has no DELETE: closing the stream ends the backend's session.
    this.#close();
    this.#info = null;
  }

  #call(message: JsonRpcRequest, signal: AbortSignal, headers: Record<string, string> = {}): AsyncIterable<JsonRpcMessage> {
    const key = JSON.stringify(message.id);
    const queue = new AsyncQueue<JsonRpcMessage>();
    const meta = message.params?._meta as { progressToken?: unknown } | undefined;
    this.#calls.set(key, { queue, progressToken: meta?.progressToken });
    queue.onReturn = () => this.#calls.delete(key);
    const onAbort = () => {
      this.#calls.delete(key);
      queue.fail(new UpstreamError("cancelled", this.backend, "cancelled by the client"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => {
      this.#calls.delete(key);
      queue.fail(new UpstreamError("timeout", this.backend, `no answer within ${this.#opts.timeoutMs} ms`));
    }, this.#opts.timeoutMs);
    this.#post(message, signal, headers).catch((error) => {
      this.#calls.delete(key);
      queue.fail(error);
    });
    const cleanup = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    };
    const previous = queue.onReturn;
    queue.onReturn = () => {
      previous?.();
      cleanup();
    };
    return {
      [Symbol.asyncIterator]: () => {
        const it = queue[Symbol.asyncIterator]();
        return {
          next: async () => {
            const step = await it.next().catch((e) => {
              cleanup();
              throw e;
            });
            if (step.done) cleanup();
            else if (isResponse(step.value)) {
              this.#calls.delete(key);
              queue.close();
            }
            return step;
          },
          return: () => it.return!(),
        };
      },
    };
  }

  async #post(message: JsonRpcMessage, signal: AbortSignal, extra: Record<string, string> = {}): Promise<void> {
    if (!this.#endpoint) throw new UpstreamError("session_expired", this.backend, "no endpoint");
    const headers = new Headers(this.#opts.headers);
    if (this.#opts.dynamicHeaders) for (const [k, v] of Object.entries(await this.#opts.dynamicHeaders(signal))) headers.set(k, v);
    for (const [k, v] of Object.entries(extra)) headers.set(k, v);
    headers.set("content-type", JSON_TYPE);
    let response: Response;
    try {
      response = await this.#opts.fetcher(new Request(this.#endpoint, { method: "POST", headers, body: JSON.stringify(message), signal }));
    } catch (error) {
      throw new UpstreamError("unreachable", this.backend, error instanceof Error ? error.message : String(error));
    }
    await response.body?.cancel().catch(() => {});
    if (response.status === 404) throw new UpstreamError("session_expired", this.backend, "legacy session gone", 404);
    if (!response.ok) throw new UpstreamError("http_status", this.backend, `HTTP ${response.status}`, response.status);
  }

  async #connect(signal: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const headers = new Headers(this.#opts.headers);
    if (this.#opts.dynamicHeaders) for (const [k, v] of Object.entries(await this.#opts.dynamicHeaders(signal))) headers.set(k, v);
    headers.set("accept", SSE_TYPE);
    const timer = setTimeout(() => controller.abort(), this.#opts.timeoutMs);
    const onAbort = () => controller.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    let response: Response;
    try {
      response = await this.#opts.fetcher(new Request(this.#opts.url, { method: "GET", headers, signal: controller.signal }));
    } catch (error) {
      throw new UpstreamError(controller.signal.aborted ? "timeout" : "unreachable", this.backend, String(error));
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
    if (!response.ok || !isContentType(response.headers.get("content-type"), SSE_TYPE) || !response.body) {
      await response.body?.cancel().catch(() => {});
      throw new UpstreamError("http_status", this.backend, `SSE connect answered HTTP ${response.status}`, response.status);
    }
    const reader = decodeEvents(response.body).getReader();
    // The first event must be `endpoint` (2024-11-05 basic/transports "HTTP with SSE").
    const first = await reader.read();
    if (first.done || first.value.event !== "endpoint") {
      controller.abort();
      throw new UpstreamError("bad_response", this.backend, "first SSE event was not 'endpoint'");
    }
    const endpoint = new URL(first.value.data.trim(), this.#opts.url);
    // An endpoint on another origin would make us POST client data to a host not in config.
    if (endpoint.origin !== new URL(this.#opts.url).origin) {
      controller.abort();
      throw new UpstreamError("bad_response", this.backend, "endpoint on another origin");
    }
    this.#endpoint = endpoint.href;
    this.#stream = controller;
    void this.#pump(reader, controller);
  }

  async #pump(reader: ReadableStreamDefaultReader<{ data: string; event?: string }>, controller: AbortController): Promise<void> {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value.event !== undefined && value.event !== "message") continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(value.data);
        } catch {
          continue;
        }
        const classified = classify(parsed);
        if (classified.kind === "invalid") continue;
        this.#route(classified.message);
      }
    } catch {
      // the stream broke; pending calls fail below
    }
    if (this.#stream === controller) this.#stream = null;
    const gone = new UpstreamError("unreachable", this.backend, "legacy SSE stream ended");
    for (const call of this.#calls.values()) call.queue.fail(gone);
    this.#calls.clear();
  }

  #route(message: JsonRpcMessage): void {
    if (isResponse(message)) {
      this.#calls.get(JSON.stringify(message.id ?? null))?.queue.push(message);
      return;
    }
    if (!isRequest(message) && message.method === "notifications/progress") {
      const token = message.params?.progressToken;
      for (const call of this.#calls.values()) {
        if (call.progressToken !== undefined && call.progressToken === token) {
          call.queue.push(message);
          return;
        }
      }
    }
    if (this.#calls.size === 1) {
      this.#calls.values().next().value!.queue.push(message);
      return;
    }
    this.#unsolicited.push(message);
  }

  #close(): void {
    this.#stream?.abort();
    this.#stream = null;
    this.#endpoint = null;
  }
}
