/**
 * Small helpers shared by the reliability suites (workerd and Node alike: no runtime imports).
 */
import { UPSTREAM_INTERNALS_TEXT } from "./internals.ts";

/**
 * Waits for `promise`, failing after `ms`. Only a bound on a wait (a hung gateway must fail the
 * test, not stall it): the bounds are generous, and nothing asserts how fast anything was.
 */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Text of a backend's failure that must never reach a client. */
export function leakedInternals(text: string): string[] {
  return UPSTREAM_INTERNALS_TEXT.filter((needle) => text.includes(needle));
}
