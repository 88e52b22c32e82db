/**
 * The benchmark scenarios. Each one measures the same backends, client, payload and concurrency
 * three ways (direct to the backend, through the gateway with no policy, through the gateway
 * with JWT auth and a realistic policy), plus reference points where they explain something:
 * the floor (null-proxy Workers in the same runtime) and the peer (mcp-hub).
 *
 * Every loop is bounded by a count and a deadline; every session a scenario opens it closes,
 * except the idle-session scenario, whose sessions are the measurement.
 */
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Http, LegacySseSession, StreamableSession, since, type Session } from "./client.ts";
import { closedLoop, fixedRate, median, percentile, pool, sleep, type LoadResult } from "./load.ts";
import { cpuMs, findInspector, inspectorSession, profileDuring, sourceResolver, summarize, type CpuProfile } from "./profile.ts";
import { FANOUT_SIZES, INIT_DELAYS_MS, LIST_DELAY_MS, rssKiB, type GatewayMode, type Runtime, type RuntimePids, type Stack } from "./stack.ts";
import { wrangler } from "./gateway.ts";

export interface Settings {
  quick: boolean;
  /** `rounds`: each run's `count` requests per target are sent in this many slices, the targets in rotating order per slice. */
  echo: { ratePerSec: number; count: number; runs: number; warmup: number; rounds: number };
  saturation: { workers: number; durationMs: number; runs: number };
  fanout: { reps: number };
  stream: { count: number; size: number; runs: number };
  init: { reps: number };
  idle: { sessions: number; concurrency: number; probe: number };
  startup: { runs: number };
  /** The CPU profile of the gateway isolate over `calls` tools/call per path. */
  profile: { calls: number };
  /** The agent loop: `loops` sessions of `steps` calls, each tool taking a jittered time around `medianMs`. */
  agent: { loops: number; steps: number; medianMs: number; size: number };
}

export function settings(quick: boolean): Settings {
  return quick
    ? {
        quick,
        echo: { ratePerSec: 10, count: 50, runs: 1, warmup: 10, rounds: 5 },
        saturation: { workers: 8, durationMs: 2_000, runs: 1 },
        fanout: { reps: 3 },
        stream: { count: 10_000, size: 1_024, runs: 1 },
        init: { reps: 5 },
        idle: { sessions: 300, concurrency: 8, probe: 50 },
        startup: { runs: 1 },
        profile: { calls: 100 },
        agent: { loops: 3, steps: 10, medianMs: 30, size: 1_024 },
      }
    : {
        quick,
        echo: { ratePerSec: 10, count: 80, runs: 3, warmup: 20, rounds: 4 },
        saturation: { workers: 16, durationMs: 3_000, runs: 3 },
        fanout: { reps: 10 },
        stream: { count: 10_000, size: 1_024, runs: 3 },
        init: { reps: 15 },
        idle: { sessions: 10_000, concurrency: 8, probe: 200 },
        startup: { runs: 3 },
        profile: { calls: 300 },
        agent: { loops: 12, steps: 10, medianMs: 30, size: 1_024 },
      };
}

export type Log = (line: string) => void;

// --- targets -------------------------------------------------------------------------------

export type TargetId =
  | "direct"
  | "floor-bare"
  | "floor"
  | "floor-do"
  | "gateway-open"
  | "gateway-policy"
  | "modern-open"
  | "modern-policy"
  | "peer"
  | "dev-floor"
  | "dev-floor-do"
  | "dev-gateway-open"
  | "dev-gateway-policy"
  | "dev-modern-open"
  | "dev-modern-policy";

export const TARGET_LABELS: Record<TargetId, string> = {
  direct: "direct to the backend",
  "floor-bare": "floor: null-proxy Worker on bare workerd (capnp, no Miniflare)",
  floor: "floor: null-proxy Worker",
  "floor-do": "floor: null proxy through a Durable Object",
  "gateway-open": "gateway, no policy (anonymous)",
  "gateway-policy": "gateway, JWT + policy",
  "modern-open": "gateway, 2026-07-28 client and backend, no policy",
  "modern-policy": "gateway, 2026-07-28 client and backend, JWT + policy",
  peer: "peer: mcp-hub 4.2.1",
  "dev-floor": "floor: null-proxy Worker",
  "dev-floor-do": "floor: null proxy through a Durable Object",
  "dev-gateway-open": "gateway, no policy (anonymous)",
  "dev-gateway-policy": "gateway, JWT + policy",
  "dev-modern-open": "gateway, 2026-07-28 client and backend, no policy",
  "dev-modern-policy": "gateway, 2026-07-28 client and backend, JWT + policy",
};

/** The targets served by `wrangler dev` (the report's second tables); the others by the lean runtime, Node, or bare workerd. */
export const DEV_TARGETS: TargetId[] = ["dev-floor", "dev-floor-do", "dev-gateway-open", "dev-gateway-policy", "dev-modern-open", "dev-modern-policy"];

interface Target {
  id: TargetId;
  url: string;
  headers: Record<string, string>;
  /** The echo tool's name as this target exposes it. */
  echo: string;
  stream: string;
  legacy: boolean;
  /** A 2026-07-28 client (stateless), to a tenant whose backend speaks it too: no session object on the path. */
  modern?: boolean;
}

function targetsFor(stack: Stack, ids: readonly TargetId[]): Target[] {
  const gateway = (mode: GatewayMode, runtime: Runtime): Omit<Target, "id"> => ({ ...stack.tenant("echo", mode, runtime), echo: "bench__echo", stream: "bench__stream", legacy: false });
  const modern = (mode: GatewayMode, runtime: Runtime): Omit<Target, "id"> => ({ ...stack.tenant("echom", mode, runtime), echo: "mbench__echo", stream: "mbench__stream", legacy: false, modern: true });
  const floor = (origin: string, path: string): Omit<Target, "id"> => ({ url: `${origin}${path}`, headers: {}, echo: "echo", stream: "stream", legacy: false });
  const all: Record<TargetId, () => Omit<Target, "id">> = {
    direct: () => ({ url: stack.backendUrl("bench"), headers: {}, echo: "echo", stream: "stream", legacy: false }),
    "floor-bare": () => floor(stack.floorBareOrigin, "/mcp"),
    floor: () => floor(stack.floorOrigin, "/mcp"),
    "floor-do": () => floor(stack.floorOrigin, "/do/mcp"),
    "gateway-open": () => gateway("open", "lean"),
    "gateway-policy": () => gateway("policy", "lean"),
    "modern-open": () => modern("open", "lean"),
    "modern-policy": () => modern("policy", "lean"),
    peer: () => ({ url: stack.peerUrl, headers: {}, echo: "bench__echo", stream: "bench__stream", legacy: true }),
    "dev-floor": () => floor(stack.dev!.floorOrigin, "/mcp"),
    "dev-floor-do": () => floor(stack.dev!.floorOrigin, "/do/mcp"),
    "dev-gateway-open": () => gateway("open", "dev"),
    "dev-gateway-policy": () => gateway("policy", "dev"),
    "dev-modern-open": () => modern("open", "dev"),
    "dev-modern-policy": () => modern("policy", "dev"),
  };
  return ids.map((id) => ({ id, ...all[id]() }));
}

function openSession(http: Http, target: { url: string; headers: Record<string, string>; legacy?: boolean; modern?: boolean }): Session {
  return target.legacy ? new LegacySseSession(http, target.url) : new StreamableSession(http, target.url, target.headers, { modern: target.modern === true });
}

/**
 * Processes whose CPU a target's requests cost (the client is measured separately): the
 * backend, and the relay's processes: workerd, and the Node process driving it ("host":
 * Miniflare's on the lean runtime, wrangler's under `wrangler dev`), or mcp-hub.
 */
function processesOf(stack: Stack, id: TargetId): Record<string, number[]> {
  const backend = { backend: [stack.pids.backends] };
  const runtime = (pids: RuntimePids): Record<string, number[]> => ({ ...backend, workerd: pids.workerd, ...(pids.host === null ? {} : { host: [pids.host] }) });
  switch (id) {
    case "direct":
      return backend;
    case "floor-bare":
      return runtime(stack.pids.floorBare);
    case "floor":
    case "floor-do":
      return runtime(stack.pids.floor);
    case "gateway-open":
    case "gateway-policy":
    case "modern-open":
    case "modern-policy":
      return runtime(stack.pids.gateway);
    case "peer":
      return { ...backend, peer: [stack.pids.peer] };
    case "dev-floor":
    case "dev-floor-do":
      return runtime(stack.pids.dev!.floor);
    case "dev-gateway-open":
    case "dev-gateway-policy":
    case "dev-modern-open":
    case "dev-modern-policy":
      return runtime(stack.pids.dev!.gateway);
  }
}

/** A distinct ~256-byte text per request, so nothing can answer from a cache. */
function payload(run: number, i: number): string {
  const head = `run ${run} request ${i} ${randomUUID()} `;
  return head + "lorem ipsum dolor sit amet ".repeat(9).slice(0, 256 - head.length);
}

function summarizeLoad(result: LoadResult): { p50: number; p90: number; p99: number; mean: number; ok: number; errors: number; errorSamples: string[]; elapsedMs: number } {
  const l = result.latencies;
  return {
    p50: percentile(l, 50),
    p90: percentile(l, 90),
    p99: percentile(l, 99),
    mean: l.length ? l.reduce((a, b) => a + b, 0) / l.length : Number.NaN,
    ok: result.ok,
    errors: result.errors,
    errorSamples: result.errorSamples,
    elapsedMs: result.elapsedMs,
  };
}

/** Rotates the order of targets per run so no target always goes first (or last). */
function rotated<T>(items: readonly T[], run: number): T[] {
  const k = run % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// --- 1. tools/call echo at a fixed moderate rate -----------------------------------------------

/** The lean runtime's targets, and the same relays under `wrangler dev` when the stack has it. */
export const LEAN_TARGETS: TargetId[] = ["direct", "floor-bare", "floor", "floor-do", "gateway-open", "gateway-policy", "modern-open", "modern-policy", "peer"];

/** The null-proxy floor on the runtime that serves `t`. */
function floorOf(t: string): TargetId {
  return t.startsWith("dev-") ? "dev-floor" : "floor";
}

function sideBySide(stack: Stack): TargetId[] {
  return stack.dev ? [...LEAN_TARGETS, ...DEV_TARGETS] : LEAN_TARGETS;
}

export async function echoAtRate(stack: Stack, s: Settings, log: Log) {
  const { ratePerSec, count, runs, warmup } = s.echo;
  const rounds = Math.max(1, Math.min(count, s.echo.rounds ?? 1));
  const echoTargets = sideBySide(stack);
  const targets = targetsFor(stack, echoTargets);
  const perRun: Record<string, ReturnType<typeof summarizeLoad>>[] = [];
  for (let run = 0; run < runs; run++) {
    // Every target's session is opened and warmed first; then the run's requests go out in
    // slices, each target in turn and in rotating order per slice, so that a spell of other
    // work on the machine falls on every target alike rather than on whichever ran then.
    const open: { target: Target; http: Http; session: Session; result: LoadResult }[] = [];
    try {
      for (const target of targets) {
        const http = new Http();
        const session = openSession(http, target);
        open.push({ target, http, session, result: { latencies: [], ok: 0, errors: 0, errorSamples: [], elapsedMs: 0, skipped: 0 } });
        await session.initialize();
        for (let i = 0; i < warmup; i++) await session.request("tools/call", { name: target.echo, arguments: { text: payload(-1 - run, i) } });
      }
      let sent = 0;
      for (let round = 0; round < rounds; round++) {
        const slice = Math.round(((round + 1) * count) / rounds) - Math.round((round * count) / rounds);
        for (const entry of rotated(open, run * rounds + round)) {
          const part = await fixedRate({ ratePerSec, count: slice, maxInFlight: 64, deadlineMs: (slice / ratePerSec) * 1000 * 3 + 10_000 }, async (i) => {
            await entry.session.request("tools/call", { name: entry.target.echo, arguments: { text: payload(run, sent + i) } });
          });
          entry.result.latencies.push(...part.latencies);
          entry.result.ok += part.ok;
          entry.result.errors += part.errors;
          entry.result.errorSamples.push(...part.errorSamples.slice(0, 5 - entry.result.errorSamples.length));
          entry.result.elapsedMs += part.elapsedMs;
          entry.result.skipped += part.skipped;
        }
        sent += slice;
      }
    } finally {
      for (const { session, http } of open) {
        await session.close().catch(() => {});
        http.close();
      }
    }
    const row: Record<string, ReturnType<typeof summarizeLoad>> = {};
    for (const { target, result } of open) {
      row[target.id] = summarizeLoad(result);
      log(`  echo run ${run + 1}/${runs} ${target.id}: p50 ${row[target.id]!.p50.toFixed(2)} ms, p99 ${row[target.id]!.p99.toFixed(2)} ms, errors ${result.errors}`);
    }
    perRun.push(row);
  }
  const summary: Record<string, { p50: number; p99: number; addedP50: number; addedP99: number; addedP50OverFloor: number; addedP50OverPeer: number; errors: number }> = {};
  const added = (r: (typeof perRun)[number], t: string): number => r[t]!.p50 - r.direct!.p50;
  for (const t of echoTargets) {
    const floor = floorOf(t);
    summary[t] = {
      p50: median(perRun.map((r) => r[t]!.p50)),
      p99: median(perRun.map((r) => r[t]!.p99)),
      // Paired per run: a run's background load hits the target and direct alike.
      addedP50: median(perRun.map((r) => added(r, t))),
      addedP99: median(perRun.map((r) => r[t]!.p99 - r.direct!.p99)),
      // Ratios of added p50s, also per run: to the null proxy on the same runtime, and to the peer.
      addedP50OverFloor: median(perRun.map((r) => added(r, t) / added(r, floor))),
      addedP50OverPeer: median(perRun.map((r) => added(r, t) / added(r, "peer"))),
      errors: perRun.reduce((n, r) => n + r[t]!.errors, 0),
    };
  }
  return { params: s.echo, runs: perRun, summary };
}

// --- 2. tools/call at saturation ------------------------------------------------------------

export async function saturation(stack: Stack, s: Settings, log: Log) {
  const { workers, durationMs, runs } = s.saturation;
  const saturationTargets = sideBySide(stack);
  const targets = targetsFor(stack, saturationTargets);
  const perRun: Record<string, { rps: number; p50: number; p99: number; errors: number; cpuMsPerRequest: Record<string, number> }>[] = [];
  for (let run = 0; run < runs; run++) {
    const row: (typeof perRun)[number] = {};
    for (const target of rotated(targets, run)) {
      const http = new Http({ maxSockets: workers * 2 + 4 });
      const sessions = Array.from({ length: workers }, () => openSession(http, target));
      try {
        await pool(sessions, 4, (session) => session.initialize());
        // Warm-up: one second of the same load, not measured.
        await closedLoop({ workers, durationMs: 1_000, maxRequests: 1_000_000 }, (w, i) =>
          sessions[w]!.request("tools/call", { name: target.echo, arguments: { text: payload(-1, i) } }).then(() => {}),
        );
        const procs = processesOf(stack, target.id);
        const cpu0 = Object.fromEntries(Object.entries(procs).map(([k, pids]) => [k, pids.reduce((a, p) => a + cpuMs(p), 0)]));
        const client0 = process.cpuUsage();
        const result = await closedLoop({ workers, durationMs, maxRequests: 1_000_000 }, (w, i) =>
          sessions[w]!.request("tools/call", { name: target.echo, arguments: { text: payload(run, i) } }).then(() => {}),
        );
        const client = process.cpuUsage(client0);
        const cpu: Record<string, number> = { client: (client.user + client.system) / 1000 / Math.max(1, result.ok) };
        for (const [k, pids] of Object.entries(procs)) cpu[k] = (pids.reduce((a, p) => a + cpuMs(p), 0) - cpu0[k]!) / Math.max(1, result.ok);
        const sum = summarizeLoad(result);
        row[target.id] = { rps: (result.ok / result.elapsedMs) * 1000, p50: sum.p50, p99: sum.p99, errors: result.errors, cpuMsPerRequest: cpu };
        log(`  saturation run ${run + 1}/${runs} ${target.id}: ${row[target.id]!.rps.toFixed(0)} req/s, p50 ${sum.p50.toFixed(1)} ms, errors ${result.errors}`);
      } finally {
        await Promise.all(sessions.map((x) => x.close()));
        http.close();
      }
    }
    perRun.push(row);
  }
  const summary: Record<string, { rps: number; ratio: number; ratioFloor: number; workerdCpuOverFloor: number; p50: number; p99: number; errors: number; cpuMsPerRequest: Record<string, number> }> = {};
  for (const t of saturationTargets) {
    const keys = Object.keys(perRun[0]![t]!.cpuMsPerRequest);
    const floor = floorOf(t);
    summary[t] = {
      rps: median(perRun.map((r) => r[t]!.rps)),
      ratio: median(perRun.map((r) => r[t]!.rps / r.direct!.rps)),
      // Against the null proxy on the same runtime, paired per run.
      ratioFloor: median(perRun.map((r) => r[t]!.rps / r[floor]!.rps)),
      workerdCpuOverFloor: median(perRun.map((r) => (r[t]!.cpuMsPerRequest.workerd ?? Number.NaN) / (r[floor]!.cpuMsPerRequest.workerd ?? Number.NaN))),
      p50: median(perRun.map((r) => r[t]!.p50)),
      p99: median(perRun.map((r) => r[t]!.p99)),
      errors: perRun.reduce((n, r) => n + r[t]!.errors, 0),
      cpuMsPerRequest: Object.fromEntries(keys.map((k) => [k, median(perRun.map((r) => r[t]!.cpuMsPerRequest[k]!))])),
    };
  }
  return { params: s.saturation, runs: perRun, summary };
}

// --- 3. tools/list fan-out ---------------------------------------------------------------------

export async function fanout(stack: Stack, s: Settings, log: Log) {
  const sizes: Record<string, { direct: { total: number[]; slowest: number[] }; "gateway-open": number[]; "gateway-policy": number[]; tools: Record<string, number> }> = {};
  for (const n of FANOUT_SIZES) {
    const names = Array.from({ length: n }, (_, i) => `b${String(i + 1).padStart(2, "0")}`);
    const entry = { direct: { total: [] as number[], slowest: [] as number[] }, "gateway-open": [] as number[], "gateway-policy": [] as number[], tools: {} as Record<string, number> };
    sizes[String(n)] = entry;
    for (let rep = 0; rep < s.fanout.reps; rep++) {
      for (const way of rotated(["direct", "gateway-open", "gateway-policy"] as const, rep)) {
        const http = new Http();
        try {
          if (way === "direct") {
            // The client fans out itself: every backend at once, each over its own session.
            const sessions = names.map((name) => new StreamableSession(http, stack.backendUrl(name)));
            await Promise.all(sessions.map((x) => x.initialize()));
            const each: number[] = [];
            const t0 = process.hrtime.bigint();
            const lists = await Promise.all(
              sessions.map(async (x) => {
                const t = process.hrtime.bigint();
                const { response } = await x.request("tools/list", {});
                each.push(since(t));
                return ((response.result as { tools: unknown[] }).tools ?? []).length;
              }),
            );
            entry.direct.total.push(since(t0));
            entry.direct.slowest.push(Math.max(...each));
            entry.tools.direct = lists.reduce((a, b) => a + b, 0);
            await Promise.all(sessions.map((x) => x.close()));
          } else {
            const tenant = stack.tenant(`fan${n}`, way === "gateway-open" ? "open" : "policy");
            // A fresh session per measurement: the gateway caches lists per session.
            const session = new StreamableSession(http, tenant.url, tenant.headers);
            await session.initialize();
            const t0 = process.hrtime.bigint();
            const { response } = await session.request("tools/list", {});
            entry[way].push(since(t0));
            entry.tools[way] = ((response.result as { tools: unknown[] }).tools ?? []).length;
            await session.close();
          }
        } finally {
          http.close();
        }
      }
    }
    log(
      `  fan-out ${n}: direct slowest ${median(entry.direct.slowest).toFixed(1)} ms, gateway open ${median(entry["gateway-open"]).toFixed(1)} ms, policy ${median(entry["gateway-policy"]).toFixed(1)} ms`,
    );
  }
  const summary: Record<string, Record<string, number>> = {};
  for (const [n, e] of Object.entries(sizes)) {
    const slowest = median(e.direct.slowest);
    summary[n] = {
      directSlowest: slowest,
      directTotal: median(e.direct.total),
      gatewayOpen: median(e["gateway-open"]),
      gatewayPolicy: median(e["gateway-policy"]),
      gatewayOpenP90: percentile(e["gateway-open"], 90),
      gatewayPolicyP90: percentile(e["gateway-policy"], 90),
      ratioOpen: median(e["gateway-open"]) / slowest,
      ratioPolicy: median(e["gateway-policy"]) / slowest,
      // Production model: at most 6 connections per invocation wait for headers at once, so the
      // backends are answered in ceil(n / 6) waves of LIST_DELAY_MS each.
      modelProductionMs: Math.ceil(Number(n) / 6) * LIST_DELAY_MS,
    };
  }
  return { params: { ...s.fanout, sizes: FANOUT_SIZES, listDelayMs: LIST_DELAY_MS }, raw: sizes, summary };
}

// --- 4. a call streaming 10,000 progress notifications ------------------------------------------

export const STREAM_TARGETS: TargetId[] = ["direct", "floor", "gateway-open", "gateway-policy"];

export async function streaming(stack: Stack, s: Settings, log: Log) {
  const targets = targetsFor(stack, STREAM_TARGETS);
  type Heap = { baselineMiB: number; peakMiB: number; lowSecondHalfMiB: number; timeline: [number, number][] };
  const perRun: Record<string, { ms: number; notifications: number; rss: { baselineKiB: number; peakKiB: number; endKiB: number }; timeline: [number, number][]; heap?: Heap }>[] = [];
  // The gateway isolate's V8 heap, through the inspector: it tells a heap that grows with the
  // stream (held messages) from one that only grows its allocation space (garbage collected).
  const port = await findInspector(stack.pids.gatewayWorkerd, "core:user:edge-mcp-gateway");
  const inspector = port === null ? null : await inspectorSession(port, "core:user:edge-mcp-gateway").catch(() => null);
  const heapMiB = async (): Promise<number> => {
    const usage = await inspector?.send<{ usedSize: number }>("Runtime.getHeapUsage").catch(() => null);
    return usage ? usage.usedSize / 1024 / 1024 : Number.NaN;
  };
  for (let run = 0; run < s.stream.runs; run++) {
    const row: (typeof perRun)[number] = {};
    for (const target of rotated(targets, run)) {
      const http = new Http();
      const session = new StreamableSession(http, target.url, target.headers);
      // Memory of what relays the stream: workerd for the gateway and the floor, the backend directly.
      const pids = target.id === "direct" ? [stack.pids.backends] : target.id === "floor" ? stack.pids.floorWorkerd : stack.pids.gatewayWorkerd;
      const rss = (): number => pids.reduce((a, p) => a + rssKiB(p), 0);
      try {
        await session.initialize();
        // A short stream first, so lazily built state (upstream session, lists) is not measured.
        await session.request("tools/call", { name: target.stream, arguments: { count: 10, size: s.stream.size, tag: "warm" }, _meta: { progressToken: "warm" } });
        const baseline = rss();
        const timeline: [number, number][] = [];
        const gateway = target.id.startsWith("gateway") && inspector !== null;
        const heapTimeline: [number, number][] = [];
        const heap0 = gateway ? await heapMiB() : Number.NaN;
        const t0 = process.hrtime.bigint();
        const sampler = setInterval(() => timeline.push([since(t0), rss()]), 25);
        let sampling = false;
        const heapSampler = gateway
          ? setInterval(() => {
              if (sampling) return;
              sampling = true;
              const at = since(t0);
              void heapMiB().then((v) => {
                heapTimeline.push([at, v]);
                sampling = false;
              });
            }, 50)
          : null;
        let exchange;
        try {
          exchange = await session.request("tools/call", {
            name: target.stream,
            arguments: { count: s.stream.count, size: s.stream.size, tag: `run ${run}` },
            _meta: { progressToken: `stream-${run}-${randomUUID()}` },
          });
        } finally {
          clearInterval(sampler);
          if (heapSampler) clearInterval(heapSampler);
        }
        const ms = since(t0);
        await sleep(200);
        const end = rss();
        timeline.push([since(t0), end]);
        const values = timeline.map(([, v]) => v);
        row[target.id] = { ms, notifications: exchange.notifications, rss: { baselineKiB: baseline, peakKiB: Math.max(baseline, ...values), endKiB: end }, timeline };
        const secondHalf = heapTimeline.filter(([at, v]) => at >= ms / 2 && at <= ms && Number.isFinite(v)).map(([, v]) => v);
        if (gateway && secondHalf.length > 0) {
          row[target.id]!.heap = {
            baselineMiB: heap0,
            peakMiB: Math.max(...heapTimeline.map(([, v]) => v).filter(Number.isFinite)),
            lowSecondHalfMiB: Math.min(...secondHalf),
            timeline: heapTimeline,
          };
        }
        log(`  stream run ${run + 1}/${s.stream.runs} ${target.id}: ${ms.toFixed(0)} ms, ${exchange.notifications} notifications, RSS +${((Math.max(...values) - baseline) / 1024).toFixed(1)} MiB`);
      } finally {
        await session.close();
        http.close();
      }
    }
    perRun.push(row);
  }
  inspector?.close();
  const summary: Record<string, { ms: number; ratio: number; ratioFloor: number; notifications: number; rssGrowthMiB: number; rssBaselineMiB: number; rssPeakMiB: number; heapBaselineMiB?: number; heapPeakMiB?: number; heapLowSecondHalfMiB?: number }> = {};
  for (const t of STREAM_TARGETS) {
    summary[t] = {
      ms: median(perRun.map((r) => r[t]!.ms)),
      ratio: median(perRun.map((r) => r[t]!.ms / r.direct!.ms)),
      ratioFloor: median(perRun.map((r) => r[t]!.ms / r.floor!.ms)),
      notifications: Math.min(...perRun.map((r) => r[t]!.notifications)),
      rssGrowthMiB: median(perRun.map((r) => (r[t]!.rss.peakKiB - r[t]!.rss.baselineKiB) / 1024)),
      rssBaselineMiB: median(perRun.map((r) => r[t]!.rss.baselineKiB / 1024)),
      rssPeakMiB: median(perRun.map((r) => r[t]!.rss.peakKiB / 1024)),
    };
    const heaps = perRun.map((r) => r[t]!.heap).filter((h): h is Heap => h !== undefined);
    if (heaps.length > 0) {
      summary[t]!.heapBaselineMiB = median(heaps.map((h) => h.baselineMiB));
      summary[t]!.heapPeakMiB = median(heaps.map((h) => h.peakMiB));
      summary[t]!.heapLowSecondHalfMiB = median(heaps.map((h) => h.lowSecondHalfMiB));
    }
  }
  const bytesPerNotification = JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "stream-0-00000000-0000-0000-0000-000000000000", progress: 10_000, total: 10_000, message: "x".repeat(s.stream.size) } }).length;
  return { params: { ...s.stream, bytesPerNotification, streamMiB: (bytesPerNotification * s.stream.count) / 1024 / 1024 }, runs: perRun, summary };
}

// --- 5. initialize with 3 backends -------------------------------------------------------------

export async function initialize(stack: Stack, s: Settings, log: Log) {
  const names = INIT_DELAYS_MS.map((_, i) => `i${i + 1}`);
  const raw = { direct: { total: [] as number[], slowest: [] as number[] }, "gateway-open": [] as number[], "gateway-policy": [] as number[] };
  for (let rep = 0; rep < s.init.reps; rep++) {
    for (const way of rotated(["direct", "gateway-open", "gateway-policy"] as const, rep)) {
      const http = new Http();
      try {
        if (way === "direct") {
          const sessions = names.map((name) => new StreamableSession(http, stack.backendUrl(name)));
          const each: number[] = [];
          const t0 = process.hrtime.bigint();
          await Promise.all(
            sessions.map(async (x) => {
              const t = process.hrtime.bigint();
              await x.initialize();
              each.push(since(t));
            }),
          );
          raw.direct.total.push(since(t0));
          raw.direct.slowest.push(Math.max(...each));
          await Promise.all(sessions.map((x) => x.close()));
        } else {
          const tenant = stack.tenant("init", way === "gateway-open" ? "open" : "policy");
          const session = new StreamableSession(http, tenant.url, tenant.headers);
          const t0 = process.hrtime.bigint();
          await session.initialize();
          raw[way].push(since(t0));
          await session.close();
        }
      } finally {
        http.close();
      }
    }
  }
  const slowest = median(raw.direct.slowest);
  const summary = {
    directSlowest: slowest,
    directTotal: median(raw.direct.total),
    gatewayOpen: median(raw["gateway-open"]),
    gatewayPolicy: median(raw["gateway-policy"]),
    gatewayOpenP90: percentile(raw["gateway-open"], 90),
    gatewayPolicyP90: percentile(raw["gateway-policy"], 90),
    ratioOpen: median(raw["gateway-open"]) / slowest,
    ratioPolicy: median(raw["gateway-policy"]) / slowest,
  };
  log(`  initialize: direct slowest ${slowest.toFixed(1)} ms, gateway open ${summary.gatewayOpen.toFixed(1)} ms, policy ${summary.gatewayPolicy.toFixed(1)} ms`);
  return { params: { ...s.init, initDelaysMs: INIT_DELAYS_MS }, raw, summary };
}

// --- 6. idle sessions ------------------------------------------------------------------------

export function sessionStoreDir(stack: Stack): string {
  return join(stack.persistTo, "v3", "do", "edge-mcp-gateway-SessionObject");
}

export function listSessionFiles(dir: string): Set<string> {
  try {
    return new Set(readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite"));
  } catch {
    return new Set();
  }
}

export async function idleSessions(stack: Stack, s: Settings, log: Log) {
  // The no-policy tenant: storage per session is the same (the principal is a few bytes either
  // way), and without JWT checks and rate limiters ten thousand handshakes fit the time budget.
  const tenant = stack.tenant("idle", "open");
  const dir = sessionStoreDir(stack);
  const before = listSessionFiles(dir);
  const http = new Http({ maxSockets: s.idle.concurrency * 2 });
  const latencies: number[] = [];
  const sessionIds: string[] = [];
  let errors = 0;
  const errorSamples: string[] = [];
  const rss0 = stack.pids.gatewayWorkerd.reduce((a, p) => a + rssKiB(p), 0);
  const t0 = process.hrtime.bigint();
  // Bounded: about 30 sessions/s on a quiet 2-core machine; a busy one gets what fits.
  const deadlineMs = Math.min(s.idle.sessions * 100 + 60_000, 720_000);
  let next = 0;
  await Promise.all(
    Array.from({ length: s.idle.concurrency }, async () => {
      while (next < s.idle.sessions && since(t0) < deadlineMs) {
        next++;
        const session = new StreamableSession(http, tenant.url, tenant.headers);
        const t = process.hrtime.bigint();
        try {
          await session.initialize();
          latencies.push(since(t));
          sessionIds.push(session.sessionId!);
        } catch (error) {
          errors++;
          if (errorSamples.length < 5) errorSamples.push(error instanceof Error ? error.message : String(error));
        }
        if (next % 1000 === 0) log(`  idle sessions: ${next} opened (${errors} errors)`);
      }
    }),
  );
  const openMs = since(t0);
  const rssAfterOpen = stack.pids.gatewayWorkerd.reduce((a, p) => a + rssKiB(p), 0);
  // Left idle, then probed: a sample must still answer (ping goes through the session object).
  await sleep(5_000);
  let probeErrors = 0;
  const sample = sessionIds.filter((_, i) => i % Math.max(1, Math.floor(sessionIds.length / s.idle.probe)) === 0).slice(0, s.idle.probe);
  await pool(sample, 4, async (id) => {
    try {
      const reply = await http.send(new URL(tenant.url), "POST", {
        ...tenant.headers,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": id,
        "mcp-protocol-version": "2025-11-25",
      }, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }));
      const text = await new Promise<string>((resolve) => {
        let body = "";
        reply.body.setEncoding("utf8");
        reply.body.on("data", (c: string) => (body += c));
        reply.body.on("end", () => resolve(body));
      });
      if (reply.status !== 200 || !text.includes('"result"')) throw new Error(`ping: HTTP ${reply.status} ${text.slice(0, 100)}`);
    } catch (error) {
      probeErrors++;
      if (errorSamples.length < 5) errorSamples.push(error instanceof Error ? error.message : String(error));
    }
  });
  http.close();
  const live = measureSessionFiles(dir, before);
  log(`  idle sessions: ${sessionIds.length} open in ${(openMs / 1000).toFixed(1)} s, ${errors} errors, probe errors ${probeErrors}; ${live.files} files, ${(live.bytes / live.files / 1024).toFixed(1)} KiB each on disk (live)`);
  return {
    params: s.idle,
    opened: sessionIds.length,
    errors,
    probeErrors,
    probed: sample.length,
    errorSamples,
    openSeconds: openMs / 1000,
    openPerSecond: (sessionIds.length / openMs) * 1000,
    initializeP50: percentile(latencies, 50),
    initializeP99: percentile(latencies, 99),
    workerdRssMiB: { before: rss0 / 1024, afterOpen: rssAfterOpen / 1024 },
    live,
    before,
    dir,
  };
}

export interface StorageMeasure {
  files: number;
  /** Bytes on disk of the new session databases, including -wal / -shm files. */
  bytes: number;
  /** Allocated blocks (du), bytes. */
  allocated: number;
  /** From a sample of databases (SQLite dbstat): pages by owner and payload bytes. */
  sample?: { databases: number; pageSize: number; pagesPerDb: number; userPayloadBytesPerDb: number; byTable: Record<string, { pages: number; payload: number }> };
}

/** Sizes of the session databases created since `before` (and their WAL/SHM side files). */
export function measureSessionFiles(dir: string, before: Set<string>, sampleSize = 0): StorageMeasure {
  const all = readdirSync(dir);
  const fresh = all.filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite" && !before.has(f));
  let bytes = 0;
  let allocated = 0;
  for (const f of fresh) {
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        const st = statSync(join(dir, f + suffix));
        bytes += st.size;
        allocated += st.blocks * 512;
      } catch {
        // no side file
      }
    }
  }
  const measure: StorageMeasure = { files: fresh.length, bytes, allocated };
  if (sampleSize > 0 && fresh.length > 0) {
    const byTable: Record<string, { pages: number; payload: number }> = {};
    let pages = 0;
    let payload = 0;
    let pageSize = 4096;
    const picked = fresh.filter((_, i) => i % Math.max(1, Math.floor(fresh.length / sampleSize)) === 0).slice(0, sampleSize);
    // Loaded here: node:sqlite prints an experimental-feature warning when first loaded.
    const { DatabaseSync } = process.getBuiltinModule("node:sqlite") as typeof import("node:sqlite");
    for (const f of picked) {
      const db = new DatabaseSync(join(dir, f), { readOnly: true });
      try {
        pageSize = Number((db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size);
        pages += Number((db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count);
        for (const row of db.prepare("SELECT name, COUNT(*) AS pages, SUM(payload) AS payload FROM dbstat GROUP BY name").all() as { name: string; pages: number; payload: number }[]) {
          const t = (byTable[row.name] ??= { pages: 0, payload: 0 });
          t.pages += Number(row.pages);
          t.payload += Number(row.payload);
          if (!row.name.startsWith("sqlite_") && !row.name.startsWith("_cf_")) payload += Number(row.payload);
        }
      } finally {
        db.close();
      }
    }
    for (const t of Object.values(byTable)) {
      t.pages /= picked.length;
      t.payload /= picked.length;
    }
    measure.sample = { databases: picked.length, pageSize, pagesPerDb: pages / picked.length, userPayloadBytesPerDb: payload / picked.length, byTable };
  }
  return measure;
}

// --- 7. the deployable bundle ----------------------------------------------------------------

export async function bundle(stack: Stack, s: Settings, log: Log, workDir: string) {
  const source = readFileSync(stack.bundle.file);
  const gzipBytes = gzipSync(source, { level: 9 }).length;
  const startups: { windowMs: number; activeMs: number; top: { fn: string; selfMs: number }[] }[] = [];
  for (let i = 0; i < s.startup.runs; i++) {
    const outfile = join(workDir, `startup-${i}.cpuprofile`);
    // The snapshot's own upload body, so start-up is measured on the very bundle the load ran.
    await wrangler(["check", "startup", "--workerBundle", stack.bundle.upload, "--outfile", outfile], { timeoutMs: 180_000 });
    const profile = JSON.parse(readFileSync(outfile, "utf8")) as CpuProfile;
    const sum = summarize("startup", profile, 8);
    startups.push({ windowMs: sum.windowMs, activeMs: sum.activeMs, top: sum.top });
  }
  const result = {
    wranglerTotalKiB: stack.bundle.totalKiB,
    wranglerGzipKiB: stack.bundle.gzipKiB,
    bytes: source.length,
    gzipBytes,
    startupActiveMs: median(startups.map((x) => x.activeMs)),
    startupWindowMs: median(startups.map((x) => x.windowMs)),
    startupTop: startups[0]?.top ?? [],
  };
  log(`  bundle: ${result.wranglerGzipKiB} KiB gzipped (wrangler), start-up ${result.startupActiveMs.toFixed(1)} ms active`);
  return result;
}

// --- 8. a production-shaped agent loop ---------------------------------------------------------

export const AGENT_TARGETS: TargetId[] = ["direct", "gateway-open", "gateway-policy", "modern-open", "peer"];

/** A small seeded generator (mulberry32), so every target of a loop gets the same tool times. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Tool times of one loop: log-normal around `medianMs` (σ 0.5: about two thirds within
 * 0.6× to 1.6× the median), clipped to [medianMs / 3, medianMs × 5], whole milliseconds.
 */
export function toolTimes(loop: number, steps: number, medianMs: number): number[] {
  const random = seeded(0x5eed + loop);
  return Array.from({ length: steps }, () => {
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.round(Math.min(medianMs * 5, Math.max(medianMs / 3, medianMs * Math.exp(0.5 * normal))));
  });
}

/**
 * An agent's session as production sees it: connect (initialize), list the tools, then ten
 * tool calls one after another, each answered by a backend that takes tens of milliseconds
 * (jittered). Every target gets the same sequence of tool times in a loop, so the difference
 * to direct is the relay's alone; the gateway's share is that difference over the loop's time.
 */
export async function agentLoop(stack: Stack, s: Settings, log: Log) {
  const { loops, steps, medianMs, size } = s.agent;
  const targets = targetsFor(stack, AGENT_TARGETS);
  const work = (t: Target): string => t.echo.replace(/echo$/, "work");
  const perLoop: { times: number[]; byTarget: Record<string, { totalMs: number; setupMs: number; stepsMs: number; steps: number[] }> }[] = [];
  for (let loop = 0; loop < loops; loop++) {
    const times = toolTimes(loop, steps, medianMs);
    const byTarget: (typeof perLoop)[number]["byTarget"] = {};
    for (const target of rotated(targets, loop)) {
      const http = new Http();
      const session = openSession(http, target);
      try {
        const t0 = process.hrtime.bigint();
        await session.initialize();
        await session.request("tools/list", {});
        const setupMs = since(t0);
        const each: number[] = [];
        for (let i = 0; i < steps; i++) {
          const t = process.hrtime.bigint();
          await session.request("tools/call", { name: work(target), arguments: { ms: times[i], size } });
          each.push(since(t));
        }
        const totalMs = since(t0);
        byTarget[target.id] = { totalMs, setupMs, stepsMs: totalMs - setupMs, steps: each };
      } finally {
        await session.close();
        http.close();
      }
    }
    perLoop.push({ times, byTarget });
    log(`  agent loop ${loop + 1}/${loops} (tools ${times.reduce((a, b) => a + b, 0)} ms): ${AGENT_TARGETS.map((t) => `${t} ${byTarget[t]!.totalMs.toFixed(0)} ms`).join(", ")}`);
  }
  const summary: Record<string, { loopMs: number; toolMs: number; setupMs: number; addedMs: number; addedPerCallMs: number; share: number }> = {};
  for (const t of AGENT_TARGETS) {
    const tool = (l: (typeof perLoop)[number]): number => l.times.reduce((a, b) => a + b, 0);
    summary[t] = {
      loopMs: median(perLoop.map((l) => l.byTarget[t]!.totalMs)),
      toolMs: median(perLoop.map(tool)),
      setupMs: median(perLoop.map((l) => l.byTarget[t]!.setupMs)),
      // Paired per loop: the same tool times on every target.
      addedMs: median(perLoop.map((l) => l.byTarget[t]!.totalMs - l.byTarget.direct!.totalMs)),
      addedPerCallMs: median(perLoop.flatMap((l) => l.byTarget[t]!.steps.map((ms, i) => ms - l.byTarget.direct!.steps[i]!))),
      share: median(perLoop.map((l) => (l.byTarget[t]!.totalMs - l.byTarget.direct!.totalMs) / l.byTarget[t]!.totalMs)),
    };
  }
  return { params: s.agent, loops: perLoop, summary };
}

// --- the profile behind the CPU figures ---------------------------------------------------------

const GATEWAY_ISOLATE = "core:user:edge-mcp-gateway";

/**
 * Where the gateway's CPU per call goes: the V8 profiler samples the gateway isolate (its Worker
 * and Durable Objects run in it) every millisecond while one session sends `tools/call echo`
 * one after another, without policy, on the session path and on the stateless path; functions
 * are named by their source file and line through the bundle's source map. The profiler slows
 * JavaScript down: read shares, not absolute figures.
 */
export async function profileCalls(stack: Stack, s: Settings, log: Log) {
  const port = await findInspector(stack.pids.gatewayWorkerd, GATEWAY_ISOLATE);
  if (port === null) throw new Error("no inspector lists the gateway isolate");
  const source = sourceResolver(stack.bundle.file, stack.sourceRoot);
  const calls = s.profile.calls;
  const paths: Record<string, { workerdCpuMsPerCall: number; activeMsPerCall: number; gcMsPerCall: number; self: { fn: string; ms: number }[]; inclusive: { fn: string; ms: number }[] }> = {};
  for (const [path, id] of [
    ["session", "gateway-open"],
    ["stateless", "modern-open"],
  ] as const) {
    const target = targetsFor(stack, [id])[0]!;
    const http = new Http();
    const session = openSession(http, target);
    try {
      await session.initialize();
      for (let i = 0; i < 20; i++) await session.request("tools/call", { name: target.echo, arguments: { text: payload(-1, i) } });
      const pids = stack.pids.gatewayWorkerd;
      const cpu0 = pids.reduce((a, p) => a + cpuMs(p), 0);
      const { profiles } = await profileDuring(
        port,
        [GATEWAY_ISOLATE],
        async () => {
          for (let i = 0; i < calls; i++) await session.request("tools/call", { name: target.echo, arguments: { text: payload(0, i) } });
        },
        1000,
      );
      const cpu = (pids.reduce((a, p) => a + cpuMs(p), 0) - cpu0) / calls;
      const sum = summarize(path, profiles[GATEWAY_ISOLATE]!, 15, source);
      paths[path] = {
        workerdCpuMsPerCall: cpu,
        activeMsPerCall: sum.activeMs / calls,
        gcMsPerCall: sum.gcMs / calls,
        self: sum.top.map((f) => ({ fn: f.fn, ms: f.selfMs / calls })),
        inclusive: sum.inclusive.map((f) => ({ fn: f.fn, ms: f.totalMs / calls })),
      };
      log(`  profile, ${path} path: isolate active ${paths[path]!.activeMsPerCall.toFixed(2)} ms per call under the profiler; top: ${paths[path]!.self.slice(0, 3).map((f) => f.fn).join(", ")}`);
    } finally {
      await session.close();
      http.close();
    }
  }
  return { params: { ...s.profile, samplingUs: 1000 }, paths };
}
