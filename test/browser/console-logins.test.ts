/**
 * The console's Logins tab in a real browser (headless Chromium, playwright-core) against a real
 * gateway: a tenant whose gateway is its OAuth authorization server (auth.oauth) lists its clients
 * (a configured one, blocked through the admin API, is shown blocked, restored from the page and
 * blocked again), shows it has no grants, and rotates its signing key (the new kid is the one the
 * tenant's JWKS now publishes); a tenant without auth.oauth shows a short note, not an error. The
 * IdP is never contacted (no login can complete here, so no grant exists to revoke). The page must
 * run under its Content-Security-Policy without a single violation.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openConsoleBrowser, signInToConsole, type ConsoleBrowser } from "../support/consoleBrowser.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { startDemoBackend, type RunningServer } from "../support/processes.ts";

const TENANT = "logins-demo";
const PLAIN = "logins-plain";

let weather: RunningServer;
let gateway: RunningGateway;
let chromium: ConsoleBrowser;
let page: Page;

async function admin(path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${gateway.origin}/admin${path}`, {
    ...init,
    headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" },
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

type Client = { clientId: string; clientName: string; registered: boolean; blocked: boolean; activeGrants: number };
async function clients(): Promise<Client[]> {
  const r = await admin(`/tenants/${TENANT}/oauth/clients`);
  expect(r.status).toBe(200);
  return (r.body as { clients: Client[] }).clients;
}

async function publishedKids(): Promise<string[]> {
  const res = await fetch(`${gateway.origin}/t/${TENANT}/oauth/jwks`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
}

beforeAll(async () => {
  weather = await startDemoBackend("weather");
  gateway = await startGateway();
  await gateway.putTenant({
    id: TENANT,
    backends: [{ name: "weather", url: weather.url }],
    auth: {
      oauth: {
        idp: { issuer: "https://idp.invalid", clientId: "gw", clientSecret: "UNUSED_SECRET" },
        clients: [{ clientId: "cli", clientName: "Test CLI", redirectUris: ["http://127.0.0.1:9/cb"] }],
      },
    },
  });
  await gateway.putTenant({ id: PLAIN, backends: [{ name: "weather", url: weather.url }], auth: { anonymous: true } });
  // No login can complete without the IdP: block the configured client through the admin API.
  const revoked = await admin(`/tenants/${TENANT}/oauth/clients/revoke`, { method: "POST", body: JSON.stringify({ clientId: "cli" }) });
  expect(revoked).toEqual({ status: 200, body: { revokedGrants: 0 } });
  expect(await clients()).toEqual([expect.objectContaining({ clientId: "cli", blocked: true, activeGrants: 0 })]);
  expect((await admin(`/tenants/${PLAIN}/oauth/clients`)).status).toBe(404);

  chromium = await openConsoleBrowser("console-logins");
  page = chromium.page;
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await Promise.allSettled([gateway?.stop(), weather?.stop()]);
});

function eventually<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 30_000, interval: 100 });
}

const cliRow = () => page.locator('#clients-table tbody tr[data-client="cli"]');

describe("the console's Logins tab in Chromium", () => {
  it("signs in and opens the Logins tab of a tenant with an authorization server", async () => {
    await signInToConsole(page, gateway.origin, gateway.adminToken, TENANT);
    await page.click('#tabs button[data-tab="logins"]');
    await page.waitForSelector("#view-logins:not([hidden])");
    await page.waitForSelector("#clients-card:not([hidden])");
    expect(await page.isHidden("#logins-note")).toBe(true);
  });

  it("lists the blocked configured client by its configured name, and no grants", async () => {
    await eventually(() => cliRow().count()).toBe(1);
    const cells = await cliRow().locator("td").allTextContents();
    expect(cells.slice(0, 5)).toEqual(["Test CLI", "cli", "configured", "0", "blocked"]);
    expect(await cliRow().locator("button").allTextContents()).toEqual(["Restore"]);
    expect(await page.locator("#grants-table tbody tr").allTextContents()).toEqual(["nothing yet"]);
  });

  it("restores the client from the page, and blocks it again", async () => {
    await cliRow().locator("button", { hasText: "Restore" }).click();
    await eventually(() => page.textContent("#logins-message")).toBe("Restored Test CLI.");
    await eventually(() => cliRow().locator(".badge").textContent()).toBe("allowed");
    expect(await cliRow().locator("button").allTextContents()).toEqual(["Revoke"]);
    // The gateway agrees: not blocked, and with no grant nor registration it drops out of its list.
    expect(await clients()).toEqual([]);

    await cliRow().locator("button", { hasText: "Revoke" }).click();
    await eventually(() => page.textContent("#logins-message")).toBe("Blocked Test CLI; 0 grant(s) revoked.");
    await eventually(() => cliRow().locator(".badge").textContent()).toBe("blocked");
    expect(await clients()).toEqual([expect.objectContaining({ clientId: "cli", blocked: true })]);
  });

  it("rotates the signing key and names the new kid, which the tenant's JWKS now publishes", async () => {
    const before = await publishedKids();
    await page.click("#oauth-rotate");
    await eventually(() => page.textContent("#logins-message")).toMatch(/^New signing key \S+; /);
    const kid = /^New signing key (\S+);/.exec((await page.textContent("#logins-message"))!)![1]!;
    expect(before).not.toContain(kid);
    expect(await publishedKids()).toContain(kid);
    expect(await page.getAttribute("#logins-message", "class")).toBe("success");
  });

  it("a tenant without auth.oauth shows a short note instead of an error", async () => {
    await page.selectOption("#tenant", PLAIN);
    await page.waitForSelector("#logins-note:not([hidden])");
    expect(await page.textContent("#logins-note")).toBe("This tenant has no authorization server (auth.oauth).");
    for (const id of ["#grants-card", "#clients-card", "#keys-card", "#logins-message"]) expect(await page.isHidden(id)).toBe(true);
    // Back to the first tenant: its panels return and the note goes.
    await page.selectOption("#tenant", TENANT);
    await page.waitForSelector("#clients-card:not([hidden])");
    expect(await page.isHidden("#logins-note")).toBe(true);
    await eventually(() => cliRow().locator(".badge").textContent()).toBe("blocked");
  });

  it("ran under its Content-Security-Policy without a violation", () => {
    expect(chromium.violations).toEqual([]);
  });
});
