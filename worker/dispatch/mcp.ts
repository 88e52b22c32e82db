/**
 * The client-facing MCP endpoint of a tenant: POST, GET and DELETE on `/t/{tenant}/mcp`
 * (2025-11-25 basic/transports "Streamable HTTP"), each run through the stages in order:
 * ① guard, ② authenticate, ③ tenant (already resolved by middleware), ④ dispatch.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { checkGetMediaTypes, checkOrigin, checkPostMediaTypes, checkProtocolVersionHeader, readMessages, sessionIdOf } from "../ingress/guard.ts";
import { authenticate } from "../auth/authenticate.ts";
import { GatewayError } from "../protocol/errors.ts";
import { isRequest } from "../protocol/jsonrpc.ts";
import { loadTenant } from "../tenant/store.ts";
import { mintSessionId, sessionStub } from "./sessions.ts";

export const mcp = new Hono<AppEnv>();

/** ③ then ②: the tenant's config says how to authenticate, so it is resolved first. */
mcp.use("/:tenant/mcp", async (c, next) => {
  const tenant = await loadTenant(c.env, c.req.param("tenant"));
  if (!tenant) throw new GatewayError("tenant_not_found");
  checkOrigin(c.req.raw, tenant);
  c.set("tenant", tenant);
  c.set("principal", await authenticate(c.req.raw, tenant));
  await next();
});

mcp.post("/:tenant/mcp", async (c) => {
  const tenant = c.get("tenant");
  const accept = checkPostMediaTypes(c.req.raw);
  checkProtocolVersionHeader(c.req.raw);
  const sessionId = sessionIdOf(c.req.raw);
  const { messages, batch } = await readMessages(c.req.raw, tenant.limits.maxBodyBytes);
  const principal = c.get("principal").sub;

  const initialize = messages.find((m) => isRequest(m) && m.method === "initialize");
  if (initialize && isRequest(initialize)) {
    // 2025-03-26 basic/lifecycle: initialize MUST NOT be part of a batch.
    if (batch) throw new GatewayError("invalid_request", { publicMessage: "Invalid Request: initialize cannot be batched", rpcId: initialize.id });
    if (sessionId === null) {
      const id = mintSessionId();
      return sessionStub(c.env, tenant.id, id).initialize({ config: tenant, principal, sessionId: id, request: initialize });
    }
  }
  if (sessionId === null) throw new GatewayError("session_required");
  return sessionStub(c.env, tenant.id, sessionId).post({ config: tenant, principal, messages, batch, acceptsSse: accept.sse });
});

mcp.get("/:tenant/mcp", async (c) => {
  checkGetMediaTypes(c.req.raw);
  checkProtocolVersionHeader(c.req.raw);
  const sessionId = requireSession(c);
  return sessionStub(c.env, c.get("tenant").id, sessionId).listen({
    config: c.get("tenant"),
    principal: c.get("principal").sub,
    lastEventId: c.req.header("last-event-id") ?? null,
  });
});

mcp.delete("/:tenant/mcp", async (c) => {
  checkProtocolVersionHeader(c.req.raw);
  const sessionId = requireSession(c);
  return sessionStub(c.env, c.get("tenant").id, sessionId).terminate({ config: c.get("tenant"), principal: c.get("principal").sub });
});

mcp.all("/:tenant/mcp", () => {
  throw new GatewayError("method_not_allowed", { headers: { allow: "GET, POST, DELETE" } });
});

function requireSession(c: Context<AppEnv>): string {
  const id = sessionIdOf(c.req.raw);
  if (id === null) throw new GatewayError("session_required");
  return id;
}
