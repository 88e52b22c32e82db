/**
 * Time limits of a backend's reply stream (streamableHttp.ts): the idle limit on each read, and
 * the wait before a resume that the client's cancellation cuts short.
 */
import type { SseEvent } from "../protocol/sse.ts";
import { UpstreamError } from "./errors.ts";

/**
 * The idle limit of a reply stream: a read that waits longer than `timeoutMs` fails with
 * "timeout", and an abort fails the pending (or next) read with "cancelled". One abort listener
 * per stream and at most one timer per `timeoutMs`, rather than a timer, a listener and a
 * racing promise per event, which cost a stream of 10,000 progress notifications about a fifth
 * of its CPU time (docs/benchmarks.md).
 */
export function idleLimit(events: ReadableStreamDefaultReader<SseEvent>, signal: AbortSignal, timeoutMs: number, backend: string) {
  let failure: UpstreamError | null = null;
  let readingSince: number | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fail = (error: UpstreamError): void => {
    failure ??= error;
    clearTimeout(timer);
    // Settles the pending read (as done); read() then reports the failure.
    void events.cancel().catch(() => {});
  };
  // Armed only while a read waits; it re-arms itself for the rest of the limit when the read it
  // was set for has finished and a later one is waiting.
  const check = (): void => {
    timer = undefined;
    if (readingSince === null) return;
    const waited = Date.now() - readingSince;
    if (waited >= timeoutMs) fail(new UpstreamError("timeout", backend, `idle for ${timeoutMs} ms`));
    else timer = setTimeout(check, timeoutMs - waited);
  };
  const onAbort = (): void => fail(new UpstreamError("cancelled", backend, "cancelled by the client"));
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return {
    read: async (): Promise<ReadableStreamReadResult<SseEvent>> => {
      if (failure) throw failure;
      readingSince = Date.now();
      timer ??= setTimeout(check, timeoutMs);
      try {
        const result = await events.read();
        if (failure) throw failure;
        return result;
      } finally {
        readingSince = null;
      }
    },
    stop: (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    },
  };
}

/** Waits `ms`, or fails as "cancelled" as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(new UpstreamError("cancelled", "", "cancelled"));
      },
      { once: true },
    );
  });
}
