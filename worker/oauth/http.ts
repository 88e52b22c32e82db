/** HTTP shapes of the authorization server's answers: redirects, RFC 6749 errors, forms and the login cookie. */
import { BodyTooLargeError, readTextCapped } from "../protocol/body.ts";
import type { OAuthErrorCode } from "./types.ts";

/** The login cookie: `__Host-` (RFC 6265bis §4.1.3.2: Secure, Path=/, no Domain), HttpOnly, SameSite=Lax so the IdP's top-level redirect back carries it. */
export const LOGIN_COOKIE = "__Host-mcp-login";
/** Form bodies of the token, revoke and consent endpoints are small. */
export const MAX_FORM_BYTES = 16 * 1024;

/** The client's redirect URI with response parameters added to its query (OAuth 2.1 §4.1.2). */
export function redirectBack(redirectUri: string, params: Record<string, string | null>, status: 302 | 303, headers: Record<string, string> = {}): Response {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) if (value !== null) url.searchParams.set(name, value);
  return new Response(null, { status, headers: { location: url.href, "cache-control": "no-store", ...headers } });
}

export function tokenError(error: OAuthErrorCode, description: string, status = 400): Response {
  const headers = jsonHeaders();
  // RFC 6749 §5.2: invalid_client by 401 carries a challenge.
  if (status === 401) headers["www-authenticate"] = 'Basic realm="oauth"';
  return new Response(JSON.stringify({ error, error_description: description }), { status, headers });
}

export function jsonHeaders(): Record<string, string> {
  // RFC 6749 §5.1: token responses are not cached. Browser-based clients call these endpoints
  // cross-origin without cookies, so any origin may read them.
  return { "content-type": "application/json", "cache-control": "no-store", pragma: "no-cache", "access-control-allow-origin": "*" };
}

export function preflight(): Response {
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "POST, OPTIONS",
      "access-control-allow-headers": "authorization, content-type, mcp-protocol-version",
      "access-control-max-age": "600",
    },
  });
}

export async function readForm(request: Request): Promise<URLSearchParams | null> {
  const type = (request.headers.get("content-type") ?? "").split(";", 1)[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return null;
  try {
    return new URLSearchParams(await readTextCapped(request, MAX_FORM_BYTES));
  } catch (error) {
    if (error instanceof BodyTooLargeError) return null;
    throw error;
  }
}

export function loginCookie(value: string): string {
  return `${LOGIN_COOKIE}=${value}; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax`;
}

export function clearedLoginCookie(): string {
  return `${LOGIN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax`;
}

export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}
