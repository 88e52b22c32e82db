/**
 * The audit trail in D1 (schema: migrations/0001_audit.sql): one row per call, read, get and
 * denial. Arguments and results are kept only when the tenant's policy says so; secrets never
 * (credentials are headers, which are never recorded).
 *
 * Rows are written off the reply's path and in batches (`queueAudit`): a decided call adds its
 * row to this isolate's buffer, and the buffer goes to D1 as one `batch()` (one round trip, one
 * transaction) AUDIT_FLUSH_MS after its first row, or at once when it holds AUDIT_BATCH_ROWS.
 * The flush is kept alive by the `waitUntil` of the request that started the batch, so a row is
 * in D1 within about AUDIT_FLUSH_MS of its call, and none is lost to an isolate that goes idle.
 * Measured: one insert per call cost about 1.5 ms of workerd CPU per call and 2 ms of wall time
 * (docs/benchmarks.md, "Per-call work").
 */
import { logger } from "../observe/log.ts";

/** How long the first row of a batch waits for company before the batch is written. */
export const AUDIT_FLUSH_MS = 100;
/** A batch this large is written at once (it bounds the buffer, and a D1 batch's size). */
export const AUDIT_BATCH_ROWS = 50;

export interface AuditEvent {
  at: number;
  tenant: string;
  principal: string;
  clientName?: string | undefined;
  sessionId?: string | undefined;
  /** The client's JSON-RPC id, as text. */
  requestId?: string | undefined;
  method: string;
  backend?: string | undefined;
  /** The tool, prompt or resource as the backend knows it. */
  item?: string | undefined;
  decision: "allow" | "deny";
  policyVersion: number;
  latencyMs?: number | undefined;
  outcome: "ok" | "error" | "denied" | "timeout" | "rate_limited" | "cancelled";
  /** Only what policy allows: the rule that decided, and arguments or results when enabled. */
  detail?: Record<string, unknown> | undefined;
}

const INSERT = `INSERT INTO audit_events (id, at, tenant, principal, client_name, session_id, request_id, method, backend, item, decision, policy_version, latency_ms, outcome, detail)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

function statement(db: D1Database, event: AuditEvent): D1PreparedStatement {
  return db
    .prepare(INSERT)
    .bind(
      crypto.randomUUID(),
      event.at,
      event.tenant,
      event.principal,
      event.clientName ?? null,
      event.sessionId ?? null,
      event.requestId ?? null,
      event.method,
      event.backend ?? null,
      event.item ?? null,
      event.decision,
      event.policyVersion,
      event.latencyMs ?? null,
      event.outcome,
      event.detail ? JSON.stringify(event.detail) : null,
    );
}

/**
 * Writes events now, in one batch; failures are logged, never surfaced to the client (auditing
 * must not break calls). A batch is one transaction, so when it fails each row is tried alone:
 * one row D1 refuses does not take the others with it.
 */
export async function recordAudit(db: D1Database | undefined, ...events: AuditEvent[]): Promise<void> {
  if (!db || events.length === 0) return;
  if (events.length > 1) {
    try {
      await db.batch(events.map((e) => statement(db, e)));
      return;
    } catch {
      // Row by row below, so the log names what was lost.
    }
  }
  for (const event of events) {
    try {
      await statement(db, event).run();
    } catch (error) {
      logger.error("audit_write_failed", { tenant: event.tenant, requestId: event.requestId, error: error instanceof Error ? error.message : String(error) });
    }
  }
}

/** Rows waiting for their batch, per database binding (one per isolate in practice). */
const buffers = new Map<D1Database, { events: AuditEvent[]; timer: ReturnType<typeof setTimeout> | null; done: () => void }>();

/** Adds one event to this isolate's next batch (see the header); `waitUntil` keeps its write alive. */
export function queueAudit(db: D1Database | undefined, waitUntil: (promise: Promise<unknown>) => void, event: AuditEvent): void {
  if (!db) return;
  let buffer = buffers.get(db);
  if (!buffer) {
    let done!: () => void;
    const written = new Promise<void>((resolve) => (done = resolve));
    buffer = { events: [], timer: null, done };
    buffers.set(db, buffer);
    buffer.timer = setTimeout(() => void flushAudit(db), AUDIT_FLUSH_MS);
    waitUntil(written);
  }
  buffer.events.push(event);
  if (buffer.events.length >= AUDIT_BATCH_ROWS) void flushAudit(db);
}

/** Writes the buffered batch now (exported for tests and for a session's end). */
export async function flushAudit(db: D1Database): Promise<void> {
  const buffer = buffers.get(db);
  if (!buffer) return;
  buffers.delete(db);
  if (buffer.timer !== null) clearTimeout(buffer.timer);
  try {
    await recordAudit(db, ...buffer.events);
  } finally {
    buffer.done();
  }
}
