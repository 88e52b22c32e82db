/**
 * The MCP endpoint, observed: one middleware (mounted first on worker/dispatch/mcp.ts) measures
 * every HTTP request, writes its log line and metric, and keeps the session registry, after the
 * request has run whatever it ran into (a refusal thrown by a later stage is already the response
 * here, and `c.error` says which GatewayError it was).
 *
 * The JSON-RPC method, tool and id are known only once the handler parsed the body; the handler
 * notes them (`noteMessages`) on the Request, which both sides hold. The trace context is fixed
 * once per request (`requestTrace`), so the log line, the session's audit row and the backend's
 * `traceparent` all carry the same span.
 *
 * The registry sees sessions from here, not from their objects: every start (a successful
 * initialize answered with Mcp-Session-Id), use and end (DELETE 204, or 404 for the id) passes
 * through the Worker, so the session object needs no hook; an idle expiry is the one end the
 * Worker does not see, and the registry applies the same idle rule itself (TenantMonitor).
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { GatewayError } from "../protocol/errors.ts";
import { isRequest, type JsonRpcMessage } from "../protocol/jsonrpc.ts";
import { logger } from "./log.ts";
import { recordMetric, recordSession, type MetricsBindings, type WaitUntil } from "./metrics.ts";
import { continueTrace, TRACE_META_KEY } from "./trace.ts";

/** What the handler learned from the body. */
interface Noted {
  method: string;
  tool: string | undefined;
  rpcId: string | undefined;
  /** The first request's `_meta.traceparent` (2026-07-28 basic/index "OpenTelemetry trace context"). */
  metaTrace: string | undefined;
  clientName: string | undefined;
  protocolVersion: string | undefined;
}

const notes = new WeakMap<Request, Noted>();

/** What a request's own log line carries of a backend call the request made. */
export interface FoldedCall {
  backend: string;
  /** "ok" or "rpc_error": a failed call always has its own `backend_call` warning. */
  outcome: string;
  durationMs: number;
}

/**
 * Takes a successful backend call onto the request's own `mcp_request` line; false when that
 * line is already written (a streamed reply outlives it), and the call then gets a line of its own.
 */
export type CallFolder = (call: FoldedCall) => boolean;

/**
 * The internal response header on which a session object hands a JSON reply's backend call to
 * the Worker's line (the object runs in another isolate); the Worker removes it before the
 * response leaves.
 */
export const FOLDED_CALLS_HEADER = "x-gateway-folded-calls";

/** Backend calls gathered for each request's line, or "logged" once the line is written. */
const folded = new WeakMap<Request, FoldedCall[] | "logged">();

/** The CallFolder of one request handled in this isolate (the stateless home). */
export function callFolder(request: Request): CallFolder {
  return (call) => {
    const calls = folded.get(request);
    if (calls === "logged") return false;
    if (calls) calls.push(call);
    else folded.set(request, [call]);
    return true;
  };
}

/** A session object's JSON reply: its gathered calls as the header the Worker reads. */
export function foldedCallsHeader(calls: readonly FoldedCall[]): Record<string, string> {
  return calls.length > 0 ? { [FOLDED_CALLS_HEADER]: JSON.stringify(calls) } : {};
}

/** Calls handed over by a session object's reply, taken off the response. */
function takeFoldedCalls(c: Context<AppEnv>): FoldedCall[] {
  const header = c.res.headers.get(FOLDED_CALLS_HEADER);
  if (header === null) return [];
  try {
    c.res.headers.delete(FOLDED_CALLS_HEADER);
  } catch {
    // A Response from another isolate may have immutable headers: copy it without the internal
    // one. (Hono's `c.res` setter copies the old response's headers onto a new one, so it is
    // cleared first.)
    const headers = new Headers(c.res.headers);
    headers.delete(FOLDED_CALLS_HEADER);
    const res = new Response(c.res.body, { status: c.res.status, statusText: c.res.statusText, headers });
    c.res = undefined as unknown as Response;
    c.res = res;
  }
  try {
    const calls = JSON.parse(header) as unknown;
    return Array.isArray(calls) ? (calls as FoldedCall[]) : [];
  } catch {
    return [];
  }
}

/** The request line's fields for its backend calls: flat for the usual one, a list for several. */
function callFields(calls: readonly FoldedCall[]): Record<string, unknown> {
  if (calls.length === 0) return {};
  if (calls.length === 1) return { backend: calls[0]!.backend, backendOutcome: calls[0]!.outcome, backendMs: calls[0]!.durationMs };
  return { backendCalls: calls };
}
const traces = new WeakMap<Request, string>();

/** Methods whose `params.name` names the item (a URI would make one series per resource). */
const NAMED_METHODS = new Set(["tools/call", "prompts/get"]);

/** Records what a POST carried: its (first) request's method, tool and id. */
export function noteMessages(request: Request, messages: readonly JsonRpcMessage[]): void {
  const requests = messages.filter(isRequest);
  const first = requests[0];
  const params = first?.params ?? {};
  const meta = params._meta;
  const metaTrace = typeof meta === "object" && meta !== null ? (meta as Record<string, unknown>)[TRACE_META_KEY] : undefined;
  const clientInfo = params.clientInfo;
  notes.set(request, {
    method: requests.length > 1 ? "batch" : (first?.method ?? (messages[0] && "method" in messages[0] ? messages[0].method : "response")),
    tool: requests.length === 1 && NAMED_METHODS.has(first!.method) && typeof params.name === "string" ? params.name : undefined,
    rpcId: requests.length === 1 ? String(first!.id) : undefined,
    metaTrace: typeof metaTrace === "string" ? metaTrace : undefined,
    clientName: first?.method === "initialize" && typeof clientInfo === "object" && clientInfo !== null ? stringOr((clientInfo as Record<string, unknown>).name) : undefined,
    protocolVersion: first?.method === "initialize" ? stringOr(params.protocolVersion) : undefined,
  });
}

/**
 * The request's W3C trace context: the `traceparent` header continued, else its body's
 * `_meta.traceparent` continued, else a new trace. Fixed on first use.
 */
export function requestTrace(request: Request): string {
  let trace = traces.get(request);
  if (trace === undefined) {
    trace = continueTrace(request.headers.get("traceparent") ?? notes.get(request)?.metaTrace ?? null);
    traces.set(request, trace);
  }
  return trace;
}

export const observeRequests: MiddlewareHandler<AppEnv> = async function observeRequests(c, next) {
  const started = Date.now();
  await next();
  const durationMs = Date.now() - started;
  const request = c.req.raw;
  const tenant = c.get("tenant") as AppEnv["Variables"]["tenant"] | undefined;
  const principal = (c.get("principal") as AppEnv["Variables"]["principal"] | undefined)?.sub;
  const noted = notes.get(request);
  const status = c.res.status;
  const outcome = c.error instanceof GatewayError ? c.error.kind : c.error ? "internal_error" : outcomeOfStatus(c.res);
  const method = noted?.method ?? c.req.method;
  const clientSession = request.headers.get("mcp-session-id") ?? (noted?.method === "initialize" && status === 200 ? c.res.headers.get("mcp-session-id") : null);
  const session = tenant && clientSession ? sessionObjectId(c, tenant.id, clientSession) : undefined;
  const gathered = folded.get(request);
  folded.set(request, "logged");
  const calls = [...(Array.isArray(gathered) ? gathered : []), ...takeFoldedCalls(c)];

  const fields = {
    tenant: tenant?.id ?? c.req.param("tenant"),
    session,
    principal,
    method,
    tool: noted?.tool,
    requestId: noted?.rpcId,
    status,
    outcome,
    durationMs,
    traceparent: requestTrace(request),
    ray: request.headers.get("cf-ray") ?? undefined,
    ...callFields(calls),
  };
  if (status >= 500) logger.error("mcp_request", fields);
  else if (status >= 400) logger.warn("mcp_request", fields);
  else logger.info("mcp_request", fields);

  // Metrics only for tenants that exist: a made-up tenant id must not create a monitor object.
  if (!tenant) return;
  const env: MetricsBindings = c.env;
  const waitUntil = waitUntilOf(c);
  recordMetric(env, waitUntil, { kind: "request", tenant: tenant.id, method, tool: noted?.tool, outcome, durationMs, at: started });
  if (!session || !principal) return;
  if (request.headers.get("mcp-session-id") === null) {
    const start = { id: session, principal, client: noted?.clientName ?? null, protocolVersion: noted?.protocolVersion ?? null, createdAt: started, idleMs: tenant.limits.sessionIdleMs };
    recordSession(env, waitUntil, tenant.id, { started: start });
  } else if ((c.req.method === "DELETE" && status === 204) || outcome === "session_not_found") {
    recordSession(env, waitUntil, tenant.id, { ended: session });
  } else if (status < 400) {
    recordSession(env, waitUntil, tenant.id, { seen: session, at: started, idleMs: tenant.limits.sessionIdleMs });
  }
};

/**
 * A refusal the session object answered itself (it returns the response, it does not throw):
 * its kind from the status, which GatewayError's one mapping table (protocol/errors.ts) makes
 * unambiguous for these.
 */
function outcomeOfStatus(res: Response): string {
  switch (res.status) {
    case 404:
      return "session_not_found";
    case 429:
      return "rate_limited";
    case 403:
      return /insufficient_scope/.test(res.headers.get("www-authenticate") ?? "") ? "insufficient_scope" : "forbidden";
    default:
      return res.status >= 400 ? `http_${res.status}` : "ok";
  }
}

/**
 * The session object's id (hex), as audit rows name the session. The client's Mcp-Session-Id
 * never reaches a log or the registry: with the principal's token, it is what reaches the session.
 */
function sessionObjectId(c: Context<AppEnv>, tenant: string, clientSession: string): string | undefined {
  try {
    return c.env.SESSIONS.idFromName(`${tenant}:${clientSession}`).toString();
  } catch {
    return undefined;
  }
}

export function waitUntilOf(c: Context): WaitUntil {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    // No execution context (app.request() in a test): the promise runs on its own.
    return (promise) => void promise.catch(() => {});
  }
}

function stringOr(value: unknown): string | undefined {
  return typeof value === "string" ? value.slice(0, 128) : undefined;
}
