/**
 * The session Durable Object's SQLite layout. Every row here is something the session cannot
 * rebuild after an eviction or a restart; caches that can be refetched (backend lists) stay in
 * memory so an idle session stays small.
 *
 * Tables (an idle session has only `meta`; the others are created on first use, so a session that
 * never streams, lists or is asked anything by a backend keeps one page of its own)
 *   meta(k, v)                      session facts under 'session' (tenant, principal, client
 *                                   version/capabilities/info, created/last-seen times, log level),
 *                                   the id counter under 'counter', and per backend under
 *                                   'u:<backend>' its upstream session (id, version, capabilities)
 *   names(kind, exposed, backend, original)
 *                                   the reversible name table the client's names resolve through
 *                                   (created by the first list)
 *   pending(gw_id, backend, upstream_id, stream, method, created_at)
 *                                   server-to-client requests awaiting the client's answer
 *                                   (created by the first such request)
 *   streams(stream, done, created_at)
 *   stream_requests(stream, ids)    the client request ids a reply stream answers, so a stream
 *                                   whose producer died with the process can still answer them
 *   events(stream, seq, data)       SSE events per stream for Last-Event-ID replay; (stream, seq)
 *                                   is the key so a replay is one range read (these three are
 *                                   created by the first SSE stream)
 *
 * Tables keyed by their primary key are WITHOUT ROWID: the key is the table, with no second
 * b-tree (an autoindex page each). `events` keeps its rowid, which orders the size bound's pruning.
 * Databases of an earlier layout (every table at start, upstreams in their own table) are read
 * as they are; their upstream rows move into meta when the object next starts.
 */
import type { NameEntry } from "../../worker/broker/naming.ts";
import type { UpstreamInfo } from "../../worker/upstream/types.ts";
import type { PendingRequest, SessionStore } from "../../worker/engine/store.ts";

/** Events older than this after their stream finished are pruned: long enough to reconnect. */
export const EVENT_RETENTION_MS = 5 * 60 * 1000;
/** At most this many events are kept per session, newest first, however busy the session. */
export const MAX_EVENTS_PER_SESSION = 5_000;
/** A server-to-client request unanswered this long is forgotten. */
export const PENDING_TTL_MS = 10 * 60 * 1000;
/** Counter values reserved per storage write (nextCounter). */
export const COUNTER_BLOCK = 64;
/** The time-based part of prune() runs at most this often: it scans, and retention is minutes. */
export const PRUNE_INTERVAL_MS = 1_000;

const META_SCHEMA = "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID";
/** Upstream sessions are meta rows under this prefix (backend names never contain ':'). */
const UPSTREAM_KEY = "u:";
/** The first key after every UPSTREAM_KEY one (';' follows ':'). */
const UPSTREAM_KEY_END = "u;";

/** The tables created on first use, by what needs them (exported for tests that plant state). */
export const LAZY_SCHEMA = {
  names: "CREATE TABLE IF NOT EXISTS names (kind TEXT NOT NULL, exposed TEXT NOT NULL, backend TEXT NOT NULL, original TEXT NOT NULL, PRIMARY KEY (kind, exposed)) WITHOUT ROWID",
  pending: "CREATE TABLE IF NOT EXISTS pending (gw_id TEXT PRIMARY KEY, backend TEXT NOT NULL, upstream_id TEXT NOT NULL, stream TEXT NOT NULL, method TEXT NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID",
  streams: `
CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, done INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, finished_at INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (stream TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (stream, seq));
CREATE TABLE IF NOT EXISTS stream_requests (stream TEXT PRIMARY KEY, ids TEXT NOT NULL) WITHOUT ROWID;
`,
} as const;
type LazyGroup = keyof typeof LAZY_SCHEMA;

export interface SessionMeta {
  tenant: string;
  principal: string;
  clientVersion: string;
  clientCapabilities: Record<string, unknown>;
  clientInfo: Record<string, unknown>;
  createdAt: number;
  lastSeenAt: number;
  idleMs: number;
  logLevel?: string;
}

export class SessionStorage implements SessionStore {
  readonly #sql: SqlStorage;
  /** The counter block in hand: the next value to hand out and the last one reserved. */
  #counterNext = 1;
  #counterLast = 0;
  #prunedAt = 0;

  /** Lazy table groups known to exist (only ever added to: a miss is asked again, see #has). */
  readonly #created = new Set<LazyGroup>();

  constructor(storage: DurableObjectStorage) {
    this.#sql = storage.sql;
    const tables = new Set(this.#sql.exec<{ name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'").toArray().map((r) => r.name));
    if (!tables.has("meta")) this.#sql.exec(META_SCHEMA);
    for (const group of Object.keys(LAZY_SCHEMA) as LazyGroup[]) if (tables.has(group)) this.#created.add(group);
    if (tables.has("upstreams")) {
      // The earlier layout: upstream sessions had a table of their own.
      this.#sql.exec(`INSERT OR REPLACE INTO meta (k, v) SELECT '${UPSTREAM_KEY}' || backend, info FROM upstreams`);
      this.#sql.exec("DROP TABLE upstreams");
    }
  }

  /** Creates a group of tables on first use. */
  #ensure(group: LazyGroup): void {
    if (this.#created.has(group)) return;
    this.#sql.exec(LAZY_SCHEMA[group]);
    this.#created.add(group);
  }

  /** Whether a group's tables exist: readers of a table never created have nothing to read. */
  #has(group: LazyGroup): boolean {
    if (this.#created.has(group)) return true;
    const found = this.#sql.exec("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", group).toArray().length > 0;
    if (found) this.#created.add(group);
    return found;
  }

  // --- meta -------------------------------------------------------------------------------

  readMeta(): SessionMeta | null {
    const row = this.#sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'session'").toArray()[0];
    return row === undefined ? null : (JSON.parse(row.v) as SessionMeta);
  }

  writeMeta(meta: SessionMeta): void {
    this.#sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('session', ?)", JSON.stringify(meta));
  }

  /**
   * A session-wide counter for upstream request ids, stream ids and server-to-client ids. Values
   * are reserved COUNTER_BLOCK at a time (storage keeps the highest reserved), so most calls
   * write nothing; after an eviction the count goes on above the last block, so a value is
   * never handed out twice. (A write per value was two writes per tools/call: docs/benchmarks.md.)
   */
  nextCounter(): number {
    if (this.#counterNext > this.#counterLast) {
      const row = this.#sql
        .exec<{ v: string }>(
          "INSERT INTO meta (k, v) VALUES ('counter', ?) ON CONFLICT (k) DO UPDATE SET v = CAST(v AS INTEGER) + ? RETURNING v",
          String(COUNTER_BLOCK),
          COUNTER_BLOCK,
        )
        .one();
      this.#counterLast = Number(row.v);
      this.#counterNext = this.#counterLast - COUNTER_BLOCK + 1;
    }
    return this.#counterNext++;
  }

  // --- upstreams --------------------------------------------------------------------------

  readUpstreams(): UpstreamInfo[] {
    return this.#sql
      .exec<{ v: string }>("SELECT v FROM meta WHERE k >= ? AND k < ? ORDER BY k", UPSTREAM_KEY, UPSTREAM_KEY_END)
      .toArray()
      .map((r) => JSON.parse(r.v) as UpstreamInfo);
  }

  writeUpstream(info: UpstreamInfo): void {
    this.#sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", UPSTREAM_KEY + info.backend, JSON.stringify(info));
  }

  deleteUpstream(backend: string): void {
    this.#sql.exec("DELETE FROM meta WHERE k = ?", UPSTREAM_KEY + backend);
  }

  // --- names ------------------------------------------------------------------------------

  readNames(kind: string): NameEntry[] {
    if (!this.#has("names")) return [];
    return this.#sql
      .exec<{ exposed: string; backend: string; original: string }>(
        "SELECT exposed, backend, original FROM names WHERE kind = ?",
        kind,
      )
      .toArray()
      .map((r) => ({ exposed: r.exposed, backend: r.backend, original: r.original }));
  }

  writeNames(kind: string, entries: readonly NameEntry[]): void {
    this.#ensure("names");
    this.#sql.exec("DELETE FROM names WHERE kind = ?", kind);
    // One statement per 25 names (the bound-parameter limit is 100 per query), not one per name.
    for (let i = 0; i < entries.length; i += 25) {
      const part = entries.slice(i, i + 25);
      this.#sql.exec(`INSERT INTO names (kind, exposed, backend, original) VALUES ${part.map(() => "(?, ?, ?, ?)").join(", ")}`, ...part.flatMap((e) => [kind, e.exposed, e.backend, e.original]));
    }
  }

  // --- pending server-to-client requests --------------------------------------------------

  addPending(p: PendingRequest, now: number): void {
    this.#ensure("pending");
    this.#sql.exec(
      "INSERT OR REPLACE INTO pending (gw_id, backend, upstream_id, stream, method, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      p.gwId,
      p.backend,
      p.upstreamId,
      p.stream,
      p.method,
      now,
    );
  }

  takePending(gwId: string): PendingRequest | null {
    if (!this.#has("pending")) return null;
    const row = this.#sql
      .exec<{ gw_id: string; backend: string; upstream_id: string; stream: string; method: string }>(
        "DELETE FROM pending WHERE gw_id = ? RETURNING gw_id, backend, upstream_id, stream, method",
        gwId,
      )
      .toArray()[0];
    return row ? { gwId: row.gw_id, backend: row.backend, upstreamId: row.upstream_id, stream: row.stream, method: row.method } : null;
  }

  findPendingByUpstream(backend: string, upstreamId: string): PendingRequest | null {
    if (!this.#has("pending")) return null;
    const row = this.#sql
      .exec<{ gw_id: string; stream: string; method: string }>(
        "SELECT gw_id, stream, method FROM pending WHERE backend = ? AND upstream_id = ?",
        backend,
        upstreamId,
      )
      .toArray()[0];
    return row ? { gwId: row.gw_id, backend, upstreamId, stream: row.stream, method: row.method } : null;
  }

  // --- streams and events -----------------------------------------------------------------

  openStream(stream: string, now: number): void {
    this.#ensure("streams");
    this.#sql.exec("INSERT OR IGNORE INTO streams (stream, done, created_at) VALUES (?, 0, ?)", stream, now);
  }

  finishStream(stream: string, now: number): void {
    if (!this.#has("streams")) return;
    this.#sql.exec("UPDATE streams SET done = 1, finished_at = ? WHERE stream = ?", now, stream);
  }

  /** Records which client requests a reply stream answers. */
  recordRequests(stream: string, ids: readonly (string | number)[]): void {
    this.#ensure("streams");
    this.#sql.exec("INSERT OR REPLACE INTO stream_requests (stream, ids) VALUES (?, ?)", stream, JSON.stringify(ids));
  }

  /** The recorded requests of a stream that no logged event answers yet. */
  unansweredRequests(stream: string): (string | number)[] {
    if (!this.#has("streams")) return [];
    const row = this.#sql.exec<{ ids: string }>("SELECT ids FROM stream_requests WHERE stream = ?", stream).toArray()[0];
    if (!row) return [];
    const answered = new Set<string>();
    for (const event of this.eventsAfter(stream, 0)) {
      const message = JSON.parse(event.data) as Record<string, unknown>;
      if ("id" in message && ("result" in message || "error" in message)) answered.add(JSON.stringify(message.id));
    }
    return (JSON.parse(row.ids) as (string | number)[]).filter((id) => !answered.has(JSON.stringify(id)));
  }

  streamState(stream: string): { done: boolean } | null {
    if (!this.#has("streams")) return null;
    const row = this.#sql.exec<{ done: number }>("SELECT done FROM streams WHERE stream = ?", stream).toArray()[0];
    return row ? { done: row.done === 1 } : null;
  }

  appendEvent(stream: string, seq: number, data: string): void {
    this.#ensure("streams");
    this.#sql.exec("INSERT OR REPLACE INTO events (stream, seq, data) VALUES (?, ?, ?)", stream, seq, data);
  }

  /** Several events in as few statements as the bound-parameter limit allows (100 per query). */
  appendEvents(stream: string, rows: readonly { seq: number; data: string }[]): void {
    this.#ensure("streams");
    for (let i = 0; i < rows.length; i += 30) {
      const part = rows.slice(i, i + 30);
      this.#sql.exec(`INSERT OR REPLACE INTO events (stream, seq, data) VALUES ${part.map(() => "(?, ?, ?)").join(", ")}`, ...part.flatMap((r) => [stream, r.seq, r.data]));
    }
  }

  eventsAfter(stream: string, seq: number): { seq: number; data: string }[] {
    if (!this.#has("streams")) return [];
    return this.#sql
      .exec<{ seq: number; data: string }>("SELECT seq, data FROM events WHERE stream = ? AND seq > ? ORDER BY seq", stream, seq)
      .toArray();
  }

  lastSeq(stream: string): number {
    if (!this.#has("streams")) return 0;
    const row = this.#sql.exec<{ m: number | null }>("SELECT MAX(seq) AS m FROM events WHERE stream = ?", stream).one();
    return row.m ?? 0;
  }

  /** Drops finished streams past retention, surplus events, and stale pending requests. */
  prune(now: number): void {
    const streams = this.#has("streams");
    if (now - this.#prunedAt >= PRUNE_INTERVAL_MS) {
      this.#prunedAt = now;
      const cutoff = now - EVENT_RETENTION_MS;
      if (streams) {
        this.#sql.exec("DELETE FROM events WHERE stream IN (SELECT stream FROM streams WHERE done = 1 AND finished_at < ?)", cutoff);
        this.#sql.exec("DELETE FROM streams WHERE done = 1 AND finished_at < ?", cutoff);
        this.#sql.exec("DELETE FROM stream_requests WHERE stream NOT IN (SELECT stream FROM streams)");
      }
      if (this.#has("pending")) this.#sql.exec("DELETE FROM pending WHERE created_at < ?", now - PENDING_TTL_MS);
    }
    if (!streams) return;
    // The size bound stays exact at every call: the rowid span bounds the count from above in one
    // index lookup, and only a span past the limit pays for counting.
    const span = this.#sql.exec<{ n: number | null }>("SELECT MAX(rowid) - MIN(rowid) + 1 AS n FROM events").one().n ?? 0;
    if (span <= MAX_EVENTS_PER_SESSION) return;
    const count = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n;
    if (count > MAX_EVENTS_PER_SESSION) {
      this.#sql.exec(
        "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY rowid LIMIT ?)",
        count - MAX_EVENTS_PER_SESSION,
      );
    }
  }
}
