/**
 * The body of a dynamic client registration request (RFC 7591 §2 and §3.1; MCP 2025-11-25 and
 * 2026-07-28 "Dynamic Client Registration": authorization servers MAY support it, clients fall
 * back to it when Client ID Metadata Documents are not supported) judged into the metadata the
 * gateway stores for the client, or into the error RFC 7591 §3.2.2 answers with.
 *
 * - `redirect_uris` is required (the authorization code grant is the only grant that sends the
 *   user anywhere) and each must pass validRedirectUri: at most 10, each at most 2 KiB.
 * - Only public clients: the gateway issues no client secrets (OAuth 2.1 §2.1; PKCE protects the
 *   code). `token_endpoint_auth_method` defaults to "none"; a client asking for a secret
 *   (client_secret_basic or client_secret_post, as the MCP TypeScript SDK's example client
 *   does) is registered as "none" and told so in the answer (RFC 7591 §3.2.1: the server may
 *   replace requested values, and the client uses what it is given). A key-based method
 *   (private_key_jwt, tls_client_auth, ...) is refused: that client means to prove itself with a
 *   key the gateway would ignore.
 * - `grant_types` ⊆ {authorization_code, refresh_token}, default both; it must include
 *   authorization_code. `response_types` ⊆ {code}, default [code] (RFC 7591 §2.1 keeps the
 *   two consistent: code goes with authorization_code).
 * - `client_name` is optional; without one the client is named after its first redirect URI's
 *   host, so the consent page always has something to show. Control characters are dropped,
 *   the name is trimmed and cut to 100 characters.
 * - `client_uri` and `logo_uri` are kept when they are https URLs and dropped otherwise (RFC
 *   7591 §3.2.1: the server may replace or ignore requested values).
 * - Any other member (scope, software_id, contacts, jwks, client_secret…) is ignored (RFC 7591
 *   §2: the server MUST ignore metadata it does not understand).
 *
 * Descriptions are fixed sentences in the characters RFC 6749 §5.2 allows (no `"` or `\`), and
 * never repeat the request.
 */
import { httpsDisplayUrl, validRedirectUri } from "./redirects.ts";

export interface RegisteredMetadata {
  clientName: string;
  redirectUris: string[];
  clientUri?: string;
  logoUri?: string;
  grantTypes: string[];
  tokenEndpointAuthMethod: "none";
}

export type RegistrationResult =
  | { ok: true; metadata: RegisteredMetadata }
  | { ok: false; error: "invalid_redirect_uri" | "invalid_client_metadata"; description: string };

const MAX_REDIRECT_URIS = 10;
const MAX_REDIRECT_URI_LENGTH = 2048;
const MAX_NAME_LENGTH = 100;
const GRANT_TYPES = ["authorization_code", "refresh_token"];
const RESPONSE_TYPES = ["code"];

const badUri = (description: string): RegistrationResult => ({ ok: false, error: "invalid_redirect_uri", description });
const badMetadata = (description: string): RegistrationResult => ({ ok: false, error: "invalid_client_metadata", description });

/** A list member: absent gives the default; otherwise an array of known strings, deduplicated. */
function stringSet(value: unknown, allowed: readonly string[], fallback: readonly string[]): string[] | null {
  if (value === undefined) return [...fallback];
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && allowed.includes(v))) return null;
  return [...new Set(value as string[])];
}

/** A display name: control characters dropped, trimmed, cut to MAX_NAME_LENGTH characters. */
function displayName(raw: string): string {
  const name = raw.replace(/[\u0000-\u001f\u007f-\u009f]/gu, "").trim();
  return [...name].slice(0, MAX_NAME_LENGTH).join("").trim();
}

/** Judges an RFC 7591 registration request body (already parsed from JSON). */
export function parseRegistration(body: unknown): RegistrationResult {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return badMetadata("registration request must be a JSON object");
  const request = body as Record<string, unknown>;

  const uris = request.redirect_uris;
  if (uris === undefined) return badUri("redirect_uris is required");
  if (!Array.isArray(uris) || uris.length === 0) return badUri("redirect_uris must be a non-empty array of URIs");
  if (uris.length > MAX_REDIRECT_URIS) return badUri(`at most ${MAX_REDIRECT_URIS} redirect_uris may be registered`);
  for (const [i, uri] of uris.entries()) {
    if (typeof uri !== "string") return badUri(`redirect_uris[${i}] is not a string`);
    if (uri.length > MAX_REDIRECT_URI_LENGTH) return badUri(`redirect_uris[${i}] is longer than ${MAX_REDIRECT_URI_LENGTH} characters`);
    const why = validRedirectUri(uri);
    if (why) return badUri(`redirect_uris[${i}]: ${why}`);
  }
  const redirectUris = [...new Set(uris as string[])];

  const method = request.token_endpoint_auth_method;
  if (method !== undefined && method !== "none" && method !== "client_secret_basic" && method !== "client_secret_post") {
    return badMetadata("only public clients are supported: token_endpoint_auth_method must be none (PKCE, no client secret)");
  }

  const grantTypes = stringSet(request.grant_types, GRANT_TYPES, GRANT_TYPES);
  if (!grantTypes) return badMetadata("grant_types may only contain authorization_code and refresh_token");
  if (!grantTypes.includes("authorization_code")) return badMetadata("grant_types must include authorization_code");
  if (!stringSet(request.response_types, RESPONSE_TYPES, RESPONSE_TYPES)) return badMetadata("response_types may only contain code");

  let clientName: string;
  if (request.client_name === undefined || request.client_name === null) clientName = "";
  else if (typeof request.client_name !== "string") return badMetadata("client_name must be a string");
  else clientName = displayName(request.client_name);
  if (clientName === "") clientName = new URL(redirectUris[0]!).host;

  const metadata: RegisteredMetadata = { clientName, redirectUris, grantTypes, tokenEndpointAuthMethod: "none" };
  const clientUri = httpsDisplayUrl(request.client_uri);
  const logoUri = httpsDisplayUrl(request.logo_uri);
  if (clientUri !== undefined) metadata.clientUri = clientUri;
  if (logoUri !== undefined) metadata.logoUri = logoUri;
  return { ok: true, metadata };
}
