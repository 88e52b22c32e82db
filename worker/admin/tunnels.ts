/**
 * Admin API for tunnel connector keys (mounted on the admin router, so its bearer check applies;
 * docs/tunnels.md):
 *
 * - `POST /admin/tenants/:id/tunnels/:backend/keys` issues a key for that tenant's
 *   `transport: "tunnel"` backend and answers `{ id, key }`, this once (201); only its SHA-256 is kept;
 * - `GET /admin/tenants/:id/tunnels/:backend/keys` lists key ids (never a key) and the connectors attached;
 * - `DELETE /admin/tenants/:id/tunnels/:backend/keys/:keyId` revokes a key (204) and closes the
 *   tunnels attached with it at once.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { GatewayError } from "../protocol/errors.ts";
import { currentTenant } from "../tenant/store.ts";
import { tunnelObject, type TunnelStore } from "../upstream/tunnel.ts";

export const tunnelsAdmin = new Hono<AppEnv>();

/** The backend's TunnelObject, after checking the tenant declares it as a tunnel. */
async function tunnelOf(c: Context<AppEnv>): Promise<TunnelStore | Response> {
  const tenant = await currentTenant(c.env, c.req.param("id") ?? "");
  if (!tenant) throw new GatewayError("tenant_not_found");
  const name = c.req.param("backend") ?? "";
  const backend = tenant.backends.find((b) => b.name === name);
  if (!backend) return c.json({ error: `no backend '${name}'` }, 404);
  if (backend.transport !== "tunnel") return c.json({ error: `backend '${name}' is not a tunnel (transport '${backend.transport}')` }, 400);
  return tunnelObject(c.env, tenant.id, name);
}

tunnelsAdmin.post("/tenants/:id/tunnels/:backend/keys", async (c) => {
  const tunnel = await tunnelOf(c);
  if (tunnel instanceof Response) return tunnel;
  const issued = await tunnel.issueKey();
  if (!issued) return c.json({ error: "this backend holds the most keys it may; revoke one first" }, 409);
  c.header("cache-control", "no-store");
  return c.json(issued, 201);
});

tunnelsAdmin.get("/tenants/:id/tunnels/:backend/keys", async (c) => {
  const tunnel = await tunnelOf(c);
  if (tunnel instanceof Response) return tunnel;
  const [keys, connectors] = await Promise.all([tunnel.listKeys(), tunnel.connectors()]);
  c.header("cache-control", "no-store");
  return c.json({ keys, connectors });
});

tunnelsAdmin.delete("/tenants/:id/tunnels/:backend/keys/:keyId", async (c) => {
  const tunnel = await tunnelOf(c);
  if (tunnel instanceof Response) return tunnel;
  const keyId = c.req.param("keyId");
  return (await tunnel.revokeKey(keyId)) ? c.body(null, 204) : c.json({ error: `no tunnel key '${keyId}'` }, 404);
});
