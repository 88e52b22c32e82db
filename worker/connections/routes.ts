/**
 * Connecting a user's account at a backend that acts for the user (docs/connections.md), mounted
 * at `/t/:tenant/connect`:
 *
 *   GET /?link=…     the link a call answered with (error -32042): signed for this tenant,
 *                    principal and backend, unexpired, and used once (its nonce is spent here).
 *                    A tenant with its own login (`auth.oauth`) first signs the person in at its
 *                    IdP (oauth/routes.ts callback -> connectArrived) and goes on only if they
 *                    are the link's user.
 *                    -> the backend's authorization server (code + PKCE S256, `state`, RFC 8707
 *                    `resource` = the backend's URL), with a browser-binding cookie
 *   GET /callback    its answer: `state` and the cookie must match the flow, `iss` checked when
 *                    the server sends it (RFC 9207); the code is exchanged and the grant stored,
 *                    encrypted, for that principal and backend
 *
 * Nothing here redirects anywhere but to the backend's own authorization server; errors are pages.
 */
import { Hono, type Context } from "hono";
import { principalOf } from "../auth/authenticate.ts";
import { GatewayError } from "../protocol/errors.ts";
import type { AppEnv } from "../env.ts";
import { logger } from "../observe/log.ts";
import { messagePage } from "../oauth/pages.ts";
import { constantTimeEqual, PKCE_CHALLENGE, randomToken, s256, sha256Hex } from "../oauth/crypto.ts";
import { cookieValue } from "../oauth/http.ts";
import { startPurposeLogin } from "../oauth/login.ts";
import { issuerFor } from "../oauth/server.ts";
import { loadTenant } from "../tenant/store.ts";
import type { TenantConfig, UserOAuth } from "../tenant/schema.ts";
import { verifyLink, type LinkClaims } from "./links.ts";
import { announceConnectionChange } from "./announce.ts";
import { authServerFor, tokenRequest } from "./oauthClient.ts";
import type { ConnectFlow } from "./types.ts";
import { vaultOf } from "./userTokens.ts";

/** The browser that started a flow must finish it (login CSRF towards the backend's server). */
const FLOW_COOKIE = "__Host-mcp-connect";
const FLOW_TTL_MS = 10 * 60 * 1000;

export const connectRoutes = new Hono<AppEnv>();

const page = messagePage;

/** The flow's vault entry is stored under the hash of `state`; the raw state is only in the URL. */
interface Flow extends ConnectFlow {
  /** SHA-256 of the browser-binding cookie's value. */
  bindingHash: string;
}

connectRoutes.get("/", async (c) => {
  const tenantId = c.req.param("tenant") ?? "";
  const link = c.req.query("link") ?? "";
  const claims = await validLink(c.env, tenantId, link);
  if (!claims) return page(400, "Link not valid", "This connect link is not valid or has expired. Call the tool again from your client for a new one.");
  const tenant = await loadTenant(c.env, tenantId);
  if (!tenant) return page(404, "Unknown backend", "This backend does not connect user accounts (any more).");
  const vault = c.env.CONNECTIONS.get(c.env.CONNECTIONS.idFromName(tenant.id));
  if (!(await vault.claimNonce(claims.nonce, claims.expiresAt))) return page(400, "Link already used", "This connect link was already used. Call the tool again from your client for a new one.");
  const server = tenant.auth.oauth;
  if (!server) return toAuthorizationServer(c.env, tenant, new URL(c.req.url).origin, claims);
  // The tenant has its own login: whoever opens the link signs in first, and must be its user.
  const issuer = issuerFor(c.req.url, tenant.id);
  const started = await startPurposeLogin(c.env, tenant.id, server, issuer, { connect: link }, `${issuer}/connect`);
  return started ?? page(503, "Sign-in unavailable", "The identity provider could not be reached.");
});

/** The link's claims when it is this gateway's, for this tenant, and unexpired. */
async function validLink(env: Env, tenantId: string, link: string): Promise<LinkClaims | null> {
  const secret = env.VAULT_SECRET;
  const claims = secret ? await verifyLink(link, secret) : null;
  return claims && claims.tenant === tenantId ? claims : null;
}

/** Called by the tenant's login callback (oauth/routes.ts) once it knows who opened the link. */
export async function connectArrived(env: Env, tenant: TenantConfig, origin: string, link: string, sub: string): Promise<Response> {
  const claims = await validLink(env, tenant.id, link);
  if (!claims) return page(400, "Link not valid", "This connect link expired during the sign-in. Call the tool again from your client for a new one.");
  if (claims.principal !== sub) {
    logger.warn("connect_wrong_user", { tenant: tenant.id, backend: claims.backend, principal: claims.principal, signedIn: sub });
    return page(403, "Not your link", "This link was made for another user. Call the tool yourself to get your own link.");
  }
  return toAuthorizationServer(env, tenant, origin, claims);
}

/** On to the backend's authorization server, with a flow stored for the callback. */
async function toAuthorizationServer(env: Env, tenant: TenantConfig, origin: string, claims: LinkClaims): Promise<Response> {
  const backend = tenant.backends.find((b) => b.name === claims.backend);
  if (backend?.auth?.type !== "user_oauth") return page(404, "Unknown backend", "This backend does not connect user accounts (any more).");
  const auth: UserOAuth = backend.auth;
  let server;
  try {
    server = await authServerFor(env, backend, auth);
  } catch (error) {
    logger.warn("connect_discovery_failed", { tenant: tenant.id, backend: backend.name, error: error instanceof Error ? error.message : "error" });
    return page(503, "Not reachable", `The sign-in service of ${backend.name} could not be reached. Try again later.`);
  }
  const state = randomToken(32);
  const binding = randomToken(32);
  const verifier = randomToken(32);
  const redirectUri = `${origin}/t/${encodeURIComponent(tenant.id)}/connect/callback`;
  const flow: Flow = {
    principal: claims.principal,
    backend: backend.name,
    verifier,
    redirectUri,
    tokenEndpoint: server.tokenEndpoint,
    expiresAt: Date.now() + FLOW_TTL_MS,
    bindingHash: await sha256Hex(binding),
    ...(server.issuer && server.sendsIss ? { expectedIss: server.issuer } : {}),
  };
  await env.CONNECTIONS.get(env.CONNECTIONS.idFromName(tenant.id)).putFlow(await sha256Hex(state), flow);
  const target = new URL(server.authorizationEndpoint);
  target.searchParams.set("response_type", "code");
  target.searchParams.set("client_id", auth.clientId);
  target.searchParams.set("redirect_uri", redirectUri);
  target.searchParams.set("state", state);
  target.searchParams.set("code_challenge", await s256(verifier));
  target.searchParams.set("code_challenge_method", "S256");
  target.searchParams.set("resource", backend.url);
  if (auth.scopes.length > 0) target.searchParams.set("scope", auth.scopes.join(" "));
  return new Response(null, {
    status: 302,
    headers: { location: target.href, "set-cookie": `${FLOW_COOKIE}=${binding}; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax`, "cache-control": "no-store" },
  });
}

connectRoutes.get("/callback", async (c) => {
  const tenantId = c.req.param("tenant") ?? "";
  const query = new URL(c.req.url).searchParams;
  const state = query.get("state") ?? "";
  const tenant = await loadTenant(c.env, tenantId);
  if (!tenant || !PKCE_CHALLENGE.test(state)) return page(400, "Not valid", "This answer does not belong to a connection in progress.");
  const vault = c.env.CONNECTIONS.get(c.env.CONNECTIONS.idFromName(tenant.id));
  const flow = (await vault.takeFlow(await sha256Hex(state))) as Flow | null;
  const binding = cookieValue(c.req.header("cookie"), FLOW_COOKIE);
  const cleared = { "set-cookie": `${FLOW_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax` };
  if (!flow || !binding || !(await constantTimeEqual(await sha256Hex(binding), flow.bindingHash))) {
    return page(400, "Not valid", "This answer does not belong to a connection started in this browser, or it expired. Call the tool again for a new link.", cleared);
  }
  if (flow.expectedIss !== undefined && query.get("iss") !== flow.expectedIss) return page(400, "Not valid", "The answer did not come from this backend's sign-in service (iss mismatch).", cleared);
  const code = query.get("code");
  if (query.get("error") !== null || code === null) return page(400, "Not connected", "The sign-in was refused or cancelled. Nothing was connected.", cleared);
  const backend = tenant.backends.find((b) => b.name === flow.backend);
  if (backend?.auth?.type !== "user_oauth") return page(404, "Unknown backend", "This backend does not connect user accounts (any more).", cleared);
  let grant;
  try {
    const form = new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: flow.redirectUri, code_verifier: flow.verifier, resource: backend.url });
    grant = await tokenRequest(c.env, backend.auth, flow.tokenEndpoint, form);
  } catch (error) {
    logger.warn("connect_exchange_failed", { tenant: tenant.id, backend: backend.name, error: error instanceof Error ? error.message : "error" });
    return page(502, "Not connected", `${backend.name}'s sign-in service did not issue a token. Call the tool again for a new link.`, cleared);
  }
  await vaultOf(c.env, tenant.id).put(tenant.id, flow.principal, backend.name, grant);
  logger.info("connection_created", { tenant: tenant.id, backend: backend.name, principal: flow.principal });
  c.executionCtx.waitUntil(announceConnectionChange(c.env, tenant.id, flow.principal, backend.name));
  return page(200, "Connected", `Your ${backend.name} account is connected. Go back to your client and call the tool again.`, cleared);
});

/**
 * A user's own connections, with the same credential as at the MCP endpoint (mounted at
 * `/t/:tenant/connections`): `GET` lists them (no token), `DELETE /:backend` disconnects one.
 */
export const myConnections = new Hono<AppEnv>();

async function me(c: Context<AppEnv>): Promise<{ tenant: string; principal: string }> {
  const tenant = await loadTenant(c.env, c.req.param("tenant") ?? "");
  if (!tenant) throw new GatewayError("tenant_not_found");
  const principal = await principalOf(c.req.raw, tenant, c.env);
  return { tenant: tenant.id, principal: principal.sub };
}

myConnections.get("/", async (c) => {
  const { tenant, principal } = await me(c);
  return c.json({ connections: await vaultOf(c.env, tenant).list(principal) }, 200, { "cache-control": "no-store" });
});

myConnections.delete("/:backend", async (c) => {
  const { tenant, principal } = await me(c);
  const deleted = await vaultOf(c.env, tenant).delete(principal, c.req.param("backend"));
  if (deleted) {
    logger.info("connection_deleted", { tenant, backend: c.req.param("backend"), principal, by: "user" });
    c.executionCtx.waitUntil(announceConnectionChange(c.env, tenant, principal, c.req.param("backend")));
  }
  return deleted ? c.body(null, 204) : c.json({ error: "no such connection" }, 404);
});
