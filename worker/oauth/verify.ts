/**
 * Access tokens the gateway issued, checked at the MCP endpoint like any other credential
 * (auth/authenticate.ts): an ES256 JWT typed `at+jwt` (RFC 9068), signed by the tenant's
 * authorization object, `iss` the tenant's issuer on this host, `aud` the MCP URL it was granted
 * for, not expired, and its grant still active.
 *
 * Per isolate, two small caches keep this off the Durable Object on most calls:
 * - the tenant's public keys, refetched after KEYS_TTL_MS or when a token names an unknown `kid`
 *   (at most once per KEYS_REFETCH_MS: a rotation is seen at once, random kids cost little);
 * - whether a grant is active, for GRANT_CHECK_MS, the same interval at which tenant config
 *   changes are noticed (tenant/store.ts): revoking a grant or a client stops its tokens on
 *   every isolate within that, including sessions already running.
 */
import { createLocalJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";
import type { Principal } from "../policy/principal.ts";
import type { TenantConfig } from "../tenant/schema.ts";
import { TENANT_CHECK_INTERVAL_MS } from "../tenant/store.ts";
import { authority, resourcesFor } from "./server.ts";

export const GRANT_CHECK_MS = TENANT_CHECK_INTERVAL_MS;
const KEYS_TTL_MS = 5 * 60 * 1000;
const KEYS_REFETCH_MS = 1_000;
const CLOCK_TOLERANCE_S = 30;
const MAX_CACHED_GRANTS = 10_000;

type Resolver = ReturnType<typeof createLocalJWKSet>;

const keys = new Map<string, { resolver: Resolver; at: number }>();
const grants = new Map<string, { active: boolean; at: number }>();

/** The `iss` of a token without checking anything (to pick the verifier); null when not a JWT. */
export function unverifiedIssuer(token: string): string | null {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === "string" ? iss : null;
  } catch {
    return null;
  }
}

/** Thrown with a reason for the log; the client sees only 401 invalid_token. */
export class GatewayTokenError extends Error {}

export async function gatewayTokenPrincipal(env: Env, tenant: TenantConfig, token: string, issuer: string, resource: string, now = Date.now()): Promise<Principal> {
  const payload = await verified(env, tenant, token, issuer, now);
  if (payload.aud !== resource && !(Array.isArray(payload.aud) && payload.aud.includes(resource))) throw new GatewayTokenError("token rejected: issued for another resource");
  if (!(await grantActive(env, tenant.id, String(payload.gid), now))) throw new GatewayTokenError("token rejected: grant revoked");
  return {
    sub: String(payload.sub),
    roles: Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === "string") : [],
    scopes: typeof payload.scope === "string" ? payload.scope.split(" ").filter(Boolean) : [],
    grant: String(payload.gid),
    // The agent is the client the user granted; an `act` claim is never minted here.
    agent: String(payload.client_id).slice(0, 200),
  };
}

/** The grant and client of a valid token of this tenant (for RFC 7009 revocation), else null. */
export async function gatewayTokenGrant(env: Env, tenant: TenantConfig, token: string, issuer: string): Promise<{ grantId: string; clientId: string } | null> {
  try {
    const payload = await verified(env, tenant, token, issuer, Date.now());
    return { grantId: String(payload.gid), clientId: String(payload.client_id) };
  } catch {
    return null;
  }
}

async function verified(env: Env, tenant: TenantConfig, token: string, issuer: string, now: number): Promise<JWTPayload> {
  const server = tenant.auth.oauth;
  if (!server) throw new GatewayTokenError("token rejected: tenant has no authorization server");
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, await resolverFor(env, tenant.id, server.keyRotationDays, now), {
      issuer,
      audience: resourcesFor(issuer, tenant),
      algorithms: ["ES256"],
      typ: "at+jwt",
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ["sub", "exp", "iat", "gid", "client_id"],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWKSNoMatchingKey && refetchKeys(tenant.id, now)) return verified(env, tenant, token, issuer, now);
    throw new GatewayTokenError(`token rejected: ${error instanceof joseErrors.JOSEError ? error.code : "invalid"}`);
  }
  // The same keys never sign for two tenants, but the claim makes the binding explicit.
  if (payload.tenant !== tenant.id) throw new GatewayTokenError("token rejected: issued for another tenant");
  return payload;
}

async function resolverFor(env: Env, tenantId: string, rotationDays: number, now: number): Promise<Resolver> {
  const hit = keys.get(tenantId);
  if (hit && now - hit.at < KEYS_TTL_MS) return hit.resolver;
  const jwks = await authority(env, tenantId).jwks(rotationDays);
  const resolver = createLocalJWKSet(jwks as JSONWebKeySet);
  keys.set(tenantId, { resolver, at: now });
  return resolver;
}

/** Marks the tenant's keys stale when a token names a kid they lack, at most once per KEYS_REFETCH_MS. */
function refetchKeys(tenantId: string, now: number): boolean {
  const hit = keys.get(tenantId);
  if (!hit || now - hit.at < KEYS_REFETCH_MS) return false;
  keys.delete(tenantId);
  return true;
}

async function grantActive(env: Env, tenantId: string, grantId: string, now: number): Promise<boolean> {
  const key = `${tenantId}\u0000${grantId}`;
  const hit = grants.get(key);
  if (hit && now - hit.at < GRANT_CHECK_MS) return hit.active;
  const active = await authority(env, tenantId).grantActive(grantId);
  grants.delete(key);
  grants.set(key, { active, at: now });
  if (grants.size > MAX_CACHED_GRANTS) grants.delete(grants.keys().next().value!);
  return active;
}

/** Forgets what this isolate cached about a tenant's tokens (after an operator's revocation here). */
export function forgetTenantTokens(tenantId: string): void {
  keys.delete(tenantId);
  for (const key of grants.keys()) if (key.startsWith(`${tenantId}\u0000`)) grants.delete(key);
}
