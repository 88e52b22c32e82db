/**
 * The client-facing MCP endpoint of a tenant: POST, GET and DELETE (2025-11-25 basic/transports
 * "Streamable HTTP") at `/t/{tenant}/mcp`, or at `/mcp` on a hostname mapped to the tenant.
 * Each request runs the stages in order: ① guard, ③ tenant, ② authenticate (the tenant's config
 * says how), limits, ④ dispatch to the session's Durable Object.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { checkGetMediaTypes, checkOrigin, checkPostMediaTypes, checkProtocolVersionHeader, readMessages, sessionIdOf } from "../ingress/guard.ts";
import { authenticate, resourceMetadataUrl } from "../auth/authenticate.ts";
import { API_KEY_HEADER } from "../auth/apiKeys.ts";
import { checkRequestLimits } from "../limits/rate.ts";
import { continueTrace } from "../observe/trace.ts";
import { GatewayError } from "../protocol/errors.ts";
import { isRequest } from "../protocol/jsonrpc.ts";
import { tenantForHost } from "../tenant/hosts.ts";
import { loadTenant } from "../tenant/store.ts";
import type { Caller } from "../../durable-objects/session/rpc.ts";
import { mintSessionId, sessionStub } from "./sessions.ts";

export const endpoint = new Hono<AppEnv>();

endpoint.use("*", async (c, next) => {
  const id = c.req.param("tenant") ?? (await tenantForHost(c.env.CONFIG, new URL(c.req.url).hostname));
  const tenant = id ? await loadTenant(c.env, id) : null;
  if (!tenant) throw new GatewayError("tenant_not_found");
  checkOrigin(c.req.raw, tenant);
  c.set("tenant", tenant);
  const principal = await authenticate(c.req.raw, tenant);
  c.set("principal", principal);
  const limited = await checkRequestLimits(c.env.LIMITERS, tenant, principal.sub);
  if (!limited.ok) {
    throw new GatewayError("rate_limited", { headers: { "retry-after": String(limited.retryAfterSeconds) }, data: { retryAfterSeconds: limited.retryAfterSeconds }, detail: limited.limit });
  }
  await next();
});

endpoint.post("/", async (c) => {
  const tenant = c.get("tenant");
  const accept = checkPostMediaTypes(c.req.raw);
  checkProtocolVersionHeader(c.req.raw);
  const sessionId = sessionIdOf(c.req.raw);
  const { messages, batch } = await readMessages(c.req.raw, tenant.limits.maxBodyBytes);
  const caller = callerOf(c);

  const initialize = messages.find((m) => isRequest(m) && m.method === "initialize");
  if (initialize && isRequest(initialize)) {
    // 2025-03-26 basic/lifecycle: initialize MUST NOT be part of a batch.
    if (batch) throw new GatewayError("invalid_request", { publicMessage: "Invalid Request: initialize cannot be batched", rpcId: initialize.id });
    if (sessionId === null) {
      const id = mintSessionId();
      return sessionStub(c.env, tenant.id, id).initialize({ ...caller, sessionId: id, request: initialize });
    }
  }
  if (sessionId === null) throw new GatewayError("session_required");
  return sessionStub(c.env, tenant.id, sessionId).post({ ...caller, messages, batch, acceptsSse: accept.sse });
});

endpoint.get("/", async (c) => {
  checkGetMediaTypes(c.req.raw);
  checkProtocolVersionHeader(c.req.raw);
  const sessionId = requireSession(c);
  return sessionStub(c.env, c.get("tenant").id, sessionId).listen({ ...callerOf(c), lastEventId: c.req.header("last-event-id") ?? null });
});

endpoint.delete("/", async (c) => {
  checkProtocolVersionHeader(c.req.raw);
  const sessionId = requireSession(c);
  return sessionStub(c.env, c.get("tenant").id, sessionId).terminate(callerOf(c));
});

endpoint.all("/", () => {
  throw new GatewayError("method_not_allowed", { headers: { allow: "GET, POST, DELETE" } });
});

function callerOf(c: Context<AppEnv>): Caller {
  const tenant = c.get("tenant");
  // The bearer token is the principal's only when it is what authenticated the request: with an
  // API key present, authenticate() never verified it, so it must not be exchanged either.
  const bearer = c.req.header(API_KEY_HEADER) === undefined ? /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "") : null;
  return {
    config: tenant,
    principal: c.get("principal"),
    // Kept only for RFC 8693 exchanges at a token endpoint; the session never forwards it.
    subjectToken: bearer ? bearer[1]! : null,
    resourceMetadataUrl: resourceMetadataUrl(c.req.url, tenant.id),
    traceparent: continueTrace(c.req.header("traceparent") ?? null),
  };
}

function requireSession(c: Context<AppEnv>): string {
  const id = sessionIdOf(c.req.raw);
  if (id === null) throw new GatewayError("session_required");
  return id;
}
