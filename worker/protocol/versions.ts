/**
 * Protocol revisions the gateway speaks with clients and backends.
 *
 * Legacy era (sessions, `initialize`): 2024-11-05 .. 2025-11-25. The 2024-11-05 revision used the
 * HTTP+SSE transport; a client may still announce it over Streamable HTTP, and backends of that
 * revision are reached through their own transport (worker/upstream/legacySse.ts).
 */
import { MODERN_VERSION } from "./modern.ts";

export const LATEST_LEGACY_VERSION = "2025-11-25";

/** Newest first: negotiation picks the client's version when listed, else the first. */
export const LEGACY_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] as const;
export type LegacyVersion = (typeof LEGACY_VERSIONS)[number];

/** Every version the gateway speaks, newest first (server/discover, UnsupportedProtocolVersionError). */
export const SUPPORTED_VERSIONS: readonly string[] = [MODERN_VERSION, ...LEGACY_VERSIONS];

/**
 * 2025-11-25 basic/transports "Protocol Version Header": without the header, and with no other
 * way to know, a server SHOULD assume 2025-03-26.
 */
export const DEFAULT_HEADER_VERSION = "2025-03-26";

export function isSupportedLegacyVersion(version: string): version is LegacyVersion {
  return (LEGACY_VERSIONS as readonly string[]).includes(version);
}

/**
 * 2025-11-25 basic/lifecycle "Version Negotiation": the server answers with the client's version
 * when it supports it, otherwise with another version it supports (its latest).
 */
export function negotiateVersion(requested: unknown): LegacyVersion {
  return typeof requested === "string" && isSupportedLegacyVersion(requested) ? requested : LATEST_LEGACY_VERSION;
}

/**
 * JSON-RPC batches: 2025-03-26 added explicit support, 2025-06-18 removed it (changelog of each).
 * 2024-11-05 clients speak plain JSON-RPC 2.0, which allows batches, so they keep them too.
 */
export function allowsBatches(version: string): boolean {
  return version === "2025-03-26" || version === "2024-11-05";
}

/** True when `a` is the same revision as `b` or newer (revisions are ISO dates, so they sort). */
export function atLeast(a: string, b: string): boolean {
  return a >= b;
}
