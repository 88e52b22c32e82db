/**
 * The admin API (`/admin/*`, bearer ADMIN_TOKEN): read, write and delete tenant configs.
 * Every write is validated (the error names the field) and bumps the tenant's version.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { GatewayError } from "../protocol/errors.ts";
import { currentTenant, deleteTenant, saveTenant, tenantObject } from "../tenant/store.ts";
import { assignHosts } from "../tenant/hosts.ts";
import { prepareTenantWrite } from "./write.ts";
import { audit } from "./audit.ts";
import { apiKeys } from "./apiKeys.ts";
import { catalog } from "./catalog.ts";
import { consoleRoutes } from "./console/routes.ts";
import { metrics } from "./metrics.ts";
import { oauthAdmin } from "./oauth.ts";
import { approvalsAdmin } from "./approvals.ts";
import { connectionsAdmin } from "./connections.ts";
import { tenants } from "./tenants.ts";
import { tunnelsAdmin } from "./tunnels.ts";
import { clearRemovedTunnels } from "../upstream/tunnel.ts";

/** Tenant documents are small; anything bigger is a mistake or an attack. */
export const MAX_ADMIN_BODY_BYTES = 1024 * 1024;

export const admin = new Hono<AppEnv>();

// The console's static shell comes before the bearer check: a browser cannot send the token when
// it navigates, and the shell holds no data (console/routes.ts). Its data calls are checked below.
admin.route("/console", consoleRoutes);

admin.use("*", async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  const header = c.req.header("authorization") ?? "";
  const presented = header.startsWith("Bearer ") ? header.slice(7) : "";
  // No token configured means no admin API, rather than an open one.
  if (!expected || !(await constantTimeEqual(presented, expected))) {
    throw new GatewayError("unauthorized", { headers: { "www-authenticate": 'Bearer realm="admin"' }, detail: "admin token mismatch" });
  }
  await next();
});

admin.get("/tenants/:id", async (c) => {
  const tenant = await currentTenant(c.env, c.req.param("id"));
  if (!tenant) throw new GatewayError("tenant_not_found");
  return c.json(tenant);
});

admin.put("/tenants/:id", async (c) => {
  const prepared = await prepareTenantWrite(c, MAX_ADMIN_BODY_BYTES);
  if (!prepared.ok) return prepared.response;
  const { id, tenant, previous } = prepared;
  const taken = await assignHosts(c.env.CONFIG, id, previous?.hostnames ?? [], tenant.hostnames);
  if (taken) return c.json({ error: `hostnames: '${taken}' already belongs to another tenant` }, 409);
  // Two concurrent writes may read the same version; the object accepts only the first.
  if (!(await saveTenant(c.env, tenant))) return c.json({ error: "version: a concurrent write won; retry" }, 409);
  await clearRemovedTunnels(c.env, id, previous?.backends ?? [], tenant.backends);
  return c.json(tenant, previous ? 200 : 201);
});

admin.delete("/tenants/:id", async (c) => {
  const id = c.req.param("id");
  const previous = await currentTenant(c.env, id);
  await assignHosts(c.env.CONFIG, id, previous?.hostnames ?? [], []);
  await deleteTenant(c.env, id);
  await clearRemovedTunnels(c.env, id, previous?.backends ?? [], []);
  return c.body(null, 204);
});

/** Pinned tool definitions: what each backend's tools hashed to, and which changed since approval. */
admin.get("/tenants/:id/pins", async (c) => {
  const id = c.req.param("id");
  if (!(await currentTenant(c.env, id))) throw new GatewayError("tenant_not_found");
  return c.json({ pins: await tenantObject(c.env, id).pins() });
});

/**
 * Approves a tool's current definition. The tenant's version is bumped so every live session
 * drops its caches and shows the tool again within seconds.
 */
admin.post("/tenants/:id/pins/:backend/:tool/approve", async (c) => {
  const id = c.req.param("id");
  const tenant = await currentTenant(c.env, id);
  if (!tenant) throw new GatewayError("tenant_not_found");
  if (!(await tenantObject(c.env, id).approve(c.req.param("backend"), c.req.param("tool")))) {
    return c.json({ error: "no such pinned tool" }, 404);
  }
  await saveTenant(c.env, { ...tenant, version: tenant.version + 1 });
  return c.json({ approved: true, version: tenant.version + 1 });
});

admin.route("/", audit);
admin.route("/", apiKeys);
admin.route("/", metrics);
admin.route("/", catalog);
admin.route("/", oauthAdmin);
admin.route("/", approvalsAdmin);
admin.route("/", connectionsAdmin);
admin.route("/", tunnelsAdmin);
admin.route("/", tenants);

/** Compares digests so neither the length nor the content of the token leaks through timing. */
async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(da, db);
}
