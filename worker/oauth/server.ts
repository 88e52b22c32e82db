/**
 * Names and metadata of a tenant's authorization server.
 *
 * The issuer is `<origin>/t/<tenant>` on whatever host the client used (so one deployment under
 * several hostnames is one server per host and tenant); its endpoints live under
 * `<issuer>/oauth/`. RFC 8414 §3.1 puts its metadata at
 * `<origin>/.well-known/oauth-authorization-server/t/<tenant>` (path insertion), the first place
 * MCP 2025-11-25 basic/authorization "Authorization Server Metadata Discovery" has clients look.
 */
import type { OAuthServerConfig, TenantConfig } from "../tenant/schema.ts";
import type { IssueSettings } from "./types.ts";

export function issuerFor(requestUrl: string, tenantId: string): string {
  return `${new URL(requestUrl).origin}/t/${tenantId}`;
}

/**
 * The resource identifiers (RFC 8707) a token of this server may be bound to: the tenant's MCP
 * URL on this host, and `<origin>/mcp` when this host is one of the tenant's own hostnames.
 */
export function resourcesFor(requestUrl: string, tenant: TenantConfig): string[] {
  const url = new URL(requestUrl);
  const resources = [`${url.origin}/t/${tenant.id}/mcp`];
  if (tenant.hostnames.includes(url.hostname)) resources.push(`${url.origin}/mcp`);
  return resources;
}

export function authority(env: Pick<Env, "AUTHORIZATION">, tenantId: string) {
  return env.AUTHORIZATION.get(env.AUTHORIZATION.idFromName(tenantId));
}

export function issueSettings(server: OAuthServerConfig, tenantId: string, issuer: string): IssueSettings {
  return {
    tenant: tenantId,
    issuer,
    accessTokenTtlSeconds: server.accessTokenTtlSeconds,
    refreshTokenTtlSeconds: server.refreshTokenTtlSeconds,
    keyRotationDays: server.keyRotationDays,
  };
}

/** RFC 8414 §2 metadata. */
export function serverMetadata(issuer: string, server: OAuthServerConfig): Record<string, unknown> {
  const confidential = server.clients.some((client) => client.clientSecretSha256 !== undefined);
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    ...(server.dynamicRegistration ? { registration_endpoint: `${issuer}/oauth/register` } : {}),
    jwks_uri: `${issuer}/oauth/jwks`,
    scopes_supported: server.scopes,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    token_endpoint_auth_methods_supported: confidential ? ["none", "client_secret_basic", "client_secret_post"] : ["none"],
    revocation_endpoint_auth_methods_supported: confidential ? ["none", "client_secret_basic", "client_secret_post"] : ["none"],
    code_challenge_methods_supported: ["S256"],
    // RFC 9207: authorization responses carry `iss`.
    authorization_response_iss_parameter_supported: true,
    // draft-ietf-oauth-client-id-metadata-document §5 (MCP 2025-11-25 and later: preferred).
    client_id_metadata_document_supported: server.clientIdMetadataDocuments,
  };
}
