/**
 * Where the gateway's CPU goes: starts a bench stack, samples the gateway isolate with the V8
 * profiler (over the inspector port of the lean runtime's workerd, bench/runtime.ts) while one session sends
 * `tools/call echo` (or streams notifications, or lists 20 backends, or calls echo as a
 * 2026-07-28 client of a 2026-07-28 backend: "modern"), and prints functions by inclusive and by
 * self time per unit of work. The profiler slows JavaScript: read shares.
 *
 *   node bench/hotspots.ts [call|stream|fanout|modern] [open|policy] [units]
 */
import { Http, StreamableSession } from "./client.ts";
import { cpuMs, findInspector, profileDuring, sourceResolver, summarize } from "./profile.ts";
import { startStack } from "./stack.ts";

const kind = (process.argv[2] ?? "call") as "call" | "stream" | "fanout" | "modern";
const mode = (process.argv[3] ?? "open") as "open" | "policy";
const units = Number(process.argv[4] ?? (kind === "call" || kind === "modern" ? 300 : kind === "stream" ? 5000 : 20));
const echo = kind === "modern" ? "mbench__echo" : "bench__echo";
const TARGET = "core:user:edge-mcp-gateway";

const stack = await startStack(() => {});
const http = new Http();
try {
  const pids = stack.pids.gatewayWorkerd;
  const port = await findInspector(pids, TARGET);
  if (port === null) throw new Error("no inspector lists the gateway");
  const tenant = stack.tenant(kind === "fanout" ? "fan20" : kind === "modern" ? "echom" : "echo", mode);
  const session = new StreamableSession(http, tenant.url, tenant.headers, { modern: kind === "modern" });
  await session.initialize();
  for (let i = 0; i < 20; i++) await session.request("tools/call", { name: echo, arguments: { text: `warm ${i}` } }).catch(() => {});
  const cpu0 = pids.reduce((a, p) => a + cpuMs(p), 0);
  const { profiles } = await profileDuring(port, [TARGET], async () => {
    if (kind === "stream") {
      await session.request("tools/call", { name: "bench__stream", arguments: { count: units, size: 256 }, _meta: { progressToken: "hotspots" } });
      return;
    }
    for (let i = 0; i < units; i++) {
      if (kind === "call" || kind === "modern") {
        await session.request("tools/call", { name: echo, arguments: { text: `call ${i} ${Math.random()}` } });
      } else {
        const fresh = new StreamableSession(http, tenant.url, tenant.headers);
        await fresh.initialize();
        await fresh.request("tools/list", {});
        await fresh.close();
      }
    }
  }, 1000);
  const cpu = (pids.reduce((a, p) => a + cpuMs(p), 0) - cpu0) / units;
  const sum = summarize("gateway", profiles[TARGET]!, 30, sourceResolver(stack.bundle.file, stack.sourceRoot));
  console.log(`${kind}, ${mode}: workerd CPU ${cpu.toFixed(3)} ms per unit (profiled); isolate active ${(sum.activeMs / units).toFixed(3)} ms per unit`);
  console.log("\ninclusive ms per unit");
  for (const f of sum.inclusive) console.log(`${(f.totalMs / units).toFixed(3).padStart(9)}  ${f.fn}`);
  console.log("\nself ms per unit");
  for (const f of sum.top) console.log(`${(f.selfMs / units).toFixed(3).padStart(9)}  ${f.fn}`);
} finally {
  http.close();
  await stack.stop();
  stack.cleanup();
}
