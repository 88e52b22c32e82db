/**
 * API keys: a static credential for machine clients that cannot run an OAuth flow, presented as
 * `X-API-Key: mgw_<43 base64url characters>`. The tenant config stores only each key's SHA-256
 * (lowercase hex) with its id and principal, so a leaked config leaks no usable key; the key
 * itself is shown once, when the admin API creates it (worker/admin/apiKeys.ts).
 */
import type { Principal } from "../policy/principal.ts";
import type { TenantConfig } from "../tenant/schema.ts";
import { sha256Hex, toBase64Url } from "../protocol/encoding.ts";

export const API_KEY_HEADER = "x-api-key";
export const API_KEY_PREFIX = "mgw_";
/** 256 random bits: beyond guessing, and a plain hash (no KDF) is then enough to store them. */
export const API_KEY_RANDOM_BYTES = 32;
/** The prefix, then 32 bytes as unpadded base64url (43 characters). */
export const API_KEY_PATTERN = /^mgw_[A-Za-z0-9_-]{43}$/;

export type ApiKeyEntry = TenantConfig["auth"]["apiKeys"][number];

/** A new random key. The caller stores its hash and hands the key out once. */
export function generateApiKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(API_KEY_RANDOM_BYTES));
  return API_KEY_PREFIX + toBase64Url(bytes);
}

/** SHA-256 of the key's UTF-8 bytes, lowercase hex: what `auth.apiKeys[].sha256` holds. */
export async function apiKeyHash(key: string): Promise<string> {
  return sha256Hex(key);
}

/**
 * The entry whose hash matches `presented`, or null. Every entry is compared, each in constant
 * time, and the loop does not stop at a match, so the time taken says neither whether nor which
 * entry matched. A malformed key is refused before hashing (its shape is public, not secret).
 */
export async function findApiKey(presented: string, entries: readonly ApiKeyEntry[]): Promise<ApiKeyEntry | null> {
  if (!API_KEY_PATTERN.test(presented)) return null;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(presented)));
  let found: ApiKeyEntry | null = null;
  for (const entry of entries) {
    const equal = crypto.subtle.timingSafeEqual(digest, hexBytes(entry.sha256));
    found = equal ? entry : found;
  }
  return found;
}

export function apiKeyPrincipal(entry: ApiKeyEntry): Principal {
  return { sub: entry.sub, roles: [...entry.roles], scopes: [...entry.scopes] };
}

/** The schema guarantees 64 lowercase hex characters, so this always yields 32 bytes. */
function hexBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}
