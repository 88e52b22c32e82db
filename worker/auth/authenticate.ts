/**
 * ② Authenticate: the gateway is an OAuth 2.1 resource server (MCP 2025-11-25
 * basic/authorization). A bearer JWT is verified with jose against the tenant's keys, issuer,
 * audience and algorithm allow-list; a failure is a 401 whose WWW-Authenticate names the
 * protected-resource metadata (RFC 9728 §5.1).
 */
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import type { Principal } from "../env.ts";
import { GatewayError } from "../protocol/errors.ts";
import type { TenantConfig } from "../tenant/schema.ts";

/** Clock skew tolerated on exp / nbf / iat: covers ordinary drift, not replays. */
export const CLOCK_TOLERANCE_S = 30;

/** The tenant's canonical MCP URL: the audience its tokens must carry (RFC 8707 resource). */
export function canonicalResource(requestUrl: string, tenant: string): string {
  return `${new URL(requestUrl).origin}/t/${tenant}/mcp`;
}

export function resourceMetadataUrl(requestUrl: string, tenant: string): string {
  // RFC 9728 §3.1: the well-known suffix is inserted between host and path.
  return `${new URL(requestUrl).origin}/.well-known/oauth-protected-resource/t/${tenant}/mcp`;
}

function challenge(request: Request, tenant: TenantConfig, error?: string): Record<string, string> {
  const parts = [`resource_metadata="${resourceMetadataUrl(request.url, tenant.id)}"`];
  if (error) parts.push(`error="${error}"`);
  return { "www-authenticate": `Bearer ${parts.join(", ")}` };
}

export async function authenticate(request: Request, tenant: TenantConfig): Promise<Principal> {
  const header = request.headers.get("authorization");
  const match = header === null ? null : /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(header);
  if (!match) {
    if (header === null && tenant.auth.anonymous) return { sub: "anonymous", roles: [], scopes: [] };
    // RFC 6750 §3.1: no credentials -> a challenge without an error code.
    throw new GatewayError("unauthorized", { headers: challenge(request, tenant), detail: header === null ? "no credentials" : "malformed authorization header" });
  }
  const jwt = tenant.auth.jwt;
  if (!jwt?.jwks) throw new GatewayError("unauthorized", { headers: challenge(request, tenant, "invalid_token"), detail: "tenant has no keys" });
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(match[1]!, createLocalJWKSet(jwt.jwks as unknown as Parameters<typeof createLocalJWKSet>[0]), {
      issuer: jwt.issuer,
      audience: jwt.audience,
      algorithms: jwt.algorithms,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ["sub", "exp"],
    }));
  } catch (error) {
    const reason = error instanceof joseErrors.JOSEError ? error.code : "invalid";
    throw new GatewayError("unauthorized", { headers: challenge(request, tenant, "invalid_token"), detail: `token rejected: ${reason}` });
  }
  return {
    sub: String(payload.sub),
    roles: stringList(payload.roles),
    scopes: typeof payload.scope === "string" ? payload.scope.split(" ").filter(Boolean) : [],
  };
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}
