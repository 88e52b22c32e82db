/**
 * Admin API for users' connections to backends that act for them (docs/connections.md):
 *
 * - `GET    /admin/tenants/:id/connections[?principal=]`             who connected which backend (no token)
 * - `DELETE /admin/tenants/:id/connections/:principal/:backend`      forgets a user's grant: their
 *                                                                    next call there asks them to connect again
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { announceConnectionChange } from "../connections/announce.ts";
import { vaultOf } from "../connections/userTokens.ts";
import { requireTenant } from "../tenant/store.ts";

export const connectionsAdmin = new Hono<AppEnv>();

connectionsAdmin.get("/tenants/:id/connections", async (c) => {
  const id = (await requireTenant(c.env, c.req.param("id"))).id;
  const principal = c.req.query("principal");
  return c.json({ connections: await vaultOf(c.env, id).list(principal === undefined || principal === "" ? undefined : principal) });
});

connectionsAdmin.delete("/tenants/:id/connections/:principal/:backend", async (c) => {
  const id = (await requireTenant(c.env, c.req.param("id"))).id;
  const deleted = await vaultOf(c.env, id).delete(c.req.param("principal"), c.req.param("backend"));
  if (deleted) c.executionCtx.waitUntil(announceConnectionChange(c.env, id, c.req.param("principal"), c.req.param("backend")));
  return deleted ? c.body(null, 204) : c.json({ error: "no such connection" }, 404);
});
