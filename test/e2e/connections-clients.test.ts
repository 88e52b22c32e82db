/**
 * Backends that act for each user (docs/connections.md) as clients meet them: the command line
 * (scripts/call.ts) shows the connect link; the MCP Inspector CLI does not (pinned below); and one
 * user's token is refreshed once, however many of their sessions find it expiring together. The authorization server here is the real OpenID provider
 * (oidc-provider) set to rotate refresh tokens on every use: a second use of a spent refresh token
 * is refused and revokes the whole grant (its reuse detection, RFC 9700 §4.14.2). Access tokens
 * live 3 s, shorter than the gateway's refresh margin, so every call below needs a refresh. If two
 * sessions refreshed at once, one would spend the token the other then reuses, the grant would be
 * revoked, and the user would be asked to connect again.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { connectAccount, urlElicitationLink, userOAuthBackend } from "../support/connections.ts";
import { startDemoIdp, type DemoIdp } from "../support/idp.ts";
import { startDemoBackend, type RunningServer } from "../support/processes.ts";

const TENANT = "connections-clients";
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
    backends: [userOAuthBackend(calendar.url)],
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

/** Runs `npm run call` (scripts/call.ts) as `sub`: its exit code and output. */
async function callScript(sub: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const token = await signer.token({ sub, audience: gateway.mcpUrl(TENANT) });
  const argv = ["scripts/call.ts", "--url", gateway.mcpUrl(TENANT), "--token", token, ...args];
  return promisify(execFile)(process.execPath, argv, { timeout: 30_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" }),
  );
}

describe("the connect link on the command line", () => {
  it("npm run call prints the link and exits 3; after connecting, the same command prints the user's own events", async () => {
    const asked = await callScript("dora", "calendar__list_events");
    expect(asked.code).toBe(3);
    const link = /^\s+(http\S+)$/m.exec(asked.stdout)?.[1] ?? "";
    expect(link).toMatch(new RegExp(`^${gateway.origin}/t/${TENANT}/connect\\?link=`));
    expect(asked.stdout).toMatch(/calendar account.*not connected/);
    expect((await connectAccount(link, "bob")).status).toBe(200);
    const after = await callScript("dora", "calendar__list_events");
    expect(after).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(after.stdout)).toMatchObject({ content: [{ type: "text", text: expect.stringMatching(/bob/i) }] });
  }, 60_000);

  it("pins a quirk of the MCP Inspector CLI 2.12.0: on error -32042 it prints nothing and waits (for a dialog only its web UI has), which is why the README uses npm run call", async () => {
    const token = await signer.token({ sub: "erin", audience: gateway.mcpUrl(TENANT) });
    const launcher = new URL("../../node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js", import.meta.url).pathname;
    const child = spawn(process.execPath, [launcher, "--cli", gateway.mcpUrl(TENANT), "--transport", "http", "--header", `Authorization: Bearer ${token}`, "--method", "tools/call", "--tool-name", "calendar__connect"], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    // Its other calls answer within about 2 s here (test/e2e/clients.test.ts); give this one 8.
    const ended = await Promise.race([exited, new Promise<"waiting">((r) => setTimeout(() => r("waiting"), 8_000))]);
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
    // When this fails, the Inspector shows the link or gives up: the README may go back to it.
    expect({ ended, out }).toEqual({ ended: "waiting", out: "" });
    // The gateway did answer: the same call through the SDK gets -32042 with the link.
    expect((await callScript("erin", "calendar__connect")).code).toBe(3);
  }, 60_000);
});

describe("a user's open sessions when their connections change", () => {
  it("hear tools/list_changed when the user connects through a link, and list the backend's tools; again when an operator forgets the grant, and when the user disconnects", async () => {
    const client = await session("frank");
    let heard = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      heard++;
    });
    const names = async () => (await client.listTools()).tools.map((t) => t.name);
    expect(await names()).toEqual(["calendar__connect"]);
    // The link comes from another client (the command line), so this session's own calls play no part.
    const asked = await callScript("frank", "calendar__connect");
    const link = /^\s+(http\S+)$/m.exec(asked.stdout)?.[1] ?? "";
    expect((await connectAccount(link, "bob")).status).toBe(200);
    await expect.poll(() => heard, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
    expect(await names()).toEqual(expect.arrayContaining(["calendar__list_events", "calendar__add_event"]));
    expect(await names()).not.toContain("calendar__connect");

    const before = heard;
    const forgotten = await fetch(`${gateway.origin}/admin/tenants/${TENANT}/connections/frank/calendar`, { method: "DELETE", headers: { authorization: `Bearer ${gateway.adminToken}` } });
    expect(forgotten.status).toBe(204);
    await expect.poll(() => heard, { timeout: 15_000 }).toBeGreaterThan(before);
    expect(await names()).toEqual(["calendar__connect"]);

    // Connected again, then disconnected by the user at /t/<tenant>/connections/<backend>.
    const again = /^\s+(http\S+)$/m.exec((await callScript("frank", "calendar__connect")).stdout)?.[1] ?? "";
    expect((await connectAccount(again, "bob")).status).toBe(200);
    await expect.poll(names, { timeout: 15_000 }).toContain("calendar__list_events");
    const beforeUser = heard;
    const token = await signer.token({ sub: "frank", audience: gateway.mcpUrl(TENANT) });
    const disconnected = await fetch(`${gateway.origin}/t/${TENANT}/connections/calendar`, { method: "DELETE", headers: { authorization: `Bearer ${token}` } });
    expect(disconnected.status).toBe(204);
    await expect.poll(() => heard, { timeout: 15_000 }).toBeGreaterThan(beforeUser);
    expect(await names()).toEqual(["calendar__connect"]);
  }, 60_000);
});

describe("a user's sessions refreshing one grant at an authorization server that rotates refresh tokens", () => {
  it(`${SESSIONS} sessions whose token expired all go on, round after round, with the grant never revoked`, async () => {
    const first = await session("alice");
    const link = await urlElicitationLink(first.callTool({ name: "calendar__connect", arguments: {} }));
    expect(link).toMatch(new RegExp(`^${gateway.origin}/t/${TENANT}/connect\\?link=`));
    expect((await connectAccount(link, "alice")).status).toBe(200);

    const sessions = [first, ...(await Promise.all(Array.from({ length: SESSIONS - 1 }, () => session("alice"))))];
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 3_200)); // the access token has expired
      expect(await Promise.all(sessions.map(outcome))).toEqual(Array(SESSIONS).fill("events"));
    }
    const connections = await fetch(`${gateway.origin}/admin/tenants/${TENANT}/connections`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
    expect(((await connections.json()) as { connections: { principal: string }[] }).connections.map((c) => c.principal)).toContain("alice");
  }, 90_000);
});
