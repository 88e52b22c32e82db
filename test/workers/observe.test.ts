/**
 * Observability (issue 8), inside workerd against the real demo backends: every request, call,
 * refusal and stream leaves a metric the admin API reads back and a JSON log line; the trace
 * context reaches the backend as a header and as `_meta.traceparent`, and the same span is in
 * the log line and the audit row; the session registry follows a session's life.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { ADMIN_TOKEN, ORIGIN, backend, connect, createTenant, gateway, initializeRequest, mcp, readReply, text, token, type Json } from "./helpers.ts";
import type { TenantConfig } from "../../worker/tenant/schema.ts";
import { SESSION_EXPIRY_SLACK_MS } from "../../durable-objects/monitor/TenantMonitor.ts";

const CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c";

let tenant: TenantConfig;

beforeAll(async () => {
  tenant = await createTenant("obs", {
    backends: [backend.weather(), backend.notes()],
    limits: { rate: [{ scope: "tool", tools: ["weather__get_alerts"], limit: 1, windowSeconds: 600 }] },
    policy: {
      defaultEffect: "allow",
      rules: [{ id: "no-deletes", effect: "deny", items: { names: ["delete_note"] } }],
      audit: { arguments: true, results: false },
    },
  });
});

/** Every console line the gateway wrote during a test (the Worker's and its Durable Objects'). */
let lines: string[] = [];
beforeEach(() => {
  lines = [];
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
  }
});
afterEach(() => vi.restoreAllMocks());

function logged(event: string): Json[] {
  return lines.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Json;
      return parsed.event === event ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

async function admin(path: string, init: RequestInit = {}): Promise<{ status: number; body: Json }> {
  const res = await gateway(`${ORIGIN}/admin${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...init.headers } });
  return { status: res.status, body: (await res.json()) as Json };
}

interface Summary {
  totals: Record<string, number>;
  requests: { method: string; tool: string; count: number; errors: Record<string, number>; latencyMs: { p95: number } | null }[];
  calls: { backend: string; tool: string; count: number; errors: Record<string, number> }[];
  backends: { backend: string; method: string; tool: string; count: number; errors: Record<string, number>; latencyMs: { p50: number; max: number } | null }[];
  denials: { backend: string; tool: string; reason: string; count: number }[];
  rateLimits: { backend: string; tool: string; count: number }[];
  streams: { method: string; count: number; events: number }[];
  health: { backend: string; status: string; lastError: string | null }[];
  sessions: number;
}

async function metrics(): Promise<Summary> {
  const { status, body } = await admin(`/tenants/${tenant.id}/metrics?minutes=10`);
  expect(status).toBe(200);
  return body as unknown as Summary;
}

describe("metrics and logs", () => {
  it("count calls, errors, denials and rate-limit hits per method, tool and backend, with latencies", async () => {
    const session = await connect(tenant.id);
    expect(text(await session.callTool("weather__get_forecast", { city: "Berlin", days: 1 }))).toContain("Berlin");
    expect(text(await session.callTool("weather__get_alerts", { region: "north" }))).toBeTruthy();
    // Over the tool's limit: refused before it leaves (a rate-limit hit).
    const limited = await session.post({ jsonrpc: "2.0", id: 90, method: "tools/call", params: { name: "weather__get_alerts", arguments: { region: "north" } } });
    expect(limited.status).toBe(429);
    // Denied by policy: answered as an unknown tool (a denial).
    const denied = await session.request("tools/call", { name: "notes__delete_note", arguments: { id: "x" } });
    expect(denied.response.error?.message).toContain("Unknown tool");
    // No credentials: refused at the endpoint (an error of kind "unauthorized").
    expect((await mcp(tenant.id, initializeRequest(), { token: null })).status).toBe(401);
    // A call with progress is answered with an SSE stream (one whose reply is only its response comes back as JSON).
    const storm = await session.post({ jsonrpc: "2.0", id: 91, method: "tools/call", params: { name: "weather__watch_storm", arguments: { steps: 2, intervalMs: 5 }, _meta: { progressToken: "obs" } } });
    expect(storm.headers.get("content-type")).toBe("text/event-stream");
    expect((await readReply(storm)).messages).toHaveLength(3);

    const m = await metrics();
    const forecast = m.requests.find((r) => r.method === "tools/call" && r.tool === "weather__get_forecast");
    expect(forecast?.count).toBe(1);
    expect(forecast?.latencyMs?.p95).toBeGreaterThanOrEqual(0);
    expect(m.requests.find((r) => r.method === "initialize")?.count).toBeGreaterThanOrEqual(1);
    expect(m.requests.find((r) => r.method === "POST")?.errors).toEqual({ unauthorized: 1 });
    expect(m.requests.find((r) => r.tool === "weather__get_alerts")?.errors).toEqual({ rate_limited: 1 });

    const backendCall = m.backends.find((b) => b.backend === "weather" && b.tool === "get_forecast");
    expect(backendCall).toMatchObject({ method: "tools/call", count: 1, errors: {} });
    expect(backendCall?.latencyMs?.max).toBeGreaterThanOrEqual(0);
    expect(m.calls.find((c) => c.backend === "weather" && c.tool === "get_forecast")?.count).toBe(1);

    expect(m.denials).toContainEqual({ backend: "notes", method: "tools/call", tool: "delete_note", reason: "denied", count: 1 });
    expect(m.rateLimits).toContainEqual(expect.objectContaining({ backend: "weather", tool: "get_alerts", count: 1 }));
    expect(m.totals).toMatchObject({ denials: 1, backendCalls: 3, backendErrors: 0 });
    expect(m.totals.rateLimited).toBeGreaterThanOrEqual(1);
    // The SSE reply stream was measured with its event count (two progress notifications and the response).
    expect(m.streams.find((s) => s.method === "tools/call")?.count).toBe(1);
    expect(m.streams.find((s) => s.method === "tools/call")?.events).toBe(3);
    expect(m.health.find((h) => h.backend === "weather")?.status).toBe("up");

    // One JSON line per request, call and refusal, with tenant, session, request id, outcome, duration.
    const call = logged("mcp_request").find((l) => l.tool === "weather__get_forecast");
    expect(call).toMatchObject({ level: "info", tenant: tenant.id, method: "tools/call", outcome: "ok", status: 200, principal: "alice" });
    expect(call?.session).toMatch(/^[0-9a-f]{64}$/);
    expect(call?.requestId).toBeTypeOf("string");
    expect(call?.durationMs).toBeTypeOf("number");
    expect(call?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // One line per call: a call answered with JSON carries its backend call on the request's line
    // (the session object hands it over on an internal header, which the client never sees)...
    expect(call).toMatchObject({ backend: "weather", backendOutcome: "ok" });
    expect(call?.backendMs).toBeTypeOf("number");
    expect(logged("backend_call").find((l) => l.tool === "get_forecast")).toBeUndefined();
    expect(lines.join("\n")).not.toContain("x-gateway-folded-calls");
    // ...while a streamed reply outlives its request's line, so its backend call has a line of its own.
    const stormLine = logged("mcp_request").find((l) => l.requestId === "91");
    expect(stormLine).not.toHaveProperty("backend");
    expect(logged("backend_call").find((l) => l.tool === "watch_storm")).toMatchObject({ tenant: tenant.id, session: stormLine?.session, backend: "weather", outcome: "ok", traceparent: stormLine?.traceparent });
    expect(logged("call_refused")).toContainEqual(expect.objectContaining({ tenant: tenant.id, tool: "delete_note", outcome: "denied", rule: "no-deletes" }));
    expect(logged("call_refused")).toContainEqual(expect.objectContaining({ tool: "get_alerts", outcome: "rate_limited" }));
    expect(logged("mcp_request")).toContainEqual(expect.objectContaining({ level: "warn", status: 401, outcome: "unauthorized" }));
    expect(logged("stream_closed")).toContainEqual(expect.objectContaining({ tenant: tenant.id, method: "tools/call", events: 3 }));
    // Secrets never: not the client's token, not the admin token, not a bearer header.
    const all = lines.join("\n");
    expect(all).not.toContain(session.token!);
    expect(all).not.toContain(ADMIN_TOKEN);
    expect(all).not.toMatch(/Bearer\s+ey/);
  });

  it("a backend that cannot be reached shows as down, by probe and then by traffic health", async () => {
    const t = await createTenant("obs-down", { backends: [backend.weather(), backend.down()] });
    const before = await admin(`/tenants/${t.id}/metrics`);
    expect((before.body as unknown as Summary).health).toEqual([
      expect.objectContaining({ backend: "weather", status: "unknown" }),
      expect.objectContaining({ backend: "down", status: "unknown" }),
    ]);
    const probed = await admin(`/tenants/${t.id}/health`);
    expect(probed.status).toBe(200);
    const probes = (probed.body as { backends: Json[] }).backends;
    expect(probes[0]).toMatchObject({ backend: "weather", status: "up", protocolVersion: expect.any(String), server: expect.any(String), error: null });
    expect(probes[0]!.latencyMs).toBeTypeOf("number");
    expect(probes[1]).toMatchObject({ backend: "down", status: "down", latencyMs: null, error: "unreachable" });
    const after = (await admin(`/tenants/${t.id}/metrics`)).body as unknown as Summary;
    expect(after.health).toEqual([
      expect.objectContaining({ backend: "weather", status: "up" }),
      expect.objectContaining({ backend: "down", status: "down", lastError: "unreachable" }),
    ]);
  });

  it("answers 400 for a bad window and 404 for an unknown tenant, and only with the admin token", async () => {
    expect((await admin(`/tenants/${tenant.id}/metrics?minutes=0`)).body).toEqual({ error: "minutes: must be an integer from 1 to 1440" });
    expect((await admin(`/tenants/no-such-tenant-xyz/metrics`)).status).toBe(404);
    for (const path of ["metrics", "sessions", "health", "catalog?sub=a"]) {
      expect((await gateway(`${ORIGIN}/admin/tenants/${tenant.id}/${path}`)).status).toBe(401);
    }
  });
});

describe("trace context", () => {
  it("reaches the backend as the traceparent header and _meta.traceparent, and the same span is in the log line and the audit row", async () => {
    const session = await connect(tenant.id);
    const res = await session.post(
      { jsonrpc: "2.0", id: "trace-1", method: "tools/call", params: { name: "notes__whoami", arguments: {} } },
      { headers: { traceparent: `00-${CLIENT_TRACE}-00f067aa0ba902b7-01` } },
    );
    const reply = await readReply(res);
    const seen = JSON.parse(text(reply.messages.at(-1)!.result!)) as Record<string, string>;
    // The client's trace, the gateway's own span (W3C Trace Context §3.2), whatever `inject` says.
    expect(seen.traceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-01$`));
    expect(seen.traceparent).not.toContain("00f067aa0ba902b7");
    expect(seen["_meta.traceparent"]).toBe(seen.traceparent);
    expect(seen["x-mcp-tenant"]).toBeUndefined();

    expect(logged("mcp_request").find((l) => l.requestId === "trace-1")?.traceparent).toBe(seen.traceparent);
    expect(res.headers.has("x-gateway-folded-calls")).toBe(false);
    expect(logged("mcp_request").find((l) => l.requestId === "trace-1")).toMatchObject({ backend: "notes", backendOutcome: "ok" });
    await vi.waitFor(async () => {
      const audit = await admin(`/tenants/${tenant.id}/audit?item=whoami`);
      const events = (audit.body as { events: { requestId: string; detail: Json }[] }).events;
      expect(events.find((e) => e.requestId === "trace-1")?.detail.traceparent).toBe(seen.traceparent);
    });
  });

  it("continues a trace given only in the request's _meta (2026-07-28 basic/index)", async () => {
    const session = await connect(tenant.id);
    const res = await session.post({
      jsonrpc: "2.0",
      id: "trace-2",
      method: "tools/call",
      params: { name: "notes__whoami", arguments: {}, _meta: { traceparent: `00-${CLIENT_TRACE}-b7ad6b7169203331-01` } },
    });
    const seen = JSON.parse(text((await readReply(res)).messages.at(-1)!.result!)) as Record<string, string>;
    expect(seen.traceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-01$`));
    expect(seen.traceparent).not.toContain("b7ad6b7169203331");
    expect(seen["_meta.traceparent"]).toBe(seen.traceparent);
  });
});

describe("session registry", () => {
  it("lists a session from initialize to DELETE, with principal, client and last use", async () => {
    const t = await createTenant("obs-reg", { backends: [backend.weather()] });
    const session = await connect(t.id, { token: await token(t.id, { sub: "bob" }) });
    await session.result("tools/list");
    const listed = (await admin(`/tenants/${t.id}/sessions`)).body as { sessions: Json[] };
    expect(listed.sessions).toHaveLength(1);
    const entry = listed.sessions[0]!;
    expect(entry).toMatchObject({ principal: "bob", client: "workers-test", protocolVersion: "2025-11-25" });
    expect(entry.id).toBe(session.stub().id.toString());
    expect(entry.requests).toBeGreaterThanOrEqual(2);
    expect(entry.expiresAt).toBeGreaterThan(Date.now());
    expect((await session.delete()).status).toBe(204);
    expect(((await admin(`/tenants/${t.id}/sessions`)).body as { sessions: Json[] }).sessions).toEqual([]);
  });

  it("drops a session its object expired: one unseen for the tenant's idle time", async () => {
    const t = await createTenant("obs-idle", { backends: [backend.weather()], limits: { sessionIdleMs: 60_000 } });
    await connect(t.id);
    const listed = (await admin(`/tenants/${t.id}/sessions`)).body as { sessions: { expiresAt: number }[] };
    expect(listed.sessions).toHaveLength(1);
    const monitors = env.MONITORS;
    const monitor = monitors.get(monitors.idFromName(t.id));
    expect(await monitor.sessions(listed.sessions[0]!.expiresAt)).toHaveLength(1);
    // The session object's alarm fires at expiry + its touch slack; the registry waits a little longer.
    expect(await monitor.sessions(listed.sessions[0]!.expiresAt + SESSION_EXPIRY_SLACK_MS + 1)).toEqual([]);
  });
});
