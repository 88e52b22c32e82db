/**
 * The web console (issue 8) in a real browser: headless Chromium, driven by playwright-core, against
 * a real gateway (`wrangler dev`) with the demo backends. The browser comes with `npm install` (the
 * @sparticuz/chromium package, started by test/support/browser.ts); nothing downloads one.
 *
 * The console signs in with the admin token, shows backends with live health and traffic, the
 * catalog as a principal sees it with each decision and its reason, live sessions, the audit trail
 * filtered, pinned definitions, and edits the policy: an invalid one is refused with the
 * gateway's message, a valid one is saved and its new version shown. The page must run under its
 * Content-Security-Policy without a single violation.
 *
 * `UPDATE_CONSOLE_SCREENSHOT=1` also writes docs/console.png (the README's screenshot).
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";
import { openConsoleBrowser, type ConsoleBrowser } from "../support/consoleBrowser.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { fileURLToPath } from "node:url";
import { freePort, startDemoBackend, startProcess, type RunningServer } from "../support/processes.ts";

const TENANT = "console-demo";
const SCREENSHOT = new URL("../../docs/console.png", import.meta.url).pathname;

let weather: RunningServer;
let notes: RunningServer;
/** test/fixtures/mutable-server.ts: its `report` tool changes definition on demand (a pin to approve). */
let mutable: RunningServer & { control: string };
let gateway: RunningGateway;
let signer: TestSigner;
let chromium: ConsoleBrowser;
let page: Page;

async function startMutableServer(): Promise<RunningServer & { control: string }> {
  const port = await freePort();
  const running = await startProcess({
    name: "mutable",
    command: process.execPath,
    args: [fileURLToPath(new URL("../fixtures/mutable-server.ts", import.meta.url))],
    env: { PORT: String(port) },
    readyLine: /^ready http:\/\/\S+$/,
  });
  return { ...running, url: `http://127.0.0.1:${port}/mcp`, control: `http://127.0.0.1:${port}/control/description` };
}

/**
 * A few MCP exchanges, so metrics, sessions and the audit trail have something to show; and a
 * tool definition that changes between two sessions' lists, so a pin awaits approval.
 */
async function traffic(): Promise<void> {
  const url = gateway.mcpUrl(TENANT);
  const headers = {
    authorization: `Bearer ${await signer.token({ sub: "alice", audience: url })}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  const post = (body: unknown, session?: string) =>
    fetch(url, { method: "POST", headers: session ? { ...headers, "mcp-session-id": session } : headers, body: JSON.stringify(body) }).then(async (r) => ({ r, text: await r.text() }));
  const init = await post({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "console-e2e", version: "1" } } });
  const session = init.r.headers.get("mcp-session-id")!;
  await post({ jsonrpc: "2.0", method: "notifications/initialized" }, session);
  await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, session);
  // The rug pull: a new session lists the changed definition, which quarantine then hides.
  expect((await fetch(mutable.control, { method: "POST", body: JSON.stringify({ description: "Writes a report and emails it to everyone." }) })).status).toBe(200);
  const second = await post({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "console-e2e", version: "1" } } });
  const relisted = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, second.r.headers.get("mcp-session-id")!);
  expect(relisted.text).not.toContain("mutable__report");
  await post({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "weather__get_forecast", arguments: { city: "Berlin", days: 2 } } }, session);
  await post({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "notes__add_note", arguments: { title: "hello", body: "from the console test" } } }, session);
  const denied = await post({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "notes__delete_note", arguments: { id: "note-1" } } }, session);
  expect(denied.text).toContain("Unknown tool");
  expect((await fetch(url, { method: "POST", headers: { "content-type": "application/json", accept: headers.accept }, body: "{}" })).status).toBe(401);
}

beforeAll(async () => {
  [weather, notes, mutable] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes"), startMutableServer()]);
  gateway = await startGateway();
  signer = await testSigner();
  await gateway.putTenant({
    id: TENANT,
    backends: [
      { name: "weather", url: weather.url },
      { name: "notes", url: notes.url },
      { name: "mutable", url: mutable.url },
    ],
    auth: jwtAuth(signer, gateway.mcpUrl(TENANT)),
    policy: {
      defaultEffect: "allow",
      rules: [
        { id: "no-deletes", effect: "deny", items: { names: ["delete_note"] } },
        { id: "short-forecasts", effect: "deny", items: { names: ["get_forecast"] }, when: "has(args.days) && args.days > 3" },
      ],
      pinning: "quarantine",
      audit: { arguments: true, results: false },
    },
  });
  await traffic();
  chromium = await openConsoleBrowser("console");
  page = chromium.page;
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await Promise.allSettled([gateway?.stop(), weather?.stop(), notes?.stop(), mutable?.stop()]);
});

async function tab(name: string): Promise<void> {
  await page.click(`#tabs button[data-tab="${name}"]`);
  await page.waitForSelector(`#view-${name}:not([hidden])`);
}

/** The console loads asynchronously (and metrics arrive in half-second batches): wait for it, within reason. */
function eventually<T>(read: () => Promise<T> | T) {
  // Generous: a loaded 2-core machine (CI, or tests running side by side) can take seconds per round trip.
  return expect.poll(read, { timeout: 30_000, interval: 100 });
}

function rowText(table: string, contains: string) {
  return page.locator(`#${table} tbody tr`, { hasText: contains });
}

describe("the console in Chromium", () => {
  it("asks for the admin token, refuses a wrong one, and signs in with the right one", async () => {
    await page.goto(`${gateway.origin}/admin/console`);
    await page.waitForSelector("#login:not([hidden])");
    await page.fill("#token", "not-the-token");
    await page.click("#login-form button[type=submit]");
    await eventually(() => page.textContent("#login-error")).toContain("refused");
    await page.fill("#token", gateway.adminToken);
    await page.click("#login-form button[type=submit]");
    await page.waitForSelector("#app:not([hidden])");
    await page.selectOption("#tenant", TENANT);
    // The token lives in this tab's sessionStorage only.
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toContain("edge-mcp-gateway.admin-token");
    expect(await page.evaluate(() => Object.keys(localStorage))).toEqual([]);
  });

  it("overview: backends with live health, and the traffic the gateway saw", async () => {
    await tab("overview");
    await eventually(() => rowText("backends-table", "weather").textContent()).toMatch(/up.*2025-11-25|2025-11-25.*up/);
    expect(await rowText("backends-table", "notes").locator(".badge").first().textContent()).toBe("up");
    await eventually(async () => Number(await page.locator('[data-stat="Requests"] .value').textContent())).toBeGreaterThanOrEqual(6);
    expect(Number(await page.locator('[data-stat="Denials"] .value').textContent())).toBeGreaterThanOrEqual(1);
    expect(await rowText("requests-table", "weather__get_forecast").count()).toBe(1);
    expect(await rowText("requests-table", "unauthorized").count()).toBe(1);
    expect(await rowText("backend-calls-table", "get_forecast").textContent()).toContain("weather");
    expect(await rowText("refusals-table", "delete_note").textContent()).toContain("denied");
    if (process.env.UPDATE_CONSOLE_SCREENSHOT === "1") await page.screenshot({ path: SCREENSHOT });
  });

  it("catalog: each item's decision for a principal, and why", async () => {
    await tab("catalog");
    await page.fill("#catalog-sub", "alice");
    await page.click("#catalog-form button[type=submit]");
    const remove = rowText("catalog-table", "notes__delete_note");
    await eventually(() => remove.textContent()).toContain("rule no-deletes denies");
    expect(await remove.textContent()).toContain("deny");
    expect(await rowText("catalog-table", "weather__get_forecast").textContent()).toContain("conditional on the call's arguments: short-forecasts");
    expect(await rowText("catalog-table", "notes__add_note").textContent()).toContain("allow");
    expect(await rowText("catalog-table", "mutable__report").textContent()).toContain("quarantined");
  });

  it("sessions, audit (filtered) and pins", async () => {
    await tab("sessions");
    await eventually(() => rowText("sessions-table", "alice").allTextContents()).toEqual([expect.stringContaining("console-e2e"), expect.stringContaining("console-e2e")]);

    await tab("audit");
    await page.selectOption('#audit-form select[name="decision"]', "deny");
    await page.click("#audit-form button[type=submit]");
    // Only denials: every row is one, and the denied delete is among them.
    await eventually(() => page.locator("#audit-table tbody tr").allTextContents()).toEqual([expect.stringMatching(/delete_note.*deny.*denied/)]);

    await tab("pins");
    await eventually(() => rowText("pins-table", "get_forecast").textContent()).toContain("approved");
    // The changed definition waits for an admin; approving it bumps the tenant's version.
    const report = rowText("pins-table", "report");
    expect(await report.textContent()).toContain("changed");
    await report.locator("button", { hasText: "Approve" }).click();
    await eventually(() => page.textContent("#pins-message")).toMatch(/^Approved mutable\/report; tenant version \d+\.$/);
    await eventually(() => report.textContent()).toContain("approved");
    expect(await report.locator("button").count()).toBe(0);
  });

  it("policy editor: an invalid policy is refused with the gateway's message; a valid one is saved and its version shown", async () => {
    const before = (await (await fetch(`${gateway.origin}/admin/tenants/${TENANT}`, { headers: { authorization: `Bearer ${gateway.adminToken}` } })).json()) as { version: number; policy: Record<string, unknown> };
    await tab("policy");
    await eventually(() => page.textContent("#policy-version")).toBe(`version ${before.version}`);
    const policy = JSON.parse(await page.inputValue("#policy-editor")) as { rules: Record<string, unknown>[] };
    expect(policy.rules.map((r) => r.id)).toEqual(["no-deletes", "short-forecasts"]);

    // Not JSON at all: refused in the page.
    await page.fill("#policy-editor", "{ rules: ");
    await page.click("#policy-validate");
    await eventually(() => page.textContent("#policy-message")).toContain("policy: not JSON");

    // JSON, but a CEL condition that does not parse: the gateway's validation says where.
    const invalid = { ...policy, rules: [...policy.rules, { id: "broken", effect: "deny", when: "args.days >" }] };
    await page.fill("#policy-editor", JSON.stringify(invalid, null, 2));
    await page.click("#policy-validate");
    await eventually(() => page.textContent("#policy-message")).toMatch(/^policy\.rules\.2\.when: /);
    expect(await page.getAttribute("#policy-message", "class")).toBe("error");
    await page.click("#policy-save");
    await eventually(() => page.textContent("#policy-message")).toMatch(/^policy\.rules\.2\.when: /);
    expect(await page.textContent("#policy-version")).toBe(`version ${before.version}`);

    // A valid change: validated, then saved as the next version.
    const valid = { ...policy, rules: [...policy.rules, { id: "no-alerts", effect: "deny", items: { names: ["get_alerts"] } }] };
    await page.fill("#policy-editor", JSON.stringify(valid, null, 2));
    await page.click("#policy-validate");
    await eventually(() => page.textContent("#policy-message")).toBe(`Valid. Saving stores it as version ${before.version + 1}.`);
    await page.click("#policy-save");
    await eventually(() => page.textContent("#policy-message")).toBe(`Saved as version ${before.version + 1}.`);
    expect(await page.textContent("#policy-version")).toBe(`version ${before.version + 1}`);
    const after = (await (await fetch(`${gateway.origin}/admin/tenants/${TENANT}`, { headers: { authorization: `Bearer ${gateway.adminToken}` } })).json()) as { version: number; policy: { rules: { id: string }[] } };
    expect(after.version).toBe(before.version + 1);
    expect(after.policy.rules.map((r) => r.id)).toEqual(["no-deletes", "short-forecasts", "no-alerts"]);
  });

  it("ran under its Content-Security-Policy without a violation", () => {
    expect(chromium.violations).toEqual([]);
  });
});
