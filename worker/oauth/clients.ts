/**
 * Who a client is (its name and redirect URIs), wherever it was registered, and how it proves
 * it at the token and revocation endpoints.
 */
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { logger } from "../observe/log.ts";
import type { OAuthServerConfig, TenantConfig } from "../tenant/schema.ts";
import { CimdError, fetchClientMetadata, isCimdClientId } from "./cimd.ts";
import { constantTimeEqual, sha256Hex } from "./crypto.ts";
import { authority } from "./server.ts";
import type { ClientRecord, OAuthFailure } from "./types.ts";

/**
 * The client behind a client_id: the tenant's configured clients, then clients registered here
 * (RFC 7591), then a Client ID Metadata Document when the id is an https URL. A client an
 * operator revoked is refused whatever its kind.
 */
export async function resolveClient(env: Env, tenant: TenantConfig, server: OAuthServerConfig, clientId: string): Promise<ClientRecord | OAuthFailure> {
  const store = authority(env, tenant.id);
  if (clientId.length > 2048) return { error: "invalid_client", description: "client_id is too long" };
  if (await store.isBlocked(clientId)) return { error: "invalid_client", description: "This client has been revoked by the operator." };
  const configured = server.clients.find((client) => client.clientId === clientId);
  if (configured) {
    return {
      clientId,
      clientName: configured.clientName,
      redirectUris: configured.redirectUris,
      source: "configured",
      ...(configured.clientSecretSha256 === undefined ? {} : { clientSecretSha256: configured.clientSecretSha256 }),
    };
  }
  const registered = server.dynamicRegistration ? await store.registeredClient(clientId) : null;
  if (registered) return registered;
  const allowPrivate = env.ALLOW_PRIVATE_BACKENDS === "true";
  if (server.clientIdMetadataDocuments && isCimdClientId(clientId, allowPrivate)) {
    try {
      const document = await fetchClientMetadata(clientId, { allowPrivate });
      return {
        clientId,
        clientName: document.clientName,
        redirectUris: document.redirectUris,
        source: "metadata-document",
        ...(document.clientUri === undefined ? {} : { clientUri: document.clientUri }),
      };
    } catch (error) {
      const reason = error instanceof CimdError ? error.reason : "the client's metadata document could not be read";
      logger.info("oauth_cimd_refused", { tenant: tenant.id, client: clientId.slice(0, 200), reason });
      return { error: "invalid_client", description: `Client metadata document refused: ${reason}` };
    }
  }
  return { error: "invalid_client", description: "This client is not known to this tenant." };
}

/**
 * Client authentication at the token and revocation endpoints (OAuth 2.1 §2.4): a confidential
 * configured client by client_secret_basic or client_secret_post; every other client is public
 * and names itself with client_id (PKCE binds its codes).
 */
export async function authenticateClient(c: Context<AppEnv>, tenant: TenantConfig, server: OAuthServerConfig, form: URLSearchParams): Promise<{ clientId: string } | OAuthFailure> {
  let clientId = form.get("client_id");
  let secret = form.get("client_secret");
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(c.req.header("authorization") ?? "");
  if (basic) {
    let decoded: string;
    try {
      decoded = atob(basic[1]!);
    } catch {
      return { error: "invalid_client", description: "malformed Basic credentials" };
    }
    const colon = decoded.indexOf(":");
    if (colon < 0 || secret !== null) return { error: "invalid_client", description: "malformed client credentials" };
    // RFC 6749 §2.3.1: both parts are form-encoded; a malformed escape is a bad credential, not a crash.
    const decode = (v: string) => {
      try {
        return decodeURIComponent(v.replace(/\+/g, " "));
      } catch {
        return null;
      }
    };
    const basicId = decode(decoded.slice(0, colon));
    const basicSecret = decode(decoded.slice(colon + 1));
    if (basicId === null || basicSecret === null) return { error: "invalid_client", description: "malformed client credentials" };
    if (clientId !== null && clientId !== basicId) return { error: "invalid_client", description: "client_id differs from the Basic credentials" };
    clientId = basicId;
    secret = basicSecret;
  }
  if (!clientId) return { error: "invalid_client", description: "client_id is required" };
  const client = await resolveClient(c.env, tenant, server, clientId);
  if ("error" in client) return { error: "invalid_client", description: client.description };
  if (client.clientSecretSha256 !== undefined) {
    if (secret === null || !(await constantTimeEqual(await sha256Hex(secret), client.clientSecretSha256))) return { error: "invalid_client", description: "client authentication failed" };
  } else if (secret !== null) {
    return { error: "invalid_client", description: "this client is public and has no secret" };
  }
  return { clientId };
}
