/**
 * Admin API for a tenant's authorization server (worker/oauth/; mounted on the admin router, so
 * its bearer check applies):
 *
 * - `GET  /admin/tenants/:id/oauth/grants`                 the grants (active, and revoked in the last day)
 * - `DELETE /admin/tenants/:id/oauth/grants/:grantId`      revokes one: its refresh tokens at once, its
 *                                                          access tokens within seconds (oauth/verify.ts)
 * - `GET  /admin/tenants/:id/oauth/clients`                clients with grants, registered or revoked
 * - `POST /admin/tenants/:id/oauth/clients/revoke`  `{clientId}`   revokes every grant of the client
 *                                                          and refuses it from now on
 * - `POST /admin/tenants/:id/oauth/clients/restore` `{clientId}`   lets it in again
 * - `POST /admin/tenants/:id/oauth/keys/rotate`            a new signing key now; tokens signed by the
 *                                                          old one stay valid until they expire
 *
 * Client ids are often URLs (Client ID Metadata Documents), so they travel in a JSON body, not the path.
 */
import { Hono, type Context } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.ts";
import { forgetTenantTokens } from "../oauth/verify.ts";
import { authority } from "../oauth/server.ts";
import { readTextCapped } from "../protocol/body.ts";
import { GatewayError } from "../protocol/errors.ts";
import { currentTenant, saveTenant } from "../tenant/store.ts";

const ClientBody = z.strictObject({ clientId: z.string().min(1).max(2048) });

export const oauthAdmin = new Hono<AppEnv>();

async function oauthTenantId(c: Context<AppEnv>): Promise<string> {
  const tenant = await currentTenant(c.env, c.req.param("id") ?? "");
  if (!tenant) throw new GatewayError("tenant_not_found");
  if (!tenant.auth.oauth) throw new GatewayError("tenant_not_found", { publicMessage: "Not Found: the tenant has no authorization server (auth.oauth)" });
  return tenant.id;
}

/**
 * After a revocation: this isolate forgets what it cached about the tenant's tokens, and the
 * tenant's version goes up, as an approved pin does, so every running session checks its grant
 * within seconds (the policy watch, worker/engine/policyWatch.ts) and ends if it was revoked.
 * Other isolates refuse the grant's tokens within GRANT_CHECK_MS (oauth/verify.ts).
 */
async function revoked(env: Env, id: string): Promise<void> {
  forgetTenantTokens(id);
  for (let attempt = 0; attempt < 3; attempt++) {
    const tenant = await currentTenant(env, id);
    if (!tenant || (await saveTenant(env, { ...tenant, version: tenant.version + 1 }))) return;
  }
}

oauthAdmin.get("/tenants/:id/oauth/grants", async (c) => {
  const id = await oauthTenantId(c);
  return c.json({ grants: await authority(c.env, id).grants() });
});

oauthAdmin.delete("/tenants/:id/oauth/grants/:grantId", async (c) => {
  const id = await oauthTenantId(c);
  if (!(await authority(c.env, id).revokeGrant(c.req.param("grantId")))) return c.json({ error: "no such active grant" }, 404);
  await revoked(c.env, id);
  return c.body(null, 204);
});

oauthAdmin.get("/tenants/:id/oauth/clients", async (c) => {
  const id = await oauthTenantId(c);
  return c.json({ clients: await authority(c.env, id).clients() });
});

oauthAdmin.post("/tenants/:id/oauth/clients/:action{revoke|restore}", async (c) => {
  const id = await oauthTenantId(c);
  let body: unknown;
  try {
    body = JSON.parse(await readTextCapped(c.req.raw, 8 * 1024));
  } catch {
    return c.json({ error: "body must be JSON: {\"clientId\": \"...\"}" }, 400);
  }
  const parsed = ClientBody.safeParse(body);
  if (!parsed.success) return c.json({ error: "body must be JSON: {\"clientId\": \"...\"}" }, 400);
  const store = authority(c.env, id);
  if (c.req.param("action") === "restore") return c.json({ restored: await store.unblockClient(parsed.data.clientId) });
  const revokedGrants = await store.revokeClient(parsed.data.clientId);
  if (revokedGrants > 0) await revoked(c.env, id);
  return c.json({ revokedGrants });
});

oauthAdmin.post("/tenants/:id/oauth/keys/rotate", async (c) => {
  const id = await oauthTenantId(c);
  const rotated = await authority(c.env, id).rotateKeys();
  forgetTenantTokens(id);
  return c.json(rotated);
});
