/**
 * What the gateway saw, per tenant (mounted on the admin router, so its bearer check applies):
 *
 * - `GET /admin/tenants/:id/metrics?minutes=60`: requests, calls, backend calls and streams of
 *   the last `minutes` (1..1440), by method, tool and backend, with failures by kind, latency
 *   (avg, p50, p95, max; percentiles to the histogram's bucket), denials and rate-limit hits;
 *   each configured backend's health as traffic and probes left it; the number of live sessions.
 * - `GET /admin/tenants/:id/sessions`: the live client sessions (the id is the session object's,
 *   as in audit rows), most recently seen first.
 *
 * Numbers come from the tenant's monitor object (durable-objects/monitor/TenantMonitor.ts), fed
 * in batches; this isolate's own pending batch is sent first, so what it just saw is counted.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { healthStatus, SERIES_MS, summarize } from "../observe/aggregate.ts";
import { flush } from "../observe/metrics.ts";
import { GatewayError } from "../protocol/errors.ts";
import { currentTenant } from "../tenant/store.ts";

export const DEFAULT_METRICS_MINUTES = 60;
/** The monitor keeps a day (METRICS_RETENTION_MS). */
export const MAX_METRICS_MINUTES = 24 * 60;

export const metrics = new Hono<AppEnv>();

metrics.get("/tenants/:id/metrics", async (c) => {
  const raw = c.req.query("minutes") ?? String(DEFAULT_METRICS_MINUTES);
  const minutes = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(minutes >= 1 && minutes <= MAX_METRICS_MINUTES)) return c.json({ error: `minutes: must be an integer from 1 to ${MAX_METRICS_MINUTES}` }, 400);
  const tenant = await currentTenant(c.env, c.req.param("id"));
  if (!tenant) throw new GatewayError("tenant_not_found");
  await flush(c.env);
  const to = Date.now();
  const from = Math.floor((to - minutes * 60_000) / SERIES_MS) * SERIES_MS;
  const monitor = c.env.MONITORS.get(c.env.MONITORS.idFromName(tenant.id));
  const [{ rows, health }, sessions] = await Promise.all([monitor.metrics(from), monitor.sessions()]);
  const byBackend = new Map(health.map((h) => [h.backend, h]));
  c.header("cache-control", "no-store");
  return c.json({
    tenant: tenant.id,
    from,
    to,
    minutes,
    ...summarize(rows),
    health: tenant.backends.map((b) => {
      const h = byBackend.get(b.name);
      return { backend: b.name, status: healthStatus(h), lastOkAt: h?.lastOkAt ?? null, lastErrorAt: h?.lastErrorAt ?? null, lastError: h?.lastError ?? null, failures: h?.failures ?? 0 };
    }),
    sessions: sessions.length,
  });
});

metrics.get("/tenants/:id/sessions", async (c) => {
  const tenant = await currentTenant(c.env, c.req.param("id"));
  if (!tenant) throw new GatewayError("tenant_not_found");
  await flush(c.env);
  c.header("cache-control", "no-store");
  return c.json({ sessions: await c.env.MONITORS.get(c.env.MONITORS.idFromName(tenant.id)).sessions() });
});
