/**
 * Single use of a pass-through requestState, as far as this isolate can tell (2026-07-28
 * basic/patterns/mrtr "Security Considerations"). Another isolate has no record of it: there the
 * state is still bound to its tenant, principal, method and item and expires after
 * REQUEST_STATE_TTL_MS, and the backend, which owns the state inside, judges the replay.
 */
import type { SealedState } from "../broker/sealed.ts";

/** Pass-through states remembered as spent, per isolate. */
export const SPENT_MAX = 10_000;

const spent = new Map<string, number>();

/** Marks a state used; false when it was used before (a replay). */
export function spend(state: SealedState, now = Date.now()): boolean {
  if (state.j === undefined) return true;
  if (spent.has(state.j)) return false;
  if (spent.size >= SPENT_MAX) {
    for (const [id, exp] of spent) if (exp <= now) spent.delete(id);
    if (spent.size >= SPENT_MAX) spent.delete(spent.keys().next().value!);
  }
  spent.set(state.j, state.exp);
  return true;
}
