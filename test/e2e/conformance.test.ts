/**
 * The official MCP conformance suite (server side, 2025-11-25 scenarios) pointed at the gateway,
 * which fronts a fixture backend implementing the suite's reference names. Names stay
 * unprefixed (naming mode "never") because the suite calls them literally.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort, startProcess, type Running } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";

const run = promisify(execFile);
let fixture: Running;
let gateway: RunningGateway;
let results: string;

beforeAll(async () => {
  const port = await freePort();
  fixture = await startProcess({
    name: "conformance-fixture",
    command: process.execPath,
    args: [new URL("../fixtures/conformance-server.ts", import.meta.url).pathname],
    env: { PORT: String(port) },
    readyLine: /^ready /,
  });
  gateway = await startGateway();
  await gateway.putTenant({
    id: "conformance",
    backends: [{ name: "fixture", url: `http://127.0.0.1:${port}/mcp` }],
    naming: { mode: "never" },
    auth: { anonymous: true },
  });
  results = mkdtempSync(join(tmpdir(), "conformance-"));
});

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), fixture?.stop()]);
  if (results) rmSync(results, { recursive: true, force: true });
});

it("passes every scenario of the conformance suite (2025-11-25) through the gateway", async () => {
  const bin = new URL("../../node_modules/@modelcontextprotocol/conformance/dist/index.js", import.meta.url).pathname;
  const { stdout } = await run(process.execPath, [bin, "server", "--url", gateway.mcpUrl("conformance"), "--suite", "all", "-o", results], {
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`conformance suite failed:\n${(error.stdout ?? "").split("=== SUMMARY ===")[1] ?? error.stdout ?? ""}\n${error.stderr ?? ""}`);
  });
  const summary = stdout.split("=== SUMMARY ===")[1] ?? "";
  const total = /Total: (\d+) passed, (\d+) failed/.exec(summary);
  expect(total, summary).not.toBeNull();
  expect(Number(total![2]), summary).toBe(0);
  // 32 scenarios with 45 checks in 0.1.16; fewer would mean scenarios silently stopped running.
  expect(Number(total![1])).toBeGreaterThanOrEqual(45);
  expect(summary).not.toContain("✗");
}, 300_000);
