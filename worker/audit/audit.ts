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
  /** The row's id, in D1 and in an export (given when the row is queued). */
  id?: string | undefined;
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
  outcome: "ok" | "error" | "denied" | "timeout" | "rate_limited" | "cancelled" | "approval_required";
  /** The OAuth client acting for the principal (Principal.agent). */
  agent?: string | undefined;
  /** Who acts for the principal, when its token says so (Principal.actor). */
  actor?: string | undefined;
  /** How the gateway authenticated to the backend (upstream/credentials.ts credentialMode). */
  credential?: string | undefined;
  /** The W3C trace id of the request. */
  traceId?: string | undefined;
  /** Only what policy allows: the rule that decided, and arguments or results when enabled. */
  detail?: Record<string, unknown> | undefined;
}

const INSERT = `INSERT INTO audit_events (id, at, tenant, principal, client_name, session_id, request_id, method, backend, item, decision, policy_version, latency_ms, outcome, detail, agent, actor, credential, trace_id)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

function statement(db: D1Database, event: AuditEvent): D1PreparedStatement {
  return db
    .prepare(INSERT)
    .bind(
      event.id ?? crypto.randomUUID(),
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
      event.agent ?? null,
      event.actor ?? null,
      event.credential ?? null,
      event.traceId ?? null,
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

/** A queue message is at most 128 KB; a row whose detail is larger goes without it. */
export const MAX_EXPORT_ROW_BYTES = 100_000;

/** The row as it is queued: without a detail too large for a queue message. */
export function exportable(event: AuditEvent): AuditEvent {
  if (!event.detail) return event;
  const size = JSON.stringify(event.detail).length;
  if (size <= MAX_EXPORT_ROW_BYTES) return event;
  return { ...event, detail: { rule: event.detail.rule, omitted: `detail of ${size} bytes is too large to export` } };
}

/** Rows waiting for their batch, per database binding (one per isolate in practice). */
const buffers = new Map<
  D1Database,
  { events: AuditEvent[]; exports: AuditEvent[]; queue: Queue<AuditEvent> | undefined; timer: ReturnType<typeof setTimeout> | null; done: () => void }
>();

/**
 * Adds one event to this isolate's next batch (see the header); `waitUntil` keeps its write
 * alive. With `exportTo` (the AUDIT_EXPORT queue, for a tenant whose policy names a sink), the
 * row also goes to that queue in the same batch (export.ts).
 */
export function queueAudit(db: D1Database | undefined, waitUntil: (promise: Promise<unknown>) => void, event: AuditEvent, exportTo?: Queue<AuditEvent>): void {
  if (!db) return;
  let buffer = buffers.get(db);
  if (!buffer) {
    let done!: () => void;
    const written = new Promise<void>((resolve) => (done = resolve));
    buffer = { events: [], exports: [], queue: undefined, timer: null, done };
    buffers.set(db, buffer);
    buffer.timer = setTimeout(() => void flushAudit(db), AUDIT_FLUSH_MS);
    waitUntil(written);
  }
  event.id ??= crypto.randomUUID();
  buffer.events.push(event);
  if (exportTo) {
    buffer.queue = exportTo;
    buffer.exports.push(exportable(event));
  }
  if (buffer.events.length >= AUDIT_BATCH_ROWS) void flushAudit(db);
}

/** One queue batch per flush; a queue that refuses loses the export, not the D1 rows (logged). */
async function sendExports(queue: Queue<AuditEvent> | undefined, events: AuditEvent[]): Promise<void> {
  if (!queue || events.length === 0) return;
  try {
    await queue.sendBatch(events.map((body) => ({ body, contentType: "json" as const })));
  } catch (error) {
    logger.error("audit_export_enqueue_failed", { rows: events.length, error: error instanceof Error ? error.message : String(error) });
  }
}

/** Writes the buffered batch now (exported for tests and for a session's end). */
export async function flushAudit(db: D1Database): Promise<void> {
  const buffer = buffers.get(db);
  if (!buffer) return;
  buffers.delete(db);
  if (buffer.timer !== null) clearTimeout(buffer.timer);
  try {
    await Promise.all([recordAudit(db, ...buffer.events), sendExports(buffer.queue, buffer.exports)]);
  } finally {
    buffer.done();
  }
}
