/**
 * Bounded load loops and the statistics the report uses. Every loop stops at a request count
 * and at a deadline, whichever comes first, and never leaves work running after it returns.
 */
import { since } from "./client.ts";

export interface LoadResult {
  /** Latency of each successful request, ms. */
  latencies: number[];
  ok: number;
  errors: number;
  /** The first few error messages, for the report. */
  errorSamples: string[];
  /** Wall time of the loop, ms. */
  elapsedMs: number;
  /** Requests scheduled but not sent because the deadline passed. */
  skipped: number;
}

function newResult(): LoadResult {
  return { latencies: [], ok: 0, errors: 0, errorSamples: [], elapsedMs: 0, skipped: 0 };
}

function recordError(result: LoadResult, error: unknown): void {
  result.errors++;
  if (result.errorSamples.length < 5) result.errorSamples.push(error instanceof Error ? error.message : String(error));
}

/**
 * Open loop at a fixed rate: request i is sent at start + i / rate, whether or not earlier ones
 * have answered (so a slow target cannot slow its own load down), up to `maxInFlight` at once.
 * Latency is measured from the scheduled send time, so queueing behind a slow answer counts
 * (no coordinated omission).
 */
export async function fixedRate(
  options: { ratePerSec: number; count: number; deadlineMs: number; maxInFlight: number },
  fn: (i: number) => Promise<void>,
): Promise<LoadResult> {
  const result = newResult();
  const start = process.hrtime.bigint();
  const interval = 1000 / options.ratePerSec;
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < options.count; i++) {
    const due = i * interval;
    const wait = due - since(start);
    if (wait > 1) await sleep(wait);
    while (inFlight.size >= options.maxInFlight) await Promise.race(inFlight);
    if (since(start) > options.deadlineMs) {
      result.skipped = options.count - i;
      break;
    }
    const scheduled = start + BigInt(Math.round(due * 1e6));
    const task: Promise<void> = fn(i).then(
      () => {
        result.ok++;
        result.latencies.push(Number(process.hrtime.bigint() - scheduled) / 1e6);
      },
      (error: unknown) => recordError(result, error),
    );
    const tracked = task.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  }
  await Promise.all(inFlight);
  result.elapsedMs = since(start);
  return result;
}

/**
 * Closed loop: `workers` loops, each sending its next request as soon as the previous one
 * answered, until `durationMs` passed or `maxRequests` were sent in all.
 */
export async function closedLoop(
  options: { workers: number; durationMs: number; maxRequests: number },
  fn: (worker: number, i: number) => Promise<void>,
): Promise<LoadResult> {
  const result = newResult();
  const start = process.hrtime.bigint();
  let sent = 0;
  await Promise.all(
    Array.from({ length: options.workers }, async (_, worker) => {
      while (sent < options.maxRequests && since(start) < options.durationMs) {
        const i = sent++;
        const t0 = process.hrtime.bigint();
        try {
          await fn(worker, i);
          result.ok++;
          result.latencies.push(since(t0));
        } catch (error) {
          recordError(result, error);
        }
      }
    }),
  );
  result.elapsedMs = since(start);
  return result;
}

/** Runs `fn` for each item with at most `limit` at once. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!, i);
      }
    }),
  );
  return results;
}

/** Linear-interpolated percentile (p in 0..100) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rounds for the report: 3 significant decimals under 10, fewer above. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
