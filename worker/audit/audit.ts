/**
 * The audit trail in D1 (schema: migrations/0001_audit.sql): one row per call, read, get and
 * denial. Arguments and results are kept only when the tenant's policy says so; secrets never
 * (credentials are headers, which are never recorded).
 */
import { logger } from "../observe/log.ts";

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

/** Writes one event; failures are logged, never surfaced to the client (auditing must not break calls). */
export async function recordAudit(db: D1Database | undefined, event: AuditEvent): Promise<void> {
  if (!db) return;
  try {
    await db
      .prepare(
        `INSERT INTO audit_events (id, at, tenant, principal, client_name, session_id, request_id, method, backend, item, decision, policy_version, latency_ms, outcome, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
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
      )
      .run();
  } catch (error) {
    logger.error("audit_write_failed", { tenant: event.tenant, error: error instanceof Error ? error.message : String(error) });
  }
}
