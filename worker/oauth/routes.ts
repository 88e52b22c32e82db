/**
 * A tenant's OAuth 2.1 authorization server (MCP 2025-11-25 and 2026-07-28 basic/authorization;
 * docs/oauth.md), mounted at `/t/:tenant/oauth` for tenants with `auth.oauth`:
 *
 *   GET  authorize  the client's authorization request (code, PKCE S256, RFC 8707 resource)
 *                   -> the tenant's IdP (OpenID Connect code flow with PKCE and nonce)
 *   GET  callback   the IdP's answer -> the consent page
 *   POST consent    the user's decision -> the client's redirect URI with a code (or access_denied)
 *   POST token      authorization_code and refresh_token grants (JWT access tokens, rotated refresh)
 *   POST revoke     RFC 7009
 *   POST register   RFC 7591, when the tenant enables it
 *   GET  jwks       the keys its access tokens are signed with
 *
 * Errors have the shapes RFC 6749 names: before the client and its redirect URI are known good,
 * an error page (never a redirect: no open redirector); after, a redirect with `error`, `state`
 * and `iss` (§4.1.2.1, RFC 9207); at the token endpoint, JSON `{error, error_description}` with
 * 400 or 401 (§5.2). Nothing here answers 500: an IdP that fails is `temporarily_unavailable`.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { secretNamed } from "../env.ts";
import { logger } from "../observe/log.ts";
import { readTextCapped } from "../protocol/body.ts";
import { GatewayError } from "../protocol/errors.ts";
import type { OAuthServerConfig, TenantConfig } from "../tenant/schema.ts";
import { loadTenant } from "../tenant/store.ts";
import { authenticateClient, resolveClient } from "./clients.ts";
import { constantTimeEqual, PKCE_CHALLENGE, randomToken, s256, sha256Hex } from "./crypto.ts";
import { clearedLoginCookie, cookieValue, LOGIN_COOKIE, loginCookie, MAX_FORM_BYTES, preflight, readForm, redirectBack, jsonHeaders, tokenError } from "./http.ts";
import { completeIdpLogin, idpAuthorizationUrl, IdpError, idpMetadata } from "./idp.ts";
import { consentPage, errorPage } from "./pages.ts";
import { redirectAllowed } from "./redirects.ts";
import { parseRegistration } from "./registration.ts";
import { authority, issueSettings, issuerFor, resourcesFor, serverMetadata } from "./server.ts";
import type { OAuthErrorCode, PendingLogin } from "./types.ts";
import { gatewayTokenGrant } from "./verify.ts";
import { approverArrived } from "../approvals/routes.ts";
import { connectArrived } from "../connections/routes.ts";


type Ctx = Context<AppEnv>;

interface OAuthTenant {
  tenant: TenantConfig;
  server: OAuthServerConfig;
  issuer: string;
}

export const oauthRoutes = new Hono<AppEnv>();

/** The tenant of the path, when it has an authorization server; else 404 like any unknown route. */
async function oauthTenant(c: Ctx): Promise<OAuthTenant> {
  const id = c.req.param("tenant") ?? "";
  const tenant = await loadTenant(c.env, id);
  if (!tenant?.auth.oauth) throw new GatewayError("tenant_not_found");
  return { tenant, server: tenant.auth.oauth, issuer: issuerFor(c.req.url, tenant.id) };
}

/** RFC 8414 metadata; app.ts serves it at the well-known location. */
export async function metadataResponse(c: Ctx, tenantId: string): Promise<Response> {
  const tenant = await loadTenant(c.env, tenantId);
  if (!tenant?.auth.oauth) throw new GatewayError("tenant_not_found");
  return c.json(serverMetadata(issuerFor(c.req.url, tenant.id), tenant.auth.oauth), 200, { "cache-control": "public, max-age=300", "access-control-allow-origin": "*" });
}

// ---- authorize --------------------------------------------------------------------------------

oauthRoutes.get("/authorize", async (c) => {
  const { tenant, server, issuer } = await oauthTenant(c);
  const query = new URL(c.req.url).searchParams;
  const clientId = query.get("client_id");
  if (!clientId) return errorPage(400, "invalid_request", "The request names no client (client_id).");
  const client = await resolveClient(c.env, tenant, server, clientId);
  if ("error" in client) return errorPage(client.error === "temporarily_unavailable" ? 503 : 400, client.error, client.description);

  // The redirect URI must be one the client registered (exact match; loopback on any port,
  // RFC 8252 §7.3). Until it is known good, errors are shown here, never redirected.
  const presented = query.get("redirect_uri") ?? (client.redirectUris.length === 1 ? client.redirectUris[0]! : null);
  if (presented === null) return errorPage(400, "invalid_request", "The request names no redirect_uri, and the client registered several.");
  if (!redirectAllowed(client.redirectUris, presented)) return errorPage(400, "invalid_request", "The redirect_uri is not registered for this client.");

  const back = (error: OAuthErrorCode, description: string) => redirectBack(presented, { error, error_description: description, state: query.get("state"), iss: issuer }, 302);
  // RFC 6749 §3.1: parameters must not be repeated.
  for (const name of ["client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method", "state", "scope", "resource"]) {
    if (query.getAll(name).length > 1) return back("invalid_request", `${name} is repeated`);
  }
  if (query.get("response_type") !== "code") return back("unsupported_response_type", "only response_type=code is supported");
  const challenge = query.get("code_challenge");
  // OAuth 2.1 §4.1.1 and MCP basic/authorization: PKCE, and S256 only.
  if (query.get("code_challenge_method") !== "S256" || challenge === null || !PKCE_CHALLENGE.test(challenge)) {
    return back("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256");
  }
  // RFC 8707: the token is for this tenant's MCP endpoint and nothing else.
  const resources = resourcesFor(c.req.url, tenant);
  const resource = query.get("resource") ?? resources[0]!;
  if (!resources.includes(resource)) return back("invalid_target", `resource must be ${resources[0]}`);
  // RFC 6749 §3.3: scopes the server does not know are left out; none asked means all it offers.
  const asked = (query.get("scope") ?? "").split(" ").filter(Boolean);
  const known = asked.filter((s) => server.scopes.includes(s));
  if (asked.length > 0 && known.length === 0) return back("invalid_scope", `scope must be among: ${server.scopes.join(" ")}`);
  const scope = (known.length > 0 ? known : server.scopes).join(" ");

  let metadata;
  try {
    metadata = await idpMetadata(server.idp);
  } catch (error) {
    logger.warn("oauth_idp_unavailable", { tenant: tenant.id, stage: "discovery", error: error instanceof Error ? error.message : "error" });
    return back("temporarily_unavailable", "the identity provider could not be reached");
  }
  const loginId = randomToken(32);
  const pending: PendingLogin = {
    client: { clientId: client.clientId, clientName: client.clientName },
    redirectUri: presented,
    state: query.get("state"),
    codeChallenge: challenge,
    resource,
    scope,
    idpState: randomToken(16),
    idpVerifier: randomToken(32),
    nonce: randomToken(16),
  };
  await authority(c.env, tenant.id).putPending(await sha256Hex(loginId), pending);
  const target = idpAuthorizationUrl(metadata, server.idp, {
    redirectUri: `${issuer}/oauth/callback`,
    state: pending.idpState,
    nonce: pending.nonce,
    codeChallenge: await s256(pending.idpVerifier),
  });
  return new Response(null, { status: 302, headers: { location: target, "set-cookie": loginCookie(loginId), "cache-control": "no-store" } });
});

// ---- the IdP's answer -------------------------------------------------------------------------

oauthRoutes.get("/callback", async (c) => {
  const { tenant, server, issuer } = await oauthTenant(c);
  const query = new URL(c.req.url).searchParams;
  const loginId = cookieValue(c.req.header("cookie"), LOGIN_COOKIE);
  const store = authority(c.env, tenant.id);
  const idHash = loginId ? await sha256Hex(loginId) : null;
  const pending = idHash ? await store.pending(idHash) : null;
  if (!idHash || !pending) return errorPage(400, "invalid_request", "This sign-in is unknown or has expired (sign-ins must finish within 10 minutes, in the browser that started them).");
  // The IdP's state must be the one this browser's login sent: anything else is a forged or
  // crossed response (login CSRF), and ends the login.
  if (query.get("state") !== pending.idpState) {
    await store.takePending(idHash);
    return errorPage(400, "invalid_request", "The identity provider's answer does not belong to this sign-in (state mismatch).");
  }
  let metadata;
  try {
    metadata = await idpMetadata(server.idp);
  } catch {
    await store.takePending(idHash);
    return redirectBack(pending.redirectUri, { error: "temporarily_unavailable", error_description: "the identity provider could not be reached", state: pending.state, iss: issuer }, 302);
  }
  // RFC 9207 mix-up defence: an `iss` must be our IdP's; a provider that promises `iss` must send it.
  const iss = query.get("iss");
  if ((iss !== null && iss !== metadata.issuer) || (iss === null && metadata.authorization_response_iss_parameter_supported === true)) {
    await store.takePending(idHash);
    return errorPage(400, "invalid_request", "The answer did not come from this tenant's identity provider (iss mismatch).");
  }
  const idpError = query.get("error");
  const code = query.get("code");
  if (idpError !== null || code === null) {
    await store.takePending(idHash);
    const denied = idpError === "access_denied" || idpError === "login_required" || idpError === "consent_required";
    return redirectBack(pending.redirectUri, { error: denied ? "access_denied" : "server_error", error_description: denied ? "the user did not sign in" : "the identity provider refused the sign-in", state: pending.state, iss: issuer }, 302);
  }
  const secret = secretNamed(c.env, server.idp.clientSecret);
  if (secret === undefined) {
    logger.error("oauth_idp_secret_missing", { tenant: tenant.id, secret: server.idp.clientSecret });
    await store.takePending(idHash);
    return redirectBack(pending.redirectUri, { error: "server_error", error_description: "the gateway is not configured for this identity provider", state: pending.state, iss: issuer }, 302);
  }
  let user;
  try {
    user = await completeIdpLogin(metadata, server.idp, secret, { code, redirectUri: `${issuer}/oauth/callback`, codeVerifier: pending.idpVerifier, nonce: pending.nonce });
  } catch (error) {
    await store.takePending(idHash);
    logger.warn("oauth_idp_login_failed", { tenant: tenant.id, error: error instanceof IdpError ? error.message : "error" });
    return redirectBack(pending.redirectUri, { error: "temporarily_unavailable", error_description: "the identity provider's answer could not be verified", state: pending.state, iss: issuer }, 302);
  }
  // An approver's login (worker/approvals/routes.ts) ends at the approval form, not at consent.
  if (pending.approval) return approverArrived(c.env, tenant.id, issuer, idHash, { ...pending, user });
  // A connect link's login (worker/connections/routes.ts): on to the backend's server if it is the link's user.
  if (pending.connect) {
    await store.takePending(idHash);
    return connectArrived(c.env, tenant, new URL(c.req.url).origin, pending.connect, user.sub);
  }
  const consentToken = randomToken(16);
  await store.putPending(idHash, { ...pending, user, consentToken });
  return consentPage({
    action: `${issuer}/oauth/consent`,
    consentToken,
    tenant: tenant.id,
    clientName: pending.client.clientName,
    clientId: pending.client.clientId,
    redirectUri: pending.redirectUri,
    scopes: pending.scope.split(" "),
    user: user.name ?? user.sub,
    unverifiedClient: !server.clients.some((known) => known.clientId === pending.client.clientId),
  });
});

// ---- consent ----------------------------------------------------------------------------------

oauthRoutes.post("/consent", async (c) => {
  const { tenant, issuer } = await oauthTenant(c);
  const form = await readForm(c.req.raw);
  if (!form) return errorPage(400, "invalid_request", "The form could not be read.");
  const loginId = cookieValue(c.req.header("cookie"), LOGIN_COOKIE);
  const store = authority(c.env, tenant.id);
  // Taken, not read: one decision per login, and a replayed form finds nothing.
  const pending = loginId ? await store.takePending(await sha256Hex(loginId)) : null;
  const token = form.get("consent") ?? "";
  // The consent token is in the page only this browser was shown, and the cookie only in this
  // browser: a cross-site form post has neither pair (CSRF).
  if (!pending?.user || !pending.consentToken || !(await constantTimeEqual(token, pending.consentToken))) {
    return errorPage(400, "invalid_request", "This consent form is unknown, expired or already used.");
  }
  const headers = { "set-cookie": clearedLoginCookie() };
  if (form.get("decision") !== "allow") {
    logger.info("oauth_consent_denied", { tenant: tenant.id, client: pending.client.clientId, sub: pending.user.sub });
    return redirectBack(pending.redirectUri, { error: "access_denied", error_description: "the user denied access", state: pending.state, iss: issuer }, 303, headers);
  }
  const code = await store.issueCode({
    clientId: pending.client.clientId,
    clientName: pending.client.clientName,
    redirectUri: pending.redirectUri,
    codeChallenge: pending.codeChallenge,
    resource: pending.resource,
    scope: pending.scope,
    sub: pending.user.sub,
    roles: pending.user.roles,
  });
  // 303: the browser follows a POST's redirect with a GET (OAuth 2.1 §7.5.2 forbids 307).
  return redirectBack(pending.redirectUri, { code, state: pending.state, iss: issuer }, 303, headers);
});

// ---- token ------------------------------------------------------------------------------------

oauthRoutes.options("/token", () => preflight());
oauthRoutes.options("/revoke", () => preflight());
oauthRoutes.options("/register", () => preflight());

oauthRoutes.post("/token", async (c) => {
  const { tenant, server, issuer } = await oauthTenant(c);
  const form = await readForm(c.req.raw);
  if (!form) return tokenError("invalid_request", "the body must be application/x-www-form-urlencoded and small");
  for (const [name] of form) if (form.getAll(name).length > 1) return tokenError("invalid_request", `${name} is repeated`);
  const grantType = form.get("grant_type");
  if (grantType !== "authorization_code" && grantType !== "refresh_token") {
    return tokenError(grantType ? "unsupported_grant_type" : "invalid_request", grantType ? "only authorization_code and refresh_token are supported" : "grant_type is required");
  }
  const authenticated = await authenticateClient(c, tenant, server, form);
  if ("error" in authenticated) return tokenError(authenticated.error, authenticated.description, authenticated.error === "invalid_client" ? 401 : 400);
  const settings = issueSettings(server, tenant.id, issuer);
  const store = authority(c.env, tenant.id);
  const resource = form.get("resource") ?? undefined;
  let result;
  if (grantType === "authorization_code") {
    const code = form.get("code");
    const redirectUri = form.get("redirect_uri");
    const codeVerifier = form.get("code_verifier");
    if (!code || !redirectUri || !codeVerifier) return tokenError("invalid_request", "code, redirect_uri and code_verifier are required");
    result = await store.exchangeCode({ code, clientId: authenticated.clientId, redirectUri, codeVerifier, ...(resource === undefined ? {} : { resource }) }, settings);
  } else {
    const refreshToken = form.get("refresh_token");
    if (!refreshToken) return tokenError("invalid_request", "refresh_token is required");
    const scope = form.get("scope") ?? undefined;
    result = await store.refresh({ refreshToken, clientId: authenticated.clientId, ...(scope === undefined ? {} : { scope }), ...(resource === undefined ? {} : { resource }) }, settings);
  }
  if ("error" in result) {
    logger.info("oauth_token_refused", { tenant: tenant.id, client: authenticated.clientId, grantType, error: result.error, reason: result.description });
    return tokenError(result.error, result.description, result.error === "invalid_client" ? 401 : 400);
  }
  return new Response(JSON.stringify(result), { status: 200, headers: jsonHeaders() });
});

// ---- revoke (RFC 7009) ------------------------------------------------------------------------

oauthRoutes.post("/revoke", async (c) => {
  const { tenant, server, issuer } = await oauthTenant(c);
  const form = await readForm(c.req.raw);
  if (!form) return tokenError("invalid_request", "the body must be application/x-www-form-urlencoded and small");
  const token = form.get("token");
  if (!token) return tokenError("invalid_request", "token is required");
  const authenticated = await authenticateClient(c, tenant, server, form);
  if ("error" in authenticated) return tokenError(authenticated.error, authenticated.description, authenticated.error === "invalid_client" ? 401 : 400);
  const store = authority(c.env, tenant.id);
  if (token.split(".").length === 3) {
    // An access token: its grant ends (§2.1 allows revoking the grant behind a token).
    const grant = await gatewayTokenGrant(c.env, tenant, token, issuer);
    if (grant && grant.clientId === authenticated.clientId) await store.revokeGrant(grant.grantId, "revoked by the client");
  } else {
    await store.revokeRefreshToken(token, authenticated.clientId);
  }
  // §2.2: 200 whether or not the token was known, so the answer tells nothing.
  return new Response(null, { status: 200, headers: { "cache-control": "no-store", "access-control-allow-origin": "*" } });
});

// ---- register (RFC 7591) ----------------------------------------------------------------------

oauthRoutes.post("/register", async (c) => {
  const { tenant, server } = await oauthTenant(c);
  if (!server.dynamicRegistration) return tokenError("access_denied", "dynamic client registration is not enabled for this tenant", 403);
  let body: unknown;
  try {
    body = JSON.parse(await readTextCapped(c.req.raw, MAX_FORM_BYTES));
  } catch {
    return tokenError("invalid_client_metadata", "the body must be a JSON object of client metadata");
  }
  const parsed = parseRegistration(body);
  if (!parsed.ok) return tokenError(parsed.error, parsed.description);
  const { clientName, redirectUris, clientUri } = parsed.metadata;
  const record = await authority(c.env, tenant.id).registerClient({ clientName, redirectUris, ...(clientUri === undefined ? {} : { clientUri }) });
  if (!record) return tokenError("temporarily_unavailable", "this tenant has too many registered clients", 503);
  logger.info("oauth_client_registered", { tenant: tenant.id, client: record.clientId });
  return new Response(
    JSON.stringify({
      client_id: record.clientId,
      client_id_issued_at: Math.floor((record.createdAt ?? Date.now()) / 1000),
      client_name: record.clientName,
      redirect_uris: record.redirectUris,
      grant_types: parsed.metadata.grantTypes,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...(clientUri === undefined ? {} : { client_uri: clientUri }),
    }),
    { status: 201, headers: jsonHeaders() },
  );
});

// ---- jwks -------------------------------------------------------------------------------------

oauthRoutes.get("/jwks", async (c) => {
  const { tenant, server } = await oauthTenant(c);
  const jwks = await authority(c.env, tenant.id).jwks(server.keyRotationDays);
  return c.json(jwks, 200, { "cache-control": "public, max-age=300", "access-control-allow-origin": "*" });
});

// ---- helpers ----------------------------------------------------------------------------------

