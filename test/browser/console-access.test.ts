/**
 * The console's Approvals and Connections tabs (issue 15: operators see and decide approvals, see
 * and revoke users' connections) in a real browser (headless Chromium, playwright-core) against a
 * real gateway in `wrangler dev`, with the demo weather and calendar backends, the real OpenID
 * provider (oidc-provider) as the calendar's authorization server, and MCP SDK clients as users.
 *
 * bob's call to get_alerts waits for an admin's approval: the request shows in the Approvals tab
 * with its arguments, the operator approves it there, and bob's next identical call runs (once);
 * another is denied there and bob's call is refused. alice connects her calendar account through
 * the gateway's connect link; the Connections tab shows the grant (never a token), and forgetting
 * it there makes alice's next calendar call ask her to connect again. The page must run under its
 * Content-Security-Policy without a violation.
 */
import { randomBytes } from "node:crypto";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";
import { openConsoleBrowser, signInToConsole, type ConsoleBrowser } from "../support/consoleBrowser.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { connectAccount, urlElicitationLink, userOAuthBackend } from "../support/connections.ts";
import { startDemoIdp, type DemoIdp } from "../support/idp.ts";
import { startDemoBackend, type RunningServer } from "../support/processes.ts";

const TENANT = "access-console";
/** Arguments with a secret in them: the console shows them redacted. */
const ALENTEJO = { region: "Alentejo sk-live-abc123" };
const CAL_SECRET = `cal-${randomBytes(8).toString("hex")}`;

let gateway: RunningGateway;
let idp: DemoIdp;
let calendar: RunningServer;
let weather: RunningServer;
let signer: TestSigner;
let chromium: ConsoleBrowser;
let page: Page;
const clients: Client[] = [];

beforeAll(async () => {
  signer = await testSigner();
  gateway = await startGateway({ vars: { CAL_SECRET } });
  // The IdP is both the calendar's authorization server and the tenant's login (approvers sign in there).
  idp = await startDemoIdp({
    clients: [
      { clientId: "gateway-calendar", clientSecret: CAL_SECRET, redirectUris: [`${gateway.origin}/t/${TENANT}/connect/callback`] },
      { clientId: "gateway-login", clientSecret: CAL_SECRET, redirectUris: [`${gateway.origin}/t/${TENANT}/oauth/callback`] },
    ],
  });
  [calendar, weather] = await Promise.all([startDemoBackend("calendar", { env: { IDP_ISSUER: idp.issuer, TOKEN_CACHE_SECONDS: "0" } }), startDemoBackend("weather")]);
  await gateway.putTenant({
    id: TENANT,
    backends: [
      userOAuthBackend(calendar.url),
      { name: "weather", url: weather.url },
    ],
    naming: { mode: "always", separator: "__" },
    auth: {
      ...jwtAuth(signer, gateway.mcpUrl(TENANT)),
      oauth: { idp: { issuer: idp.issuer, clientId: "gateway-login", clientSecret: "CAL_SECRET", scopes: ["openid", "profile"], rolesClaim: "roles" } },
    },
    policy: {
      rules: [
        { id: "alerts-need-an-admin", effect: "allow", items: { names: ["get_alerts"] }, requireApproval: { approvers: ["admin"], ttlSeconds: 600 } },
        { id: "everything-else", effect: "allow" },
      ],
      // What an approver is shown passes through the tenant's redaction.
      redact: [{ pattern: "sk-live-[A-Za-z0-9]+", replacement: "[KEY]" }],
    },
  });
  chromium = await openConsoleBrowser("console-access");
  page = chromium.page;
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await chromium?.close();
  await Promise.allSettled([gateway?.stop(), idp?.stop(), calendar?.stop(), weather?.stop()]);
});

async function user(sub: string): Promise<Client> {
  const token = await signer.token({ sub, audience: gateway.mcpUrl(TENANT) });
  const client = new Client({ name: `${sub}-agent`, version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return client;
}

const text = (result: unknown) => JSON.stringify((result as { content?: unknown }).content);

function eventually<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 30_000, interval: 200 });
}

/**
 * Reloads the current tab and reads a table as that load drew it: the rows are cleared first, so
 * a row read was drawn by this load, not left by an earlier one (see console-tunnels.test.ts).
 */
async function tableAfterLoad(table: string): Promise<string[][]> {
  const body = page.locator(`#${table} tbody`);
  await body.evaluate((b) => b.replaceChildren());
  await page.click("#refresh");
  await body.locator("tr").first().waitFor({ timeout: 15_000 });
  return Promise.all((await body.locator("tr").all()).map(async (tr) => (await tr.locator("td").allTextContents()).map((t) => t.trim())));
}

describe("the console's Approvals and Connections tabs in Chromium", () => {
  it("shows no approval and no connection at first", async () => {
    await signInToConsole(page, gateway.origin, gateway.adminToken, TENANT);
    await page.click('#tabs button[data-tab="approvals"]');
    expect(await tableAfterLoad("approvals-table")).toEqual([["nothing yet"]]);
    await page.click('#tabs button[data-tab="connections"]');
    expect(await tableAfterLoad("connections-table")).toEqual([["nothing yet"]]);
  }, 60_000);

  it("lists bob's gated call with its arguments; approving it there lets exactly one identical call run", async () => {
    const bob = await user("bob");
    const url = await urlElicitationLink(bob.callTool({ name: "weather__get_alerts", arguments: ALENTEJO }));
    expect(url).toMatch(new RegExp(`^${gateway.origin}/t/${TENANT}/approvals/ap-`));
    const id = /\/approvals\/(ap-[^/?#]+)/.exec(url)![1]!;
    await page.click('#tabs button[data-tab="approvals"]');
    const [asked] = await tableAfterLoad("approvals-table");
    expect(asked).toEqual([expect.any(String), "bob", "weather__get_alerts", '{"region":"Alentejo [KEY]"}', "admin", "pending", expect.stringMatching(/^expires in /), "ApproveDeny"]);
    expect(await page.locator("#approvals-table tbody tr").first().getAttribute("data-approval")).toBe(id);
    expect(await page.locator("#approvals-table").innerHTML()).not.toContain("sk-live");

    await page.locator(`#approvals-table tr[data-approval="${id}"] button`, { hasText: "Approve" }).click();
    await eventually(() => page.textContent("#approvals-message")).toBe("Approved weather__get_alerts for bob. Their next identical call runs.");
    expect((await tableAfterLoad("approvals-table"))[0]!.slice(5, 8)).toEqual(["approved", "operator:admin", "–"]);

    expect(text(await bob.callTool({ name: "weather__get_alerts", arguments: ALENTEJO }))).toMatch(/Alentejo/);
    expect((await tableAfterLoad("approvals-table"))[0]!.slice(5, 7)).toEqual(["approved, used", "operator:admin"]);
    // Spent: the same call asks again.
    expect(await urlElicitationLink(bob.callTool({ name: "weather__get_alerts", arguments: ALENTEJO }))).not.toBe(url);
  }, 60_000);

  it("denying a request there refuses bob's call", async () => {
    const bob = await user("bob");
    const url = await urlElicitationLink(bob.callTool({ name: "weather__get_alerts", arguments: { region: "Minho" } }));
    const id = /\/approvals\/(ap-[^/?#]+)/.exec(url)![1]!;
    const rows = await tableAfterLoad("approvals-table");
    expect(rows.find((r) => r[3] === '{"region":"Minho"}')?.[5]).toBe("pending");
    await page.locator(`#approvals-table tr[data-approval="${id}"] button`, { hasText: "Deny" }).click();
    await eventually(() => page.textContent("#approvals-message")).toBe("Denied weather__get_alerts for bob. Their next identical call is refused.");
    const result = await bob.callTool({ name: "weather__get_alerts", arguments: { region: "Minho" } });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/denied by operator:admin/);
    // A request already decided has no buttons, and deciding it again through the API is refused.
    await eventually(() => page.locator(`#approvals-table tr[data-approval="${id}"] button`).count()).toBe(0);
    const again = await fetch(`${gateway.origin}/admin/tenants/${TENANT}/approvals/${id}`, {
      method: "POST",
      headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ decision: "approve" }),
    });
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({ error: "This request was already denied." });
  }, 60_000);

  it("lists alice's connection (no token in it); forgetting it there makes her connect again", async () => {
    const alice = await user("alice");
    const url = await urlElicitationLink(alice.callTool({ name: "calendar__connect", arguments: {} }));
    expect((await connectAccount(url, "alice")).status).toBe(200);
    expect(text(await alice.callTool({ name: "calendar__list_events", arguments: {} }))).not.toMatch(/connect/i);

    await page.click('#tabs button[data-tab="connections"]');
    const rows = await tableAfterLoad("connections-table");
    expect(rows).toEqual([["alice", "calendar", expect.any(String), expect.any(String), expect.stringMatching(/^in |^expired|^no expiry/), expect.stringContaining("calendar"), "Forget"]]);
    const html = await page.locator("#connections-table").innerHTML();
    expect(html).not.toMatch(/eyJ|access_token|refresh_token/i);

    await page.locator('#connections-table tr[data-connection="alice/calendar"] button', { hasText: "Forget" }).click();
    await eventually(() => page.textContent("#connections-message")).toBe("Forgot the grant of alice at calendar; their next call there asks them to connect again.");
    expect(await tableAfterLoad("connections-table")).toEqual([["nothing yet"]]);
    expect(await urlElicitationLink(alice.callTool({ name: "calendar__list_events", arguments: {} }))).toMatch(new RegExp(`^${gateway.origin}/t/${TENANT}/connect\\?link=`));
  }, 60_000);

  it("ran under its Content-Security-Policy without a violation", () => {
    expect(chromium.violations).toEqual([]);
  });
});
