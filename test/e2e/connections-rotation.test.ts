/**
 * One user's token refreshed once, however many of their sessions find it expiring together
 * (docs/connections.md "Refresh"). The authorization server here is the real OpenID provider
 * (oidc-provider) set to rotate refresh tokens on every use: a second use of a spent refresh token
 * is refused and revokes the whole grant (its reuse detection, RFC 9700 §4.14.2). Access tokens
 * live 3 s, shorter than the gateway's refresh margin, so every call below needs a refresh. If two
 * sessions refreshed at once, one would spend the token the other then reuses, the grant would be
 * revoked, and the user would be asked to connect again.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { DEMO_USERS, startDemoIdp, type DemoIdp } from "../support/idp.ts";
import { loginWithFetch } from "../support/oauthLogin.ts";
import { startDemoBackend, type RunningServer } from "../support/processes.ts";

const TENANT = "connections-rotation";
const CAL_SECRET = `cal-${randomBytes(8).toString("hex")}`;
const SESSIONS = 8;

let gateway: RunningGateway;
let idp: DemoIdp;
let calendar: RunningServer;
let signer: TestSigner;
const clients: Client[] = [];

beforeAll(async () => {
  signer = await testSigner();
  gateway = await startGateway({ vars: { CAL_SECRET } });
  idp = await startDemoIdp({
    accessTokenTtlSeconds: 3,
    rotateRefreshTokens: true,
    clients: [{ clientId: "gateway-calendar", clientSecret: CAL_SECRET, redirectUris: [`${gateway.origin}/t/${TENANT}/connect/callback`] }],
  });
  calendar = await startDemoBackend("calendar", { env: { IDP_ISSUER: idp.issuer, TOKEN_CACHE_SECONDS: "0" } });
  await gateway.putTenant({
    id: TENANT,
    backends: [{ name: "calendar", url: calendar.url, auth: { type: "user_oauth", clientId: "gateway-calendar", clientSecret: "CAL_SECRET", scopes: ["openid", "offline_access", "calendar"] } }],
    naming: { mode: "always", separator: "__" },
    auth: jwtAuth(signer, gateway.mcpUrl(TENANT)),
  });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled([gateway?.stop(), idp?.stop(), calendar?.stop()]);
});

async function session(sub: string): Promise<Client> {
  const token = await signer.token({ sub, audience: gateway.mcpUrl(TENANT) });
  const client = new Client({ name: `${sub}-agent-${clients.length}`, version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return client;
}

/** What a call answered: the calendar's text, or the JSON-RPC error code (-32042: connect again). */
async function outcome(client: Client): Promise<string> {
  try {
    const result = await client.callTool({ name: "calendar__list_events", arguments: {} });
    return result.isError ? `tool error: ${JSON.stringify(result.content)}` : "events";
  } catch (error) {
    return `error ${(error as { code?: number }).code}`;
  }
}

describe("a user's sessions refreshing one grant at an authorization server that rotates refresh tokens", () => {
  it(`${SESSIONS} sessions whose token expired all go on, round after round, with the grant never revoked`, async () => {
    const first = await session("alice");
    const link = await first.callTool({ name: "calendar__connect", arguments: {} }).then(
      () => "",
      (e: { data?: { elicitations?: { url: string }[] } }) => e.data?.elicitations?.[0]?.url ?? "",
    );
    expect(link).toMatch(new RegExp(`^${gateway.origin}/t/${TENANT}/connect\\?link=`));
    const callback = `${gateway.origin}/t/${TENANT}/connect/callback`;
    const login = await loginWithFetch(link, { user: DEMO_USERS.alice.login, password: DEMO_USERS.alice.password, redirectPrefix: callback });
    expect((await fetch(login.finalUrl, { headers: { cookie: login.jar.header(login.finalUrl) ?? "" }, redirect: "manual" })).status).toBe(200);

    const sessions = [first, ...(await Promise.all(Array.from({ length: SESSIONS - 1 }, () => session("alice"))))];
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 3_200)); // the access token has expired
      expect(await Promise.all(sessions.map(outcome))).toEqual(Array(SESSIONS).fill("events"));
    }
    const connections = await fetch(`${gateway.origin}/admin/tenants/${TENANT}/connections`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
    expect(((await connections.json()) as { connections: { principal: string }[] }).connections.map((c) => c.principal)).toEqual(["alice"]);
  }, 90_000);
});
