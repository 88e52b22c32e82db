/**
 * The client-facing MCP endpoint of a tenant: POST, GET and DELETE (2025-11-25 basic/transports
 * "Streamable HTTP") at `/t/{tenant}/mcp`, or at `/mcp` on a hostname mapped to the tenant.
 * After ① the host allow-list (worker/app.ts), each request runs the stages in order:
 * ② tenant() and the Origin check, ③ authenticate() (the tenant's config says how),
 * ④ rateLimit(), ⑤ guard and parse (ingress/guard.ts, ingress/modern.ts), ⑥ dispatch to a home:
 * the session's Durable Object, or, for a 2026-07-28 request to an all-modern tenant, the
 * stateless home in this Worker (worker/stateless/home.ts).
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { checkGetMediaTypes, checkPostMediaTypes, checkProtocolVersionHeader, readMessages, sessionIdOf } from "../ingress/guard.ts";
import { resourceMetadataUrl } from "../auth/authenticate.ts";
import { authenticate } from "../auth/middleware.ts";
import { API_KEY_HEADER } from "../auth/apiKeys.ts";
import { limitRequest, rateLimit } from "../limits/middleware.ts";
import { hasPrincipalLimits } from "../limits/rate.ts";
import { callFolder, noteMessages, observeRequests, requestTrace } from "../observe/requests.ts";
import { GatewayError } from "../protocol/errors.ts";
import { isRequest } from "../protocol/jsonrpc.ts";
import { tenant } from "../tenant/middleware.ts";
import type { Caller } from "../engine/inputs.ts";
import { mintSessionId, modernStub, sessionStub } from "./sessions.ts";
import { checkModern, isModernRequest } from "../ingress/modern.ts";
import { MODERN_VERSION } from "../protocol/modern.ts";
import { serveStateless, statelessTenant } from "../stateless/home.ts";

export const endpoint = new Hono<AppEnv>();

// Observability first, so it measures and logs every request, refusals too (worker/observe/requests.ts).
endpoint.use("*", observeRequests);

// ② ③: the tenant's config says how to authenticate. ④ limits count per principal: before GET
// and DELETE here, and for a POST once its body is parsed (below).
endpoint.use("*", tenant(), authenticate());
endpoint.on(["GET", "DELETE"], "/", rateLimit());

endpoint.post("/", async (c) => {
  const tenant = c.get("tenant");
  // ⑤ guard and parse
  const accept = checkPostMediaTypes(c.req.raw);
  if (!isModernVersionHeader(c.req.raw)) checkProtocolVersionHeader(c.req.raw);
  const { messages, batch } = await readMessages(c.req.raw, tenant.limits.maxBodyBytes);
  noteMessages(c.req.raw, messages); // method, tool and _meta.traceparent for the log line and metrics
  // ④ A lone tools/call leaves its principal limits to the engine, which counts them with the
  // tool's limits in one hit (limits/rate.ts checkCallLimits); not a 2026-07-28 retry that
  // carries requestState, which may resume a parked call without a new decision.
  const only = !batch && messages.length === 1 && isRequest(messages[0]!) ? messages[0] : null;
  const limitsDeferred = only?.method === "tools/call" && only.params?.requestState === undefined && hasPrincipalLimits(tenant);
  await limitRequest(c, limitsDeferred);
  const caller = { ...callerOf(c), limitsDeferred };

  // ⑥ dispatch, after each era's own ⑤ checks. 2026-07-28 clients: no session, everything the
  // request needs is in the request.
  if (isModernRequest(c.req.raw, messages)) {
    const modern = checkModern(c.req.raw, messages, batch);
    // 2026-07-28 defines no client notification over HTTP; one that arrives is accepted and ignored.
    if (modern === "notification") return c.body(null, 202);
    const input = { ...caller, ...modern, acceptsSse: accept.sse };
    // All-modern tenants are served here, with no Durable Object hop (worker/stateless/home.ts);
    // a tenant with any legacy backend needs the object that holds its upstream sessions.
    const stateless = await statelessTenant(c.env, tenant, caller.subjectToken);
    if (stateless) return serveStateless(c.env, waitUntilOf(c), stateless, input, callFolder(c.req.raw));
    return modernStub(c.env, tenant.id, caller.principal.sub, modern.clientCapabilities).modern(input);
  }
  // An Mcp-Session-Id on a modern request is ignored (above); on a legacy one it must be well-formed.
  const sessionId = sessionIdOf(c.req.raw);

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
  refuseModern(c.req.raw);
  checkGetMediaTypes(c.req.raw);
  checkProtocolVersionHeader(c.req.raw);
  const sessionId = requireSession(c);
  return sessionStub(c.env, c.get("tenant").id, sessionId).listen({ ...callerOf(c), lastEventId: c.req.header("last-event-id") ?? null });
});

endpoint.delete("/", async (c) => {
  refuseModern(c.req.raw);
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
    tenant: { id: tenant.id, version: tenant.version },
    principal: c.get("principal"),
    // Kept only for RFC 8693 exchanges at a token endpoint; the session never forwards it.
    subjectToken: bearer ? bearer[1]! : null,
    resourceMetadataUrl: resourceMetadataUrl(c.req.url, tenant.id),
    // One span per request, shared by the log line, the audit row and the backend (worker/observe/requests.ts).
    traceparent: requestTrace(c.req.raw),
  };
}

/** Background work (audit rows, metrics, a stream's pump) kept alive past the response. */
function waitUntilOf(c: Context<AppEnv>): (promise: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    return (promise) => void promise.catch(() => {}); // no execution context (a direct app.fetch call)
  }
}

function isModernVersionHeader(request: Request): boolean {
  return (request.headers.get("mcp-protocol-version")?.trim() ?? "") >= MODERN_VERSION;
}

/** 2026-07-28 has no GET stream and no session to DELETE (streamable-http "Backward Compatibility"). */
function refuseModern(request: Request): void {
  if (isModernVersionHeader(request)) throw new GatewayError("method_not_allowed", { headers: { allow: "POST" } });
}

function requireSession(c: Context<AppEnv>): string {
  const id = sessionIdOf(c.req.raw);
  if (id === null) throw new GatewayError("session_required");
  return id;
}
