/** Metric aggregation (worker/observe/aggregate.ts): series, histograms, summaries, backend health. */
import { describe, expect, it } from "vitest";
import {
  bucketOf,
  healthStatus,
  LATENCY_BOUNDS_MS,
  mergeHealth,
  mergeRow,
  noteHealth,
  quantile,
  rowOf,
  SERIES_MS,
  summarize,
  type BackendHealth,
  type MetricEvent,
  type Row,
} from "../../../worker/observe/aggregate.ts";

const T0 = 1_800_000_000_000;

function event(partial: Partial<MetricEvent>): MetricEvent {
  return { kind: "request", tenant: "acme", outcome: "ok", at: T0, ...partial };
}

function aggregate(events: MetricEvent[]): Row[] {
  const rows = new Map<string, Row>();
  for (const e of events) mergeRow(rows, rowOf(e));
  return [...rows.values()];
}

describe("series", () => {
  it("one series per minute and dimensions; counts, sums and histograms add up", () => {
    const rows = aggregate([
      event({ method: "tools/call", tool: "a", durationMs: 3 }),
      event({ method: "tools/call", tool: "a", durationMs: 40, at: T0 + 1_000 }),
      event({ method: "tools/call", tool: "a", durationMs: 7, at: T0 + SERIES_MS }),
      event({ method: "tools/call", tool: "b", durationMs: 1 }),
    ]);
    expect(rows).toHaveLength(3);
    const first = rows.find((r) => r.tool === "a" && r.minute === Math.floor(T0 / SERIES_MS) * SERIES_MS)!;
    expect(first).toMatchObject({ count: 2, totalMs: 43, maxMs: 40 });
    expect(first.buckets.reduce((a, b) => a + b, 0)).toBe(2);
    expect(first.buckets).toHaveLength(LATENCY_BOUNDS_MS.length + 1);
  });

  it("merging is the same whether it happens in an isolate or in the monitor", () => {
    const events = Array.from({ length: 50 }, (_, i) => event({ method: "ping", durationMs: i * 7, at: T0 + i }));
    const once = aggregate(events);
    const halves = new Map<string, Row>();
    for (const row of [...aggregate(events.slice(0, 20)), ...aggregate(events.slice(20))]) mergeRow(halves, row);
    expect([...halves.values()]).toEqual(once);
  });

  it("cuts long dimensions so a series key stays small", () => {
    expect(rowOf(event({ tool: "t".repeat(1_000) })).tool.length).toBe(128);
  });
});

describe("quantiles", () => {
  it("are the upper bound of the bucket the rank falls in, never above the maximum", () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(5)).toBe(0);
    expect(bucketOf(6)).toBe(1);
    expect(bucketOf(10 * 60_000)).toBe(LATENCY_BOUNDS_MS.length);
    const buckets = new Array(LATENCY_BOUNDS_MS.length + 1).fill(0);
    buckets[bucketOf(3)] = 90; // 90 fast
    buckets[bucketOf(800)] = 10; // 10 slow
    expect(quantile(buckets, 0.5, 900)).toBe(5);
    expect(quantile(buckets, 0.95, 900)).toBe(900);
    expect(quantile(buckets, 0.95, 2_000)).toBe(1_000);
    expect(quantile(new Array(14).fill(0), 0.5, 0)).toBe(0);
  });
});

describe("summaries", () => {
  it("group by method and tool, count failures by kind, and list denials and rate-limit hits", () => {
    const s = summarize(
      aggregate([
        event({ method: "tools/call", tool: "w__f", durationMs: 20 }),
        event({ method: "tools/call", tool: "w__f", outcome: "rate_limited", durationMs: 2 }),
        event({ method: "POST", outcome: "unauthorized", durationMs: 1 }),
        event({ kind: "call", backend: "w", method: "tools/call", tool: "f", outcome: "denied" }),
        event({ kind: "call", backend: "w", method: "tools/call", tool: "f", outcome: "ok", durationMs: 15 }),
        event({ kind: "backend", backend: "w", method: "tools/call", tool: "f", outcome: "ok", durationMs: 12 }),
        event({ kind: "backend", backend: "w", method: "tools/call", tool: "f", outcome: "timeout", durationMs: 10_000 }),
        event({ kind: "stream", method: "tools/call", durationMs: 30, events: 4 }),
      ]),
    );
    expect(s.totals).toEqual({
      requests: 3, requestErrors: 2, calls: 2, callErrors: 1, denials: 1, rateLimited: 1, backendCalls: 2, backendErrors: 1, streams: 1, streamEvents: 4,
    });
    expect(s.requests.find((r) => r.tool === "w__f")).toMatchObject({ count: 2, errors: { rate_limited: 1 } });
    expect(s.backends[0]).toMatchObject({ backend: "w", count: 2, errors: { timeout: 1 }, latencyMs: { max: 10_000, p50: 25 } });
    expect(s.denials).toEqual([{ backend: "w", method: "tools/call", tool: "f", reason: "denied", count: 1 }]);
    expect(s.rateLimits).toEqual([{ backend: "", method: "tools/call", tool: "w__f", count: 1 }]);
    expect(s.streams).toEqual([{ method: "tools/call", count: 1, events: 4, durationMs: { avg: 30, p50: 30, p95: 30, max: 30 } }]);
  });
});

describe("backend health", () => {
  it("is up after a success, down after a failure, and counts the failures since the last success", () => {
    const health = new Map<string, BackendHealth>();
    noteHealth(health, event({ kind: "backend", backend: "w", outcome: "ok", at: 1 }));
    noteHealth(health, event({ kind: "backend", backend: "w", outcome: "unreachable", at: 2 }));
    noteHealth(health, event({ kind: "backend", backend: "w", outcome: "timeout", at: 3 }));
    expect(health.get("w")).toEqual({ backend: "w", lastOkAt: 1, lastErrorAt: 3, lastError: "timeout", failures: 2 });
    expect(healthStatus(health.get("w"))).toBe("down");
    // A JSON-RPC error is an answer: the backend is up.
    noteHealth(health, event({ kind: "probe", backend: "w", outcome: "rpc_error", at: 4 }));
    expect(healthStatus(health.get("w"))).toBe("up");
    expect(health.get("w")!.failures).toBe(0);
    // Requests and refusals say nothing about a backend.
    noteHealth(health, event({ kind: "call", backend: "x", outcome: "denied" }));
    expect(health.has("x")).toBe(false);
    expect(healthStatus(undefined)).toBe("unknown");
  });

  it("merges batches: failures run on across batches until a success", () => {
    const earlier: BackendHealth = { backend: "w", lastOkAt: 1, lastErrorAt: 5, lastError: "timeout", failures: 2 };
    expect(mergeHealth(earlier, { backend: "w", lastOkAt: null, lastErrorAt: 9, lastError: "unreachable", failures: 1 })).toEqual({
      backend: "w", lastOkAt: 1, lastErrorAt: 9, lastError: "unreachable", failures: 3,
    });
    expect(mergeHealth(earlier, { backend: "w", lastOkAt: 10, lastErrorAt: null, lastError: null, failures: 0 })).toEqual({
      backend: "w", lastOkAt: 10, lastErrorAt: 5, lastError: "timeout", failures: 0,
    });
  });
});
