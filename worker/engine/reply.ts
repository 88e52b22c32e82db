/**
 * ⑧ Reply: the bodies the engine answers a client with. Every client-facing SSE stream of both
 * homes is built here (a 2026-07-28 reply, a `subscriptions/listen` stream, a session's
 * resumable outbox), so each gets the same three guarantees:
 *
 * - one guarded writer: once the client has gone, writes are dropped and say so, instead of
 *   throwing "Unable to enqueue" into whoever wrote;
 * - one keepalive comment every KEEPALIVE_INTERVAL_MS, stopped with the stream, never written
 *   to a closed one;
 * - the client closing the stream runs `cancel` once (2026-07-28 streamable-http
 *   "Cancellation": closing the stream is the cancellation of its request).
 */
import type { JsonRpcMessage } from "../protocol/jsonrpc.ts";
import { encodeComment, encodeEvent, SSE_HEADERS, type SseEvent } from "../protocol/sse.ts";

/** Comment keepalive period: the Cloudflare edge cuts SSE streams that stay idle for minutes. */
export const KEEPALIVE_INTERVAL_MS = 15_000;

export interface SseSink {
  /** Writes one event; false when the client has gone (nothing was written). */
  event(event: SseEvent): boolean;
  /** Writes one JSON-RPC message as an event's data. */
  message(message: JsonRpcMessage, id?: string): boolean;
  /** Ends the stream from the server's side (the client sees its end). */
  close(): void;
  /** False once the stream was closed by either side. */
  readonly open: boolean;
}

export interface SseStreamOptions {
  /** Runs once the stream exists: write the first events, keep the sink to write more. */
  start(sink: SseSink): void;
  /** The client went away (or the body was cancelled); runs at most once. */
  cancel?(): void;
  /** Default KEEPALIVE_INTERVAL_MS; tests shorten it. */
  keepaliveMs?: number;
}

/**
 * How long a POST with one routed request waits to answer a lone response as JSON, before its
 * reply becomes an SSE stream (both homes, both eras).
 */
export const SINGLE_REPLY_WAIT_MS = 1_000;

export function sseStream(options: SseStreamOptions): ReadableStream<Uint8Array> {
  let open = true;
  let keepalive: ReturnType<typeof setInterval> | null = null;
  let controller: ReadableStreamDefaultController<Uint8Array>;
  const stop = (): void => {
    open = false;
    if (keepalive !== null) clearInterval(keepalive);
    keepalive = null;
  };
  const write = (bytes: Uint8Array): boolean => {
    if (!open) return false;
    try {
      controller.enqueue(bytes);
      return true;
    } catch {
      stop();
      return false;
    }
  };
  const sink: SseSink = {
    event: (event) => write(encodeEvent(event)),
    message: (message, id) => write(encodeEvent(id === undefined ? { data: JSON.stringify(message) } : { id, data: JSON.stringify(message) })),
    close: () => {
      if (!open) return;
      stop();
      try {
        controller.close();
      } catch {
        // the client closed it first
      }
    },
    get open() {
      return open;
    },
  };
  return new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
      keepalive = setInterval(() => write(encodeComment("keepalive")), options.keepaliveMs ?? KEEPALIVE_INTERVAL_MS);
      try {
        options.start(sink);
      } catch (error) {
        stop();
        throw error;
      }
    },
    cancel: () => {
      const wasOpen = open;
      stop();
      if (wasOpen) options.cancel?.();
    },
  });
}

export function sseResponse(body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Response {
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...headers } });
}

export function jsonResponse(body: unknown, headers: Record<string, string> = {}, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

/**
 * An iterator whose first step was already taken (to choose the reply's form, or to see a
 * refusal early) followed by the rest, without another generator layer in between.
 */
export function prepend<T>(first: IteratorResult<T> | Promise<IteratorResult<T>>, rest: AsyncIterator<T>): AsyncIterator<T> & AsyncIterable<T> {
  let pending: Promise<IteratorResult<T>> | null = Promise.resolve(first);
  const iterator: AsyncIterator<T> & AsyncIterable<T> = {
    next: () => {
      const step = pending ?? rest.next();
      pending = null;
      return step;
    },
    return: async (value?: unknown) => (await rest.return?.(value)) ?? { done: true, value: undefined as T },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
