/**
 * Audit export: a tenant whose policy names `audit.export` has its audit rows sent, in batches,
 * to its HTTP sink (an operator's SIEM or log pipeline). Rows reach the AUDIT_EXPORT queue from
 * the same isolate batches that write D1 (audit.ts), and this consumer posts each tenant's share
 * of a queue batch as one JSON document:
 *
 *   POST <sink>  {"tenant": "<id>", "events": [<audit row>, ...]}
 *
 * with the tenant's `secretHeaders` (values from Worker secrets). Delivery is at least once: a
 * row's `id` is the same as in D1, so a sink can drop repeats. A sink that answers anything but
 * 2xx (redirects are not followed), or does not answer within SINK_TIMEOUT_MS, gets the rows
 * again later, with backoff, up to the queue's max_retries. Rows carry only what the tenant's
 * audit settings allow, and those settings are applied again at delivery: arguments or results
 * turned off since a row was queued are removed from it. A tenant that no longer exports (or no
 * longer exists) has its queued rows dropped.
 */
import type { AuditEvent } from "./audit.ts";
import { secretNamed } from "../env.ts";
import { logger } from "../observe/log.ts";
import { loadTenant } from "../tenant/store.ts";

export const SINK_TIMEOUT_MS = 10_000;
const MAX_RETRY_DELAY_S = 300;

/** The queue consumer (worker/index.ts): each tenant's rows of the batch go to its sink. */
export async function deliverAuditExports(batch: MessageBatch<AuditEvent>, env: Env): Promise<void> {
  const byTenant = new Map<string, Message<AuditEvent>[]>();
  for (const message of batch.messages) {
    const tenant = message.body?.tenant;
    if (typeof tenant !== "string") {
      message.ack();
      continue;
    }
    byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), message]);
  }
  await Promise.all([...byTenant].map(([tenant, messages]) => deliver(env, tenant, messages)));
}

async function deliver(env: Env, tenantId: string, messages: Message<AuditEvent>[]): Promise<void> {
  const tenant = await loadTenant(env, tenantId).catch(() => null);
  const audit = tenant?.policy.audit;
  const sink = audit?.export;
  if (!audit || !sink) {
    for (const message of messages) message.ack();
    logger.info("audit_export_dropped", { tenant: tenantId, rows: messages.length, reason: "the tenant has no audit export" });
    return;
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  for (const [name, secret] of Object.entries(sink.secretHeaders)) {
    const value = secretNamed(env, secret);
    if (value === undefined) {
      logger.error("audit_export_secret_missing", { tenant: tenantId, secret });
      return retry(messages);
    }
    headers[name] = value;
  }
  const events = messages.map((m) => allowedBy(audit, m.body));
  try {
    const response = await fetch(sink.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ tenant: tenantId, events }),
      redirect: "manual",
      signal: AbortSignal.timeout(SINK_TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (response.status >= 200 && response.status < 300) {
      for (const message of messages) message.ack();
      return;
    }
    logger.warn("audit_export_refused", { tenant: tenantId, rows: messages.length, status: response.status });
  } catch (error) {
    logger.warn("audit_export_failed", { tenant: tenantId, rows: messages.length, error: error instanceof Error ? error.name : "error" });
  }
  retry(messages);
}

/** Backoff: 10 s, 20 s, 40 s, ... at most MAX_RETRY_DELAY_S. */
function retry(messages: Message<AuditEvent>[]): void {
  for (const message of messages) message.retry({ delaySeconds: Math.min(MAX_RETRY_DELAY_S, 10 * 2 ** Math.max(0, message.attempts - 1)) });
}

/** The row as the tenant's audit settings allow it now. */
function allowedBy(audit: { arguments: boolean; results: boolean }, event: AuditEvent): AuditEvent {
  if (!event.detail || (audit.arguments && audit.results)) return event;
  const detail = { ...event.detail };
  if (!audit.arguments) delete detail.arguments;
  if (!audit.results) delete detail.result;
  return { ...event, detail };
}
