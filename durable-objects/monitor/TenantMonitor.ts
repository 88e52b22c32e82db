/**
 * The operator's view of one tenant: per-minute metrics, backend health as traffic and probes
 * saw it, and the registry of live client sessions. One object per tenant, named by the tenant id,
 * fed in batches by every isolate's metrics buffer (worker/observe/metrics.ts) and read by the
 * admin API (worker/admin/metrics.ts).
 *
 * Why an object of its own, not the TenantObject: the TenantObject answers "which config
 * version is current?" on every isolate's hot path; metrics writes are a different load, and a
 * slow or failing monitor must never delay a config check. Why not only Analytics Engine: it
 * stores nothing under `wrangler dev`, and reading it needs an API token; this object gives the
 * console the same numbers locally and in production. Analytics Engine stays the long-term record.
 *
 * Storage layout
 *   metrics(minute, kind, backend, method, tool, outcome  → count, total_ms, max_ms, events, buckets)
 *                                        one row per series and minute (aggregate.ts); buckets is
 *                                        the latency histogram as a JSON array
 *   health(backend → last_ok_at, last_error_at, last_error, failures)
 *   sessions(id → principal, client, protocol_version, created_at, last_seen_at, idle_ms, requests)
 *                                        id is the session object's id (as in audit rows), never
 *                                        the client's Mcp-Session-Id
 *
 * Lifecycle: metrics older than METRICS_RETENTION_MS are pruned; a session is dropped when the
 * Worker saw it end (DELETE, or 404 for its id) or once its idle time has passed without a
 * sighting, which is when its own object expires it. An alarm clears an unused monitor.
 */
import { DurableObject } from "cloudflare:workers";
import { mergeHealth, mergeRow, seriesKey, type BackendHealth, type Row } from "../../worker/observe/aggregate.ts";
import type { MonitorBatch } from "../../worker/observe/metrics.ts";

/** Metrics kept in the object: a day is what a console shows; Analytics Engine keeps the rest. */
export const METRICS_RETENTION_MS = 24 * 3600 * 1000;
/** Pruning runs at most this often (it is a range delete, cheap, but not needed per batch). */
const PRUNE_INTERVAL_MS = 10 * 60 * 1000;
/**
 * A session's object expires it idle time + its touch interval (≤ 5 s) after its last request
 * (SessionObject alarm); the registry waits a little longer before dropping it.
 */
export const SESSION_EXPIRY_SLACK_MS = 10_000;
/** The registry answers at most this many sessions (most recently seen first). */
export const MAX_LISTED_SESSIONS = 1_000;

export interface LiveSession {
  id: string;
  principal: string;
  client: string | null;
  protocolVersion: string | null;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  requests: number;
}

type MetricRow = {
  minute: number;
  kind: string;
  backend: string;
  method: string;
  tool: string;
  outcome: string;
  count: number;
  total_ms: number;
  max_ms: number;
  events: number;
  buckets: string;
};

export class TenantMonitor extends DurableObject<Env> {
  #prunedAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS metrics (minute INTEGER NOT NULL, kind TEXT NOT NULL, backend TEXT NOT NULL, method TEXT NOT NULL,
        tool TEXT NOT NULL, outcome TEXT NOT NULL, count INTEGER NOT NULL, total_ms REAL NOT NULL, max_ms REAL NOT NULL,
        events INTEGER NOT NULL, buckets TEXT NOT NULL, PRIMARY KEY (minute, kind, backend, method, tool, outcome));
      CREATE TABLE IF NOT EXISTS health (backend TEXT PRIMARY KEY, last_ok_at INTEGER, last_error_at INTEGER, last_error TEXT,
        failures INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, principal TEXT NOT NULL, client TEXT, protocol_version TEXT,
        created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, idle_ms INTEGER NOT NULL, requests INTEGER NOT NULL);
    `);
  }

  /** Merges one isolate's batch. */
  async ingest(batch: MonitorBatch, now = Date.now()): Promise<void> {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const row of batch.rows) this.#addRow(row);
      for (const h of batch.health) this.#addHealth(h);
      for (const s of batch.started) {
        sql.exec(
          `INSERT INTO sessions (id, principal, client, protocol_version, created_at, last_seen_at, idle_ms, requests) VALUES (?, ?, ?, ?, ?, ?, ?, 0)
           ON CONFLICT (id) DO UPDATE SET client = excluded.client, protocol_version = excluded.protocol_version, created_at = excluded.created_at`,
          s.id, s.principal, s.client, s.protocolVersion, s.createdAt, s.createdAt, s.idleMs,
        );
      }
      // Only sessions that started: an id the registry never saw start is not made up from a header.
      for (const [id, seen] of Object.entries(batch.seen)) {
        sql.exec("UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?), idle_ms = ?, requests = requests + ? WHERE id = ?", seen.at, seen.idleMs, seen.requests, id);
      }
      for (const id of batch.ended) sql.exec("DELETE FROM sessions WHERE id = ?", id);
    });
    if (now - this.#prunedAt > PRUNE_INTERVAL_MS) {
      this.#prune(now);
      await this.ctx.storage.setAlarm(now + METRICS_RETENTION_MS);
    }
  }

  /** The rows of every series since `sinceMs`, and backend health. */
  async metrics(sinceMs: number): Promise<{ rows: Row[]; health: BackendHealth[] }> {
    const rows = this.ctx.storage.sql
      .exec<MetricRow>("SELECT * FROM metrics WHERE minute >= ? ORDER BY minute", sinceMs)
      .toArray()
      .map(toRow);
    const health = this.ctx.storage.sql
      .exec<{ backend: string; last_ok_at: number | null; last_error_at: number | null; last_error: string | null; failures: number }>("SELECT * FROM health ORDER BY backend")
      .toArray()
      .map((h) => ({ backend: h.backend, lastOkAt: h.last_ok_at, lastErrorAt: h.last_error_at, lastError: h.last_error, failures: h.failures }));
    return { rows, health };
  }

  /** Live sessions, most recently seen first. */
  async sessions(now = Date.now()): Promise<LiveSession[]> {
    this.#expireSessions(now);
    return this.ctx.storage.sql
      .exec<{ id: string; principal: string; client: string | null; protocol_version: string | null; created_at: number; last_seen_at: number; idle_ms: number; requests: number }>(
        "SELECT * FROM sessions ORDER BY last_seen_at DESC LIMIT ?",
        MAX_LISTED_SESSIONS,
      )
      .toArray()
      .map((s) => ({
        id: s.id,
        principal: s.principal,
        client: s.client,
        protocolVersion: s.protocol_version,
        createdAt: s.created_at,
        lastSeenAt: s.last_seen_at,
        expiresAt: s.last_seen_at + s.idle_ms,
        requests: s.requests,
      }));
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.#prune(now);
    const left = this.ctx.storage.sql.exec<{ n: number }>("SELECT (SELECT COUNT(*) FROM metrics) + (SELECT COUNT(*) FROM sessions) AS n").one().n;
    if (left === 0) await this.ctx.storage.deleteAll();
    else await this.ctx.storage.setAlarm(now + METRICS_RETENTION_MS);
  }

  #addRow(row: Row): void {
    const sql = this.ctx.storage.sql;
    const stored = sql
      .exec<MetricRow>(
        "SELECT * FROM metrics WHERE minute = ? AND kind = ? AND backend = ? AND method = ? AND tool = ? AND outcome = ?",
        row.minute, row.kind, row.backend, row.method, row.tool, row.outcome,
      )
      .toArray()[0];
    const merged = new Map<string, Row>();
    if (stored) mergeRow(merged, toRow(stored));
    mergeRow(merged, row);
    const m = merged.get(seriesKey(row))!;
    sql.exec(
      `INSERT OR REPLACE INTO metrics (minute, kind, backend, method, tool, outcome, count, total_ms, max_ms, events, buckets)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      m.minute, m.kind, m.backend, m.method, m.tool, m.outcome, m.count, m.totalMs, m.maxMs, m.events, JSON.stringify(m.buckets),
    );
  }

  #addHealth(later: BackendHealth): void {
    const sql = this.ctx.storage.sql;
    const row = sql
      .exec<{ last_ok_at: number | null; last_error_at: number | null; last_error: string | null; failures: number }>("SELECT * FROM health WHERE backend = ?", later.backend)
      .toArray()[0];
    const earlier = row ? { backend: later.backend, lastOkAt: row.last_ok_at, lastErrorAt: row.last_error_at, lastError: row.last_error, failures: row.failures } : undefined;
    const h = mergeHealth(earlier, later);
    sql.exec("INSERT OR REPLACE INTO health (backend, last_ok_at, last_error_at, last_error, failures) VALUES (?, ?, ?, ?, ?)", h.backend, h.lastOkAt, h.lastErrorAt, h.lastError, h.failures);
  }

  #prune(now: number): void {
    this.#prunedAt = now;
    this.ctx.storage.sql.exec("DELETE FROM metrics WHERE minute < ?", now - METRICS_RETENTION_MS);
    this.#expireSessions(now);
  }

  #expireSessions(now: number): void {
    this.ctx.storage.sql.exec("DELETE FROM sessions WHERE last_seen_at + idle_ms + ? < ?", SESSION_EXPIRY_SLACK_MS, now);
  }
}

function toRow(r: MetricRow): Row {
  return {
    minute: r.minute,
    kind: r.kind as Row["kind"],
    backend: r.backend,
    method: r.method,
    tool: r.tool,
    outcome: r.outcome,
    count: r.count,
    totalMs: r.total_ms,
    maxMs: r.max_ms,
    events: r.events,
    buckets: JSON.parse(r.buckets) as number[],
  };
}
