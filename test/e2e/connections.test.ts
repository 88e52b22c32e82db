/**
 * The gateway acting for the user at a backend with the user's own OAuth grant
 * (docs/connections.md), end to end: the gateway in `wrangler dev`; the demo calendar backend
 * (examples/calendar), which accepts only access tokens the demo IdP issued, and finds its
 * authorization server from its RFC 9728 metadata; the real OpenID provider (oidc-provider) as
 * that authorization server; MCP SDK clients as alice and bob.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitationCompleteNotificationSchema, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import * as v2 from "@modelcontextprotocol/client";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { DEMO_USERS, startDemoIdp, type DemoIdp } from "../support/idp.ts";
import { launchChromium } from "../support/browser.ts";
import { connectAccount, urlElicitationLink, userOAuthBackend } from "../support/connections.ts";
import { loginInPage, loginWithFetch } from "../support/oauthLogin.ts";
import { startDemoBackend, type RunningServer } from "../support/processes.ts";

const TENANT = "connections";
/** A tenant with its own login (auth.oauth): a connect link is for the user who signs in there. */
const LOGIN_TENANT = "connections-login";
const CAL_SECRET = `cal-${randomBytes(8).toString("hex")}`;

let gateway: RunningGateway;
let idp: DemoIdp;
let calendar: RunningServer;
let weather: RunningServer;
let signer: TestSigner;

beforeAll(async () => {
  signer = await testSigner();
  gateway = await startGateway({ vars: { CAL_SECRET } });
  // Short access tokens: a call after a few seconds needs the refresh token.
  idp = await startDemoIdp({
    accessTokenTtlSeconds: 3,
    clients: [
      { clientId: "gateway-calendar", clientSecret: CAL_SECRET, redirectUris: [`${gateway.origin}/t/${TENANT}/connect/callback`, `${gateway.origin}/t/${LOGIN_TENANT}/connect/callback`] },
      { clientId: "gateway-login", clientSecret: CAL_SECRET, redirectUris: [`${gateway.origin}/t/${LOGIN_TENANT}/oauth/callback`] },
    ],
  });
  [calendar, weather] = await Promise.all([startDemoBackend("calendar", { env: { IDP_ISSUER: idp.issuer, TOKEN_CACHE_SECONDS: "0" } }), startDemoBackend("weather")]);
  await gateway.putTenant({
    id: TENANT,
    backends: [
      // No issuer and no endpoints: discovered from the calendar's RFC 9728 metadata.
      userOAuthBackend(calendar.url),
      { name: "weather", url: weather.url },
    ],
    naming: { mode: "always", separator: "__" },
    auth: jwtAuth(signer, gateway.mcpUrl(TENANT)),
  });
  await gateway.putTenant({
    id: LOGIN_TENANT,
    backends: [userOAuthBackend(calendar.url)],
    naming: { mode: "always", separator: "__" },
    auth: {
      ...jwtAuth(signer, gateway.mcpUrl(LOGIN_TENANT)),
      oauth: { idp: { issuer: idp.issuer, clientId: "gateway-login", clientSecret: "CAL_SECRET", scopes: ["openid", "profile"], rolesClaim: "roles" } },
    },
  });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), idp?.stop(), calendar?.stop(), weather?.stop()]);
});

async function connect(sub: string): Promise<Client> {
  const token = await signer.token({ sub, audience: gateway.mcpUrl(TENANT) });
  const client = new Client({ name: `${sub}-agent`, version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

const names = async (client: { listTools(): Promise<{ tools: { name: string }[] }> }) => (await client.listTools()).tools.map((t) => t.name).sort();
const text = (result: unknown) => JSON.stringify((result as { content?: unknown }).content);

/** Expects error -32042 and returns the connect URL it names (this tenant's connect page). */
async function connectLink(call: Promise<unknown>): Promise<string> {
  const url = await urlElicitationLink(call);
  expect(url.startsWith(`${gateway.origin}/t/${TENANT}/connect?link=`)).toBe(true);
  return url;
}

describe("a backend that acts for each user", () => {
  it("offers an unconnected user one connect tool whose call links to the connect page; after connecting, the user's own tools and data", async () => {
    const alice = await connect("alice");
    const before = await names(alice);
    expect(before).toContain("calendar__connect");
    expect(before).toContain("weather__get_forecast");
    expect(before).not.toContain("calendar__list_events");

    const url = await connectLink(alice.callTool({ name: "calendar__connect", arguments: {} }));
    const done = await connectAccount(url, "alice");
    const page = await done.text();
    expect(done.status, page).toBe(200);
    expect(page).toMatch(/connected/);

    const after = await names(alice);
    expect(after).toEqual(expect.arrayContaining(["calendar__list_events", "calendar__add_event"]));
    expect(after).not.toContain("calendar__connect");
    await alice.callTool({ name: "calendar__add_event", arguments: { title: "Standup", date: "2026-12-07" } });
    expect(text(await alice.callTool({ name: "calendar__list_events", arguments: {} }))).toMatch(/Events of alice.*Standup/);
    await alice.close();
    // The audit row names the credential mode the call used upstream.
    const audit = async () => {
      const response = await fetch(`${gateway.origin}/admin/tenants/${TENANT}/audit?item=list_events`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
      return ((await response.json()) as { events: { principal: string; credential?: string }[] }).events;
    };
    await expect.poll(async () => (await audit()).map((e) => `${e.principal} ${e.credential}`), { timeout: 5_000 }).toContain("alice user_oauth");

    // The link worked once.
    const again = await fetch(url, { redirect: "manual" });
    expect(again.status).toBe(400);
    expect(await again.text()).toMatch(/already used/);
  }, 60_000);

  it("never lends one user's grant to another: bob still has to connect, and then sees only his calendar", async () => {
    const bob = await connect("bob");
    expect(await names(bob)).toContain("calendar__connect");
    const url = await connectLink(bob.callTool({ name: "calendar__connect", arguments: {} }));
    expect((await connectAccount(url, "bob")).status).toBe(200);
    const listed = text(await bob.callTool({ name: "calendar__list_events", arguments: {} }));
    expect(listed).toMatch(/Events of bob/);
    expect(listed).not.toMatch(/Standup/);
    await bob.close();
    const stats = (await (await fetch(new URL("/stats", calendar.url))).json()) as Record<string, number>;
    expect(stats.alice).toBeGreaterThan(0);
    expect(stats.bob).toBeGreaterThan(0);
  }, 60_000);

  it("refreshes an expired access token with the user's refresh token", async () => {
    // alice connected in the first test; her 3 s access token has expired by now.
    await new Promise((r) => setTimeout(r, 3_500));
    const alice = await connect("alice");
    expect(text(await alice.callTool({ name: "calendar__list_events", arguments: {} }))).toMatch(/Events of alice/);
    await alice.close();
  }, 30_000);

  it("refuses a tampered link, and a link for another tenant", async () => {
    const alice = await connect("carol");
    const url = new URL(await connectLink(alice.callTool({ name: "calendar__connect", arguments: {} })));
    await alice.close();
    const link = url.searchParams.get("link")!;
    const [payload, mac] = link.split(".");
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, "base64url").toString()), p: "alice" })).toString("base64url");
    expect((await fetch(`${gateway.origin}/t/${TENANT}/connect?link=${forged}.${mac}`, { redirect: "manual" })).status).toBe(400);
    expect((await fetch(`${gateway.origin}/t/other/connect?link=${link}`, { redirect: "manual" })).status).toBe(400);
    expect((await fetch(`${gateway.origin}/t/${TENANT}/connect/callback?state=${"x".repeat(43)}&code=abc`, { redirect: "manual" })).status).toBe(400);
  }, 30_000);

  it("lets a user list and disconnect their own connections with their MCP credential, and no one else's", async () => {
    const mine = async (sub: string, init: RequestInit = {}) =>
      fetch(`${gateway.origin}/t/${TENANT}/connections${init.method === "DELETE" ? "/calendar" : ""}`, {
        ...init,
        headers: { authorization: `Bearer ${await signer.token({ sub, audience: gateway.mcpUrl(TENANT) })}` },
      });
    const listed = (await (await mine("alice")).json()) as { connections: { principal: string; backend: string }[] };
    expect(listed.connections.map((c) => `${c.principal}/${c.backend}`)).toEqual(["alice/calendar"]);
    expect(JSON.stringify(listed)).not.toMatch(/token/i);
    expect((await fetch(`${gateway.origin}/t/${TENANT}/connections`)).status).toBe(401);
    // erin has nothing to disconnect, and cannot reach alice's.
    expect((await mine("erin", { method: "DELETE" })).status).toBe(404);
    expect((await mine("alice", { method: "DELETE" })).status).toBe(204);
    const alice = await connect("alice");
    expect(await names(alice)).toContain("calendar__connect");
    await alice.close();
  }, 30_000);

  it("lets an operator see and revoke connections (no token shown); the user is asked to connect again", async () => {
    const admin = (path: string, init: RequestInit = {}) => fetch(`${gateway.origin}/admin/tenants/${TENANT}${path}`, { ...init, headers: { authorization: `Bearer ${gateway.adminToken}` } });
    const listed = (await (await admin("/connections")).json()) as { connections: { principal: string; backend: string }[] };
    expect(listed.connections.map((c) => `${c.principal}/${c.backend}`)).toEqual(["bob/calendar"]);
    expect(JSON.stringify(listed)).not.toMatch(/access|refresh|token/i);
    expect((await admin("/connections/bob/calendar", { method: "DELETE" })).status).toBe(204);
    expect((await admin("/connections/bob/calendar", { method: "DELETE" })).status).toBe(404);
    const bob = await connect("bob");
    expect(await names(bob)).toContain("calendar__connect");
    await bob.close();
  }, 30_000);

  it("reaches a 2026-07-28 client (SDK v2) with the same link as an error, or, when it takes URL elicitations, as an input request its retry goes on from", async () => {
    const token = async (sub: string) => signer.token({ sub, audience: gateway.mcpUrl(TENANT) });
    const plain = new v2.Client({ name: "dave-modern", version: "2.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await plain.connect(new v2.StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${await token("dave")}` } } }));
    expect(await names(plain)).toContain("calendar__connect");
    await connectLink(plain.callTool({ name: "calendar__connect", arguments: {} }));
    await plain.close();

    // 2026-07-28 basic/patterns/mrtr: InputRequiredResult with a URL-mode elicitation/create; the SDK
    // asks its handler (here: the user opens the URL and connects), then retries with the state.
    const asked: { mode?: string; url?: string }[] = [];
    const client = new v2.Client({ name: "frank-modern", version: "2.0.0" }, { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: { pin: "2026-07-28" } } });
    client.setRequestHandler("elicitation/create", async (request) => {
      const params = request.params as { mode?: string; url?: string };
      asked.push(params);
      expect((await connectAccount(params.url!, "bob")).status).toBe(200);
      return { action: "accept" };
    });
    await client.connect(new v2.StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${await token("frank")}` } } }));
    expect(text(await client.callTool({ name: "calendar__list_events", arguments: {} }))).toMatch(/Events of bob/);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ mode: "url", url: expect.stringMatching(new RegExp(`/t/${TENANT}/connect\\?link=`)) });
    await client.close();
  }, 60_000);

  it("asks a 2025-11-25 client that takes URL elicitations in the call's own stream, and the call goes on once the user has connected", async () => {
    const token = await signer.token({ sub: "grace", audience: gateway.mcpUrl(TENANT) });
    const client = new Client({ name: "grace-agent", version: "1.0.0" }, { capabilities: { elicitation: { url: {} } } });
    const asked: { mode?: string; url?: string; elicitationId?: string }[] = [];
    const completed: unknown[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      const params = request.params as { mode?: string; url?: string; elicitationId?: string };
      asked.push(params);
      // The user opens the link and connects while the call waits (2025-11-25 client/elicitation "URL Mode").
      void connectAccount(params.url!, "alice");
      return { action: "accept" };
    });
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, async (notification) => {
      completed.push(notification.params);
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const result = await client.callTool({ name: "calendar__connect", arguments: {} });
    expect(text(result)).toMatch(/connected/);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ mode: "url", url: expect.stringMatching(new RegExp(`/t/${TENANT}/connect\\?link=`)), elicitationId: expect.any(String) });
    await expect.poll(() => completed).toEqual([{ elicitationId: asked[0]!.elicitationId }]);
    expect(text(await client.callTool({ name: "calendar__list_events", arguments: {} }))).toMatch(/Events of alice/);
    await client.close();
  }, 60_000);

  it("completes the connect flow in a real browser (headless Chromium): the IdP's login form, then the gateway's page", async () => {
    const profile = mkdtempSync(join(tmpdir(), "connections-chromium-"));
    const browser = await launchChromium(profile);
    try {
      const heidi = await connect("heidi");
      const url = await connectLink(heidi.callTool({ name: "calendar__connect", arguments: {} }));
      const page = await browser.newPage();
      const callback = `${gateway.origin}/t/${TENANT}/connect/callback`;
      await loginInPage(page, url, { user: "bob", password: DEMO_USERS.bob.password, redirectPrefix: callback });
      // The browser itself goes on to the gateway's callback, which stores the grant and says so.
      await page.waitForURL((u) => u.href.startsWith(callback));
      await expect.poll(async () => page.locator("h1").textContent(), { timeout: 10_000 }).toBe("Connected");
      expect(text(await heidi.callTool({ name: "calendar__list_events", arguments: {} }))).toMatch(/Events of bob/);
      await heidi.close();
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 60_000);

  it("where the tenant has its own login, goes on only for the link's own user", async () => {
    const token = await signer.token({ sub: "alice", audience: gateway.mcpUrl(LOGIN_TENANT) });
    const alice = new Client({ name: "alice-agent", version: "1.0.0" });
    await alice.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(LOGIN_TENANT)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const callback = `${gateway.origin}/t/${LOGIN_TENANT}/connect/callback`;
    const gatewayLogin = `${gateway.origin}/t/${LOGIN_TENANT}/oauth/callback`;
    // bob opens alice's link: he signs in at the tenant's IdP, and is turned away.
    const forBob = await loginWithFetch(await connectLinkFor(alice, LOGIN_TENANT), { user: "bob", password: DEMO_USERS.bob.password, isDone: (u) => u.startsWith(gatewayLogin) });
    const refused = await fetch(forBob.finalUrl, { headers: { cookie: forBob.jar.header(forBob.finalUrl) ?? "" }, redirect: "manual" });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toMatch(/another user/);
    // alice opens her own: the tenant's login, then the calendar's (the IdP's session carries her), then connected.
    const login = await loginWithFetch(await connectLinkFor(alice, LOGIN_TENANT), { user: "alice", password: DEMO_USERS.alice.password, redirectPrefix: callback });
    const done = await fetch(login.finalUrl, { headers: { cookie: login.jar.header(login.finalUrl) ?? "" }, redirect: "manual" });
    expect(done.status).toBe(200);
    expect(text(await alice.callTool({ name: "calendar__list_events", arguments: {} }))).toMatch(/Events of alice/);
    await alice.close();
  }, 60_000);

  it("refuses an answer whose iss is not the backend's sign-in service (RFC 9207), and stores nothing", async () => {
    const ivan = await connect("ivan");
    const url = await connectLink(ivan.callTool({ name: "calendar__connect", arguments: {} }));
    const callback = `${gateway.origin}/t/${TENANT}/connect/callback`;
    const login = await loginWithFetch(url, { user: DEMO_USERS.bob.login, password: DEMO_USERS.bob.password, redirectPrefix: callback });
    const answer = new URL(login.finalUrl);
    expect(answer.searchParams.get("iss")).toBe(idp.issuer);
    answer.searchParams.set("iss", "https://idp.attacker.example");
    const refused = await fetch(answer, { headers: { cookie: login.jar.header(login.finalUrl) ?? "" }, redirect: "manual" });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toMatch(/iss mismatch/);
    expect(await names(ivan)).toContain("calendar__connect");
    await ivan.close();
  }, 60_000);

  it("forgets a grant whose refresh the sign-in service refuses: the user is asked to connect again", async () => {
    const dave = await connect("dave");
    const url = await connectLink(dave.callTool({ name: "calendar__connect", arguments: {} }));
    expect((await connectAccount(url, "alice")).status).toBe(200);
    expect(text(await dave.callTool({ name: "calendar__list_events", arguments: {} }))).toMatch(/Events of alice/);
    // The IdP ends alice's sessions; once the 3 s access token has expired, the refresh is refused.
    expect(idp.revokeRefreshTokens("alice")).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 3_500));
    const again = await connectLink(dave.callTool({ name: "calendar__list_events", arguments: {} }));
    expect(again).toMatch(/\/connect\?link=/);
    const listed = await fetch(`${gateway.origin}/admin/tenants/${TENANT}/connections`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
    expect(((await listed.json()) as { connections: { principal: string }[] }).connections.map((c) => c.principal)).not.toContain("dave");
    expect(await names(dave)).toContain("calendar__connect");
    await dave.close();
  }, 60_000);
});

async function connectLinkFor(client: Client, tenant: string): Promise<string> {
  const url = await urlElicitationLink(client.callTool({ name: "calendar__connect", arguments: {} }));
  expect(url.startsWith(`${gateway.origin}/t/${tenant}/connect?link=`)).toBe(true);
  return url;
}

describe("many users, and a backend that refuses a token", () => {
  const USERS = 50;
  const TENANT_MANY = "connections-many";
  let idp2: DemoIdp;
  let calendar2: RunningServer;
  let calendar3: RunningServer | undefined;

  beforeAll(async () => {
    const users = Object.fromEntries(
      Array.from({ length: USERS }, (_, i) => [`u${i}`, { sub: `u${i}`, login: `u${i}`, password: `pw-${i}`, email: `u${i}@example.com`, name: `User ${i}`, roles: ["user"] }]),
    );
    // Tokens that live 10 minutes: nothing is refreshed here, so a refusal comes from the backend.
    idp2 = await startDemoIdp({ users, clients: [{ clientId: "gateway-calendar", clientSecret: CAL_SECRET, redirectUris: [`${gateway.origin}/t/${TENANT_MANY}/connect/callback`] }] });
    calendar2 = await startDemoBackend("calendar", { env: { IDP_ISSUER: idp2.issuer, TOKEN_CACHE_SECONDS: "0" } });
    await gateway.putTenant(manyTenant(calendar2.url));
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([idp2?.stop(), calendar2?.stop(), calendar3?.stop()]);
  });

  function manyTenant(url: string) {
    return {
      id: TENANT_MANY,
      backends: [userOAuthBackend(url)],
      naming: { mode: "always", separator: "__" },
      auth: jwtAuth(signer, gateway.mcpUrl(TENANT_MANY)),
    };
  }

  async function client(sub: string): Promise<Client> {
    const token = await signer.token({ sub, audience: gateway.mcpUrl(TENANT_MANY) });
    const c = new Client({ name: `${sub}-agent`, version: "1.0.0" });
    await c.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT_MANY)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return c;
  }

  it(`${USERS} users connect and call at once: each call carries its own user's token, none another's`, async () => {
    const clients = await Promise.all(Array.from({ length: USERS }, (_, i) => client(`u${i}`)));
    // Connected one after another (each is a browser sign-in at the IdP).
    for (const [i, c] of clients.entries()) {
      const url = await connectLinkFor(c, TENANT_MANY);
      const login = await loginWithFetch(url, { user: `u${i}`, password: `pw-${i}`, redirectPrefix: `${gateway.origin}/t/${TENANT_MANY}/connect/callback` });
      expect((await fetch(login.finalUrl, { headers: { cookie: login.jar.header(login.finalUrl) ?? "" }, redirect: "manual" })).status).toBe(200);
    }
    // All at once, twice each.
    const answers = await Promise.all(clients.flatMap((c, i) => [0, 1].map(async () => ({ i, text: text(await c.callTool({ name: "calendar__list_events", arguments: {} })) }))));
    for (const { i, text: answer } of answers) expect(answer).toMatch(new RegExp(`Events of u${i}\\b`));
    const stats = (await (await fetch(new URL("/stats", calendar2.url))).json()) as Record<string, number>;
    for (let i = 0; i < USERS; i++) expect(stats[`u${i}`], `u${i}`).toBeGreaterThanOrEqual(2);
    await Promise.all(clients.map((c) => c.close()));
  }, 180_000);

  it("forgets a grant the backend refuses (401), and links the user to connect again", async () => {
    // The calendar moves: tokens were issued for its old URL (their audience), so it refuses them;
    // the user's next call there gets a connect link, not an unknown tool.
    calendar3 = await startDemoBackend("calendar", { env: { IDP_ISSUER: idp2.issuer, TOKEN_CACHE_SECONDS: "0" } });
    await gateway.putTenant(manyTenant(calendar3.url));
    const u0 = await client("u0");
    const refused = (await u0.callTool({ name: "calendar__list_events", arguments: {} }).then(
      () => null,
      (e: unknown) => e,
    )) as { code?: number; data?: { elicitations?: { url: string }[] } } | null;
    expect(refused?.code).toBe(-32042);
    expect(refused?.data?.elicitations?.[0]?.url).toMatch(new RegExp(`/t/${TENANT_MANY}/connect\\?link=`));
    await u0.close();
    const listed = await fetch(`${gateway.origin}/admin/tenants/${TENANT_MANY}/connections?principal=u0`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
    expect(((await listed.json()) as { connections: unknown[] }).connections).toEqual([]);
  }, 60_000);
});
