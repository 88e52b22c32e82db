/**
 * `npm run bench`: starts everything on 127.0.0.1 (bench backends; the gateway and the floor
 * Workers on the lean runtime, workerd through Miniflare's API with no dev server in front
 * (bench/runtime.ts); the floor once more on bare workerd; the gateway and the floor under
 * `wrangler dev` for the second table; the peer mcp-hub), runs each scenario's bounded loads,
 * stops everything, and writes bench/results/latest.json and docs/benchmarks.md (with SVG charts
 * in docs/benchmarks/). The summary holds the targets of issue 13; every run ends by printing one
 * `met` / `MISSED` line per target.
 *
 *   npm run bench                     the full run (about 15 minutes on 2 cores)
 *   npm run bench -- --quick          a sanity pass (about 4 minutes); writes bench/results/quick.tmp only
 *   npm run bench -- --only echo,init  some scenarios (echo, saturation, profile, fanout, stream, init, agent, idle, bundle)
 *   npm run bench -- --no-dev          skip the `wrangler dev` runtime (no second table; faster)
 *   npm run bench -- --observability   keep wrangler.toml's [observability] on under `wrangler dev` (see docs)
 *   npm run bench -- --no-wait         do not wait for the machine to be quiet before starting
 *   npm run bench -- --only idle --merge   re-run some scenarios into bench/results/latest.json and the report
 *   npm run bench -- --render          rewrite docs/benchmarks.md from bench/results/latest.json, running nothing
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { backgroundCores, cpuSnapshot, machineFacts } from "./machine.ts";
import { renderReport } from "./report.ts";
import * as scenarios from "./scenarios.ts";
import { sleep } from "./load.ts";
import { startStack, type Stack } from "./stack.ts";

const ALL = ["echo", "saturation", "profile", "fanout", "stream", "init", "agent", "idle", "bundle"] as const;
type ScenarioId = (typeof ALL)[number];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    observability: { type: "boolean", default: false },
    "no-wait": { type: "boolean", default: false },
    "no-dev": { type: "boolean", default: false },
    out: { type: "string" },
    docs: { type: "string" },
    merge: { type: "boolean", default: false },
    render: { type: "boolean", default: false },
  },
});

const quick = values.quick;
const only = new Set<ScenarioId>(values.only ? (values.only.split(",").map((s) => s.trim()) as ScenarioId[]) : ALL);
for (const id of only) if (!ALL.includes(id)) throw new Error(`unknown scenario ${id}; known: ${ALL.join(", ")}`);
const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const outJson = values.out ?? join(repoRoot, "bench", "results", quick ? "quick.tmp" : "latest.json");
// The committed report is written by full runs of every scenario only (or when asked).
const outDocs = values.docs ?? (!quick && (!values.only || values.merge) ? join(repoRoot, "docs", "benchmarks.md") : null);
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;

/** The report and its charts from a results file. */
function writeDocs(report: Record<string, unknown>, to: string): void {
  const files = renderReport(report);
  // The charts go beside the report (docs/benchmarks/ for docs/benchmarks.md), which links them.
  const charts = join(dirname(to), "benchmarks");
  mkdirSync(charts, { recursive: true });
  for (const [name, text] of Object.entries(files.charts)) writeFileSync(join(charts, name), text);
  writeFileSync(to, files.markdown);
  process.stdout.write(`wrote ${to}\n`);
}

if (values.render) {
  // Prose or charts changed in bench/report.ts: the same figures, written again.
  writeDocs(JSON.parse(readFileSync(outJson, "utf8")) as Record<string, unknown>, values.docs ?? join(repoRoot, "docs", "benchmarks.md"));
  process.exit(0);
}

/** A hard stop for the whole run: every loop is bounded, this bounds their sum. */
const RUN_LIMIT_MS = (quick ? 8 : 30) * 60_000;
/** No scenario starts after this much time; the ones left are reported as skipped. */
const START_LIMIT_MS = (quick ? 5 : 20) * 60_000;

const started = Date.now();
const log = (line: string): void => {
  process.stdout.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
};

let stack: Stack | null = null;
let stopping = false;
async function shutdown(code: number, why?: string): Promise<never> {
  if (why) log(why);
  if (!stopping) {
    stopping = true;
    await stack?.stop().catch(() => {});
    stack?.cleanup();
  }
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(130, "interrupted"));
process.on("SIGTERM", () => void shutdown(143, "terminated"));
const watchdog = setTimeout(() => void shutdown(1, `run limit of ${RUN_LIMIT_MS / 60_000} min reached; stopping`), RUN_LIMIT_MS);
watchdog.unref();

/** Waits (bounded) until other work on the machine uses less than `maxCores`. */
async function waitForQuiet(maxCores: number, limitMs: number): Promise<number> {
  const until = Date.now() + limitMs;
  for (;;) {
    const a = cpuSnapshot([]);
    await sleep(2_000);
    const busy = backgroundCores(a, cpuSnapshot([]));
    if (busy <= maxCores || Date.now() > until) return busy;
    log(`machine busy with other work (${busy.toFixed(2)} cores); waiting`);
  }
}

const settings = scenarios.settings(quick);
const results: Record<string, unknown> = {};
const background: Record<string, number> = {};
const work = mkdtempSync(join(tmpdir(), "bench-work-"));
try {
  const quiet = values["no-wait"] ? null : await waitForQuiet(0.3, quick ? 20_000 : 120_000);
  stack = await startStack(log, { observability: values.observability, dev: !values["no-dev"] });
  const s = stack;
  const skipped: string[] = [];
  const run = async <T>(id: ScenarioId, title: string, fn: () => Promise<T>): Promise<void> => {
    if (!only.has(id)) return;
    if (Date.now() - started > START_LIMIT_MS) {
      skipped.push(id);
      log(`${title}: skipped, the run is past ${START_LIMIT_MS / 60_000} minutes`);
      return;
    }
    log(title);
    const a = cpuSnapshot(s.pids.groups);
    results[id] = await fn();
    background[id] = backgroundCores(a, cpuSnapshot(s.pids.groups));
  };
  await run("bundle", "bundle: size and start-up", () => scenarios.bundle(s, settings, log, work));
  await run("echo", "tools/call echo at a fixed rate", () => scenarios.echoAtRate(s, settings, log));
  await run("saturation", "tools/call at saturation", () => scenarios.saturation(s, settings, log));
  await run("profile", "where the gateway's CPU per call goes (V8 profile)", () => scenarios.profileCalls(s, settings, log));
  await run("fanout", "tools/list fan-out", () => scenarios.fanout(s, settings, log));
  await run("stream", "a call streaming progress notifications", () => scenarios.streaming(s, settings, log));
  await run("init", "initialize with 3 backends", () => scenarios.initialize(s, settings, log));
  await run("agent", "a 10-step agent loop, tools taking tens of milliseconds", () => scenarios.agentLoop(s, settings, log));
  let idle: Awaited<ReturnType<typeof scenarios.idleSessions>> | null = null;
  await run("idle", "idle sessions", async () => (idle = await scenarios.idleSessions(s, settings, log)));
  log("stopping");
  await s.stop();
  if (idle) {
    const i: Awaited<ReturnType<typeof scenarios.idleSessions>> = idle;
    // At rest: workerd has closed (and checkpointed) every database.
    const atRest = scenarios.measureSessionFiles(i.dir, i.before, 200);
    const { before: _before, dir: _dir, ...rest } = i;
    results.idle = { ...rest, atRest };
    log(`  idle sessions at rest: ${(atRest.bytes / Math.max(1, atRest.files) / 1024).toFixed(1)} KiB per session on disk`);
  }
  // --merge: the scenarios of this run replace theirs in the previous results; the rest stay.
  const previous = values.merge && existsSync(outJson) ? (JSON.parse(readFileSync(outJson, "utf8")) as { meta: Record<string, unknown>; results: Record<string, unknown> }) : null;
  if (previous) {
    for (const [id, value] of Object.entries(previous.results)) if (!(id in results)) results[id] = value;
    const before = (previous.meta.backgroundCores ?? {}) as Record<string, number>;
    for (const [id, value] of Object.entries(before)) if (!(id in background)) background[id] = value;
  }
  const report = {
    meta: {
      // The full run a merge went into, and every re-run since, in order.
      ...(previous
        ? {
            mergedInto: previous.meta.mergedInto ?? {
              date: previous.meta.date,
              command: previous.meta.command,
              durationSeconds: previous.meta.durationSeconds,
              commit: (previous.meta.machine as { commit?: string } | undefined)?.commit,
            },
            reruns: [...((previous.meta.reruns as unknown[] | undefined) ?? []), { scenarios: [...only], command, date: new Date().toISOString(), commit: machineFacts().commit }],
          }
        : {}),
      date: new Date().toISOString(),
      command,
      quick,
      // Where the load scenarios ran: "lean" (bench/runtime.ts) with `wrangler dev` beside it
      // ("dev": true) for the second table. Results without this field were measured under
      // `wrangler dev` alone.
      runtime: "lean",
      dev: !values["no-dev"],
      scenarios: ALL.filter((id) => results[id] !== undefined),
      skipped,
      observability: values.observability,
      durationSeconds: Math.round((Date.now() - started) / 1000),
      machine: machineFacts(),
      backgroundCoresBeforeStart: quiet,
      backgroundCores: background,
      settings,
    },
    results,
  };
  mkdirSync(join(repoRoot, "bench", "results"), { recursive: true });
  writeFileSync(outJson, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${outJson}`);
  if (outDocs) writeDocs(report, outDocs);
  log(`targets of issue 13${quick ? " (a quick run: one short run per target; indicative figures)" : ""}:`);
  for (const line of renderReport(report).verdicts) log(line);
} catch (error) {
  log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  await stack?.stop().catch(() => {});
  stack?.cleanup();
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
}
stack.cleanup();
rmSync(work, { recursive: true, force: true });
clearTimeout(watchdog);
process.exit(0);
