/**
 * What this isolate has learned about backends' protocol eras (2026-07-28 basic/versioning
 * "Backward Compatibility"): one memo for both users of the fact.
 *
 * - An upstream of era "auto" skips its `server/discover` probe for a backend already found to
 *   be legacy (one round trip saved per upstream session).
 * - The Worker's stateless home serves a tenant only when every backend is known to be modern,
 *   and sends it to a session object for a while when a probe could not decide.
 *
 * Keyed by where the backend is (its URL, or its service binding: every service backend has the
 * same placeholder URL), bounded (a long-lived isolate forgets everything past ERA_MEMO_MAX), and
 * every fact expires, so a backend that is upgraded is found out within ERA_MEMO_TTL_MS.
 */

/** How long a detected era is trusted before the backend is probed again. */
export const ERA_MEMO_TTL_MS = 5 * 60_000;
/** How long a probe that could not decide (a backend down or slow) is remembered as such. */
export const ERA_UNDECIDED_TTL_MS = 30_000;
/** Entries per isolate; past this the memo starts over (each miss costs one probe). */
export const ERA_MEMO_MAX = 1_000;

export type KnownEra = "modern" | "legacy" | "undecided";

const memo = new Map<string, { era: KnownEra; until: number }>();

/** Where a backend is, as the memo keys it. */
export function eraKeyOf(backend: { transport: string; url: string; service?: string | undefined }): string {
  return backend.transport === "service" ? `service:${backend.service ?? ""}` : backend.url;
}

export function knownEra(key: string, now = Date.now()): KnownEra | undefined {
  const entry = memo.get(key);
  if (!entry) return undefined;
  if (entry.until > now) return entry.era;
  memo.delete(key);
  return undefined;
}

export function rememberEra(key: string, era: KnownEra, now = Date.now()): void {
  if (memo.size >= ERA_MEMO_MAX && !memo.has(key)) memo.clear();
  memo.set(key, { era, until: now + (era === "undecided" ? ERA_UNDECIDED_TTL_MS : ERA_MEMO_TTL_MS) });
}
