/**
 * Tenant documents, beyond read and write (mounted after the admin bearer check):
 *
 * - `GET /admin/tenants`: the ids of every tenant, `{ tenants: string[] }` (from KV, so a tenant
 *   created in the last minute elsewhere may be missing until KV has it everywhere).
 * - `POST /admin/tenants/:id/validate`: a dry run of `PUT /admin/tenants/:id` with the same
 *   body. Nothing is stored. Valid: 200 `{ valid: true, version, tenant }` (the version a PUT
 *   would store now, and the document as it would be stored); invalid: the PUT's own answer,
 *   400 `{ error: "path: message" }`, or 409 for a hostname another tenant owns.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { hostKey } from "../tenant/hosts.ts";
import { prepareTenantWrite } from "./write.ts";
import { currentTenant, tenantKey } from "../tenant/store.ts";

/** The same cap as PUT (admin/routes.ts MAX_ADMIN_BODY_BYTES). */
export const MAX_VALIDATE_BODY_BYTES = 1024 * 1024;
/** KV lists at most 1,000 keys a page; ten pages is far beyond a console's tenant picker. */
const MAX_TENANT_LIST_PAGES = 10;

export const tenants = new Hono<AppEnv>();

tenants.get("/tenants", async (c) => {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_TENANT_LIST_PAGES; page++) {
    const listed = await c.env.CONFIG.list({ prefix: tenantKey(""), ...(cursor ? { cursor } : {}) });
    ids.push(...listed.keys.map((k) => k.name.slice(tenantKey("").length)));
    if (listed.list_complete) break;
    cursor = listed.cursor;
  }
  c.header("cache-control", "no-store");
  return c.json({ tenants: ids.sort() });
});

tenants.post("/tenants/:id/validate", async (c) => {
  // Exactly as PUT builds the document it stores.
  const prepared = await prepareTenantWrite(c, MAX_VALIDATE_BODY_BYTES);
  if (!prepared.ok) return prepared.response;
  const { id, tenant } = prepared;
  for (const hostname of tenant.hostnames) {
    const owner = await c.env.CONFIG.get(hostKey(hostname));
    if (owner !== null && owner !== id) return c.json({ error: `hostnames: '${hostname}' already belongs to another tenant` }, 409);
  }
  return c.json({ valid: true, version: tenant.version, tenant: tenant });
});
