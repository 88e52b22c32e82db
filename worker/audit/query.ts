/**
 * Reading the audit trail (migrations/0001_audit.sql, 0002_actor_chain.sql): one tenant's events, newest first, with
 * equality filters, a time range and keyset paging on (at, id). Every value reaches D1 as a bound
 * parameter; the SQL text is built only from fixed fragments.
 */
import type { AuditEvent } from "./audit.ts";
import { fromBase64, toBase64Url } from "../protocol/encoding.ts";

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;

/** Where a page ended: the (at, id) of its last (oldest) event. */
export interface AuditCursor {
  at: number;
  id: string;
}

export interface AuditFilters {
  tenant: string;
  principal?: string | undefined;
  sessionId?: string | undefined;
  method?: string | undefined;
  decision?: AuditEvent["decision"] | undefined;
  outcome?: AuditEvent["outcome"] | undefined;
  backend?: string | undefined;
  item?: string | undefined;
  agent?: string | undefined;
  credential?: string | undefined;
  traceId?: string | undefined;
  /** Unix ms, inclusive: events at or after. */
  since?: number | undefined;
  /** Unix ms, exclusive: events strictly before (so adjacent ranges do not overlap). */
  until?: number | undefined;
  /** Page size: default 100, clamped to 1..1000. */
  limit?: number | undefined;
  /** Only events after this position in newest-first order (the previous page's `nextCursor`). */
  before?: AuditCursor | undefined;
}

/** An event as stored, with its row id. Columns that are NULL are left out. */
export type AuditRecord = Omit<AuditEvent, "policyVersion"> & { id: string; policyVersion?: number };

export interface AuditPage {
  events: AuditRecord[];
  /** Pass back as `before` (or `cursor` in the admin API) for the next, older page; null on the last page. */
  nextCursor: string | null;
}

/** Equality filters: filter key → column. A fixed map, so no caller text ever becomes SQL. */
const EQUALITY: ReadonlyArray<readonly [keyof AuditFilters, string]> = [
  ["principal", "principal"],
  ["sessionId", "session_id"],
  ["method", "method"],
  ["decision", "decision"],
  ["outcome", "outcome"],
  ["backend", "backend"],
  ["item", "item"],
  ["agent", "agent"],
  ["credential", "credential"],
  ["traceId", "trace_id"],
];

const COLUMNS =
  "id, at, tenant, principal, client_name, session_id, request_id, method, backend, item, decision, policy_version, latency_ms, outcome, detail, agent, actor, credential, trace_id";

interface Row {
  id: string;
  at: number;
  tenant: string;
  principal: string;
  client_name: string | null;
  session_id: string | null;
  request_id: string | null;
  method: string;
  backend: string | null;
  item: string | null;
  decision: string;
  policy_version: number | null;
  latency_ms: number | null;
  outcome: string;
  detail: string | null;
  agent: string | null;
  actor: string | null;
  credential: string | null;
  trace_id: string | null;
}

export async function queryAudit(db: D1Database, filters: AuditFilters): Promise<AuditPage> {
  const limit = clampLimit(filters.limit);
  const where: string[] = ["tenant = ?"];
  const params: (string | number)[] = [filters.tenant];
  for (const [key, column] of EQUALITY) {
    const value = filters[key];
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    params.push(value as string);
  }
  if (filters.since !== undefined) {
    where.push("at >= ?");
    params.push(filters.since);
  }
  if (filters.until !== undefined) {
    where.push("at < ?");
    params.push(filters.until);
  }
  if (filters.before !== undefined) {
    where.push("(at < ? OR (at = ? AND id < ?))");
    params.push(filters.before.at, filters.before.at, filters.before.id);
  }
  // One row more than asked tells whether an older page exists.
  params.push(limit + 1);
  const sql = `SELECT ${COLUMNS} FROM audit_events WHERE ${where.join(" AND ")} ORDER BY at DESC, id DESC LIMIT ?`;
  const { results } = await db
    .prepare(sql)
    .bind(...params)
    .all<Row>();
  const rows = results.slice(0, limit);
  const last = rows.at(-1);
  return {
    events: rows.map(toRecord),
    nextCursor: results.length > limit && last ? encodeAuditCursor({ at: last.at, id: last.id }) : null,
  };
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_AUDIT_LIMIT;
  return Math.min(MAX_AUDIT_LIMIT, Math.max(1, Math.trunc(limit)));
}

function toRecord(row: Row): AuditRecord {
  const record: AuditRecord = {
    id: row.id,
    at: row.at,
    tenant: row.tenant,
    principal: row.principal,
    method: row.method,
    decision: row.decision as AuditEvent["decision"],
    outcome: row.outcome as AuditEvent["outcome"],
  };
  if (row.client_name !== null) record.clientName = row.client_name;
  if (row.session_id !== null) record.sessionId = row.session_id;
  if (row.request_id !== null) record.requestId = row.request_id;
  if (row.backend !== null) record.backend = row.backend;
  if (row.item !== null) record.item = row.item;
  if (row.policy_version !== null) record.policyVersion = row.policy_version;
  if (row.latency_ms !== null) record.latencyMs = row.latency_ms;
  if (row.agent !== null) record.agent = row.agent;
  if (row.actor !== null) record.actor = row.actor;
  if (row.credential !== null) record.credential = row.credential;
  if (row.trace_id !== null) record.traceId = row.trace_id;
  if (row.detail !== null) {
    const detail = parseDetail(row.detail);
    if (detail) record.detail = detail;
  }
  return record;
}

/** `detail` is written by recordAudit as a JSON object; anything else is not handed out. */
function parseDetail(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// --- cursors ---------------------------------------------------------------------------------

/** Opaque to clients: base64url of `<at>.<id>`. */
export function encodeAuditCursor(cursor: AuditCursor): string {
  return toBase64Url(`${cursor.at}.${cursor.id}`);
}

/** The cursor a page handed out, or null when the text is not one. */
export function decodeAuditCursor(text: string): AuditCursor | null {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(text)) return null;
  const bytes = fromBase64(text);
  if (!bytes) return null;
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
  const match = /^(\d{1,16})\.(.{1,200})$/s.exec(decoded);
  if (!match) return null;
  const at = Number(match[1]);
  if (!Number.isSafeInteger(at)) return null;
  return { at, id: match[2]! };
}
