/**
 * Looking at a tenant's backends from the admin API (mounted after its bearer check):
 *
 * - `GET /admin/tenants/:id/health`: probes every backend now (an `initialize`, or
 *   `server/discover`, under at most PROBE_TIMEOUT_MS) and answers `{ backends: ProbeResult[] }`;
 *   each probe is also a metric, so traffic health (GET …/metrics) learns from it.
 * - `GET /admin/tenants/:id/catalog?sub=&roles=&scopes=`: the merged tools, prompts and
 *   resources as that principal would see them, with the policy's decision on each and why
 *   (catalogView.ts). roles and scopes are comma- or space-separated. A backend that
 *   cannot be reached is named in `failed`, as fail-open would leave it out.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { inspectCatalog } from "./catalogView.ts";
import { recordMetric } from "../observe/metrics.ts";
import { listItems, probeBackends, withEachBackend } from "./probe.ts";
import { waitUntilOf } from "../observe/requests.ts";
import { GatewayError } from "../protocol/errors.ts";
import type { BackendList, ListKind } from "../broker/merge.ts";
import { currentTenant, tenantObject } from "../tenant/store.ts";

/** Query values are short lists of names; anything longer is a mistake. */
const MAX_PRINCIPAL_PARAM_CHARS = 1_024;
const KINDS: ListKind[] = ["tools", "prompts", "resources"];

export const catalog = new Hono<AppEnv>();

catalog.get("/tenants/:id/health", async (c) => {
  const tenant = await currentTenant(c.env, c.req.param("id"));
  if (!tenant) throw new GatewayError("tenant_not_found");
  const results = await probeBackends(c.env, tenant.backends, tenant.id);
  const waitUntil = waitUntilOf(c);
  for (const r of results) {
    if (r.status === "skipped") continue;
    recordMetric(c.env, waitUntil, { kind: "probe", tenant: tenant.id, backend: r.backend, outcome: r.error ?? "ok", durationMs: r.latencyMs ?? undefined, at: Date.now() });
  }
  c.header("cache-control", "no-store");
  return c.json({ backends: results });
});

catalog.get("/tenants/:id/catalog", async (c) => {
  const sub = c.req.query("sub") ?? "";
  const roles = c.req.query("roles") ?? "";
  const scopes = c.req.query("scopes") ?? "";
  for (const [name, value] of [["sub", sub], ["roles", roles], ["scopes", scopes]] as const) {
    if (value.length > MAX_PRINCIPAL_PARAM_CHARS) return c.json({ error: `${name}: must be at most ${MAX_PRINCIPAL_PARAM_CHARS} characters` }, 400);
  }
  if (sub.trim() === "") return c.json({ error: "sub: required (the principal's subject)" }, 400);
  const tenant = await currentTenant(c.env, c.req.param("id"));
  if (!tenant) throw new GatewayError("tenant_not_found");
  const principal = { sub: sub.trim(), roles: words(roles), scopes: words(scopes) };

  const [listed, pins] = await Promise.all([
    withEachBackend(c.env, tenant.backends, async (upstream, info, signal) => {
      const lists: Partial<Record<ListKind, unknown[]>> = {};
      for (const kind of KINDS) lists[kind] = await listItems(upstream, kind, signal);
      return lists;
    }, tenant.id),
    tenantObject(c.env, tenant.id).pins(),
  ]);
  const lists: Partial<Record<ListKind, BackendList[]>> = {};
  for (const kind of KINDS) {
    // Config order, as a session merges them.
    lists[kind] = tenant.backends.flatMap((b) => {
      const found = listed.ok.find((o) => o.backend === b.name);
      return found ? [{ backend: b.name, items: (found.value[kind] ?? []) as BackendList["items"] }] : [];
    });
  }
  c.header("cache-control", "no-store");
  return c.json({
    principal,
    policyVersion: tenant.version,
    pinning: tenant.policy.pinning,
    items: inspectCatalog(tenant, principal, lists, pins),
    failed: listed.failed,
  });
});

function words(text: string): string[] {
  return text.split(/[\s,]+/).filter((w) => w !== "");
}
