/**
 * The admin console in headless Chromium, as the browser tests open it: a fresh profile in a
 * temporary folder, one page, and every Content-Security-Policy or Trusted Types report and page
 * error collected (a console test ends by expecting none). `close` ends the browser and removes the
 * profile.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { launchChromium } from "./browser.ts";

export interface ConsoleBrowser {
  page: Page;
  /** CSP and Trusted Types reports and uncaught page errors, as they happened. */
  violations: string[];
  close(): Promise<void>;
}

export async function openConsoleBrowser(name: string): Promise<ConsoleBrowser> {
  const profile = mkdtempSync(join(tmpdir(), `${name}-chromium-`));
  const browser = await launchChromium(profile, { viewport: { width: 1280, height: 860 } });
  const page = browser.pages()[0] ?? (await browser.newPage());
  const violations: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy|Trusted Type/i.test(message.text())) violations.push(message.text());
  });
  page.on("pageerror", (error) => violations.push(`page error: ${error.message}`));
  return {
    page,
    violations,
    async close() {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the console at `origin`, signs in with the admin token and picks `tenant`. */
export async function signInToConsole(page: Page, origin: string, adminToken: string, tenant: string): Promise<void> {
  await page.goto(`${origin}/admin/console`);
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#token", adminToken);
  await page.click("#login-form button[type=submit]");
  await page.waitForSelector("#app:not([hidden])");
  await page.selectOption("#tenant", tenant);
}
