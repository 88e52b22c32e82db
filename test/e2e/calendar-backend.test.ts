/**
 * The demo calendar backend (examples/calendar/server.ts) against the demo IdP (test/support/idp.ts),
 * no gateway: the test bed for "the gateway acts for the user at a backend with per-user OAuth".
 * Real processes on 127.0.0.1; tokens from a real authorization code + PKCE flow driven by
 * loginWithFetch and redeemed at the IdP's token endpoint with client_secret_basic.
 *
 * Two IdPs: one with the default access token lifetime, and one with 2 s tokens (and a calendar
 * that does not cache token checks) to see an expired token refused and a refreshed one taken.
 */
import { createHash, randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoIdp, type DemoIdp } from "../support/idp.ts";
import { loginWithFetch } from "../support/oauthLogin.ts";
import { startDemoBackend, type RunningServer } from "../support/processes.ts";

const CLIENT = { clientId: "calendar-gateway", clientSecret: "calendar-gateway-secret" };
/** A client that may not refresh (no refresh_token grant). */
const NO_REFRESH_CLIENT = { clientId: "no-refresh", clientSecret: "no-refresh-secret" };
/** Nothing listens there: loginWithFetch stops before fetching it. */
const REDIRECT_URI = "http://127.0.0.1:9/t/acme/oauth/backend-callback";
const SCOPE = "openid offline_access calendar";
const SHORT_TTL_SECONDS = 2;
/** Every token the tests obtained, to check the backends' logs for them. */
const issuedTokens: string[] = [];

let idp: DemoIdp;
let shortIdp: DemoIdp;
let calendar: RunningServer;
/** Checks its tokens at shortIdp, without caching them. */
let shortCalendar: RunningServer;

beforeAll(async () => {
  const clients = [
    { ...CLIENT, redirectUris: [REDIRECT_URI] },
    { ...NO_REFRESH_CLIENT, redirectUris: [REDIRECT_URI], grantTypes: ["authorization_code" as const] },
  ];
  [idp, shortIdp] = await Promise.all([startDemoIdp({ clients }), startDemoIdp({ clients, accessTokenTtlSeconds: SHORT_TTL_SECONDS })]);
  [calendar, shortCalendar] = await Promise.all([
    startDemoBackend("calendar", { env: { IDP_ISSUER: idp.issuer } }),
    startDemoBackend("calendar", { env: { IDP_ISSUER: shortIdp.issuer, TOKEN_CACHE_SECONDS: "0" } }),
  ]);
});

afterAll(async () => {
  await Promise.all([calendar?.stop(), shortCalendar?.stop()]);
  await Promise.all([idp?.stop(), shortIdp?.stop()]);
});

interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  id_token: string;
  refresh_token?: string;
}

const basic = (client: { clientId: string; clientSecret: string }) => `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString("base64")}`;

async function tokenRequest(at: DemoIdp, form: Record<string, string>, client = CLIENT): Promise<{ status: number; body: Record<string, unknown> }> {
  const doc = (await (await fetch(`${at.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const response = await fetch(doc.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(client) },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The user's tokens from a real code + PKCE flow (a fresh cookie jar: a login form every time). */
async function login(at: DemoIdp, user: "alice" | "bob", { scope = SCOPE, client = CLIENT, resource = undefined as string | undefined, resourceAtToken = true } = {}): Promise<TokenResponse> {
  const verifier = randomBytes(32).toString("base64url");
  const state = randomBytes(12).toString("base64url");
  const url = new URL(`${at.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: client.clientId,
    response_type: "code",
    redirect_uri: REDIRECT_URI,
    scope,
    state,
    nonce: randomBytes(12).toString("base64url"),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    ...(resource === undefined ? {} : { resource }),
  }).toString();
  const { finalUrl } = await loginWithFetch(url.href, { user, password: `${user}-password`, redirectPrefix: REDIRECT_URI });
  const callback = new URL(finalUrl);
  expect(callback.searchParams.get("state")).toBe(state);
  const code = callback.searchParams.get("code");
  expect(code).toBeTruthy();
  const tokens = await tokenRequest(
    at,
    { grant_type: "authorization_code", code: code!, redirect_uri: REDIRECT_URI, code_verifier: verifier, ...(resource === undefined || !resourceAtToken ? {} : { resource }) },
    client,
  );
  expect(tokens.status).toBe(200);
  expect(typeof tokens.body.access_token).toBe("string");
  issuedTokens.push(tokens.body.access_token as string);
  if (typeof tokens.body.refresh_token === "string") issuedTokens.push(tokens.body.refresh_token);
  return tokens.body as unknown as TokenResponse;
}

async function refresh(at: DemoIdp, refreshToken: string, resource?: string) {
  const response = await tokenRequest(at, { grant_type: "refresh_token", refresh_token: refreshToken, ...(resource === undefined ? {} : { resource }) });
  if (typeof response.body.access_token === "string") issuedTokens.push(response.body.access_token);
  return response;
}

/** An MCP SDK v1 client that sends the token on every request. */
async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: "calendar-test", version: "0.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

async function callText(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const result = await client.callTool({ name, arguments: args });
  expect(result.isError).toBeFalsy();
  const content = result.content as { type: string; text: string }[];
  return content.map((c) => c.text).join("");
}

/** A bare initialize POST to /mcp, with this Authorization header if any. */
async function rawInitialize(url: string, authorization?: string): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } } }),
  });
}

async function stats(server: RunningServer): Promise<Record<string, number>> {
  const response = await fetch(new URL("/stats", server.url));
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, number>;
}

/** A JWT's payload and header, unverified (the backend verifies; the tests only look). */
function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const parts = token.split(".");
  expect(parts).toHaveLength(3);
  const part = (i: number) => JSON.parse(Buffer.from(parts[i]!, "base64url").toString("utf8")) as Record<string, unknown>;
  return { header: part(0), payload: part(1) };
}

const origin = (server: RunningServer) => new URL(server.url).origin;
/** The calendar's resource identifier: its RFC 9728 `resource`, what an RFC 8707 client sends. */
const resourceOf = (server: RunningServer) => `${origin(server)}/mcp`;
const prmUrl = (server: RunningServer) => `${origin(server)}/.well-known/oauth-protected-resource/mcp`;

describe("the demo calendar backend", () => {
  it("refuses a request without a token: 401 with the RFC 9728 challenge, and serves the resource metadata", async () => {
    const before = await stats(calendar);
    const response = await rawInitialize(calendar.url);
    expect(response.status).toBe(401);
    // No error code without a token (RFC 6750 3.1), only where to find the metadata.
    expect(response.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${prmUrl(calendar)}"`);
    await response.body?.cancel();

    const prm = await fetch(prmUrl(calendar));
    expect(prm.status).toBe(200);
    expect(prm.headers.get("content-type")).toContain("application/json");
    expect(await prm.json()).toEqual({
      resource: `${origin(calendar)}/mcp`,
      authorization_servers: [idp.issuer],
      scopes_supported: ["openid", "offline_access", "calendar"],
      bearer_methods_supported: ["header"],
    });
    // The authorization server named there is the demo IdP, found by discovery.
    const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as { issuer: string; scopes_supported: string[] };
    expect(discovery.issuer).toBe(idp.issuer);
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(["openid", "offline_access", "calendar"]));
    expect(await stats(calendar)).toEqual(before); // nobody was counted
  });

  it("takes alice's own access token: the SDK v1 client lists the tools and list_events names alice", async () => {
    const tokens = await login(idp, "alice");
    expect(tokens.token_type).toBe("Bearer");
    expect(tokens.scope.split(" ")).toEqual(expect.arrayContaining(["openid", "calendar"]));
    const before = (await stats(calendar)).alice ?? 0;

    const client = await connect(calendar.url, tokens.access_token);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(["add_event", "list_events"]);
      expect(await callText(client, "add_event", { title: "Alice's dentist", date: "2027-01-15" })).toMatch(/^Added for alice: \{"id":"event-\d+","title":"Alice's dentist","date":"2027-01-15"\}$/);
      const listed = await callText(client, "list_events");
      expect(listed).toMatch(/^Events of alice: \[/);
      expect(listed).toContain(`"title":"Alice's dentist","date":"2027-01-15"`);
    } finally {
      await client.close();
    }
    // initialize, notifications/initialized, tools/list, two tools/call: all as alice.
    expect((await stats(calendar)).alice).toBeGreaterThanOrEqual(before + 5);
  });

  it("keeps bob's calendar apart from alice's: each token sees only its user's events", async () => {
    const [alice, bob] = await Promise.all([login(idp, "alice"), login(idp, "bob")]);
    expect(bob.access_token).not.toBe(alice.access_token);
    const before = await stats(calendar);
    const asAlice = await connect(calendar.url, alice.access_token);
    const asBob = await connect(calendar.url, bob.access_token);
    try {
      await callText(asAlice, "add_event", { title: "Alice only: board meeting", date: "2027-02-01" });
      await callText(asBob, "add_event", { title: "Bob only: football", date: "2027-02-02" });

      const bobSees = await callText(asBob, "list_events");
      expect(bobSees).toMatch(/^Events of bob: \[/);
      expect(bobSees).toContain("Bob only: football");
      expect(bobSees).not.toContain("Alice");
      expect(JSON.parse(bobSees.slice("Events of bob: ".length))).toEqual([expect.objectContaining({ title: "Bob only: football", date: "2027-02-02" })]);

      const aliceSees = await callText(asAlice, "list_events");
      expect(aliceSees).toContain("Alice only: board meeting");
      expect(aliceSees).not.toContain("Bob only");
    } finally {
      await Promise.all([asAlice.close(), asBob.close()]);
    }
    const after = await stats(calendar);
    expect(after.bob).toBeGreaterThanOrEqual((before.bob ?? 0) + 4);
    expect(after.alice).toBeGreaterThanOrEqual((before.alice ?? 0) + 4);
  });

  it("issues a refresh token for offline_access (no prompt=consent), and the refresh grant gives a working token", async () => {
    const tokens = await login(idp, "alice");
    expect(typeof tokens.refresh_token).toBe("string");
    expect(tokens.refresh_token!.length).toBeGreaterThan(20);

    const refreshed = await refresh(idp, tokens.refresh_token!);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.token_type).toBe("Bearer");
    expect(typeof refreshed.body.access_token).toBe("string");
    expect(refreshed.body.access_token).not.toBe(tokens.access_token);
    expect(String(refreshed.body.scope).split(" ")).toEqual(expect.arrayContaining(["openid", "calendar"]));

    const client = await connect(calendar.url, refreshed.body.access_token as string);
    try {
      expect(await callText(client, "list_events")).toMatch(/^Events of alice: /);
    } finally {
      await client.close();
    }
  });

  it("issues no refresh token without offline_access, nor to a client without the refresh_token grant", async () => {
    const withoutOffline = await login(idp, "bob", { scope: "openid calendar" });
    expect(withoutOffline.refresh_token).toBeUndefined();
    const noRefreshClient = await login(idp, "bob", { client: NO_REFRESH_CLIENT });
    expect(noRefreshClient.refresh_token).toBeUndefined();
    // Both access tokens still work at the backend.
    for (const token of [withoutOffline.access_token, noRefreshClient.access_token]) {
      const response = await rawInitialize(calendar.url, `Bearer ${token}`);
      expect(response.status).toBe(200);
      await response.body?.cancel();
    }
  });

  it(`refuses an expired access token (${SHORT_TTL_SECONDS} s tokens) and takes the refreshed one`, async () => {
    const tokens = await login(shortIdp, "alice");
    const issuedAt = Date.now();
    expect(tokens.expires_in).toBeLessThanOrEqual(SHORT_TTL_SECONDS);
    expect(typeof tokens.refresh_token).toBe("string");

    const fresh = await rawInitialize(shortCalendar.url, `Bearer ${tokens.access_token}`);
    expect(fresh.status).toBe(200);
    await fresh.body?.cancel();

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, issuedAt + SHORT_TTL_SECONDS * 1000 + 1_000 - Date.now())));
    const expired = await rawInitialize(shortCalendar.url, `Bearer ${tokens.access_token}`);
    expect(expired.status).toBe(401);
    expect(expired.headers.get("www-authenticate")).toMatch(new RegExp(`^Bearer resource_metadata="${prmUrl(shortCalendar)}", error="invalid_token"`));
    await expired.body?.cancel();

    const refreshed = await refresh(shortIdp, tokens.refresh_token!);
    expect(refreshed.status).toBe(200);
    const before = (await stats(shortCalendar)).alice ?? 0;
    const client = await connect(shortCalendar.url, refreshed.body.access_token as string);
    try {
      expect(await callText(client, "list_events")).toBe("Events of alice: none");
    } finally {
      await client.close();
    }
    expect((await stats(shortCalendar)).alice).toBeGreaterThanOrEqual(before + 3);
  });

  it("refuses a garbage token and another IdP's token: 401 invalid_token", async () => {
    const expected = `Bearer resource_metadata="${prmUrl(calendar)}", error="invalid_token"`;
    const before = await stats(calendar);
    for (const authorization of [`Bearer ${randomBytes(32).toString("base64url")}`, "Bearer not-a-token", "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ="]) {
      const response = await rawInitialize(calendar.url, authorization);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")?.startsWith(expected)).toBe(true);
      await response.body?.cancel();
    }
    // A real access token, but from another issuer (the short-lived IdP): not this backend's.
    const foreign = await login(shortIdp, "bob");
    const response = await rawInitialize(calendar.url, `Bearer ${foreign.access_token}`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")?.startsWith(expected)).toBe(true);
    await response.body?.cancel();
    // The SDK client fails to connect with a garbage token.
    await expect(connect(calendar.url, "garbage-token")).rejects.toThrow();
    expect(await stats(calendar)).toEqual(before);
  });

  it("issues a JWT access token bound to the calendar for resource=<calendar url> (RFC 8707), which the calendar takes", async () => {
    const resource = resourceOf(calendar);
    const tokens = await login(idp, "alice", { resource });
    expect(tokens.token_type).toBe("Bearer");
    const { header, payload } = decodeJwt(tokens.access_token);
    expect(header.typ).toBe("at+jwt");
    expect(header.alg).toBe("RS256");
    expect(payload.aud).toBe(resource);
    expect(payload.iss).toBe(idp.issuer);
    expect(payload.sub).toBe("alice");
    expect(String(payload.scope).split(" ")).toContain("calendar");
    expect(typeof tokens.refresh_token).toBe("string"); // offline_access still gives a refresh token

    const before = (await stats(calendar)).alice ?? 0;
    const client = await connect(calendar.url, tokens.access_token);
    try {
      expect(await callText(client, "list_events")).toMatch(/^Events of alice: /);
    } finally {
      await client.close();
    }
    expect((await stats(calendar)).alice).toBeGreaterThanOrEqual(before + 3);

    // A code exchange without `resource` gets a JWT for the resource of the authorization request.
    const granted = await login(idp, "alice", { resource, resourceAtToken: false });
    expect(decodeJwt(granted.access_token).payload.aud).toBe(resource);
    const response = await rawInitialize(calendar.url, `Bearer ${granted.access_token}`);
    expect(response.status).toBe(200);
    await response.body?.cancel();
  });

  it("refreshes a resource-bound grant with resource=<calendar url>: a new JWT for the calendar that works", async () => {
    const resource = resourceOf(calendar);
    const tokens = await login(idp, "bob", { resource });
    expect(typeof tokens.refresh_token).toBe("string");
    // Not for another resource than the granted one (RFC 8707 section 2.2).
    const elsewhere = await refresh(idp, tokens.refresh_token!, "http://127.0.0.1:9/mcp");
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error).toBe("invalid_target");

    const refreshed = await refresh(idp, tokens.refresh_token!, resource);
    expect(refreshed.status).toBe(200);
    const accessToken = refreshed.body.access_token as string;
    expect(accessToken).not.toBe(tokens.access_token);
    const { payload } = decodeJwt(accessToken);
    expect(payload.aud).toBe(resource);
    expect(payload.sub).toBe("bob");

    const client = await connect(calendar.url, accessToken);
    try {
      expect(await callText(client, "list_events")).toMatch(/^Events of bob: /);
    } finally {
      await client.close();
    }

    // Without `resource`, the granted one is used: again a JWT for the calendar.
    const again = await refresh(idp, (refreshed.body.refresh_token as string | undefined) ?? tokens.refresh_token!);
    expect(again.status).toBe(200);
    expect(decodeJwt(again.body.access_token as string).payload.aud).toBe(resource);
    const response = await rawInitialize(calendar.url, `Bearer ${again.body.access_token as string}`);
    expect(response.status).toBe(200);
    await response.body?.cancel();
  });

  it("refuses a JWT access token minted for another resource: 401 invalid_token", async () => {
    const other = "http://127.0.0.1:9/mcp";
    const tokens = await login(idp, "alice", { resource: other });
    expect(decodeJwt(tokens.access_token).payload.aud).toBe(other);
    const before = await stats(calendar);
    const response = await rawInitialize(calendar.url, `Bearer ${tokens.access_token}`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")?.startsWith(`Bearer resource_metadata="${prmUrl(calendar)}", error="invalid_token"`)).toBe(true);
    await response.body?.cancel();
    expect(await stats(calendar)).toEqual(before);
  });

  // Last: every token of the tests above has been through the backends by now.
  it("never logs a token", async () => {
    expect(issuedTokens.length).toBeGreaterThanOrEqual(10);
    const logs = calendar.output() + shortCalendar.output();
    expect(logs).toContain("session"); // the backends did log (their sessions)
    for (const token of issuedTokens) expect(logs.includes(token)).toBe(false);
  });
});
