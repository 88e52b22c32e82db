import { startDemoBackend } from "../support/processes.ts";
import { startGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner } from "../support/auth.ts";
import { McpClient } from "./client.ts";
import { workerdPids, rssMiB } from "./soak.ts";

const mode = process.argv[2] ?? "ping";
const weather = await startDemoBackend("weather");
const gateway = await startGateway();
const signer = await testSigner();
const url = gateway.mcpUrl("m");
await gateway.putTenant({ id: "m", backends: [{ name: "weather", url: weather.url }], auth: jwtAuth(signer, url) });
const pids = workerdPids(gateway.pid);
console.log("pids", pids);
const c = new McpClient(url, await signer.token({ sub: "x", audience: url, ttlSeconds: 3600 }));
await c.initialize();
const t0 = Date.now();
const line = () => console.log(`${((Date.now() - t0) / 1000).toFixed(0)}s rss ${pids.map((p) => rssMiB([p])).join(" + ")}`);
import { readFileSync } from "node:fs";
for (const p of pids) console.log(p, readFileSync(`/proc/${p}/cmdline`, "utf8").replaceAll("\0", " ").slice(0, 300));
line();
for (let round = 0; round < 8; round++) {
  const tasks = Array.from({ length: 10 }, async () => {
    for (let i = 0; i < 100; i++) {
      if (mode === "ping") await c.request({ jsonrpc: "2.0", id: i, method: "ping" });
      else if (mode === "list") await c.request({ jsonrpc: "2.0", id: i, method: "tools/list" });
      else if (mode === "call") await c.request({ jsonrpc: "2.0", id: i, method: "tools/call", params: { name: "weather__get_alerts", arguments: { region: "x" } } });
      else if (mode === "healthz") await (await fetch(`${gateway.origin}/healthz`)).text();
    }
  });
  await Promise.all(tasks);
  line();
}
await new Promise((r) => setTimeout(r, 10000));
line();
await gateway.stop(); await weather.stop();
