/**
 * Renders docs/benchmarks.md and its charts from a results document (bench/results/latest.json).
 * Numbers come only from the results; the prose around them says how they were measured and
 * what they mean.
 */
import { readFileSync } from "node:fs";
import { barChart, lineChart } from "./svg.ts";
import { TARGET_LABELS, type TargetId } from "./scenarios.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Rendered {
  markdown: string;
  charts: Record<string, string>;
  verdicts: string[];
}

/**
 * The targets of issue 13 ("Performance: the gateway's own cost close to the runtime's floor"),
 * held against the lean runtime, every ratio between targets measured side by side in one run:
 * the floor is the null-proxy Worker on the same runtime, the peer mcp-hub.
 */
const TARGETS = {
  /** tools/call added p50 over direct, no policy, as a multiple of the floor's added p50. */
  addedOverFloorStateless: 2,
  addedOverFloorSession: 2.5,
  /** JWT + policy, either path. */
  addedOverFloorPolicy: 3,
  /** Added p50 over the peer's added p50, no policy, both paths; the stretch goal. */
  addedOverPeer: 1,
  addedOverPeerStretch: 0.5,
  /** Saturation throughput over the floor's, no policy. */
  saturationOverFloor: 0.5,
  /** workerd CPU per call over the floor's, no policy. */
  cpuOverFloor: 2,
  /** tools/list over 20 backends (policy tenant), initialize with 3 backends: over the slowest backend. */
  fanout20Ratio: 1.3,
  initRatio: 1.3,
  /** The 10,000-notification stream's duration over the floor's. */
  streamOverFloor: 3,
  // The project's own earlier targets, still reported.
  idleBytes: 4096,
  bundleGzipKiB: 512,
};

function ms(v: number | undefined, digits = 2): string {
  if (v === undefined || !Number.isFinite(v)) return "–";
  return `${v.toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : digits)} ms`;
}

function num(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

function verdict(pass: boolean | null): string {
  return pass === null ? "not measured" : pass ? "✅ met" : "❌ missed";
}

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]): string => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** A target's label; those under `wrangler dev` say so (charts and prose mix both runtimes). */
function label(id: string): string {
  const text = TARGET_LABELS[id as TargetId] ?? id;
  return id.startsWith("dev-") ? `${text} (wrangler dev)` : text;
}

/** The label inside a table of one runtime. */
function rowLabel(id: string): string {
  return TARGET_LABELS[id as TargetId] ?? id;
}

const isDev = (id: string): boolean => id.startsWith("dev-");

export function renderReport(report: Json): Rendered {
  const { meta, results } = report as { meta: Json; results: Json };
  const verdicts: string[] = [];
  const charts: Record<string, string> = {};
  const summaryRows: string[][] = [];
  const otherRows: string[][] = [];
  const sections: string[] = [];
  let echoBreakdown = "";
  let agentLine = "";
  const lean = meta.runtime === "lean";
  /** What the first tables measured: the lean runtime, or (results from before it) `wrangler dev`. */
  const leanTitle = lean ? "On the lean runtime" : "Under `wrangler dev` (results measured before the lean runtime)";
  const devTitle = "Under `wrangler dev` (the same bundle, behind the dev server)";
  const bg = (id: string): string => (meta.backgroundCores?.[id] === undefined ? "" : ` Other work on the machine during this scenario: ${num(meta.backgroundCores[id], 2)} cores on average.`);
  /** One target of issue 13: a summary row and a `met` / `MISSED` line; `pass` null when its scenario did not run. */
  const target = (what: string, measured: string, goal: string, pass: boolean | null, why = ""): void => {
    summaryRows.push([what, measured, goal, verdict(pass), why]);
    verdicts.push(`${pass === null ? "skip  " : pass ? "met   " : "MISSED"} ${what}: ${measured} (target ${goal})${why ? `; ${why}` : ""}`);
  };
  /** The project's other targets (idle storage, bundle size), after issue 13's. */
  const otherVerdicts: string[] = [];
  const check = (scenario: string, what: string, measured: string, goal: string, pass: boolean): void => {
    otherRows.push([scenario, what, measured, goal, verdict(pass)]);
    otherVerdicts.push(`${pass ? "met   " : "MISSED"} ${scenario}: ${what}: ${measured} (target ${goal}; not an issue 13 target)`);
  };

  // --- echo ---
  const echo = results.echo as Json | undefined;
  if (echo) {
    const s = echo.summary as Record<string, Json>;
    const p = echo.params as Json;
    charts["echo.svg"] = barChart({
      title: `tools/call echo at ${p.ratePerSec} req/s: median latency (median of ${p.runs} runs)`,
      unit: "ms",
      series: ["p50"],
      rows: Object.keys(s).map((t) => [label(t), [s[t]!.p50]]),
    });
    const leanIds = Object.keys(s).filter((t) => !isDev(t));
    const devIds = Object.keys(s).filter(isDev);
    const overFloor = (t: string): number => (s[t]!.addedP50OverFloor as number | undefined) ?? (s[t]!.addedP50 as number) / (s[isDev(t) ? "dev-floor" : "floor"]?.addedP50 as number);
    const echoTable = (ids: string[]): string =>
      table(
        ["target", "p50", "p99", "added p50", "added p99", "added p50 / floor's", "errors"],
        ids.map((t) => [
          rowLabel(t),
          ms(s[t]!.p50),
          ms(s[t]!.p99),
          t === "direct" ? "–" : ms(s[t]!.addedP50),
          t === "direct" ? "–" : ms(s[t]!.addedP99),
          t === "direct" ? "–" : `${num(overFloor(t))}×`,
          s[t]!.errors,
        ]),
      );
    const a = (t: string): number => (s[t]?.addedP50 as number | undefined) ?? Number.NaN;
    echoBreakdown = `Where the added median goes ${lean ? "on the lean runtime" : "(under `wrangler dev`)"} (differences between the targets' added p50s): ${
      s["floor-bare"] ? `${ms(a("floor-bare"))} to get a request into a Worker on bare workerd and out again at all; ${ms(a("floor") - a("floor-bare"))} more for what Miniflare still puts on the path (its outbound Worker behind every \`fetch\`), so the null-proxy floor adds ${ms(a("floor"))}` : `${ms(a("floor"))} for the null-proxy floor`
    };
${ms(a("floor-do") - a("floor"))} more for a Durable Object hop with one SQLite write (floor-do); ${ms(a("gateway-open") - a("floor-do"))} more for the gateway's own
work on the session path (tenant lookup, session object, policy, id mapping, the reply, the audit row, logs), and
${ms(a("modern-open") - a("floor"))} over the null proxy for its own work on the stateless 2026-07-28 path (no Durable Object); JWT verification, the rate
limiters, the CEL rules and redaction add ${ms(a("gateway-policy") - a("gateway-open"))} on the session path and ${ms(a("modern-policy") - a("modern-open"))} on the stateless one.${
      s["dev-floor"]
        ? ` Under \`wrangler dev\` the same null proxy adds ${ms(a("dev-floor"))}, ${ms(a("dev-floor") - a("floor"))} more than on the lean runtime: the dev
server's proxy Worker in a second workerd, its inspector relay and Miniflare's entry Worker; the gateway without policy adds
${ms(a("dev-gateway-open"))} there (session path) and ${ms(a("dev-modern-open"))} (stateless).`
        : ""
    }`;
    sections.push(`## 1. tools/call echo at a fixed moderate rate

One client session per target sends \`tools/call echo\` with a distinct ~256-byte text per request, open loop at
${p.ratePerSec} requests/s (a request leaves on schedule whether or not earlier ones have answered; latency counts
from the scheduled time), ${p.count} requests per target and run after ${p.warmup} warm-up calls, ${p.runs} run(s).${
      p.rounds > 1
        ? ` Each run sends its requests in ${p.rounds} slices, every target in turn and in rotating order per slice, so a spell of
other work on the machine falls on all targets alike.`
        : " Targets in rotating order."
    } "Added" is the target's percentile minus direct's in the same run, then the median over runs; "/ floor's"
is the target's added p50 over the null-proxy floor's on the same runtime, per run, then the median.${bg("echo")}

### ${leanTitle}

${echoTable(leanIds)}
${
  devIds.length > 0
    ? `
### ${devTitle}

Measured in the same runs, interleaved with the targets above (their "direct" is the same).

${echoTable(devIds)}
`
    : ""
}
![echo latency](benchmarks/echo.svg)
`);
  }

  // --- saturation ---
  const sat = results.saturation as Json | undefined;
  if (sat) {
    const s = sat.summary as Record<string, Json>;
    const p = sat.params as Json;
    const parts = ["client", "backend", "workerd", "host", "peer"];
    charts["saturation.svg"] = barChart({
      title: `CPU time per tools/call at saturation, by process (median of ${p.runs} runs)`,
      unit: "ms",
      series: parts,
      rows: Object.keys(s).map((t) => [label(t), parts.map((k) => (s[t]!.cpuMsPerRequest as Record<string, number>)[k] ?? 0)]),
    });
    const floorOf = (t: string): string => (isDev(t) ? "dev-floor" : "floor");
    const satTable = (ids: string[]): string =>
      table(
        ["target", "requests/s", "/ direct", "/ floor", "p50", "p99", "errors", "CPU ms per request", "workerd CPU / floor's"],
        ids.map((t) => [
          rowLabel(t),
          num(s[t]!.rps, 0),
          num(s[t]!.ratio),
          t === "direct" || t === "peer" ? "–" : num((s[t]!.ratioFloor as number | undefined) ?? (s[t]!.rps as number) / (s[floorOf(t)]?.rps as number)),
          ms(s[t]!.p50),
          ms(s[t]!.p99),
          s[t]!.errors,
          Object.entries(s[t]!.cpuMsPerRequest as Record<string, number>)
            .map(([k, v]) => `${k} ${num(v)}`)
            .join(", "),
          s[t]!.workerdCpuOverFloor === undefined || t === "direct" || t === "peer" ? "–" : `${num(s[t]!.workerdCpuOverFloor)}×`,
        ]),
      );
    const devIds = Object.keys(s).filter(isDev);
    sections.push(`## 2. tools/call at saturation

${p.workers} client sessions per target, each sending its next \`tools/call echo\` as soon as the previous one answered,
for ${p.durationMs / 1000} s after a 1 s warm-up, ${p.runs} run(s). CPU per request is the CPU time (user + system, from
/proc) each process used during the run divided by the requests answered: "workerd" is the runtime serving the Worker
(all its workerd processes), "host" the Node process driving it (Miniflare's on the lean runtime, which receives the
Worker's log lines; wrangler's under \`wrangler dev\`), "client" this benchmark's own load client. "/ floor" and
"workerd CPU / floor's" are against the null-proxy floor on the same runtime, per run, then the median.${bg("saturation")}

### ${leanTitle}

${satTable(Object.keys(s).filter((t) => !isDev(t)))}
${
  devIds.length > 0
    ? `
### ${devTitle}

${satTable(devIds)}
`
    : ""
}
![CPU per request](benchmarks/saturation.svg)

Throughput at saturation is CPU per request turned upside down: with the client, the backend and workerd sharing
${meta.machine.cores} cores, a target serves about as many requests per second as its busiest process has CPU for.
workerd runs every isolate of a Worker (the Worker, its Durable Objects, and locally Miniflare's KV and D1 simulators)
on one thread, so the gateway's ceiling here is 1000 ms divided by its workerd CPU per request.
`);
  }

  // --- the profile behind the CPU figures ---
  const prof = results.profile as Json | undefined;
  if (prof) {
    const paths = prof.paths as Record<string, Json>;
    const name = (path: string): string => (path === "session" ? "legacy session path" : "stateless 2026-07-28 path");
    sections.push(`### Where the gateway's CPU per call goes

The V8 profiler sampled the gateway isolate (its Worker and its Durable Objects run in it) every ${prof.params.samplingUs / 1000} ms
while one session sent ${prof.params.calls} \`tools/call echo\` one after another without policy; functions are named by
their source file and line through the bundle's source map. The profiler slows JavaScript down, so the figures
per call are larger than the saturation table's: read them as shares. "Inclusive" counts a function with everything
it called; "self" only its own code.

${Object.entries(paths)
  .map(
    ([path, p]) => `**${name(path)}**: workerd CPU ${num(p.workerdCpuMsPerCall)} ms per call under the profiler, isolate active ${num(p.activeMsPerCall)} ms
(garbage collection ${num(p.gcMsPerCall)} ms).

${table(
  ["inclusive, ms per call", "function", "self, ms per call", "function"],
  Array.from({ length: Math.max((p.inclusive as Json[]).length, (p.self as Json[]).length) }, (_, i) => {
    const inc = (p.inclusive as Json[])[i];
    const self = (p.self as Json[])[i];
    return [inc ? num(inc.ms, 3) : "", inc ? `\`${inc.fn}\`` : "", self ? num(self.ms, 3) : "", self ? `\`${self.fn}\`` : ""];
  }),
)}
`,
  )
  .join("\n")}`);
  }

  // --- fan-out ---
  const fan = results.fanout as Json | undefined;
  if (fan) {
    const s = fan.summary as Record<string, Json>;
    const sizes = Object.keys(s).map(Number);
    charts["fanout.svg"] = lineChart({
      title: `tools/list over N backends, each answering after ${fan.params.listDelayMs} ms (median)`,
      xLabel: "backends",
      yLabel: "ms",
      series: [
        { name: "slowest backend, direct", points: sizes.map((n) => [n, s[String(n)]!.directSlowest]) },
        { name: "gateway, no policy", points: sizes.map((n) => [n, s[String(n)]!.gatewayOpen]) },
        { name: "gateway, JWT + policy", points: sizes.map((n) => [n, s[String(n)]!.gatewayPolicy]) },
        { name: "model: 6 connections", points: sizes.map((n) => [n, s[String(n)]!.modelProductionMs]), dashed: true },
      ],
    });
    sections.push(`## 3. tools/list over 1, 5, 10 and 20 backends

Each backend (bench/backend.ts) answers \`tools/list\` after ${fan.params.listDelayMs} ms with 10 tools. Direct: the client
opens a session with every backend and sends them all \`tools/list\` at once; "slowest backend" is the slowest of those
answers (one HTTP exchange plus the delay). Gateway: a fresh session per measurement (the gateway caches lists per
session), then one \`tools/list\`, timed; the gateway fans out to every backend and merges. ${fan.params.reps}
measurements per size and way, ways in rotating order.${bg("fanout")}

${table(
  ["backends", "slowest backend (direct)", "all, direct", "gateway, no policy", "/ slowest", "gateway, policy", "/ slowest", "p90 no policy / policy", "tools listed"],
  Object.entries(s).map(([n, row]) => [
    n,
    ms(row.directSlowest),
    ms(row.directTotal),
    ms(row.gatewayOpen),
    num(row.ratioOpen),
    ms(row.gatewayPolicy),
    num(row.ratioPolicy),
    `${ms(row.gatewayOpenP90)} / ${ms(row.gatewayPolicyP90)}`,
    String(fan.raw[n]?.tools?.["gateway-open"] ?? "–"),
  ]),
)}

![fan-out](benchmarks/fanout.svg)

The fan-out is concurrent: answered one after another, ${Math.max(...Object.keys(s).map(Number))} backends would take at
least ${Math.max(...Object.keys(s).map(Number)) * fan.params.listDelayMs} ms, and the gateway answers in
${ms(s[String(Math.max(...Object.keys(s).map(Number)))]!.gatewayOpen)} without policy. What grows with the number of
backends is the gateway's own CPU per backend (one more upstream exchange to parse, a list to merge and name, and
with the policy tenant each tool definition hashed and pinned), spent on workerd's one thread after the answers
arrive. The dashed line is the production model for six connections per invocation (see "Local figures and the
platform's limits").
`);
  }

  // --- streaming ---
  const stream = results.stream as Json | undefined;
  if (stream) {
    const s = stream.summary as Record<string, Json>;
    const run0 = (stream.runs as Json[])[0] as Record<string, Json>;
    const series = ["gateway-open", "gateway-policy", "floor"]
      .filter((t) => run0[t])
      .map((t) => ({ name: label(t), points: (run0[t]!.timeline as [number, number][]).map(([x, y]) => [x / 1000, y / 1024] as [number, number]) }));
    charts["stream-memory.svg"] = lineChart({
      title: `workerd RSS while one call streams ${stream.params.count} progress notifications (run 1)`,
      xLabel: "seconds since the call was sent",
      yLabel: "MiB (all workerd processes)",
      series,
      yMin: Math.floor(Math.min(...series.flatMap((x) => x.points.map(([, y]) => y))) / 10) * 10,
    });
    const heapRuns = (["gateway-open", "gateway-policy"] as const).filter((t) => run0[t]?.heap);
    const heapChart = heapRuns.length > 0;
    if (heapChart) {
      charts["stream-heap.svg"] = lineChart({
        title: "The gateway isolate's V8 heap (used) during the stream (run 1)",
        xLabel: "seconds since the call was sent",
        yLabel: "MiB",
        series: heapRuns.map((t) => ({ name: label(t), points: (run0[t]!.heap.timeline as [number, number][]).filter(([, y]) => Number.isFinite(y)).map(([x, y]) => [x / 1000, y] as [number, number]) })),
      });
    }
    sections.push(`## 4. A call streaming ${count(stream.params.count)} progress notifications

One \`tools/call stream\` with a progress token; the backend writes ${count(stream.params.count)} \`notifications/progress\`
(${stream.params.bytesPerNotification} bytes each, ${num(stream.params.streamMiB, 1)} MiB in all) as fast as the
socket takes them, then the result. The client reads the SSE reply as it arrives and counts the notifications.
Memory: the RSS (VmRSS in /proc/<pid>/status) of the process that relays the stream, sampled every 25 ms: every workerd
process of the runtime serving the gateway or the floor${lean ? " (the lean runtime)" : " (\\`wrangler dev\\`)"}, the backend itself for direct. ${stream.params.runs}
run(s), targets in rotating order.${bg("stream")}

${table(
  ["target", "duration", "/ direct", "/ floor", "notifications", "RSS before", "RSS peak", "growth", "isolate heap: before / peak / low in 2nd half"],
  Object.keys(s).map((t) => [
    label(t),
    ms(s[t]!.ms),
    num(s[t]!.ratio),
    num((s[t]!.ratioFloor as number | undefined) ?? (s[t]!.ms as number) / (s.floor?.ms as number)),
    s[t]!.notifications,
    `${num(s[t]!.rssBaselineMiB, 1)} MiB`,
    `${num(s[t]!.rssPeakMiB, 1)} MiB`,
    `${num(s[t]!.rssGrowthMiB, 1)} MiB`,
    s[t]!.heapBaselineMiB === undefined ? "–" : `${num(s[t]!.heapBaselineMiB, 1)} / ${num(s[t]!.heapPeakMiB, 1)} / ${num(s[t]!.heapLowSecondHalfMiB, 1)} MiB`,
  ]),
)}

![memory during the stream](benchmarks/stream-memory.svg)

${heapChart ? "![isolate heap during the stream](benchmarks/stream-heap.svg)\n\n" : ""}RSS growth per run (MiB), in run order: ${["gateway-open", "gateway-policy"]
      .map((t) => `${label(t)} ${(stream.runs as Record<string, Json>[]).map((r) => num((r[t]!.rss.peakKiB - r[t]!.rss.baselineKiB) / 1024, 1)).join(", ")}`)
      .join("; ")}. RSS is not flat: workerd's RSS rises by tens of MiB
during a stream and does not come back. The isolate's heap (V8's used size, read through the inspector every 50 ms)
says what that growth is: it climbs with the garbage every notification makes (each is parsed, mapped, serialized and
logged) and drops at every collection, and its low points late in the stream stay near where they started. A gateway
that held the stream would keep at least the part already streamed (${num(stream.params.streamMiB / 2, 1)} MiB by
the middle) live. So the growth is V8 enlarging its heap under allocation pressure, which RSS keeps as a high-water
mark; in a separate run of six streams on a fresh gateway (10,000, 30,000, 30,000 and three of 10,000
notifications of 1 KiB) RSS grew by 79, 84, 44, 5, 4 and 0 MiB: it levels off, and a longer stream does not grow it
more. On Cloudflare the isolate's limit is 128 MB, and V8 collects sooner as it nears it.
Duration is bound by CPU per notification: the backend writes them from a loop, and every hop that parses them
(the gateway) or merely copies them (the floor) is slower than that loop.
`);
  }

  // --- initialize ---
  const init = results.init as Json | undefined;
  if (init) {
    const s = init.summary as Json;
    sections.push(`## 5. initialize with 3 backends

The three backends answer \`initialize\` after ${(init.params.initDelaysMs as number[]).join(", ")} ms. Direct: the client
initializes all three at once (\`initialize\` then \`notifications/initialized\` each); "slowest" is the slowest of the
three. Gateway: the client's own handshake (\`initialize\` + \`notifications/initialized\`), during which the gateway
initializes the three backends concurrently. ${init.params.reps} measurements per way.${bg("init")}

${table(
  ["", "median", "p90", "/ slowest backend"],
  [
    ["slowest backend, direct", ms(s.directSlowest), "–", "1.00"],
    ["all three, direct", ms(s.directTotal), "–", num(s.directTotal / s.directSlowest)],
    ["gateway, no policy", ms(s.gatewayOpen), ms(s.gatewayOpenP90), num(s.ratioOpen)],
    ["gateway, JWT + policy", ms(s.gatewayPolicy), ms(s.gatewayPolicyP90), num(s.ratioPolicy)],
  ],
)}

The three backends are initialized concurrently (one after another they would take
${(init.params.initDelaysMs as number[]).reduce((a: number, b: number) => a + b, 0)} ms plus three round trips); the
${ms(s.gatewayOpen - s.directSlowest)} the gateway adds over the slowest backend is two requests through workerd (the
client's \`initialize\` and \`notifications/initialized\`) and the session object's work: creating its SQLite
state, an \`initialize\` plus \`notifications/initialized\` to each backend, storing each upstream session, the alarm.
`);
  }

  // --- the agent loop ---
  const agent = results.agent as Json | undefined;
  if (agent) {
    const s = agent.summary as Record<string, Json>;
    const p = agent.params as Json;
    const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)} %` : "–");
    agentLine = `In the production-shaped agent loop (section 6: ${p.steps} tool calls of about ${p.medianMs} ms each), the gateway's share of the
loop's time is ${pct(s["gateway-open"]?.share)} on the session path without policy, ${pct(s["gateway-policy"]?.share)} with JWT and the policy, and
${pct(s["modern-open"]?.share)} on the stateless path; mcp-hub's is ${pct(s.peer?.share)}.`;
    otherVerdicts.push(
      `info   agent loop (${p.steps} calls of ~${p.medianMs} ms): share of the loop's time: gateway ${pct(s["gateway-open"]?.share)} (session path), ${pct(s["modern-open"]?.share)} (stateless), ${pct(s["gateway-policy"]?.share)} (JWT + policy); mcp-hub ${pct(s.peer?.share)} (no target; issue 13 item 4)`,
    );
    sections.push(`## 6. A production-shaped agent loop

What one agent task costs through each relay when the tools do real work: a client connects (\`initialize\`), lists
the tools, then makes ${p.steps} \`tools/call\`s one after another. The backend's \`work\` tool takes a jittered time
before answering ${count(p.size)} bytes: log-normal around ${p.medianMs} ms (σ 0.5, clipped to ${Math.round(p.medianMs / 3)}–${p.medianMs * 5} ms), a
fresh sequence per loop and the same sequence for every target of that loop, so the difference to direct is the
relay's alone (the stateless row's backend speaks 2026-07-28; its direct is the same 2025-11-25 session as the others').
${p.loops} loops, targets in rotating order; medians over loops. The gateway's share is its added time
over the loop's time through it. The agent's own thinking time between calls (a model's turn, seconds) is not part
of the loop; with it, every relay's share would be smaller still.${bg("agent")}

${table(
  ["target", "loop", "of which the tools' own time", "connect + list", "added over direct", "added per call", "share of the loop"],
  Object.keys(s).map((t) => [
    label(t),
    ms(s[t]!.loopMs),
    ms(s[t]!.toolMs),
    ms(s[t]!.setupMs),
    t === "direct" ? "–" : ms(s[t]!.addedMs),
    t === "direct" ? "–" : ms(s[t]!.addedPerCallMs),
    t === "direct" ? "–" : pct(s[t]!.share),
  ]),
)}
`);
  }

  // --- idle sessions ---
  const idle = results.idle as Json | undefined;
  if (idle) {
    const rest = idle.atRest as Json;
    const perSession = rest.bytes / Math.max(1, rest.files);
    check("idle sessions", "storage per idle session (SQLite on disk, at rest)", kib(perSession), `≤ ${TARGETS.idleBytes / 1024} KiB`, perSession <= TARGETS.idleBytes);
    check("idle sessions", "errors (open + probe)", `${idle.errors + idle.probeErrors} of ${idle.opened + idle.errors} opened, ${idle.probed} probed`, "0", idle.errors + idle.probeErrors === 0);
    const sample = rest.sample as Json | undefined;
    const byTable = sample ? (Object.entries(sample.byTable as Record<string, Json>) as [string, Json][]).sort((a, b) => b[1].pages - a[1].pages) : [];
    sections.push(`## 7. ${count(idle.params.sessions)} sessions opened and left idle

${count(idle.params.sessions)} client sessions of the no-policy tenant with 2 backends (like the demo tenant), opened with
\`initialize\` + \`notifications/initialized\` (${idle.params.concurrency} at a time), then left alone. After 5 s,
${idle.probed} of them, spread over the whole set, answer a \`ping\`. Storage is what the runtime keeps in its state folder (laid out as \`wrangler dev --persist-to\` lays it out):
one SQLite database per session object under \`v3/do/edge-mcp-gateway-SessionObject/\`, measured after the gateway
stopped (every database closed and checkpointed).${bg("idle")}

${table(
  ["", "value"],
  [
    ["sessions opened", `${idle.opened} of ${idle.params.sessions} in ${num(idle.openSeconds, 1)} s (${num(idle.openPerSecond, 0)}/s), initialize p50 ${ms(idle.initializeP50)}, p99 ${ms(idle.initializeP99)}`],
    ["errors opening / probing", `${idle.errors} / ${idle.probeErrors}`],
    ["workerd RSS before / after opening", `${num(idle.workerdRssMiB.before, 0)} MiB / ${num(idle.workerdRssMiB.afterOpen, 0)} MiB`],
    ["session databases", String(rest.files)],
    ["on disk, all", `${num(rest.bytes / 1024 / 1024, 1)} MiB (${num(rest.allocated / 1024 / 1024, 1)} MiB allocated)`],
    ["on disk, per idle session", kib(perSession)],
    ["while running (with WAL files)", kib(idle.live.bytes / Math.max(1, idle.live.files))],
    ...(sample
      ? [
          ["pages per database (sample of " + sample.databases + ")", `${num(sample.pagesPerDb, 1)} × ${sample.pageSize} bytes`],
          ["the session's own rows (payload bytes)", `${num(sample.userPayloadBytesPerDb, 0)} bytes`],
        ]
      : []),
  ],
)}
${
  sample
    ? `
Where the pages go (average per database; payload is the bytes of row content):

${table(
  ["b-tree", "pages", "payload bytes"],
  byTable.map(([name, t]) => [name, num(t.pages, 1), num(t.payload, 0)]),
)}
`
    : ""
}
The target is out of reach for any design that gives every session its own SQLite database: locally each database
is a file of whole 4 KiB pages, one page at least for every table and index in the schema, and Cloudflare's own
figure for an empty SQLite-backed Durable Object is about 12 KB ("Does an empty table / SQLite database contribute
to my storage?", Durable Objects FAQ). The session's own rows (the payload above) fit in the target. What would
reach it: keep idle sessions as rows in a few shared objects (a sharded session table, one small row per session)
and give a session its own object only while it has streams or pending requests. An idle session now creates only
the one table it uses (meta, which also holds its upstream sessions; the others come with their first use): four
pages locally, three of them the database's own (its schema and the two platform tables).
`);
  }

  // --- bundle ---
  const b = results.bundle as Json | undefined;
  if (b) {
    check("bundle", "gzipped size (wrangler's figure)", `${num(b.wranglerGzipKiB, 1)} KiB`, `≤ ${TARGETS.bundleGzipKiB} KiB`, b.wranglerGzipKiB <= TARGETS.bundleGzipKiB);
    sections.push(`## 8. The deployable bundle

\`wrangler deploy --dry-run --outdir\` (the build the load scenarios ran) and \`wrangler check startup\` on that same
upload (a CPU profile of the Worker's start-up in local workerd; median of ${meta.settings.startup.runs}).

${table(
  ["", "value"],
  [
    ["bundle (index.js)", `${num(b.bytes / 1024, 1)} KiB; gzip -9: ${num(b.gzipBytes / 1024, 1)} KiB`],
    ["wrangler's upload figure", `${num(b.wranglerTotalKiB, 1)} KiB / gzip: ${num(b.wranglerGzipKiB, 1)} KiB`],
    ["start-up, CPU active", ms(b.startupActiveMs)],
    ["start-up, profile window", ms(b.startupWindowMs)],
  ],
)}

Cloudflare refuses a Worker whose global scope takes more than 1 s to parse and run (the start-up limit since
2025-10-10) and limits the compressed size to 3 MB (Free) or 10 MB (Paid); the 512 KiB target is the project's own
(worker/policy/engine.ts explains why it ruled Cedar's WASM build out). The local profile runs on this machine's CPU,
not Cloudflare's.

Start-up time by function (self time, first profile):

${table(
  ["function", "self"],
  (b.startupTop as Json[]).map((f) => [`\`${f.fn}\``, ms(f.selfMs)]),
)}
`);
  }

  const m = meta.machine as Json;
  const echoS = (results.echo?.summary ?? {}) as Record<string, Json>;
  const satS = (results.saturation?.summary ?? {}) as Record<string, Json>;
  const cpuOf = (t: string): number => (satS[t]?.cpuMsPerRequest as Record<string, number> | undefined)?.workerd ?? Number.NaN;
  issueTargets(results, target);
  const markdown = `# Benchmarks

The gateway's cost, measured side by side against calling the backend directly and against a peer
aggregator (mcp-hub), on one machine, with everything on 127.0.0.1. ${
    meta.mergedInto
      ? `Generated by \`${meta.mergedInto.command}\` (bench/run.ts) on ${String(meta.mergedInto.date).slice(0, 16).replace("T", " ")} UTC${atCommit(meta.mergedInto.commit)} in ${meta.mergedInto.durationSeconds} s, then ${(meta.reruns as Json[])
          .map((r) => `${(r.scenarios as string[]).join(" and ")} re-run by \`${r.command}\` at ${String(r.date).slice(11, 16)} UTC${atCommit(r.commit)}`)
          .join(", ")}`
      : `Generated by \`${meta.command}\` (bench/run.ts) on ${meta.date.slice(0, 16).replace("T", " ")} UTC in ${meta.durationSeconds} s`
  }; the raw figures are in
[bench/results/latest.json](../bench/results/latest.json).

\`\`\`sh
npm run bench                  # everything, about 15 minutes on 2 cores; rewrites this file
npm run bench -- --quick       # a sanity pass in about 4 minutes (bench/results/quick.tmp, this file untouched)
npm run bench -- --no-dev      # without the wrangler dev tables
npm run bench -- --only echo,fanout   # some scenarios: echo, saturation, fanout, stream, init, agent, idle, bundle
\`\`\`

Every scenario measures the same backends, client, payload and concurrency three ways: **direct** to the backend,
through the **gateway with no policy** (an anonymous tenant, pinning off), and through the **gateway with JWT auth and
a realistic policy** (ES256 bearer token, default deny, five rules of which two are CEL conditions over the
arguments, three redaction patterns scanned over every result, audited arguments, pinning "flag", a per-principal and
a per-tool rate limit of ten million a minute); \`tools/call\` both on the legacy session path (a 2025-11-25 client,
through the session's Durable Object) and on the stateless 2026-07-28 path (a 2026-07-28 client of a 2026-07-28
backend, no Durable Object). Two reference points explain the gap where it matters: the **floor**, the cheapest
possible Workers in front of the backend in the same runtime (bench/floor: a null proxy, and a null proxy through a
SQLite-backed Durable Object that writes one row per request), and the **peer**, mcp-hub ${m.mcpHub} in front of the
same backend.

${
  lean
    ? `The gateway and the floor run on the **lean runtime**: the deployable bundle served by workerd through Miniflare's
API, each request entering the Worker straight from a workerd socket, with no \`wrangler dev\` proxy, inspector relay or
entry Worker in front (bench/runtime.ts). The targets are held to those figures. The floor also runs on bare
\`workerd serve\` (a capnp config with no Miniflare at all), which shows what Miniflare still adds, and the gateway and
the floor run once more under \`wrangler dev\`, measured in the same runs, for the second tables.`
    : "These results were measured under `wrangler dev`, before the benchmark served the gateway on the lean runtime."
}

## Summary

The targets of issue 13 ("the gateway's own cost close to the runtime's floor, and ahead of
the peer")${lean ? ", on the lean runtime" : ""}; each ratio is between figures measured side by side in the same run.
"Measured reason" gives the figures that explain a result: the CPU per call of workerd at saturation (section 2)
for the latency and throughput ratios, the gateway's own time over the slowest backend for the fan-out and the handshake.

${table(["target", "measured", "goal", "", "measured reason"], summaryRows)}
${(meta.skipped as string[] | undefined)?.length ? `\nSkipped because the run ran out of time: ${(meta.skipped as string[]).join(", ")}.\n` : ""}
${agentLine ? `${agentLine}\n` : ""}
${otherRows.length > 0 ? `The project's other targets:\n\n${table(["scenario", "measure", "measured", "target", ""], otherRows)}\n` : ""}
## The machine and the versions

${table(
  ["", ""],
  [
    ["CPU", `${m.cpu}, ${m.cores} cores`],
    ["memory", `${m.memoryGiB} GiB`],
    ["kernel", m.kernel],
    ["Node (client, backends, peer)", m.node],
    ["wrangler / workerd", `${m.wrangler} / ${m.workerd}`],
    ...(m.miniflare ? [["Miniflare (the lean runtime)", m.miniflare]] : []),
    ["mcp-hub (peer)", m.mcpHub],
    ["gateway commit", `${meta.mergedInto?.commit ? `${meta.mergedInto.commit} (the full run; re-runs as above)` : m.commit}${m.uncommittedGatewayChanges ? " plus the uncommitted changes in the working tree at the time" : ""}`],
    ["local observability", meta.observability ? "on under `wrangler dev` (as wrangler.toml)" : "off for the run (see Method)"],
    ["other work on the machine before the start", meta.backgroundCoresBeforeStart === null || meta.backgroundCoresBeforeStart === undefined ? "not checked (--no-wait)" : `${num(meta.backgroundCoresBeforeStart, 2)} cores`],
  ],
)}

This is a shared 2-core virtual machine: other people's test suites ran on it at times during the run (each scenario
reports how many cores other work used meanwhile). Ratios between targets measured in the same run are more
trustworthy than any absolute figure, and the p99s are the noisiest numbers here.

## Method

- **The load client** is written for this benchmark (bench/client.ts): node:http with a keep-alive Agent per target,
  no MCP SDK and no fetch, timed with \`process.hrtime.bigint()\` around one JSON-RPC exchange (request sent to
  response parsed; an SSE reply is parsed as it arrives). Streamable HTTP for the backends, the floor and the gateway;
  the 2024-11-05 HTTP+SSE transport for mcp-hub, whose \`/mcp\` serves only that (GET opens the stream, POSTs go to
  \`/messages\`, the response comes back on the stream). Every session does the full handshake first.
- **Requests never repeat**: each \`tools/call\` carries a fresh UUID in a ~256-byte text, and each \`tools/list\` is
  the first of a new session (the gateway caches lists per session).
- **The backend** (bench/backend.ts) is deliberately tiny: raw node:http, a few dozen microseconds per call, so any
  relay in front of it shows its full cost. One process serves every backend, each on its own port, with its own
  delays (\`tools/list\` after 50 ms for the fan-out, \`initialize\` after 20, 35 or 50 ms for the handshake).
- **The gateway** is the deployable bundle (\`wrangler deploy --dry-run --outdir\`), built into a temporary folder
  from the repository's wrangler.toml: the exact code a deploy would upload, and a snapshot, so edits to the working
  tree during a run cannot restart workerd mid-measurement. ${
    lean
      ? `On the **lean runtime** (bench/runtime.ts) Miniflare ${m.miniflare ?? ""} (the one wrangler ${m.wrangler} depends on) starts workerd
  ${m.workerd} with the Worker's bindings as wrangler.toml declares them (translated by wrangler's own
  \`unstable_getMiniflareWorkerOptions\`, as \`wrangler dev\` does): the SQLite-backed Durable Objects, the KV namespace, the
  D1 database with migrations/ applied, Analytics Engine (locally a binding that stores nothing), and the secrets as
  text bindings. Requests reach the Worker through a workerd socket bound to it (\`unsafeDirectSockets\`), so the
  only Miniflare code left on the path is the outbound Worker every \`fetch\` passes through; the floor on bare
  workerd measures that residue. Miniflare's Node process receives the Worker's log lines and drops the info ones,
  as \`wrangler dev --log-level warn\` does. The floor runs the same way, from its own bundle, in its own process. Under
  **\`wrangler dev\`** the same bundle is served by \`wrangler dev --no-bundle\`.`
      : "It was served by `wrangler dev --no-bundle`."
  }
  \`ALLOW_PRIVATE_BACKENDS=true\` lets tenants name the 127.0.0.1 backends. Under \`wrangler dev\`, \`[observability] enabled\`
  makes Miniflare run a trace collector inside the same workerd, persisting every span to SQLite; on Cloudflare that
  work is the platform's, so the benchmark turns it off (\`--observability\` keeps it there); the lean runtime never runs it.
- **Loops are bounded** by a count and a deadline each, targets run in rotating order within a run, and figures are
  medians over runs. Everything started listens on 127.0.0.1 only (mcp-hub through test/support/loopback.mjs) and is
  stopped at the end, also on errors and signals; the whole run has a hard time limit.
- **Not measured for the peer**: streaming (mcp-hub forwards \`tools/call\` without \`_meta\`, so the backend never
  gets a progress token and sends no notifications), the fan-out and initialize (mcp-hub connects to its backends and
  lists their tools when it starts, then answers clients from memory, so those client requests never reach a backend).

${sections.join("\n")}
## Where the added time goes

${echoBreakdown}

CPU per request at saturation (section 2): the load client ${num((satS.direct?.cpuMsPerRequest as Record<string, number> | undefined)?.client)} ms, the backend ${num((satS.direct?.cpuMsPerRequest as Record<string, number> | undefined)?.backend)} ms;
workerd ${num(cpuOf("floor-bare"))} ms to forward one request unchanged on bare workerd, ${num(cpuOf("floor"))} ms on the lean runtime
(${num(cpuOf("floor-do"))} ms through a Durable Object), against ${num(cpuOf("gateway-open"))} ms for a gateway call without policy on the session
path, ${num(cpuOf("modern-open"))} ms on the stateless path, and ${num(cpuOf("gateway-policy"))} / ${num(cpuOf("modern-policy"))} ms with JWT and the policy. Throughput is
bound by that CPU: workerd runs a Worker's isolate on one thread, so about 1000 ms divided by its CPU per call.
The added median is more than the CPU per call; the rest is time a request waits rather than computes (not
measured apart here): at each hop between the Worker, its Durable Objects and the local KV and D1, each a turn of
workerd's event loop, and, on this shared machine, for a core. mcp-hub is one Node process relaying over one HTTP+SSE connection, with no authentication, no policy
and no durable session state; it adds ${ms(echoS.peer?.addedP50)}.
Where the backend waits (50 ms per list, 20 to 50 ms per handshake) the gateway's CPU shows as its time over the
slowest backend; where the backend writes as fast as it can (the stream), every relay is slower than the loop, the
null proxy included, so the stream is held to the floor, not to direct.

## Local figures and the platform's limits

Local workerd enforces none of Cloudflare's limits, and the local layers above do not exist in production, which adds
its own: a client reaches the nearest Cloudflare location, a session's Durable Object may live in another, and each
backend is wherever it is.

- **Six outgoing connections per invocation waiting for headers.** A session object's fan-out (\`initialize\`,
  every list) is one invocation, so beyond six backends the requests go out in waves: ceil(N / 6) × the slowest
  backend's time to headers, the dashed line in the fan-out chart (200 ms for 20 backends at 50 ms, against ~50 ms
  locally). The design limits how often that happens: lists are cached per session and refetched only after a
  backend's \`list_changed\` or a config change, and every backend has its own deadline, so one slow backend delays
  a wave by at most its timeout. A backend that answers with SSE frees its slot as soon as its headers arrive. To keep
  a fan-out flat beyond six, split it over several invocations (for example one subrequest per backend through a
  service binding to the gateway itself, each with its own six connections). The stateless 2026-07-28 path fans out from the Worker's own invocation, under the same limit and with the same answer.
- **CPU time.** Workers and Durable Objects are limited per request (30 s by default); a long stream is one request
  to the session object, and the gateway spends CPU per notification (about
  ${results.stream ? num((results.stream.summary["gateway-open"]!.ms as number) / (results.stream.params.count as number), 3) : "–"} ms of wall time per notification here, CPU-bound),
  so a stream of tens of thousands of messages stays far below it. Start-up CPU is measured in section 8.
- **Memory: 128 MB per isolate.** The gateway never holds a whole stream (section 4); locally one workerd process
  holds every isolate, every session object and miniflare's simulators, so its RSS is not the isolate's.
- **A Durable Object is single-threaded (about 1,000 requests/s).** One session is one object, so one session's calls
  are serialized there; the per-principal rate limiter is one object per principal, which bounds one principal's
  request rate across all its sessions at roughly that figure.
- **Storage is billed by rows read and written and by size** (SQLite-backed Durable Objects). Per \`tools/call\` whose
  reply is only its response the session writes no event or stream rows (it answers with JSON); a call that streams
  writes its SSE events and a stream row; with the fixes below, neither writes a counter row per call; an empty SQLite database is about 12 KB
  (section 7).

${fixesSection()}`;
  return { markdown, charts, verdicts: [...verdicts, ...otherVerdicts] };
}

type Target = (what: string, measured: string, goal: string, pass: boolean | null, why?: string) => void;

/**
 * The targets of issue 13, in its order, each from figures of one run: a summary row and a
 * `met` / `MISSED` line each (`skip` when the scenario that measures it did not run).
 */
function issueTargets(results: Json, target: Target): void {
  const echo = results.echo?.summary as Record<string, Json> | undefined;
  const sat = results.saturation?.summary as Record<string, Json> | undefined;
  const cpu = (t: string): number => (sat?.[t]?.cpuMsPerRequest as Record<string, number> | undefined)?.workerd ?? Number.NaN;
  const cpuWhy = (t: string): string => (sat ? `workerd CPU per call ${num(cpu(t))} ms, the floor's ${num(cpu("floor"))} ms` : "");
  const notRun = (scenario: string): string => `– (the ${scenario} scenario did not run)`;
  const ratioTo = (t: string, key: "addedP50OverFloor" | "addedP50OverPeer", base: string): number =>
    (echo?.[t]?.[key] as number | undefined) ?? (echo?.[t]?.addedP50 as number) / (echo?.[base]?.addedP50 as number);

  const paths = [
    { t: "modern-open", path: "stateless 2026-07-28 path", goal: TARGETS.addedOverFloorStateless },
    { t: "gateway-open", path: "legacy session path", goal: TARGETS.addedOverFloorSession },
  ];
  // tools/call added p50 over the floor's.
  for (const { t, path, goal } of [...paths, { t: "modern-policy", path: "stateless path, JWT + policy", goal: TARGETS.addedOverFloorPolicy }, { t: "gateway-policy", path: "session path, JWT + policy", goal: TARGETS.addedOverFloorPolicy }]) {
    const what = `tools/call added p50, ${path}${t.endsWith("open") ? ", no policy" : ""}: / the null-proxy floor's`;
    if (!echo?.[t] || !echo.floor) {
      target(what, notRun("echo"), `≤ ${goal}×`, null);
      continue;
    }
    const r = ratioTo(t, "addedP50OverFloor", "floor");
    target(what, `${num(r)}× (${ms(echo[t]!.addedP50)} vs ${ms(echo.floor.addedP50)})`, `≤ ${goal}×`, r <= goal, cpuWhy(t));
  }
  // Against the peer, no policy, both paths; and the stretch goal.
  for (const [goal, stretch] of [
    [TARGETS.addedOverPeer, false],
    [TARGETS.addedOverPeerStretch, true],
  ] as const) {
    for (const { t, path } of paths) {
      const what = `${stretch ? "stretch: " : ""}tools/call added p50, ${path}, no policy: / the peer's (mcp-hub)`;
      if (!echo?.[t] || !echo.peer) {
        target(what, notRun("echo"), `≤ ${goal}×`, null);
        continue;
      }
      const r = ratioTo(t, "addedP50OverPeer", "peer");
      target(what, `${num(r)}× (${ms(echo[t]!.addedP50)} vs ${ms(echo.peer.addedP50)})`, `≤ ${goal}×`, r <= goal, sat ? `${cpuWhy(t)}; mcp-hub's ${num((sat.peer?.cpuMsPerRequest as Record<string, number> | undefined)?.peer)} ms` : "");
    }
  }
  // Saturation throughput and CPU per call against the floor's, no policy, both paths.
  for (const { t, path } of paths) {
    const what = `saturation throughput, ${path}, no policy: / the floor's`;
    if (!sat?.[t] || !sat.floor) {
      target(what, notRun("saturation"), `≥ ${TARGETS.saturationOverFloor}×`, null);
      continue;
    }
    const r = (sat[t]!.ratioFloor as number | undefined) ?? (sat[t]!.rps as number) / (sat.floor.rps as number);
    // The session path has a Durable Object hop, which the null proxy does not: the floor through one shows what that hop alone allows.
    const hop =
      t === "gateway-open" && sat["floor-do"]
        ? `; the null proxy through a Durable Object reaches ${num((sat["floor-do"].rps as number) / (sat.floor.rps as number))}× (${num(sat["floor-do"].rps, 0)} req/s, workerd CPU ${num(cpu("floor-do"))} ms per call)`
        : "";
    target(what, `${num(r)}× (${num(sat[t]!.rps, 0)} vs ${num(sat.floor.rps, 0)} req/s)`, `≥ ${TARGETS.saturationOverFloor}×`, r >= TARGETS.saturationOverFloor, `${cpuWhy(t)}${hop}`);
  }
  for (const { t, path } of paths) {
    const what = `gateway CPU per call (workerd), ${path}, no policy: / the floor's`;
    if (!sat?.[t] || !sat.floor) {
      target(what, notRun("saturation"), `≤ ${TARGETS.cpuOverFloor}×`, null);
      continue;
    }
    const r = (sat[t]!.workerdCpuOverFloor as number | undefined) ?? cpu(t) / cpu("floor");
    const host = (x: string): number | undefined => (sat[x]?.cpuMsPerRequest as Record<string, number> | undefined)?.host;
    const profile = results.profile?.paths?.[t === "gateway-open" ? "session" : "stateless"] as Json | undefined;
    const why = [
      // The gateway's own functions (frames with a source file; the runtime's native frames are in the section's table).
      profile
        ? `most self time in its own code (profile, section 2): ${(profile.self as Json[])
            .filter((f) => !String(f.fn).endsWith(" :0") && !String(f.fn).includes("cloudflare-internal:"))
            .slice(0, 3)
            .map((f) => `${f.fn} ${num(f.ms, 2)} ms`)
            .join(", ")}`
        : "",
      host(t) === undefined ? "" : `besides workerd, Miniflare's Node process ${num(host(t))} ms per call (the floor's ${num(host("floor"))} ms): the Worker's log lines`,
    ].filter(Boolean);
    target(what, `${num(r)}× (${num(cpu(t))} vs ${num(cpu("floor"))} ms)`, `≤ ${TARGETS.cpuOverFloor}×`, r <= TARGETS.cpuOverFloor, why.join("; "));
  }
  // Fan-out and the handshake against the slowest backend.
  const fan = results.fanout?.summary?.["20"] as Json | undefined;
  if (fan) {
    target("tools/list over 20 backends, JWT + policy tenant: / the slowest backend", `${num(fan.ratioPolicy)}× (${ms(fan.gatewayPolicy)} vs ${ms(fan.directSlowest)})`, `≤ ${TARGETS.fanout20Ratio}×`, fan.ratioPolicy <= TARGETS.fanout20Ratio, `the gateway's own ${ms(fan.gatewayPolicy - fan.directSlowest)} over the slowest backend (no policy: ${ms(fan.gatewayOpen - fan.directSlowest)})`);
  } else target("tools/list over 20 backends, JWT + policy tenant: / the slowest backend", notRun("fanout"), `≤ ${TARGETS.fanout20Ratio}×`, null);
  const init = results.init?.summary as Json | undefined;
  for (const [mode, key, value] of [
    ["no policy", "ratioOpen", "gatewayOpen"],
    ["JWT + policy", "ratioPolicy", "gatewayPolicy"],
  ] as const) {
    const what = `initialize with 3 backends, ${mode}: / the slowest backend`;
    if (!init) target(what, notRun("init"), `≤ ${TARGETS.initRatio}×`, null);
    else target(what, `${num(init[key])}× (${ms(init[value])} vs ${ms(init.directSlowest)})`, `≤ ${TARGETS.initRatio}×`, init[key] <= TARGETS.initRatio, `the gateway's own ${ms(init[value] - init.directSlowest)} over the slowest backend`);
  }
  // The 10,000-notification stream: duration against the floor's, all delivered, memory flat.
  const stream = results.stream as Json | undefined;
  for (const t of ["gateway-open", "gateway-policy"]) {
    const name = t === "gateway-open" ? "no policy" : "JWT + policy";
    const s = stream?.summary?.[t] as Json | undefined;
    const floor = stream?.summary?.floor as Json | undefined;
    const n = stream?.params?.count as number | undefined;
    const head = `${n === undefined ? "10,000" : count(n)}-notification stream, ${name}`;
    if (!s || !floor || n === undefined) {
      target(`${head}: duration / the floor's`, notRun("stream"), `≤ ${TARGETS.streamOverFloor}×`, null);
      target(`${head}: all delivered`, notRun("stream"), "all", null);
      target(`${head}: memory flat`, notRun("stream"), "heap kept < a quarter of the stream", null);
      continue;
    }
    const r = (s.ratioFloor as number | undefined) ?? (s.ms as number) / (floor.ms as number);
    target(`${head}: duration / the floor's`, `${num(r)}× (${ms(s.ms)} vs ${ms(floor.ms)})`, `≤ ${TARGETS.streamOverFloor}×`, r <= TARGETS.streamOverFloor, `per notification ${num((s.ms as number) / n, 3)} ms, the floor's ${num((floor.ms as number) / n, 3)} ms`);
    target(`${head}: all delivered`, `${count(s.notifications)} of ${count(n)}`, `${count(n)}`, s.notifications === n);
    // A gateway holding the stream would keep at least the half already streamed live in its heap;
    // RSS is workerd's high-water mark (see section 4), reported beside it.
    const held = s.heapLowSecondHalfMiB === undefined ? undefined : (s.heapLowSecondHalfMiB as number) - (s.heapBaselineMiB as number);
    const quarter = (stream!.params.streamMiB as number) / 4;
    target(
      `${head}: memory flat`,
      `isolate heap kept ${held === undefined ? "– (no inspector)" : `${num(held, 1)} MiB`}; workerd RSS +${num(s.rssGrowthMiB, 1)} MiB`,
      `heap kept < ${num(quarter, 1)} MiB (a quarter of the stream)`,
      held === undefined ? null : held < quarter,
    );
  }
}

/**
 * "Fixes made" and "Found, not changed": docs/benchmarks-fixes.md, kept by hand (each fix with its
 * A/B figures), so a fix is recorded where it is made and every report carries the current list.
 */
function fixesSection(): string {
  const text = readFileSync(new URL("../docs/benchmarks-fixes.md", import.meta.url), "utf8");
  // The file's own title and preamble are for readers of the file; the report starts at its first section.
  const first = text.indexOf("\n## ");
  return `${(first === -1 ? text : text.slice(first + 1)).trimEnd()}\n`;
}

/** " at commit abc1234", or nothing for results that predate the commit being recorded. */
function atCommit(commit: unknown): string {
  return typeof commit === "string" && commit !== "" ? ` at commit ${commit}` : "";
}
