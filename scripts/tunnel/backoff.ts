/**
 * Retry delays of the connector: reconnecting to the gateway and restarting a crashed server.
 * Exponential with full jitter (a fleet of connectors coming back after a gateway restart spreads
 * out instead of arriving at once), capped.
 */
export interface Backoff {
  baseMs: number;
  maxMs: number;
}

export const RECONNECT: Backoff = { baseMs: 500, maxMs: 15_000 };
export const RESTART: Backoff = { baseMs: 250, maxMs: 10_000 };

/** The delay before retry number `attempt` (0 for the first retry); `random` is in [0, 1). */
export function backoffDelay(attempt: number, policy: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  // Never zero: half the ceiling is guaranteed, the other half is jitter.
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
