/**
 * The official MCP conformance suites pointed at the gateway, which fronts fixture backends
 * implementing the suites' reference names (kept unprefixed: naming mode "never", because the
 * suites call them literally):
 *   - 0.1.16, the 2025-11-25 scenarios, through a legacy (SDK v1) fixture and through a dual-era
 *     (SDK v2) fixture;
 *   - 0.2.0-alpha.12 with `--requirements 2026-07-28` (as `conformance-next`), through the dual-era
 *     fixture: every scored scenario passes; only the ones the suite itself does not score
 *     (pending, and the tasks extension) may fail.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startProcess, type Running } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";

const run = promisify(execFile);
const SUITE_2025 = new URL("../../node_modules/@modelcontextprotocol/conformance/dist/index.js", import.meta.url).pathname;
const SUITE_2026 = new URL("../../node_modules/conformance-next/dist/index.js", import.meta.url).pathname;

let legacy: Running;
let modern: Running;
let gateway: RunningGateway;
let results: string;

async function fixture(name: string, file: string): Promise<{ running: Running; url: string }> {
  const port = await freePort();
  const running = await startProcess({
    name,
    command: process.execPath,
    args: [new URL(`../fixtures/${file}`, import.meta.url).pathname],
    env: { PORT: String(port) },
    readyLine: /^ready /,
  });
  return { running, url: `http://127.0.0.1:${port}/mcp` };
}

beforeAll(async () => {
  const [l, m] = await Promise.all([fixture("conformance-legacy", "conformance-server.ts"), fixture("conformance-modern", "conformance-modern-server.ts")]);
  legacy = l.running;
  modern = m.running;
  gateway = await startGateway();
  for (const [id, url] of [["conformance", l.url], ["conformance-dual", m.url]]) {
    await gateway.putTenant({ id, backends: [{ name: "fixture", url }], naming: { mode: "never" }, auth: { anonymous: true } });
  }
  results = mkdtempSync(join(tmpdir(), "conformance-"));
});

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), legacy?.stop(), modern?.stop()]);
  if (results) rmSync(results, { recursive: true, force: true });
});

/** Runs a suite and returns its summary; a failing run still yields its output. */
async function suite(bin: string, args: string[]): Promise<string> {
  const out = await run(process.execPath, [bin, "server", ...args, "-o", results], { timeout: 240_000, maxBuffer: 32 * 1024 * 1024 }).then(
    (r) => r.stdout,
    (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ""}\n${error.stderr ?? ""}`,
  );
  return out.split("=== SUMMARY ===")[1] ?? out;
}

describe("the 2025-11-25 conformance suite (0.1.16) through the gateway", () => {
  for (const tenant of ["conformance", "conformance-dual"]) {
    it(`passes every scenario, fronting the ${tenant === "conformance" ? "legacy" : "dual-era"} fixture`, async () => {
      const before = new Set(readdirSync(results));
      const summary = await suite(SUITE_2025, ["--url", gateway.mcpUrl(tenant), "--suite", "all"]);
      const total = /Total: (\d+) passed, (\d+) failed/.exec(summary);
      expect(total, summary).not.toBeNull();
      expect(Number(total![2]), summary).toBe(0);
      // 32 scenarios with 45 checks in 0.1.16; fewer would mean scenarios silently stopped running.
      // server-sse-polling's two (the priming event and the retry field of a POST's SSE stream) apply
      // only when the reply is a stream: its tool answers quickly with nothing before its response,
      // which the gateway returns as JSON (2025-11-25 basic/transports lets a server answer either),
      // and the suite marks "not applicable". They are counted only when the scenario's own record
      // says so (its check of the content type, an INFO naming JSON), not when it merely ran nothing.
      const polling = readdirSync(results).filter((d) => !before.has(d) && d.startsWith("server-server-sse-polling-"));
      expect(polling).toHaveLength(1);
      const checks = JSON.parse(readFileSync(join(results, polling[0]!, "checks.json"), "utf8")) as { id: string; status: string; details?: { contentType?: string } }[];
      const answeredJson = checks.some((c) => c.id === "server-sse-content-type" && c.status === "INFO" && (c.details?.contentType ?? "").startsWith("application/json"));
      const notApplicable = /server-sse-polling: 0 passed, 0 failed/.test(summary) && answeredJson ? 2 : 0;
      expect(Number(total![1]) + notApplicable).toBeGreaterThanOrEqual(45);
      expect(summary).not.toContain("✗");
    }, 300_000);
  }
});

describe("the 2026-07-28 requirements (conformance 0.2.0-alpha.12) through the gateway", () => {
  it("passes every scenario the suite scores", async () => {
    const summary = await suite(SUITE_2026, ["--url", gateway.mcpUrl("conformance-dual"), "--requirements", "2026-07-28"]);
    const [scored, unscored = ""] = summary.split(/Not scored for 2026-07-28/);
    const failing = [...scored!.matchAll(/✗ ([\w-]+):/g)].map((m) => m[1]!);
    const notScored = new Set([...unscored.matchAll(/✗ ([\w-]+) \((?:extension|pending)\)/g)].map((m) => m[1]!));
    expect(failing.filter((name) => !notScored.has(name)), summary).toEqual([]);
    // The scored scenarios did run: at least the stateless, MRTR and caching ones.
    for (const name of ["server-stateless", "input-required-result-basic-elicitation", "input-required-result-tampered-state", "caching", "http-header-validation"]) {
      expect(scored, summary).toContain(`✓ ${name}:`);
    }
  }, 300_000);
});
