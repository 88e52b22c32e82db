/**
 * Connect links (docs/connections.md): the URL a call answers with when its user has not yet
 * connected their account at a backend (error -32042, URL elicitation required). The link is
 * bound to the principal who must connect, the tenant and the backend; it expires, and the
 * ConnectionVault spends its nonce when the flow starts, so it works once.
 *
 * Format: `<payload>.<mac>`, both base64url; the payload is JSON {t, p, b, e, n} and the mac an
 * HMAC-SHA256 over the payload under a key derived (HKDF) from VAULT_SECRET for this purpose only.
 */
import { fromBase64, toBase64Url } from "../protocol/encoding.ts";

export interface LinkClaims {
  tenant: string;
  principal: string;
  backend: string;
  /** Unix ms. */
  expiresAt: number;
  nonce: string;
}

/** How long a connect link stays good: long enough to read the message, open it and sign in. */
export const LINK_TTL_MS = 15 * 60 * 1000;

const keys = new Map<string, Promise<CryptoKey>>();

function macKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle
      .importKey("raw", new TextEncoder().encode(secret), "HKDF", false, ["deriveKey"])
      .then((material) =>
        crypto.subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: new TextEncoder().encode("edge-mcp-gateway connect links v1"), info: new Uint8Array() },
          material,
          { name: "HMAC", hash: "SHA-256", length: 256 },
          false,
          ["sign", "verify"],
        ),
      );
    keys.clear();
    keys.set(secret, key);
  }
  return key;
}

export async function signLink(claims: LinkClaims, secret: string): Promise<string> {
  const payload = toBase64Url(JSON.stringify({ t: claims.tenant, p: claims.principal, b: claims.backend, e: claims.expiresAt, n: claims.nonce }));
  const mac = await crypto.subtle.sign("HMAC", await macKey(secret), new TextEncoder().encode(payload));
  return `${payload}.${toBase64Url(new Uint8Array(mac))}`;
}

/** The claims of a link this gateway signed and that has not expired, else null. */
export async function verifyLink(token: string, secret: string, now = Date.now()): Promise<LinkClaims | null> {
  const match = /^([A-Za-z0-9_-]{1,2000})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return null;
  const mac = fromBase64(match[2]!);
  if (!mac || !(await crypto.subtle.verify("HMAC", await macKey(secret), mac, new TextEncoder().encode(match[1]!)))) return null;
  const bytes = fromBase64(match[1]!);
  if (!bytes) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
  const c = raw as Record<string, unknown>;
  if (typeof c.t !== "string" || typeof c.p !== "string" || typeof c.b !== "string" || typeof c.e !== "number" || typeof c.n !== "string") return null;
  if (c.e <= now) return null;
  return { tenant: c.t, principal: c.p, backend: c.b, expiresAt: c.e, nonce: c.n };
}
