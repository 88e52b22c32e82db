/**
 * ③ Authenticate: the gateway is an OAuth 2.1 resource server (MCP 2025-11-25
 * basic/authorization). One credential decides, in this order:
 *
 * 1. `X-API-Key`, when present: a key whose hash the tenant lists (apiKeys.ts);
 * 2. else `Authorization: Bearer <JWT>`: one the gateway issued itself (the tenant's `auth.oauth`
 *    authorization server, worker/oauth/verify.ts), or one verified with jose against the
 *    tenant's keys (inline `jwks`, or `jwksUrl` through the bounded cache in jwks.ts), issuer,
 *    audience, algorithm allow-list and time claims;
 * 3. else the principal "anonymous", when the tenant allows it;
 * 4. else 401.
 *
 * A 401 carries `WWW-Authenticate: Bearer` with the RFC 9728 metadata URL (§5.1) and, per
 * RFC 6750 §3.1, no error code when no credentials came and `invalid_token` when they were bad.
 * A principal without every scope in `auth.requiredScopes` gets 403 `insufficient_scope` with the
 * scopes required (MCP 2025-11-25 basic/authorization "Scope Challenge Handling").
 *
 * Tokens and keys are never logged: refusals carry only a reason (and, for keys, nothing that
 * identifies the key presented).
 */
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type CryptoKey,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type JWTPayload,
} from "jose";
import { actorChain, type Principal } from "../policy/principal.ts";
import { GatewayError } from "../protocol/errors.ts";
import type { TenantConfig } from "../tenant/schema.ts";
import { API_KEY_HEADER, apiKeyPrincipal, findApiKey } from "./apiKeys.ts";
import { jwksCache, JwksUnavailableError } from "./jwks.ts";
import { issuerFor } from "../oauth/server.ts";
import { GatewayTokenError, gatewayTokenPrincipal, unverifiedIssuer } from "../oauth/verify.ts";

/** Clock skew tolerated on exp / nbf / iat: covers ordinary drift, not replays. */
export const CLOCK_TOLERANCE_S = 30;

/** The principal of a request without credentials on a tenant that allows it. */
export const ANONYMOUS: Readonly<Principal> = Object.freeze({ sub: "anonymous", roles: [], scopes: [] });

/**
 * Signature algorithms the gateway accepts at all: asymmetric only. A symmetric (HS*) token
 * would be checked with a key the gateway publishes or shares, and `none` is no signature.
 */
const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);

/** RFC 6750 §2.1 b64token after the case-insensitive scheme (RFC 9110 §11.1). */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** The tenant's canonical MCP URL: the audience its tokens must carry (RFC 8707 resource). */
/**
 * The tenant's endpoint path on the URL the client used: `/t/<tenant>/mcp`, or `/mcp` on a
 * hostname mapped to the tenant, so the resource identifier matches what the client called.
 */
function endpointPath(requestUrl: string, tenant: string): string {
  const path = parsed(requestUrl).pathname;
  return path === "/mcp" || path === "/.well-known/oauth-protected-resource/mcp" ? "/mcp" : `/t/${tenant}/mcp`;
}

export function canonicalResource(requestUrl: string, tenant: string): string {
  return `${parsed(requestUrl).origin}${endpointPath(requestUrl, tenant)}`;
}

export function resourceMetadataUrl(requestUrl: string, tenant: string): string {
  // RFC 9728 §3.1: the well-known suffix is inserted between host and path.
  return `${parsed(requestUrl).origin}/.well-known/oauth-protected-resource${endpointPath(requestUrl, tenant)}`;
}

/** The request URL parsed once for the several names derived from it per request (read only). */
let lastParsed: { href: string; url: URL } | null = null;
function parsed(requestUrl: string): URL {
  if (lastParsed?.href !== requestUrl) lastParsed = { href: requestUrl, url: new URL(requestUrl) };
  return lastParsed.url;
}

/**
 * The `WWW-Authenticate` header of a refusal: the error code (none when no credentials came),
 * the scopes the tenant requires (MCP 2025-11-25: servers SHOULD name them, on 401 and 403),
 * and the metadata URL.
 */
export function challenge(request: Request, tenant: TenantConfig, error?: "invalid_token" | "insufficient_scope"): Record<string, string> {
  const parts: string[] = [];
  if (error) parts.push(`error="${error}"`);
  if (tenant.auth.requiredScopes.length > 0) parts.push(`scope="${quoted(tenant.auth.requiredScopes.join(" "))}"`);
  parts.push(`resource_metadata="${resourceMetadataUrl(request.url, tenant.id)}"`);
  return { "www-authenticate": `Bearer ${parts.join(", ")}` };
}

/** The principal the request's credential proves, with the tenant's required scopes; else a 401 or 403 GatewayError. */
export async function principalOf(request: Request, tenant: TenantConfig, env?: Env): Promise<Principal> {
  const principal = await identify(request, tenant, env);
  const missing = tenant.auth.requiredScopes.filter((scope) => !principal.scopes.includes(scope));
  if (missing.length > 0) {
    throw new GatewayError("insufficient_scope", {
      headers: challenge(request, tenant, "insufficient_scope"),
      detail: `missing required scopes: ${missing.join(" ")}`,
    });
  }
  return principal;
}

async function identify(request: Request, tenant: TenantConfig, env: Env | undefined): Promise<Principal> {
  const refuse = (detail: string): GatewayError => new GatewayError("unauthorized", { headers: challenge(request, tenant, "invalid_token"), detail });

  const apiKey = request.headers.get(API_KEY_HEADER);
  if (apiKey !== null) {
    const entry = await findApiKey(apiKey.trim(), tenant.auth.apiKeys);
    if (!entry) throw refuse("api key not recognised");
    return apiKeyPrincipal(entry);
  }

  const authorization = request.headers.get("authorization");
  if (authorization === null) {
    // An anonymous principal holds no scopes, so with required scopes it must authenticate: 401, not 403.
    if (tenant.auth.anonymous && tenant.auth.requiredScopes.length === 0) return { ...ANONYMOUS, roles: [], scopes: [] };
    throw new GatewayError("unauthorized", { headers: challenge(request, tenant), detail: "no credentials" });
  }
  const match = BEARER.exec(authorization);
  if (!match) {
    // Another scheme (Basic, ...) is no bearer credential: the challenge carries no error code.
    const scheme = authorization.split(" ", 1)[0]!.toLowerCase();
    if (scheme !== "bearer") throw new GatewayError("unauthorized", { headers: challenge(request, tenant), detail: "not a bearer credential" });
    throw refuse("malformed bearer token");
  }
  const token = match[1]!;
  const resource = canonicalResource(request.url, tenant.id);
  // A token of the tenant's own authorization server (worker/oauth/): its issuer is this host's
  // `/t/<tenant>`, its keys the tenant's authorization object's.
  if (tenant.auth.oauth && env) {
    const issuer = issuerFor(request.url, tenant.id);
    if (unverifiedIssuer(token) === issuer) {
      try {
        return await gatewayTokenPrincipal(env, tenant, token, issuer, resource);
      } catch (error) {
        if (error instanceof GatewayTokenError) throw refuse(error.message);
        throw error;
      }
    }
  }
  return verifyJwt(token, tenant, resource, refuse);
}

async function verifyJwt(token: string, tenant: TenantConfig, resource: string, refuse: (detail: string) => GatewayError): Promise<Principal> {
  const jwt = tenant.auth.jwt;
  if (!jwt || (!jwt.jwks && !jwt.jwksUrl)) throw refuse("tenant has no token keys");

  let alg: unknown;
  try {
    ({ alg } = decodeProtectedHeader(token));
  } catch {
    throw refuse("token rejected: malformed header");
  }
  // Refused before any key is looked at (and before any key fetch), whatever the allow-list says.
  if (typeof alg !== "string" || !ASYMMETRIC_ALGORITHMS.has(alg)) {
    throw refuse(`token rejected: algorithm ${typeof alg === "string" ? JSON.stringify(alg.slice(0, 16)) : "missing"} is not allowed`);
  }

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keyResolver(jwt), {
      issuer: jwt.issuer,
      audience: jwt.audience ?? resource,
      algorithms: jwt.algorithms.filter((a) => ASYMMETRIC_ALGORITHMS.has(a)),
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ["sub", "exp"],
    }));
  } catch (error) {
    if (error instanceof JwksUnavailableError) throw refuse(`token rejected: ${error.message}`);
    const reason = error instanceof joseErrors.JOSEError ? error.code : "invalid";
    throw refuse(`token rejected: ${reason}`);
  }
  // A token minted for one tenant is not valid at another, even when both trust the same issuer.
  if (payload.tenant !== undefined && payload.tenant !== tenant.id) throw refuse("token rejected: issued for another tenant");
  return {
    sub: String(payload.sub),
    roles: stringList(payload.roles),
    scopes: typeof payload.scope === "string" ? payload.scope.split(" ").filter(Boolean) : [],
    ...actorChain(payload),
  };
}

type KeyResolver = (protectedHeader: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/**
 * Resolvers over inline key sets, one per config document (a new tenant version is a new object),
 * so imported keys are reused across requests.
 */
const inlineResolvers = new WeakMap<object, KeyResolver>();

/** Inline keys first; a key they lack is looked up at `jwksUrl` when the tenant has one. */
function keyResolver(jwt: NonNullable<TenantConfig["auth"]["jwt"]>): KeyResolver {
  let inline: KeyResolver | null = null;
  if (jwt.jwks) {
    inline = inlineResolvers.get(jwt.jwks) ?? null;
    if (!inline) {
      inline = createLocalJWKSet(jwt.jwks as unknown as JSONWebKeySet) as KeyResolver;
      inlineResolvers.set(jwt.jwks, inline);
    }
  }
  const remote = jwt.jwksUrl ? jwksCache.resolver(jwt.jwksUrl) : null;
  if (inline && remote) {
    const local = inline;
    return async (header, token) => {
      try {
        return await local(header, token);
      } catch (error) {
        if (error instanceof joseErrors.JWKSNoMatchingKey) return remote(header, token);
        throw error;
      }
    };
  }
  return (inline ?? remote)!;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** A value safe inside an RFC 9110 quoted-string: no controls, `"` and `\` escaped. */
function quoted(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f]/g, "").replace(/["\\]/g, (c) => `\\${c}`);
}
