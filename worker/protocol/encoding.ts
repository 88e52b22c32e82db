/**
 * The gateway's encodings, in one place because others hold their output: `fnv1a(canonicalJson(…))`
 * names the Durable Object of a live 2026-07-28 session (worker/dispatch/sessions.ts); clients
 * hold base64url cursors, session ids and sealed requestStates; admins hold API keys whose hex
 * SHA-256 the tenant config stores. Any change to an output orphans what was made with the old
 * one, so test/unit/protocol/encoding.test.ts pins each with fixed vectors.
 *
 * base64url is jose's (already the JWT dependency); hex, FNV-1a and canonical JSON have no
 * web-standard or library form small enough to prefer.
 */
import { base64url } from "jose";

/** Unpadded base64url (RFC 4648 §5) of bytes, or of a string's UTF-8. */
export function toBase64Url(input: Uint8Array | string): string {
  return base64url.encode(input);
}

/** Padded standard base64 (RFC 4648 §4) of bytes, or of a string's UTF-8: the same digits, the other alphabet. */
export function toBase64(input: Uint8Array | string): string {
  const url = toBase64Url(input);
  return url.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (url.length % 4)) % 4);
}

const BASE64_TEXT = /^([A-Za-z0-9+/_-]*)(=*)$/;

/**
 * The bytes of base64 text in either alphabet, padded or not; null when malformed. Padding may be
 * partial but never more than completes the last group of four (as the cursor decoder always
 * allowed). Checked here rather than left to jose, which decodes with `Uint8Array.fromBase64`
 * where the runtime has it and with `atob` elsewhere, and the two disagree on odd padding and
 * whitespace; callers that accept only one form check the text's shape themselves first.
 */
export function fromBase64(text: string): Uint8Array | null {
  const match = BASE64_TEXT.exec(text);
  if (!match) return null;
  const data = match[1]!;
  if (match[2]!.length > (4 - (data.length % 4)) % 4) return null;
  try {
    return base64url.decode(data.replaceAll("+", "-").replaceAll("/", "_"));
  } catch {
    return null;
  }
}

/** Lowercase hex, two digits a byte. */
/** Two hex digits per byte value, built once (toHex runs on every request: trace ids, hashes). */
const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

export function toHex(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (let i = 0; i < view.length; i++) out += HEX_BYTE[view[i]!];
  return out;
}

/** SHA-256 of a string's UTF-8, as lowercase hex. */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/**
 * FNV-1a 32-bit over the string's UTF-16 code units (not its UTF-8), as 8 hex digits: cheap,
 * synchronous and stable across runtimes.
 */
export function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}

/** JSON with object keys sorted (by UTF-16 code unit) at every level, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
