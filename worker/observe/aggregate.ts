/**
 * Metric aggregation, pure. The same code pre-aggregates events in an isolate's buffer
 * (metrics.ts) and merges the buffers' batches in the tenant's monitor object
 * (durable-objects/monitor/TenantMonitor.ts), so a batch grows with the number of distinct
 * series in it, never with traffic.
 *
 * A series is one minute of one (kind, backend, method, tool, outcome). Its value is a count, a
 * latency sum and maximum, an event count (SSE events, for streams) and a latency histogram with
 * fixed bounds, so percentiles of merged series stay computable (to the bucket's upper bound).
 */

/**
 * What is measured:
 * - `request`  one HTTP request to a tenant's MCP endpoint, in the Worker; its duration is the
 *              gateway's own latency (to the response headers; a stream goes on after that);
 * - `call`     one tools/call, resources/read or prompts/get as the session decided and ran it
 *              (the audit row's outcome: ok, error, timeout, denied, rate_limited, cancelled);
 * - `backend`  one request relayed to a backend, until its final response;
 * - `stream`   one SSE reply stream, from open to close, with its event count;
 * - `probe`    one health probe of a backend from the admin API.
 */
export type MetricKind = "request" | "call" | "backend" | "stream" | "probe";

export interface MetricEvent {
  kind: MetricKind;
  tenant: string;
  backend?: string | undefined;
  method?: string | undefined;
  /** The tool, prompt or resource: as the client named it (request) or the backend knows it. */
  tool?: string | undefined;
  /** "ok", or the kind of failure (a gateway error kind, an upstream error kind, "rpc_error"). */
  outcome: string;
  durationMs?: number | undefined;
  /** SSE events sent (streams). */
  events?: number | undefined;
  /** Unix ms. */
  at: number;
}

/** Series are per minute: fine enough for a console, coarse enough to stay small. */
export const SERIES_MS = 60_000;
/**
 * Latency histogram upper bounds, ms, roughly ×2–2.5 apart (a bucket's upper bound is the
 * percentile estimate, so the error is at most that factor). A last bucket takes the rest.
 */
export const LATENCY_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000] as const;
/** Tool names and methods come from clients and backends: cut so a series key stays small. */
export const MAX_DIMENSION_CHARS = 128;

export interface Series {
  minute: number;
  kind: MetricKind;
  backend: string;
  method: string;
  tool: string;
  outcome: string;
}

export interface Row extends Series {
  count: number;
  totalMs: number;
  maxMs: number;
  events: number;
  /** LATENCY_BOUNDS_MS.length + 1 counts. */
  buckets: number[];
}

export function seriesKey(s: Series): string {
  return JSON.stringify([s.minute, s.kind, s.backend, s.method, s.tool, s.outcome]);
}

function dimension(value: string | undefined): string {
  return (value ?? "").slice(0, MAX_DIMENSION_CHARS);
}

export function bucketOf(ms: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return i === -1 ? LATENCY_BOUNDS_MS.length : i;
}

/** The row one event makes on its own. */
export function rowOf(event: MetricEvent): Row {
  const ms = Math.max(0, event.durationMs ?? 0);
  const buckets = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  if (event.durationMs !== undefined) buckets[bucketOf(ms)] = 1;
  return {
    minute: Math.floor(event.at / SERIES_MS) * SERIES_MS,
    kind: event.kind,
    backend: dimension(event.backend),
    method: dimension(event.method),
    tool: dimension(event.tool),
    outcome: dimension(event.outcome),
    count: 1,
    totalMs: ms,
    maxMs: ms,
    events: event.events ?? 0,
    buckets,
  };
}

/** Adds `row` into `rows` (same series: summed; new series: inserted). */
export function mergeRow(rows: Map<string, Row>, row: Row): void {
  const key = seriesKey(row);
  const into = rows.get(key);
  if (!into) {
    rows.set(key, { ...row, buckets: [...row.buckets] });
    return;
  }
  into.count += row.count;
  into.totalMs += row.totalMs;
  into.maxMs = Math.max(into.maxMs, row.maxMs);
  into.events += row.events;
  for (const [i, n] of row.buckets.entries()) into.buckets[i] = (into.buckets[i] ?? 0) + n;
}

/** The q-quantile (0..1) of a histogram: the upper bound of the bucket it falls in, capped at the maximum. */
export function quantile(buckets: readonly number[], q: number, maxMs: number): number {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [i, n] of buckets.entries()) {
    seen += n;
    if (seen >= rank) return Math.min(LATENCY_BOUNDS_MS[i] ?? maxMs, maxMs);
  }
  return maxMs;
}

// --- summaries for the admin API ----------------------------------------------------------

export interface Latency {
  avg: number;
  p50: number;
  p95: number;
  max: number;
}

export interface Stat {
  count: number;
  /** Failures by kind; "ok" is not a failure. */
  errors: Record<string, number>;
  latencyMs: Latency | null;
}

export interface MetricsSummary {
  totals: {
    requests: number;
    requestErrors: number;
    calls: number;
    callErrors: number;
    denials: number;
    rateLimited: number;
    backendCalls: number;
    backendErrors: number;
    streams: number;
    streamEvents: number;
  };
  /** Per JSON-RPC method (or HTTP verb for GET/DELETE) and tool as the client named it. */
  requests: (Stat & { method: string; tool: string })[];
  /** Per backend, method and tool as the backend knows it: what the session decided and ran. */
  calls: (Stat & { backend: string; method: string; tool: string })[];
  /** Per backend, method and tool: the backend's own latency and failures. */
  backends: (Stat & { backend: string; method: string; tool: string })[];
  /** Refusals by policy: at the endpoint (scopes) and per call (rules, quarantine, scopes). */
  denials: { backend: string; method: string; tool: string; reason: string; count: number }[];
  /** Rate-limit hits: at the endpoint (tenant and principal limits) and per tool. */
  rateLimits: { backend: string; method: string; tool: string; count: number }[];
  streams: { method: string; count: number; events: number; durationMs: Latency | null }[];
}

/** Outcomes that are a policy refusal rather than a failure of the gateway or a backend. */
const DENIAL_OUTCOMES = new Set(["denied", "insufficient_scope", "forbidden"]);

interface Group {
  dims: Record<string, string>;
  count: number;
  errors: Record<string, number>;
  totalMs: number;
  maxMs: number;
  timed: number;
  events: number;
  buckets: number[];
}

function groupBy(rows: readonly Row[], kind: MetricKind, dims: readonly (keyof Series)[]): Group[] {
  const groups = new Map<string, Group>();
  for (const row of rows) {
    if (row.kind !== kind) continue;
    const picked = Object.fromEntries(dims.map((d) => [d, String(row[d])]));
    const key = JSON.stringify(dims.map((d) => picked[d]));
    let g = groups.get(key);
    if (!g) {
      g = { dims: picked, count: 0, errors: {}, totalMs: 0, maxMs: 0, timed: 0, events: 0, buckets: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0) };
      groups.set(key, g);
    }
    g.count += row.count;
    if (row.outcome !== "ok") g.errors[row.outcome] = (g.errors[row.outcome] ?? 0) + row.count;
    g.totalMs += row.totalMs;
    g.maxMs = Math.max(g.maxMs, row.maxMs);
    g.events += row.events;
    for (const [i, n] of row.buckets.entries()) {
      g.buckets[i] = (g.buckets[i] ?? 0) + n;
      g.timed += n;
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

function latencyOf(g: Group): Latency | null {
  if (g.timed === 0) return null;
  return { avg: Math.round(g.totalMs / g.timed), p50: quantile(g.buckets, 0.5, g.maxMs), p95: quantile(g.buckets, 0.95, g.maxMs), max: Math.round(g.maxMs) };
}

function stat(g: Group): Stat {
  return { count: g.count, errors: g.errors, latencyMs: latencyOf(g) };
}

function failures(g: Group): number {
  return Object.values(g.errors).reduce((a, b) => a + b, 0);
}

export function summarize(rows: readonly Row[]): MetricsSummary {
  const requests = groupBy(rows, "request", ["method", "tool"]);
  const calls = groupBy(rows, "call", ["backend", "method", "tool"]);
  const backends = groupBy(rows, "backend", ["backend", "method", "tool"]);
  const streams = groupBy(rows, "stream", ["method"]);
  const refusals = [...groupBy(rows, "request", ["method", "tool", "outcome"]), ...groupBy(rows, "call", ["backend", "method", "tool", "outcome"])];
  const denials = refusals
    .filter((g) => DENIAL_OUTCOMES.has(g.dims.outcome!))
    .map((g) => ({ backend: g.dims.backend ?? "", method: g.dims.method!, tool: g.dims.tool!, reason: g.dims.outcome!, count: g.count }));
  const rateLimits = refusals
    .filter((g) => g.dims.outcome === "rate_limited")
    .map((g) => ({ backend: g.dims.backend ?? "", method: g.dims.method!, tool: g.dims.tool!, count: g.count }));
  const sum = (groups: Group[], f: (g: Group) => number) => groups.reduce((a, g) => a + f(g), 0);
  return {
    totals: {
      requests: sum(requests, (g) => g.count),
      requestErrors: sum(requests, failures),
      calls: sum(calls, (g) => g.count),
      callErrors: sum(calls, failures),
      denials: denials.reduce((a, d) => a + d.count, 0),
      rateLimited: rateLimits.reduce((a, d) => a + d.count, 0),
      backendCalls: sum(backends, (g) => g.count),
      backendErrors: sum(backends, failures),
      streams: sum(streams, (g) => g.count),
      streamEvents: sum(streams, (g) => g.events),
    },
    requests: requests.map((g) => ({ method: g.dims.method!, tool: g.dims.tool!, ...stat(g) })),
    calls: calls.map((g) => ({ backend: g.dims.backend!, method: g.dims.method!, tool: g.dims.tool!, ...stat(g) })),
    backends: backends.map((g) => ({ backend: g.dims.backend!, method: g.dims.method!, tool: g.dims.tool!, ...stat(g) })),
    denials,
    rateLimits,
    streams: streams.map((g) => ({ method: g.dims.method!, count: g.count, events: g.events, durationMs: latencyOf(g) })),
  };
}

// --- backend health -----------------------------------------------------------------------

/** Upstream failures that say the backend itself is not well (timeouts, refusals, bad answers). */
const UNHEALTHY_OUTCOMES = new Set(["unreachable", "timeout", "http_status", "bad_response"]);

/** What traffic (and probes) told about one backend. */
export interface BackendHealth {
  backend: string;
  lastOkAt: number | null;
  lastErrorAt: number | null;
  lastError: string | null;
  /** Failures since the last success. */
  failures: number;
}

/** Whether an event says something about a backend's health, and what. */
export function healthSignal(event: MetricEvent): "ok" | "failed" | null {
  if ((event.kind !== "backend" && event.kind !== "probe") || !event.backend) return null;
  // A JSON-RPC error is an answer: the backend is up, the request was wrong.
  if (event.outcome === "ok" || event.outcome === "rpc_error") return "ok";
  return UNHEALTHY_OUTCOMES.has(event.outcome) ? "failed" : null;
}

/** Folds one event into a backend's health (events arrive roughly in time order). */
export function noteHealth(health: Map<string, BackendHealth>, event: MetricEvent): void {
  const signal = healthSignal(event);
  if (!signal) return;
  const backend = event.backend!;
  const h = health.get(backend) ?? { backend, lastOkAt: null, lastErrorAt: null, lastError: null, failures: 0 };
  if (signal === "ok") {
    h.lastOkAt = Math.max(h.lastOkAt ?? 0, event.at);
    h.failures = 0;
  } else {
    h.lastErrorAt = Math.max(h.lastErrorAt ?? 0, event.at);
    h.lastError = event.outcome;
    h.failures += 1;
  }
  health.set(backend, h);
}

/** Merges a batch's view of a backend (`later`) into what was known before (`earlier`). */
export function mergeHealth(earlier: BackendHealth | undefined, later: BackendHealth): BackendHealth {
  if (!earlier) return { ...later };
  const okInBatch = later.lastOkAt !== null;
  return {
    backend: later.backend,
    lastOkAt: Math.max(earlier.lastOkAt ?? 0, later.lastOkAt ?? 0) || null,
    lastErrorAt: Math.max(earlier.lastErrorAt ?? 0, later.lastErrorAt ?? 0) || null,
    lastError: later.lastError ?? earlier.lastError,
    // A success in the batch reset the run of failures; without one, the run goes on.
    failures: okInBatch ? later.failures : earlier.failures + later.failures,
  };
}

/** up: the last word was a success; down: a failure; unknown: no traffic or probe yet. */
export function healthStatus(h: BackendHealth | undefined): "up" | "down" | "unknown" {
  if (!h || (h.lastOkAt === null && h.lastErrorAt === null)) return "unknown";
  return (h.lastOkAt ?? 0) >= (h.lastErrorAt ?? 0) ? "up" : "down";
}
