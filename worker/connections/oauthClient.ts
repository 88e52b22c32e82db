/**
 * The gateway as an OAuth client of a backend's authorization server (docs/connections.md): where
 * that server is, and its token endpoint's two grants (authorization code with PKCE, refresh).
 *
 * Discovery, in order: the endpoints given in config; the `issuer`'s RFC 8414 metadata (path
 * inserted, then OpenID Connect discovery); with neither, the backend's RFC 9728 protected
 * resource metadata names the issuer (MCP 2025-11-25 basic/authorization "Authorization Server
 * Discovery"). Every fetch: no redirects, 5 s, 64 KiB, and no private address unless the gateway
 * allows private backends. Results are cached per isolate for 10 minutes.
 */
import { privateAddress } from "../admin/destinations.ts";
import { secretNamed } from "../env.ts";
import { readCapped } from "../protocol/body.ts";
import type { BackendConfig, UserOAuth } from "../tenant/schema.ts";
import type { StoredGrant } from "./types.ts";

const FETCH_TIMEOUT_MS = 5_000;
const MAX_DOCUMENT_BYTES = 64 * 1024;
const CACHE_MS = 10 * 60 * 1000;

export interface AuthServer {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  issuer: string | null;
  /** RFC 9207: the server sends `iss` in its authorization responses, so it must be checked. */
  sendsIss: boolean;
}

export class OAuthClientError extends Error {}

const servers = new Map<string, { server: AuthServer; at: number }>();

async function guardedJson(env: Env, url: string): Promise<Record<string, unknown>> {
  if (env.ALLOW_PRIVATE_BACKENDS !== "true" && privateAddress(url) !== null) throw new OAuthClientError(`${url} is at a private address`);
  const response = await fetch(url, { headers: { accept: "application/json" }, redirect: "manual", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new OAuthClientError(`${url} answered ${response.status}`);
  }
  const value: unknown = JSON.parse(await readCapped(response.body, MAX_DOCUMENT_BYTES));
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new OAuthClientError(`${url} is not a JSON object`);
  return value as Record<string, unknown>;
}

async function issuerMetadata(env: Env, issuer: string): Promise<AuthServer> {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  const candidates = [`${url.origin}/.well-known/oauth-authorization-server${path}`, `${url.origin}/.well-known/openid-configuration${path}`, `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`];
  let last: unknown;
  for (const candidate of candidates) {
    let doc: Record<string, unknown>;
    try {
      doc = await guardedJson(env, candidate);
    } catch (error) {
      // Not there (or not reachable): the next well-known location may be.
      last = error;
      continue;
    }
    // A document that answers but is wrong ends the search: it is not tried around.
    if (typeof doc.authorization_endpoint !== "string" || typeof doc.token_endpoint !== "string") throw new OAuthClientError(`${candidate} names no endpoints`);
    // RFC 8414 §3.3: the metadata must be the issuer's own.
    if (doc.issuer !== issuer && doc.issuer !== issuer.replace(/\/$/, "")) throw new OAuthClientError(`${candidate} is for another issuer`);
    return { authorizationEndpoint: doc.authorization_endpoint, tokenEndpoint: doc.token_endpoint, issuer: String(doc.issuer), sendsIss: doc.authorization_response_iss_parameter_supported === true };
  }
  throw last instanceof OAuthClientError ? last : new OAuthClientError(`no authorization server metadata for ${issuer}`);
}

/** The backend's authorization server, per the order in the header. */
export async function authServerFor(env: Env, backend: BackendConfig, auth: UserOAuth): Promise<AuthServer> {
  const key = JSON.stringify([backend.url, auth.issuer ?? null, auth.authorizationUrl ?? null, auth.tokenUrl ?? null]);
  const hit = servers.get(key);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.server;
  let server: AuthServer;
  if (auth.authorizationUrl && auth.tokenUrl) {
    server = { authorizationEndpoint: auth.authorizationUrl, tokenEndpoint: auth.tokenUrl, issuer: auth.issuer ?? null, sendsIss: false };
  } else if (auth.issuer) {
    server = await issuerMetadata(env, auth.issuer);
  } else {
    const resource = new URL(backend.url);
    const path = resource.pathname === "/" ? "" : resource.pathname;
    const prm = await guardedJson(env, `${resource.origin}/.well-known/oauth-protected-resource${path}`).catch(() => guardedJson(env, `${resource.origin}/.well-known/oauth-protected-resource`));
    const issuers = Array.isArray(prm.authorization_servers) ? prm.authorization_servers.filter((s): s is string => typeof s === "string") : [];
    if (issuers.length === 0) throw new OAuthClientError(`${backend.name}'s protected resource metadata names no authorization server`);
    server = await issuerMetadata(env, issuers[0]!);
  }
  servers.set(key, { server, at: Date.now() });
  return server;
}

/** A token this close to its expiry is refreshed before use. */
export const REFRESH_MARGIN_MS = 60_000;

export function needsRefresh(grant: StoredGrant, now = Date.now()): boolean {
  return grant.expiresAt !== undefined && grant.expiresAt - REFRESH_MARGIN_MS <= now;
}

/** Refreshes a user's grant at the backend's token endpoint (RFC 6749 §6); throws when it cannot. */
export async function refreshGrant(env: Env, backend: BackendConfig, grant: StoredGrant): Promise<StoredGrant> {
  if (!grant.refreshToken) throw new OAuthClientError("no refresh token");
  const auth = backend.auth as UserOAuth;
  const server = await authServerFor(env, backend, auth);
  const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: grant.refreshToken });
  // RFC 8707: the token is for this backend.
  form.set("resource", backend.url);
  return tokenRequest(env, auth, server.tokenEndpoint, form, grant);
}

/** One token request (RFC 6749 §4.1.3 or §6), authenticated as the configured client. */
export async function tokenRequest(env: Env, auth: UserOAuth, tokenEndpoint: string, form: URLSearchParams, previous?: StoredGrant): Promise<StoredGrant> {
  if (env.ALLOW_PRIVATE_BACKENDS !== "true" && privateAddress(tokenEndpoint) !== null) throw new OAuthClientError("the token endpoint is at a private address");
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
  if (auth.clientSecret) {
    const secret = secretNamed(env, auth.clientSecret);
    if (!secret) throw new OAuthClientError(`Worker secret ${auth.clientSecret} is not set`);
    // RFC 6749 §2.3.1: both parts form-encoded before Basic.
    const encode = (v: string) => encodeURIComponent(v).replace(/%20/g, "+");
    headers.authorization = `Basic ${btoa(`${encode(auth.clientId)}:${encode(secret)}`)}`;
  } else {
    form.set("client_id", auth.clientId);
  }
  const sentAt = Date.now();
  const response = await fetch(tokenEndpoint, { method: "POST", headers, body: form.toString(), redirect: "manual", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  const text = await readCapped(response.body, MAX_DOCUMENT_BYTES);
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // reported below
  }
  if (response.status !== 200 || typeof body.access_token !== "string") {
    // The error code only: a token endpoint's description may echo what was sent.
    throw new OAuthClientError(`token endpoint answered ${response.status}${typeof body.error === "string" ? ` ${body.error.slice(0, 64)}` : ""}`);
  }
  const grant: StoredGrant = { accessToken: body.access_token, tokenType: typeof body.token_type === "string" ? body.token_type : "Bearer" };
  const refresh = typeof body.refresh_token === "string" ? body.refresh_token : previous?.refreshToken;
  if (refresh) grant.refreshToken = refresh;
  if (typeof body.expires_in === "number" && body.expires_in > 0) grant.expiresAt = sentAt + body.expires_in * 1000;
  const scope = typeof body.scope === "string" ? body.scope : previous?.scope;
  if (scope) grant.scope = scope;
  return grant;
}
