/**
 * Where a metric event goes, in two places at once:
 *
 * 1. **Workers Analytics Engine** (`METRICS` binding, wrangler.toml): one data point per event,
 *    written without waiting (`writeDataPoint` returns at once and never throws at the caller).
 *    This is the production record: unbounded history, SQL over the HTTP API, Grafana. Layout:
 *    index1 = tenant; blob1..5 = kind, backend, method, tool, outcome; double1 = duration ms,
 *    double2 = events. Count with `SUM(_sample_interval)`.
 * 2. **The tenant's monitor object** (`MONITORS`, durable-objects/monitor/TenantMonitor.ts): a
 *    per-minute aggregate the admin API and the console read, so `npm start` (where Analytics
 *    Engine stores nothing) shows real numbers, and so does production without an API token.
 *
 * Cost per request: the data point, and a few map updates in this isolate's buffer. The buffer
 * is pre-aggregated (aggregate.ts) and flushed FLUSH_DELAY_MS after its first event, in the
 * background (`waitUntil`) of the request that started it: at most one monitor RPC per tenant
 * per isolate per FLUSH_DELAY_MS, however busy the tenant. Losing a buffer (the isolate dies
 * inside that window) loses half a second of console numbers; Analytics Engine has them all.
 */
import { mergeRow, noteHealth, rowOf, type BackendHealth, type MetricEvent, type Row } from "./aggregate.ts";
import { logger } from "./log.ts";

/** How long the first event of a batch waits for company before the batch is sent. */
export const FLUSH_DELAY_MS = 500;
/** A batch with this many series is sent at once (a burst of distinct tools must not grow memory). */
export const MAX_BATCH_SERIES = 2_000;
/**
 * A scheduled flush older than this is taken as lost (the request whose waitUntil held its timer
 * was cut short) and a new one is scheduled, so an isolate never stops sending.
 */
export const LOST_FLUSH_MS = 10_000;
/** A batch records at most this many session starts, ends and sightings. */
export const MAX_BATCH_SESSIONS = 2_000;

/** The bindings metrics go to; both optional, as before the Env was generated: a missing one is skipped. */
export type MetricsBindings = Partial<Pick<Env, "METRICS" | "MONITORS">>;

export type WaitUntil = (promise: Promise<unknown>) => void;

/** A client session as the registry knows it (the id is the session object's id, as in audit rows). */
export interface SessionStart {
  id: string;
  principal: string;
  client: string | null;
  protocolVersion: string | null;
  createdAt: number;
  idleMs: number;
}

export interface SessionSeen {
  at: number;
  requests: number;
  idleMs: number;
}

/** What one isolate sends one tenant's monitor. */
export interface MonitorBatch {
  rows: Row[];
  health: BackendHealth[];
  started: SessionStart[];
  /** Sessions used since the last batch. */
  seen: Record<string, SessionSeen>;
  ended: string[];
}

interface Pending {
  rows: Map<string, Row>;
  health: Map<string, BackendHealth>;
  started: SessionStart[];
  seen: Map<string, SessionSeen>;
  ended: string[];
}

const pending = new Map<string, Pending>();
let flushing: Promise<void> | null = null;
let flushScheduledAt = 0;

function pendingFor(tenant: string): Pending {
  let p = pending.get(tenant);
  if (!p) pending.set(tenant, (p = { rows: new Map(), health: new Map(), started: [], seen: new Map(), ended: [] }));
  return p;
}

/** Records one event: the Analytics Engine data point now, the monitor's share with the next batch. */
export function recordMetric(env: MetricsBindings, waitUntil: WaitUntil, event: MetricEvent): void {
  try {
    env.METRICS?.writeDataPoint({
      indexes: [event.tenant],
      blobs: [event.kind, event.backend ?? "", event.method ?? "", event.tool ?? "", event.outcome],
      doubles: [event.durationMs ?? 0, event.events ?? 0],
    });
  } catch (error) {
    logger.warn("metrics_write_failed", { tenant: event.tenant, error });
  }
  const p = pendingFor(event.tenant);
  mergeRow(p.rows, rowOf(event));
  noteHealth(p.health, event);
  schedule(env, waitUntil, p.rows.size >= MAX_BATCH_SERIES);
}

/** Session registry: a session began (its initialize succeeded), was used, or ended. */
export function recordSession(
  env: MetricsBindings,
  waitUntil: WaitUntil,
  tenant: string,
  change: { started: SessionStart } | { seen: string; at: number; idleMs: number } | { ended: string },
): void {
  const p = pendingFor(tenant);
  // Beyond that the change is dropped: the registry is a view (sessions work regardless), and
  // thousands of session changes per isolate in half a second are an attack, not a workload.
  if (p.started.length + p.seen.size + p.ended.length >= MAX_BATCH_SESSIONS) return;
  if ("started" in change) p.started.push(change.started);
  else if ("ended" in change) p.ended.push(change.ended);
  else {
    const requests = (p.seen.get(change.seen)?.requests ?? 0) + 1;
    p.seen.set(change.seen, { at: change.at, requests, idleMs: change.idleMs });
  }
  schedule(env, waitUntil, false);
}

function schedule(env: MetricsBindings, waitUntil: WaitUntil, now: boolean): void {
  if (!env.MONITORS) return;
  if (now) {
    waitUntil(flush(env));
    return;
  }
  if (flushing && Date.now() - flushScheduledAt < LOST_FLUSH_MS) return;
  flushScheduledAt = Date.now();
  const scheduled: Promise<void> = new Promise<void>((resolve) => setTimeout(resolve, FLUSH_DELAY_MS)).then(() => {
    if (flushing === scheduled) flushing = null;
    return flush(env);
  });
  flushing = scheduled;
  waitUntil(scheduled);
}

/** Sends every pending batch to its tenant's monitor. Exported for tests, which need numbers now. */
export async function flush(env: MetricsBindings): Promise<void> {
  const monitors = env.MONITORS;
  if (!monitors) return;
  const batches = [...pending.entries()];
  pending.clear();
  await Promise.all(
    batches.map(async ([tenant, p]) => {
      const batch: MonitorBatch = { rows: [...p.rows.values()], health: [...p.health.values()], started: p.started, seen: Object.fromEntries(p.seen), ended: p.ended };
      try {
        await monitors.get(monitors.idFromName(tenant)).ingest(batch);
      } catch (error) {
        // Console numbers only; Analytics Engine has the events. Never fails the request.
        logger.warn("metrics_flush_failed", { tenant, error });
      }
    }),
  );
}

