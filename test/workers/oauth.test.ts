/**
 * The gateway's authorization server inside workerd: the tenant's AuthorizationObject (codes,
 * grants, refresh rotation, revocation, signing keys), its metadata and token endpoints over
 * HTTP, and its access tokens at the MCP endpoint. The browser half of a login (IdP and consent)
 * runs against a real OpenID provider in test/e2e/oauth-*.test.ts.
 */
import { env } from "cloudflare:workers";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { s256 } from "../../worker/oauth/crypto.ts";
import type { IssueSettings, TokenSuccess } from "../../worker/oauth/types.ts";
import { ADMIN_TOKEN, backend, connect, createTenant, endpoint, gateway, initializeRequest, mcp, ORIGIN, readReply, SseReader } from "./helpers.ts";

const VERIFIER = "v".repeat(43);
const CLIENT = "https://client.example/metadata.json";
const REDIRECT = "http://127.0.0.1:5555/callback";

/** An IdP the gateway never reaches in these tests: tokens are minted from codes issued directly. */
const oauthConfig = {
  idp: { issuer: "https://idp.example", clientId: "gateway", clientSecret: "UNUSED_IDP_SECRET" },
  scopes: ["mcp", "mcp:admin"],
  clients: [{ clientId: "cli", clientName: "Test CLI", redirectUris: [REDIRECT] }],
};

let tenant: string;
let other: string;
const issuerOf = (id: string) => `${ORIGIN}/t/${id}`;
const store = (id: string) => env.AUTHORIZATION.get(env.AUTHORIZATION.idFromName(id));
const settings = (id: string): IssueSettings => ({ tenant: id, issuer: issuerOf(id), accessTokenTtlSeconds: 600, refreshTokenTtlSeconds: 86_400, keyRotationDays: 30 });

async function code(id: string, overrides: Partial<Parameters<ReturnType<typeof store>["issueCode"]>[0]> = {}): Promise<string> {
  return store(id).issueCode({
    clientId: "cli",
    clientName: "Test CLI",
    redirectUri: REDIRECT,
    codeChallenge: await s256(VERIFIER),
    resource: endpoint(id),
    scope: "mcp",
    sub: "alice",
    roles: ["admin"],
    ...overrides,
  });
}

async function tokens(id: string): Promise<TokenSuccess> {
  const result = await store(id).exchangeCode({ code: await code(id), clientId: "cli", redirectUri: REDIRECT, codeVerifier: VERIFIER }, settings(id));
  if ("error" in result) throw new Error(result.description);
  return result;
}

function tokenRequest(id: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return gateway(`${issuerOf(id)}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

beforeAll(async () => {
  tenant = (await createTenant("oauth", { backends: [backend.weather()], auth: { oauth: oauthConfig } })).id;
  other = (await createTenant("oauth-other", { backends: [backend.weather()], auth: { oauth: oauthConfig } })).id;
});

describe("authorization object", () => {
  it("redeems a code once for a signed at+jwt bound to the resource, with the user's roles and scopes", async () => {
    const issued = await tokens(tenant);
    expect(issued).toMatchObject({ token_type: "Bearer", expires_in: 600, scope: "mcp" });
    expect(issued.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(decodeProtectedHeader(issued.access_token)).toMatchObject({ alg: "ES256", typ: "at+jwt" });
    const jwks = await store(tenant).jwks(30);
    const { payload } = await jwtVerify(issued.access_token, createLocalJWKSet(jwks as JSONWebKeySet), { issuer: issuerOf(tenant), audience: endpoint(tenant) });
    expect(payload).toMatchObject({ sub: "alice", roles: ["admin"], scope: "mcp", client_id: "cli", tenant });
    expect(await store(tenant).grantActive(String(payload.gid))).toBe(true);
  });

  it("refuses a replayed code and revokes the grant its first use created (OAuth 2.1 §4.1.3)", async () => {
    const once = await code(tenant);
    const first = await store(tenant).exchangeCode({ code: once, clientId: "cli", redirectUri: REDIRECT, codeVerifier: VERIFIER }, settings(tenant));
    if ("error" in first) throw new Error(first.description);
    const second = await store(tenant).exchangeCode({ code: once, clientId: "cli", redirectUri: REDIRECT, codeVerifier: VERIFIER }, settings(tenant));
    expect(second).toEqual({ error: "invalid_grant", description: "authorization code was already used" });
    const refreshed = await store(tenant).refresh({ refreshToken: first.refresh_token, clientId: "cli" }, settings(tenant));
    expect(refreshed).toMatchObject({ error: "invalid_grant" });
  });

  it.each([
    ["a wrong PKCE verifier", { codeVerifier: "w".repeat(43) }, "invalid_grant"],
    ["a malformed PKCE verifier", { codeVerifier: "short" }, "invalid_grant"],
    ["another redirect URI", { redirectUri: "http://127.0.0.1:5555/other" }, "invalid_grant"],
    ["another client", { clientId: "someone-else" }, "invalid_grant"],
    ["another resource", { resource: `${ORIGIN}/t/elsewhere/mcp` }, "invalid_target"],
  ])("refuses a code exchange with %s", async (_label, change, error) => {
    const result = await store(tenant).exchangeCode({ code: await code(tenant), clientId: "cli", redirectUri: REDIRECT, codeVerifier: VERIFIER, ...change }, settings(tenant));
    expect(result).toMatchObject({ error });
  });

  it("refuses an expired code", async () => {
    const issued = await code(tenant);
    const later = Date.now() + 61_000;
    const result = await store(tenant).exchangeCode({ code: issued, clientId: "cli", redirectUri: REDIRECT, codeVerifier: VERIFIER }, settings(tenant), later);
    expect(result).toEqual({ error: "invalid_grant", description: "authorization code has expired" });
  });

  it("rotates refresh tokens; a rotated one coming back revokes the whole grant (RFC 9700 §4.14.2)", async () => {
    const issued = await tokens(tenant);
    const next = await store(tenant).refresh({ refreshToken: issued.refresh_token, clientId: "cli" }, settings(tenant));
    if ("error" in next) throw new Error(next.description);
    expect(next.refresh_token).not.toBe(issued.refresh_token);
    const reused = await store(tenant).refresh({ refreshToken: issued.refresh_token, clientId: "cli" }, settings(tenant));
    expect(reused).toEqual({ error: "invalid_grant", description: "refresh token was already used" });
    // The legitimate holder's newer token dies with the grant.
    expect(await store(tenant).refresh({ refreshToken: next.refresh_token, clientId: "cli" }, settings(tenant))).toMatchObject({ error: "invalid_grant" });
  });

  it("narrows scope on refresh but never widens it", async () => {
    const issued = await store(tenant).exchangeCode(
      { code: await code(tenant, { scope: "mcp mcp:admin" }), clientId: "cli", redirectUri: REDIRECT, codeVerifier: VERIFIER },
      settings(tenant),
    );
    if ("error" in issued) throw new Error(issued.description);
    const narrower = await store(tenant).refresh({ refreshToken: issued.refresh_token, clientId: "cli", scope: "mcp" }, settings(tenant));
    expect(narrower).toMatchObject({ scope: "mcp" });
    if ("error" in narrower) throw new Error(narrower.description);
    const wider = await store(tenant).refresh({ refreshToken: narrower.refresh_token, clientId: "cli", scope: "mcp other" }, settings(tenant));
    expect(wider).toMatchObject({ error: "invalid_scope" });
  });

  it("rotates signing keys: the old key stays published while its tokens live, new tokens use the new key", async () => {
    const before = await tokens(tenant);
    const oldKid = decodeProtectedHeader(before.access_token).kid;
    const { kid } = await store(tenant).rotateKeys();
    expect(kid).not.toBe(oldKid);
    const published = (await store(tenant).jwks(30)).keys.map((k) => k.kid);
    expect(published).toEqual(expect.arrayContaining([oldKid, kid]));
    expect(decodeProtectedHeader((await tokens(tenant)).access_token).kid).toBe(kid);
    // Past the longest token lifetime, the retired key is no longer published.
    const muchLater = Date.now() + 2 * 3600 * 1000;
    expect((await store(tenant).jwks(30, muchLater)).keys.map((k) => k.kid)).not.toContain(oldKid);
    // And a key older than the rotation period is replaced on its own.
    const nextMonth = Date.now() + 31 * 86_400_000;
    const rotated = (await store(tenant).jwks(30, nextMonth)).keys.map((k) => k.kid);
    expect(rotated[0]).not.toBe(kid);
  });
});

describe("endpoints", () => {
  it("serves RFC 8414 metadata at the path-inserted location, named by the RFC 9728 metadata", async () => {
    const prm = (await (await gateway(`${ORIGIN}/.well-known/oauth-protected-resource/t/${tenant}/mcp`)).json()) as Record<string, unknown>;
    expect(prm.authorization_servers).toEqual([issuerOf(tenant)]);
    expect(prm.scopes_supported).toEqual(["mcp", "mcp:admin"]);
    const res = await gateway(`${ORIGIN}/.well-known/oauth-authorization-server/t/${tenant}`);
    expect(res.status).toBe(200);
    const metadata = (await res.json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      issuer: issuerOf(tenant),
      authorization_endpoint: `${issuerOf(tenant)}/oauth/authorize`,
      token_endpoint: `${issuerOf(tenant)}/oauth/token`,
      jwks_uri: `${issuerOf(tenant)}/oauth/jwks`,
      code_challenge_methods_supported: ["S256"],
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: true,
    });
    // Registration is off unless the tenant turns it on.
    expect(metadata.registration_endpoint).toBeUndefined();
    const jwks = (await (await gateway(`${issuerOf(tenant)}/oauth/jwks`)).json()) as { keys: { kty: string; d?: string }[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect(jwks.keys.every((k) => k.kty === "EC" && k.d === undefined)).toBe(true);
  });

  it("a tenant without auth.oauth has no authorization server", async () => {
    const plain = (await createTenant("plain", { backends: [backend.weather()] })).id;
    expect((await gateway(`${ORIGIN}/.well-known/oauth-authorization-server/t/${plain}`)).status).toBe(404);
    expect((await tokenRequest(plain, { grant_type: "authorization_code" })).status).toBe(404);
  });

  it("exchanges a code at the token endpoint, not cached, readable cross-origin", async () => {
    const res = await tokenRequest(tenant, { grant_type: "authorization_code", code: await code(tenant), redirect_uri: REDIRECT, client_id: "cli", code_verifier: VERIFIER, resource: endpoint(tenant) });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(await res.json()).toMatchObject({ token_type: "Bearer", scope: "mcp" });
  });

  it.each([
    ["no grant_type", {}, 400, "invalid_request"],
    ["an unknown grant_type", { grant_type: "password", client_id: "cli" }, 400, "unsupported_grant_type"],
    ["no code_verifier", { grant_type: "authorization_code", client_id: "cli", code: "x", redirect_uri: REDIRECT }, 400, "invalid_request"],
    ["an unknown client", { grant_type: "authorization_code", client_id: "nobody", code: "x", redirect_uri: REDIRECT, code_verifier: VERIFIER }, 401, "invalid_client"],
    ["a secret from a public client", { grant_type: "authorization_code", client_id: "cli", client_secret: "s", code: "x", redirect_uri: REDIRECT, code_verifier: VERIFIER }, 401, "invalid_client"],
    ["an unknown code", { grant_type: "authorization_code", client_id: "cli", code: "x", redirect_uri: REDIRECT, code_verifier: VERIFIER }, 400, "invalid_grant"],
    ["an unknown refresh token", { grant_type: "refresh_token", client_id: "cli", refresh_token: "nope" }, 400, "invalid_grant"],
  ])("answers a token request with %s in RFC 6749 §5.2 shape", async (_label, form, status, error) => {
    const res = await tokenRequest(tenant, form as Record<string, string>);
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.error).toBe(error);
    expect(typeof body.error_description).toBe("string");
    expect(JSON.stringify(body)).not.toMatch(/Error:|at \w+ \(/);
  });

  it("refuses a body that is not a form, and repeated parameters", async () => {
    const json = await gateway(`${issuerOf(tenant)}/oauth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: "invalid_request" });
    const repeated = await gateway(`${issuerOf(tenant)}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=authorization_code&client_id=cli&client_id=cli",
    });
    expect(await repeated.json()).toMatchObject({ error: "invalid_request", error_description: "client_id is repeated" });
  });

  it("revokes a refresh token's grant (RFC 7009), answering 200 for unknown tokens too", async () => {
    const issued = await tokens(tenant);
    const revoke = (token: string) =>
      gateway(`${issuerOf(tenant)}/oauth/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token, client_id: "cli" }).toString() });
    expect((await revoke(issued.refresh_token)).status).toBe(200);
    expect((await revoke("never-issued")).status).toBe(200);
    const initialize = await mcp(tenant, initializeRequest(), { headers: { authorization: `Bearer ${issued.access_token}` } });
    expect(initialize.status).toBe(401);
  });

  it("the authorize endpoint never redirects to an unregistered redirect URI", async () => {
    const url = new URL(`${issuerOf(tenant)}/oauth/authorize`);
    url.search = new URLSearchParams({ client_id: "cli", redirect_uri: "https://attacker.example/cb", response_type: "code", code_challenge: await s256(VERIFIER), code_challenge_method: "S256" }).toString();
    const res = await gateway(url.href, { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(await res.text()).toContain("redirect_uri is not registered");
  });

  it.each([
    ["no PKCE", { code_challenge: "" }, "invalid_request"],
    ["plain PKCE", { code_challenge_method: "plain" }, "invalid_request"],
    ["a response_type other than code", { response_type: "token" }, "unsupported_response_type"],
    ["another tenant's resource", { resource: `${ORIGIN}/t/someone-else/mcp` }, "invalid_target"],
    ["only unknown scopes", { scope: "admin:everything" }, "invalid_scope"],
  ])("the authorize endpoint sends %s back to the client with error, state and iss (RFC 9207)", async (_label, change, error) => {
    const url = new URL(`${issuerOf(tenant)}/oauth/authorize`);
    const params: Record<string, string> = { client_id: "cli", redirect_uri: REDIRECT, response_type: "code", state: "s-1", code_challenge: await s256(VERIFIER), code_challenge_method: "S256", ...change };
    url.search = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
    const res = await gateway(url.href, { redirect: "manual" });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get("error")).toBe(error);
    expect(location.searchParams.get("state")).toBe("s-1");
    expect(location.searchParams.get("iss")).toBe(issuerOf(tenant));
  });
});

describe("gateway tokens at the MCP endpoint", () => {
  it("are accepted as the principal they name", async () => {
    const issued = await tokens(tenant);
    const res = await mcp(tenant, initializeRequest(), { headers: { authorization: `Bearer ${issued.access_token}` } });
    const reply = await readReply(res);
    expect(reply.status).toBe(200);
    expect(reply.messages[0]?.result).toMatchObject({ protocolVersion: expect.any(String) });
  });

  it("of tenant A are refused at tenant B", async () => {
    const issued = await tokens(tenant);
    const res = await mcp(other, initializeRequest(), { headers: { authorization: `Bearer ${issued.access_token}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });

  it("stop working once an operator revokes their grant, and the admin API lists it as revoked", async () => {
    const issued = await tokens(tenant);
    const bearer = { authorization: `Bearer ${issued.access_token}` };
    expect((await mcp(tenant, initializeRequest(), { headers: bearer })).status).toBe(200);
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const { grants } = (await (await gateway(`${ORIGIN}/admin/tenants/${tenant}/oauth/grants`, { headers: admin })).json()) as { grants: { id: string; revokedAt: string | null }[] };
    const { payload } = await jwtVerify(issued.access_token, createLocalJWKSet((await store(tenant).jwks(30)) as JSONWebKeySet));
    const grant = grants.find((g) => g.id === payload.gid);
    expect(grant?.revokedAt).toBeNull();
    expect((await gateway(`${ORIGIN}/admin/tenants/${tenant}/oauth/grants/${grant!.id}`, { method: "DELETE", headers: admin })).status).toBe(204);
    expect((await mcp(tenant, initializeRequest(), { headers: bearer })).status).toBe(401);
    const after = (await (await gateway(`${ORIGIN}/admin/tenants/${tenant}/oauth/grants`, { headers: admin })).json()) as { grants: { id: string; revokedAt: string | null }[] };
    expect(after.grants.find((g) => g.id === grant!.id)?.revokedAt).not.toBeNull();
  });

  it("stop working once the client is revoked, and the client cannot exchange codes until restored", async () => {
    const issued = await tokens(tenant);
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
    const revoked = await gateway(`${ORIGIN}/admin/tenants/${tenant}/oauth/clients/revoke`, { method: "POST", headers: admin, body: JSON.stringify({ clientId: "cli" }) });
    expect(((await revoked.json()) as { revokedGrants: number }).revokedGrants).toBeGreaterThan(0);
    expect((await mcp(tenant, initializeRequest(), { headers: { authorization: `Bearer ${issued.access_token}` } })).status).toBe(401);
    const refused = await tokenRequest(tenant, { grant_type: "authorization_code", code: await code(tenant), redirect_uri: REDIRECT, client_id: "cli", code_verifier: VERIFIER });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: "invalid_client" });
    const clients = (await (await gateway(`${ORIGIN}/admin/tenants/${tenant}/oauth/clients`, { headers: admin })).json()) as { clients: { clientId: string; blocked: boolean }[] };
    expect(clients.clients.find((c) => c.clientId === "cli")?.blocked).toBe(true);
    await gateway(`${ORIGIN}/admin/tenants/${tenant}/oauth/clients/restore`, { method: "POST", headers: admin, body: JSON.stringify({ clientId: "cli" }) });
    expect((await tokens(tenant)).token_type).toBe("Bearer");
  });

  it("with a forged signature, or expired, are refused", async () => {
    const issued = await tokens(tenant);
    const [header, payload] = issued.access_token.split(".");
    const forged = `${header}.${payload}.${"A".repeat(86)}`;
    expect((await mcp(tenant, initializeRequest(), { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
    // Minted two hours ago with a ten-minute lifetime.
    const past = Date.now() - 2 * 3600 * 1000;
    const old = await store(tenant).exchangeCode({ code: await code(tenant), clientId: "cli", redirectUri: REDIRECT, codeVerifier: VERIFIER }, settings(tenant), past);
    if ("error" in old) throw new Error(old.description);
    expect((await mcp(tenant, initializeRequest(), { headers: { authorization: `Bearer ${old.access_token}` } })).status).toBe(401);
  });

  it("end a running session's open stream within seconds of the grant's revocation", async () => {
    const issued = await tokens(tenant);
    const session = await connect(tenant, { token: issued.access_token });
    const stream = await mcp(tenant, undefined, session.options({ method: "GET" }));
    expect(stream.status).toBe(200);
    const reader = new SseReader(stream.body!);
    const { payload } = await jwtVerify(issued.access_token, createLocalJWKSet((await store(tenant).jwks(30)) as JSONWebKeySet));
    const revokedAt = Date.now();
    const res = await gateway(`${ORIGIN}/admin/tenants/${tenant}/oauth/grants/${String(payload.gid)}`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(204);
    // The stream may carry list_changed notices first (the tenant's version went up); then it ends.
    let event;
    do event = await reader.next(10_000);
    while (event !== null);
    expect(Date.now() - revokedAt).toBeLessThan(8_000);
    // And the session is gone: even a valid token of another grant cannot use it.
    expect((await mcp(tenant, { jsonrpc: "2.0", id: 9, method: "tools/list" }, session.options({ token: (await tokens(tenant)).access_token }))).status).toBe(404);
  });
  it("end a stateless 2026-07-28 listen stream (held by the Worker, no session object) within seconds of the grant's revocation", async () => {
    const id = (await createTenant("oauth-stateless", { backends: [backend.modern({ era: "modern" })], auth: { oauth: oauthConfig } })).id;
    const issued = await tokens(id);
    const meta = {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientCapabilities": {},
      "io.modelcontextprotocol/clientInfo": { name: "oauth-stateless", version: "1" },
    };
    const listen = { jsonrpc: "2.0", id: 1, method: "subscriptions/listen", params: { notifications: { toolsListChanged: true }, _meta: meta } };
    const stream = await mcp(id, listen, { token: issued.access_token, version: "2026-07-28", headers: { "mcp-method": "subscriptions/listen" } });
    expect(stream.status).toBe(200);
    const reader = new SseReader(stream.body!);
    expect((await reader.nextMessage(5_000))?.method).toBe("notifications/subscriptions/acknowledged");
    const { payload } = await jwtVerify(issued.access_token, createLocalJWKSet((await store(id).jwks(30)) as JSONWebKeySet));
    const revokedAt = Date.now();
    const res = await gateway(`${ORIGIN}/admin/tenants/${id}/oauth/grants/${String(payload.gid)}`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(204);
    // list_changed notices may come first (the tenant's version went up); then the stream ends.
    let event;
    do event = await reader.next(10_000);
    while (event !== null);
    expect(Date.now() - revokedAt).toBeLessThan(8_000);
  }, 15_000);
});
