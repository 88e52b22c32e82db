/**
 * Where connectors attach: `GET /t/:tenant/tunnels/:backend/connect` with `Upgrade: websocket`,
 * `Authorization: Bearer <tunnel key>` and `X-Connector-Id` (scripts/connect.ts, docs/tunnels.md).
 * The tenant and its `transport: "tunnel"` backend must exist; the key is checked by that
 * backend's TunnelObject, which holds only its own keys, so a key for another tenant or backend
 * is refused (401) like a wrong one. A GET without the upgrade checks the key only (426 when
 * it is good), which the connector uses to tell a refused key from a network failure.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { GatewayError } from "../protocol/errors.ts";
import { loadTenant } from "../tenant/store.ts";
import { tunnelObject } from "../upstream/tunnel.ts";

export const tunnelRoutes = new Hono<AppEnv>();

tunnelRoutes.get("/:backend/connect", async (c) => {
  const tenantId = c.req.param("tenant") ?? "";
  const name = c.req.param("backend");
  const tenant = await loadTenant(c.env, tenantId);
  const backend = tenant?.backends.find((b) => b.name === name && b.transport === "tunnel");
  if (!tenant || !backend) throw new GatewayError("tenant_not_found", { detail: "no such tunnel backend" });
  const headers = new Headers();
  for (const name of ["authorization", "upgrade", "connection", "x-connector-id", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol"]) {
    const value = c.req.header(name);
    if (value !== undefined) headers.set(name, value);
  }
  return tunnelObject(c.env, tenant.id, backend.name).fetch(new Request("https://tunnel.internal/connect", { headers }));
});
