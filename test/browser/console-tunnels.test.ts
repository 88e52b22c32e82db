/**
 * The console's Tunnels tab (issue 18: "health shows in the console") in a real browser (headless
 * Chromium, playwright-core) against a real gateway. A tenant with a tunnel backend shows it with
 * no connector and no key; a key issued from the page is shown once with its connect command, and
 * the real connector (scripts/connect.ts, serving server-everything in stdio mode) attaches with
 * that very key; the tab then lists the connector under its key, and the overview probes the
 * backend up through it. Revoking the key from the page closes the connector's tunnel: the tab
 * shows no connector and the overview probes the backend down. A tenant without tunnel backends
 * shows a short note. The page must run under its Content-Security-Policy without a violation.
 */
import { createRequire } from "node:module";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openConsoleBrowser, signInToConsole, type ConsoleBrowser } from "../support/consoleBrowser.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { startProcess, type Running } from "../support/processes.ts";

const TENANT = "tunnels-demo";
const PLAIN = "tunnels-plain";
const everything = createRequire(import.meta.url).resolve("@modelcontextprotocol/server-everything/dist/index.js");

let gateway: RunningGateway;
let connector: Running | undefined;
let chromium: ConsoleBrowser;
let page: Page;

beforeAll(async () => {
  gateway = await startGateway();
  await gateway.putTenant({ id: TENANT, backends: [{ name: "local", transport: "tunnel", timeoutMs: 15_000 }], auth: { anonymous: true } });
  await gateway.putTenant({ id: PLAIN, backends: [], auth: { anonymous: true } });
  chromium = await openConsoleBrowser("console-tunnels");
  page = chromium.page;
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await Promise.allSettled([connector?.stop(), gateway?.stop()]);
});

function eventually<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 30_000, interval: 200 });
}

const card = () => page.locator('#tunnels-list [data-tunnel="local"]');
const rows = (table: string) => card().locator(`table.${table} tbody tr`);

/**
 * Reloads the tab (it refreshes itself every 10 s; the button makes the wait short) and reads what
 * that load drew: the cards are cleared first, as for the overview below.
 */
async function refreshed<T>(read: () => Promise<T>): Promise<T> {
  await page.locator("#tunnels-list").evaluate((list) => list.replaceChildren());
  await page.click("#refresh");
  await card().waitFor({ timeout: 15_000 });
  return read();
}

/**
 * The overview's row for the tunnel backend after one complete load: its transport cell and its
 * probe badge. The drawn rows are cleared first, so the row read is the one this load drew. (Reading
 * the row left by an earlier load, then switching tabs, made every poll start a new load that
 * superseded the one in flight; where probing through the connector takes longer than the poll
 * interval, as on a slow CI machine, no load ever finished and the stale row was read for 30 s.)
 */
async function overviewRow(): Promise<string[]> {
  await page.locator("#backends-table tbody").evaluate((body) => body.replaceChildren());
  await page.click('#tabs button[data-tab="overview"]');
  const row = page.locator('#backends-table tbody tr[data-backend="local"]');
  await row.waitFor({ timeout: 15_000 });
  const cells = await row.locator("td").allTextContents();
  await page.click('#tabs button[data-tab="tunnels"]');
  return cells.slice(1, 3);
}

describe("the console's Tunnels tab in Chromium", () => {
  it("shows a tunnel backend with no connector and no key", async () => {
    await signInToConsole(page, gateway.origin, gateway.adminToken, TENANT);
    await page.click('#tabs button[data-tab="tunnels"]');
    await card().waitFor();
    expect(await page.isHidden("#tunnels-note")).toBe(true);
    expect(await card().locator(".badge").textContent()).toBe("no connector");
    expect(await rows("tunnel-connectors").allTextContents()).toEqual(["none attached: the backend reads as down"]);
    expect(await rows("tunnel-keys").allTextContents()).toEqual(["no key: issue one for the connector"]);
    await eventually(() => overviewRow()).toEqual(["tunnel · 0 connectors", "down"]);
  });

  it("issues a key shown once with its connect command, and the real connector attaches with it", async () => {
    await card().locator("button", { hasText: "Issue a key" }).click();
    await page.waitForSelector("#tunnel-issued:not([hidden])");
    const key = (await page.textContent("#tunnel-issued-key"))!;
    expect(key).toMatch(/^mtk_[A-Za-z0-9_-]{40,}$/);
    const command = (await page.textContent("#tunnel-issued-command"))!;
    expect(command).toBe(`npm run connect -- --gateway ${gateway.origin} --tenant ${TENANT} --backend local --key ${key} -- <command> [args…]`);
    expect(await page.textContent("#tunnels-message")).toMatch(/^Issued key tk-\S+ for local\. Copy it now: it is not shown again\.$/);
    const keyId = /^Issued key (tk-\S+) for/.exec((await page.textContent("#tunnels-message"))!)![1]!;
    await eventually(() => card().locator("table.tunnel-keys tbody tr[data-key]").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-key")))).toEqual([keyId]);

    // The key from the page, as a user would paste it (the command's words, the server where it says <command> [args…]).
    const words = command.replace(" -- <command> [args…]", "").split(" ").slice(4);
    connector = await startProcess({
      name: "connector",
      command: process.execPath,
      args: ["scripts/connect.ts", ...words, "--", process.execPath, everything, "stdio"],
      readyLine: /attached as connector/,
    });
    await eventually(() => refreshed(() => rows("tunnel-connectors").locator("td:nth-child(2)").allTextContents())).toEqual([keyId]);
    expect(await card().locator(".badge").textContent()).toBe("1 connector");
    expect(await rows("tunnel-keys").first().locator("td").nth(2).textContent()).toBe("1");
    await eventually(() => overviewRow()).toEqual(["tunnel · 1 connector", "up"]);
  });

  it("revokes the key from the page: its connector's tunnel closes and the backend probes down", async () => {
    await card().locator('table.tunnel-keys button', { hasText: "Revoke" }).click();
    await eventually(() => page.textContent("#tunnels-message")).toMatch(/^Revoked key tk-\S+ of local; connectors that attached with it are closed\.$/);
    expect(await page.isHidden("#tunnel-issued")).toBe(true);
    await eventually(() => refreshed(() => rows("tunnel-connectors").allTextContents())).toEqual(["none attached: the backend reads as down"]);
    expect(await rows("tunnel-keys").allTextContents()).toEqual(["no key: issue one for the connector"]);
    await eventually(() => overviewRow()).toEqual(["tunnel · 0 connectors", "down"]);
    // The connector's key no longer attaches anywhere.
    await eventually(() => connector!.output()).toMatch(/401|revoked/i);
  });

  it("a tenant without tunnel backends shows a short note", async () => {
    await page.selectOption("#tenant", PLAIN);
    await page.waitForSelector("#tunnels-note:not([hidden])");
    expect(await page.locator("#tunnels-list > *").count()).toBe(0);
  });

  it("ran under its Content-Security-Policy without a violation", () => {
    expect(chromium.violations).toEqual([]);
  });
});
