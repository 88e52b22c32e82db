/**
 * A/B of one change to the gateway, as the fixes in docs/benchmarks.md were measured: two
 * snapshots of the working tree, one with `patch` reversed ("before") and one as it is ("after"),
 * each built and served by its own bench stack, both running, measured alternately so that other
 * work on the machine hits both alike. Prints the median per unit of work of wall time and of
 * workerd CPU time (from /proc).
 *
 *   node bench/ab.ts <patch|-> [rounds=4] [extra patch applied to "after" only]
 *
 * `-` compares the tree with itself plus the extra patch (for trying a change before making it).
 * AB_ONLY=call,stream,list runs only those kinds of work (tools/call, the stream, the 20-backend list).
 */
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Http, StreamableSession, since } from "./client.ts";
import { median } from "./load.ts";
import { cpuMs } from "./profile.ts";
import { startStack, type Stack } from "./stack.ts";

const [patch, roundsArg, extra] = process.argv.slice(2);
if (!patch) {
  console.error("usage: node bench/ab.ts <patch|-> [rounds] [extra patch for after]");
  process.exit(2);
}
const rounds = Number(roundsArg ?? 4);
const root = fileURLToPath(new URL("..", import.meta.url));

function snapshot(variant: "before" | "after"): string {
  const dir = mkdtempSync(join(tmpdir(), `ab-${variant}-`));
  for (const p of ["worker", "durable-objects", "migrations", "wrangler.toml", "package.json", "tsconfig.json"]) cpSync(join(root, p), join(dir, p), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  if (variant === "before" && patch !== "-") execFileSync("patch", ["-R", "-p1", "-s", "-i", patch!], { cwd: dir });
  if (variant === "after" && extra) execFileSync("patch", ["-p1", "-s", "-i", extra], { cwd: dir });
  return dir;
}

type Sessions = { open: StreamableSession; policy: StreamableSession; modern: StreamableSession; modernPolicy: StreamableSession };
const VARIANTS = ["before", "after"] as const;
const dirs = { before: snapshot("before"), after: snapshot("after") };
const stacks: Partial<Record<(typeof VARIANTS)[number], Stack>> = {};
const http = new Http();
const cpu: Record<string, Record<string, number[]>> = {};
const wall: Record<string, Record<string, number[]>> = {};
const record = (name: string, variant: string, ms: number, cpuPerUnit?: number): void => {
  ((wall[name] ??= {})[variant] ??= []).push(ms);
  if (cpuPerUnit !== undefined) ((cpu[name] ??= {})[variant] ??= []).push(cpuPerUnit);
};

try {
  for (const v of VARIANTS) stacks[v] = await startStack(() => {}, { observability: false, sourceRoot: dirs[v] });
  const sessions = {} as Record<(typeof VARIANTS)[number], Sessions>;
  for (const v of VARIANTS) {
    const open = stacks[v]!.tenant("echo", "open");
    const policy = stacks[v]!.tenant("echo", "policy");
    const modern = stacks[v]!.tenant("echom", "open");
    const modernPolicy = stacks[v]!.tenant("echom", "policy");
    sessions[v] = {
      open: new StreamableSession(http, open.url, open.headers),
      policy: new StreamableSession(http, policy.url, policy.headers),
      modern: new StreamableSession(http, modern.url, modern.headers, { modern: true }),
      modernPolicy: new StreamableSession(http, modernPolicy.url, modernPolicy.headers, { modern: true }),
    };
    for (const [name, s] of Object.entries(sessions[v])) {
      await s.initialize();
      const tool = name.startsWith("modern") ? "mbench__echo" : "bench__echo";
      for (let i = 0; i < 20; i++) await s.request("tools/call", { name: tool, arguments: { text: `warm ${i}` } });
    }
  }
  const work: [string, number, (s: Sessions) => Promise<unknown>][] = [
    ["tools/call, no policy", 100, async (s) => { for (let i = 0; i < 100; i++) await s.open.request("tools/call", { name: "bench__echo", arguments: { text: `x ${i} ${Math.random()}` } }); }],
    ["tools/call, policy", 100, async (s) => { for (let i = 0; i < 100; i++) await s.policy.request("tools/call", { name: "bench__echo", arguments: { text: `x ${i} ${Math.random()}` } }); }],
    ["tools/call, stateless, no policy", 100, async (s) => { for (let i = 0; i < 100; i++) await s.modern.request("tools/call", { name: "mbench__echo", arguments: { text: `x ${i} ${Math.random()}` } }); }],
    ["tools/call, stateless, policy", 100, async (s) => { for (let i = 0; i < 100; i++) await s.modernPolicy.request("tools/call", { name: "mbench__echo", arguments: { text: `x ${i} ${Math.random()}` } }); }],
    ["stream, per notification", 2000, (s) => s.open.request("tools/call", { name: "bench__stream", arguments: { count: 2000, size: 256 }, _meta: { progressToken: `p${Math.random()}` } })],
  ];
  const only = process.env.AB_ONLY ? new Set(process.env.AB_ONLY.split(",")) : null;
  const kindOf = (name: string): string => (name.startsWith("tools/call") ? "call" : name.startsWith("stream") ? "stream" : "list");
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? VARIANTS : ([...VARIANTS].reverse() as unknown as typeof VARIANTS);
    for (const [name, units, fn] of work) {
      if (only && !only.has(kindOf(name))) continue;
      for (const v of order) {
        const pids = stacks[v]!.pids.gatewayWorkerd;
        const c0 = pids.reduce((a, p) => a + cpuMs(p), 0);
        const t0 = process.hrtime.bigint();
        await fn(sessions[v]);
        record(name, v, since(t0) / units, (pids.reduce((a, p) => a + cpuMs(p), 0) - c0) / units);
      }
    }
    for (const v of only && !only.has("list") ? [] : order) {
      for (const mode of ["open", "policy"] as const) {
        const t = stacks[v]!.tenant("fan20", mode);
        const s = new StreamableSession(http, t.url, t.headers);
        await s.initialize();
        const t0 = process.hrtime.bigint();
        await s.request("tools/list", {});
        record(`tools/list over 20 backends, ${mode === "open" ? "no policy" : "policy"}`, v, since(t0));
        await s.close();
      }
    }
  }
  for (const [name, byVariant] of Object.entries(wall)) {
    const c = cpu[name];
    const cpuText = c ? `   workerd CPU ${median(c.before!).toFixed(3)} -> ${median(c.after!).toFixed(3)} ms (${((1 - median(c.after!) / median(c.before!)) * 100).toFixed(0)}% less)` : "";
    console.log(`${name.padEnd(40)} wall ${median(byVariant.before!).toFixed(3)} -> ${median(byVariant.after!).toFixed(3)} ms${cpuText}`);
  }
} finally {
  http.close();
  for (const s of Object.values(stacks)) {
    await s.stop();
    s.cleanup();
  }
  for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
}
