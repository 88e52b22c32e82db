/**
 * `npm run bench:catalog`: what search mode buys and costs (issue 16, docs/catalog.md), through
 * a real gateway (`wrangler dev`, test/support/gateway.ts) in front of 22 real MCP backends
 * serving the 220 tools of test/fixtures/catalog200.ts (SDK McpServers in this process, one port
 * each, examples/shared/http.ts), with the v1 SDK client (2025-11-25):
 *
 * 1. the `tools/list` result in bytes (UTF-8 of its JSON) and estimated tokens (characters / 4,
 *    the usual rule of thumb for English and JSON; no tokenizer is run) in mode full and search;
 * 2. search quality: each of the fixed queries through `search_tools` (limit 5), the share whose
 *    intended tool comes first, in the top 3 and in the top 5 (the target: top 5 for >= 90%);
 * 3. latency: the same tool called directly and through `call_tool`, alternating on one session,
 *    and `search_tools` itself; median and p95 in ms.
 *
 *   npm run bench:catalog                  the run (about a minute); writes bench/results/catalog.json
 *   npm run bench:catalog -- --calls 50    fewer calls per path (default 200)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { startHttpBackend, type HttpBackend } from "../examples/shared/http.ts";
import { startGateway, type RunningGateway } from "../test/support/gateway.ts";
import { catalogTools, QUERIES } from "../test/fixtures/catalog200.ts";

const { values } = parseArgs({ options: { calls: { type: "string", default: "200" }, out: { type: "string" } } });
const CALLS = Number(values.calls);
const WARMUP = 20;
const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const outJson = values.out ?? join(repoRoot, "bench", "results", "catalog.json");

/** One backend of the catalog: lists its tools, and answers any call with a short text. */
function backendServer(tools: ReturnType<typeof catalogTools>[string]): McpServer {
  const server = new McpServer({ name: "catalog-bench", version: "1.0.0" }, { capabilities: { tools: {} } });
  server.server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
  server.server.setRequestHandler(CallToolRequestSchema, async (request) => ({ content: [{ type: "text", text: `ran ${request.params.name}` }] }));
  return server;
}

function stats(samples: number[]): { median: number; p95: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const round = (n: number) => Math.round(n * 100) / 100;
  return { median: round(at(0.5)), p95: round(at(0.95)), mean: round(samples.reduce((a, b) => a + b, 0) / samples.length) };
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

async function main(): Promise<void> {
  const catalog = catalogTools();
  const servers: HttpBackend[] = [];
  let gateway: RunningGateway | undefined;
  const clients: Client[] = [];
  try {
    for (const [name, tools] of Object.entries(catalog)) servers.push(await startHttpBackend({ name, port: 0, createServer: () => backendServer(tools) }));
    gateway = await startGateway();
    const backends = Object.keys(catalog).map((name, i) => ({ name, url: servers[i]!.url }));
    const connect = async (mode: "full" | "search"): Promise<Client> => {
      const id = `bench-catalog-${mode}`;
      await gateway!.putTenant({ id, backends, auth: { anonymous: true }, catalog: { mode } });
      const client = new Client({ name: "bench-catalog", version: "1" });
      await client.connect(new StreamableHTTPClientTransport(new URL(gateway!.mcpUrl(id))));
      clients.push(client);
      return client;
    };
    const [full, search] = [await connect("full"), await connect("search")];

    // 1. The list, as the client receives it (every page).
    const listOf = async (client: Client) => {
      const tools: unknown[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor });
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      const json = JSON.stringify({ tools });
      return { tools: tools.length, bytes: Buffer.byteLength(json, "utf8"), estimatedTokens: Math.round(json.length / 4) };
    };
    const lists = { full: await listOf(full), search: await listOf(search) };

    // 2. Search quality, through search_tools.
    const ranks: number[] = [];
    const missed: string[] = [];
    for (const [query, intended] of QUERIES) {
      const result = await search.callTool({ name: "search_tools", arguments: { query, limit: 5 } });
      const names = (result.structuredContent as { tools: { name: string }[] }).tools.map((t) => t.name);
      const rank = names.indexOf(intended);
      ranks.push(rank);
      if (rank < 0) missed.push(`${query} -> ${names.slice(0, 3).join(", ")}`);
    }
    const share = (within: number) => Math.round((ranks.filter((r) => r >= 0 && r < within).length / ranks.length) * 1000) / 10;
    const quality = { queries: QUERIES.length, top1Pct: share(1), top3Pct: share(3), top5Pct: share(5), missed };

    // 3. Latency: one tool, directly and through call_tool, alternating on the search session.
    const args = { owner: "acme", repo: "gateway", state: "open" };
    const direct = () => search.callTool({ name: "github__list_issues", arguments: args });
    const wrapped = () => search.callTool({ name: "call_tool", arguments: { name: "github__list_issues", arguments: args } });
    const searching = () => search.callTool({ name: "search_tools", arguments: { query: "list open issues of a repository" } });
    for (let i = 0; i < WARMUP; i++) await Promise.all([direct(), wrapped(), searching()]);
    const samples = { direct: [] as number[], callTool: [] as number[], searchTools: [] as number[] };
    for (let i = 0; i < CALLS; i++) {
      // Alternate which goes first, so neither path always pays for the other's leftovers.
      if (i % 2 === 0) {
        samples.direct.push(await timed(direct));
        samples.callTool.push(await timed(wrapped));
      } else {
        samples.callTool.push(await timed(wrapped));
        samples.direct.push(await timed(direct));
      }
      samples.searchTools.push(await timed(searching));
    }
    const latency = { calls: CALLS, direct: stats(samples.direct), callTool: stats(samples.callTool), searchTools: stats(samples.searchTools) };
    const addedMedianMs = Math.round((latency.callTool.median - latency.direct.median) * 100) / 100;

    const report = { at: new Date().toISOString(), backends: backends.length, lists, quality, latency: { ...latency, addedMedianMs } };
    mkdirSync(dirname(outJson), { recursive: true });
    writeFileSync(outJson, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`tools/list, ${backends.length} backends:`);
    for (const mode of ["full", "search"] as const) console.log(`  ${mode.padEnd(6)} ${lists[mode].tools} tools, ${lists[mode].bytes} bytes, ~${lists[mode].estimatedTokens} tokens (chars/4)`);
    console.log(`search_tools over ${quality.queries} queries: top 1 ${quality.top1Pct}%, top 3 ${quality.top3Pct}%, top 5 ${quality.top5Pct}% ${quality.top5Pct >= 90 ? "met" : "MISSED"} (target >= 90%)`);
    for (const m of missed) console.log(`  missed: ${m}`);
    console.log(`latency over ${CALLS} calls each (ms): direct ${JSON.stringify(latency.direct)}, call_tool ${JSON.stringify(latency.callTool)}, search_tools ${JSON.stringify(latency.searchTools)}`);
    console.log(`call_tool adds ${addedMedianMs} ms at the median; wrote ${outJson}`);
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gateway?.stop();
    await Promise.allSettled(servers.map((s) => s.close()));
  }
}

await main();
