/**
 * A user's connections changed (connected, disconnected, forgotten by an operator): the backend
 * that acts for them lists other tools now (its tools, or its connect tool), so each of the
 * user's live sessions drops that backend's lists and sends the list_changed notifications on its
 * standalone stream (MCP 2025-11-25 server/tools "List Changed Notification"). Sessions come from the tenant's
 * registry (durable-objects/monitor/TenantMonitor.ts), which learns of them in batches; a
 * session that has no stream open finds out at its next list. 2026-07-28 clients have no
 * session to tell: their lists are read afresh (server/utilities/caching).
 */
import type { Env } from "../env.ts";
import { logger } from "../observe/log.ts";
import { MODERN_VERSION } from "../protocol/modern.ts";

export async function announceConnectionChange(env: Env, tenant: string, principal: string, backend: string): Promise<void> {
  try {
    const live = await env.MONITORS.get(env.MONITORS.idFromName(tenant)).sessions();
    const mine = live.filter((s) => s.principal === principal && s.protocolVersion !== MODERN_VERSION);
    // The registry keys sessions by their object's id (worker/observe/requests.ts), not the client's session id.
    await Promise.allSettled(mine.map(async (s) => env.SESSIONS.get(env.SESSIONS.idFromString(s.id)).connectionsChanged(backend)));
  } catch (error) {
    logger.warn("connection_announce_failed", { tenant, principal, error: error instanceof Error ? error.message : "error" });
  }
}
