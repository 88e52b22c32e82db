/**
 * Concurrent calls to many backends with a deadline each, so one hanging backend delays a merged
 * answer by at most its own timeout, never longer, and never fails the others.
 */
import type { BackendConfig, TenantConfig } from "../tenant/schema.ts";
import { UpstreamError } from "../upstream/errors.ts";

export interface Settled<T> {
  ok: { backend: string; value: T }[];
  failed: { backend: string; error: unknown }[];
}

export async function fanOut<T>(
  backends: readonly BackendConfig[],
  signal: AbortSignal,
  call: (backend: BackendConfig, signal: AbortSignal) => Promise<T>,
): Promise<Settled<T>> {
  const results = await Promise.allSettled(backends.map((backend) => withDeadline(backend, signal, call)));
  const settled: Settled<T> = { ok: [], failed: [] };
  results.forEach((result, i) => {
    const backend = backends[i]!.name;
    if (result.status === "fulfilled") settled.ok.push({ backend, value: result.value });
    else settled.failed.push({ backend, error: result.reason });
  });
  return settled;
}

async function withDeadline<T>(
  backend: BackendConfig,
  parent: AbortSignal,
  call: (backend: BackendConfig, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  parent.addEventListener("abort", onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const timeout = new UpstreamError("timeout", backend.name, `no answer within ${backend.timeoutMs} ms`);
      // The reason tells the call it was cut off by the deadline, not cancelled (breaker.ts).
      controller.abort(timeout);
      reject(timeout);
    }, backend.timeoutMs);
  });
  try {
    return await Promise.race([call(backend, controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
    parent.removeEventListener("abort", onAbort);
  }
}

/** A log-safe one-line reason: the kind of failure, never a backend's own error text. */
export function failureReason(error: unknown): string {
  if (error instanceof UpstreamError) return error.kind === "http_status" ? `http_${error.status}` : error.kind;
  return "error";
}

/** The gateway's own work on a request (lists, name resolution) is bounded by its slowest backend's timeout. */
export function maxTimeout(config: TenantConfig): number {
  return Math.max(1_000, ...config.backends.map((b) => b.timeoutMs));
}

/**
 * Runs `fn` with a signal that aborts after `ms`, and clears the timer as soon as `fn` settles.
 * (`AbortSignal.timeout` would leave its timer pending for the full time, which keeps the
 * Durable Object busy, and in tests makes eviction wait, long after the work is done.)
 */
export async function bounded<T>(ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("deadline passed", "TimeoutError")), ms);
  try {
    return await fn(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}
