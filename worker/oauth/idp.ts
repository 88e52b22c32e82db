/**
 * The gateway as an OpenID Connect relying party of the tenant's identity provider: discovery,
 * the authorization request (code flow with PKCE S256 and a nonce), the code exchange with the
 * tenant's client secret, and the ID token check (OpenID Connect Core 1.0 §3.1.3.7). Its claims
 * become the principal the policy already reads (subject, roles from a configurable claim).
 *
 * Fetches are bounded (time and size) like every other fetch the gateway makes for a tenant; the
 * IdP's keys go through the bounded JWKS cache of auth/jwks.ts.
 */
import { errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { z } from "zod";
import { jwksCache } from "../auth/jwks.ts";
import { readCapped } from "../protocol/body.ts";
import type { OAuthServerConfig } from "../tenant/schema.ts";

type IdpConfig = OAuthServerConfig["idp"];

/** An IdP answers discovery and token requests in well under a second; a hung one must not hold a login. */
export const IDP_FETCH_TIMEOUT_MS = 5_000;
/** Discovery documents are a few KiB; token responses smaller. */
const IDP_MAX_BYTES = 64 * 1024;
/** Discovery changes rarely: re-read hourly per isolate. */
const DISCOVERY_TTL_MS = 60 * 60 * 1000;
const CLOCK_TOLERANCE_S = 30;

/** The IdP could not be used; `message` is safe to log, never shown with upstream bodies. */
export class IdpError extends Error {}

/** OpenID Connect Discovery 1.0 §3, the members the gateway needs. */
const DiscoverySchema = z.looseObject({
  issuer: z.string(),
  authorization_endpoint: z.url(),
  token_endpoint: z.url(),
  jwks_uri: z.url(),
  token_endpoint_auth_methods_supported: z.array(z.string()).optional(),
  id_token_signing_alg_values_supported: z.array(z.string()).optional(),
  authorization_response_iss_parameter_supported: z.boolean().optional(),
});
export type IdpMetadata = z.infer<typeof DiscoverySchema>;

const discovered = new Map<string, { metadata: IdpMetadata; at: number }>();

export async function idpMetadata(idp: IdpConfig, now = Date.now()): Promise<IdpMetadata> {
  const hit = discovered.get(idp.issuer);
  if (hit && now - hit.at < DISCOVERY_TTL_MS) return hit.metadata;
  const url = `${idp.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  const parsed = DiscoverySchema.safeParse(await fetchJson(url, { headers: { accept: "application/json" } }, "discovery"));
  if (!parsed.success) throw new IdpError("discovery document is not valid");
  // Discovery §4.3: the issuer in the document must be the one it was fetched for.
  if (parsed.data.issuer !== idp.issuer) throw new IdpError(`discovery issuer ${JSON.stringify(parsed.data.issuer.slice(0, 100))} differs from the configured issuer`);
  discovered.set(idp.issuer, { metadata: parsed.data, at: now });
  if (discovered.size > 200) discovered.delete(discovered.keys().next().value!);
  return parsed.data;
}

export function idpAuthorizationUrl(metadata: IdpMetadata, idp: IdpConfig, request: { redirectUri: string; state: string; nonce: string; codeChallenge: string }): string {
  const url = new URL(metadata.authorization_endpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", idp.clientId);
  url.searchParams.set("redirect_uri", request.redirectUri);
  url.searchParams.set("scope", idp.scopes.includes("openid") ? idp.scopes.join(" ") : ["openid", ...idp.scopes].join(" "));
  url.searchParams.set("state", request.state);
  url.searchParams.set("nonce", request.nonce);
  url.searchParams.set("code_challenge", request.codeChallenge);
  url.searchParams.set("code_challenge_method", "S256");
  return url.href;
}

/** The user the IdP vouches for. */
export interface IdpUser {
  sub: string;
  roles: string[];
  name?: string;
}

/**
 * Exchanges the IdP's code for tokens and checks the ID token: signature by the IdP's published
 * keys (asymmetric algorithms only), `iss`, `aud` (our client id), `azp` when several audiences,
 * `exp`/`iat`, and the `nonce` of this login.
 */
export async function completeIdpLogin(
  metadata: IdpMetadata,
  idp: IdpConfig,
  clientSecret: string,
  request: { code: string; redirectUri: string; codeVerifier: string; nonce: string },
): Promise<IdpUser> {
  const body = new URLSearchParams({ grant_type: "authorization_code", code: request.code, redirect_uri: request.redirectUri, code_verifier: request.codeVerifier });
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
  // client_secret_basic unless the IdP only takes client_secret_post (OIDC Core §9).
  const methods = metadata.token_endpoint_auth_methods_supported ?? ["client_secret_basic"];
  if (!methods.includes("client_secret_basic") && methods.includes("client_secret_post")) {
    body.set("client_id", idp.clientId);
    body.set("client_secret", clientSecret);
  } else {
    // RFC 6749 §2.3.1: both halves form-urlencoded before the Basic encoding.
    headers.authorization = `Basic ${btoa(`${formEncode(idp.clientId)}:${formEncode(clientSecret)}`)}`;
  }
  const tokens = (await fetchJson(metadata.token_endpoint, { method: "POST", headers, body }, "token")) as { id_token?: unknown };
  if (typeof tokens.id_token !== "string") throw new IdpError("token response has no id_token");

  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(tokens.id_token, jwksCache.resolver(metadata.jwks_uri), {
      issuer: idp.issuer,
      audience: idp.clientId,
      algorithms: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"],
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ["sub", "exp", "iat"],
    }));
  } catch (error) {
    throw new IdpError(`id_token rejected: ${error instanceof joseErrors.JOSEError ? error.code : "invalid"}`);
  }
  if (claims.nonce !== request.nonce) throw new IdpError("id_token nonce does not match this login");
  if (Array.isArray(claims.aud) && claims.aud.length > 1 && claims.azp !== idp.clientId) throw new IdpError("id_token azp is not this client");
  return userFromClaims(claims, idp);
}

/** The principal's subject, roles and display name from ID token claims, as the tenant maps them. */
export function userFromClaims(claims: Record<string, unknown>, idp: Pick<IdpConfig, "rolesClaim" | "subjectClaim">): IdpUser {
  const sub = claim(claims, idp.subjectClaim);
  if (typeof sub !== "string" || sub === "") throw new IdpError(`id_token has no ${idp.subjectClaim} claim`);
  const rolesValue = claim(claims, idp.rolesClaim);
  const roles = Array.isArray(rolesValue) ? rolesValue.filter((r): r is string => typeof r === "string") : typeof rolesValue === "string" ? rolesValue.split(/[ ,]+/).filter(Boolean) : [];
  const name = [claims.name, claims.email, claims.preferred_username].find((v): v is string => typeof v === "string" && v !== "");
  return name === undefined ? { sub, roles } : { sub, roles, name };
}

/**
 * A claim by name, else by dotted path (`realm_access.roles`): the whole name first, because
 * some IdPs' claim names are URLs full of dots (Auth0's namespaced claims).
 */
function claim(claims: Record<string, unknown>, name: string): unknown {
  if (name in claims) return claims[name];
  let value: unknown = claims;
  for (const part of name.split(".")) {
    if (typeof value !== "object" || value === null || !(part in value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

async function fetchJson(url: string, init: RequestInit, what: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(IDP_FETCH_TIMEOUT_MS) });
  } catch (error) {
    throw new IdpError(`${what} request failed: ${error instanceof Error ? error.name : "error"}`);
  }
  let text: string;
  try {
    text = await readCapped(response.body, IDP_MAX_BYTES);
  } catch {
    throw new IdpError(`${what} response is too large`);
  }
  if (!response.ok) throw new IdpError(`${what} request answered ${response.status}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new IdpError(`${what} response is not JSON`);
  }
}
