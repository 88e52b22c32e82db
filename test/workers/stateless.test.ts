/**
 * The Worker's stateless path (issue 5: "A modern request that needs no state does not pay for a
 * Durable Object hop"), inside workerd against the real 2026-07-28 fixture
 * (test/fixtures/modern-server.ts, v2 SDK, modern only): an all-modern tenant's modern requests
 * create no session object, and lists, calls, policy, audit, Mcp-Param-* checks, input_required
 * and subscriptions/listen all work there; sealed states open across requests and isolates and
 * nowhere else; a tenant with a legacy backend still uses the object. Also: ttlMs merged as the
 * minimum (2026-07-28 server/utilities/caching), and a legacy client's resources/subscribe
 * reaching a modern backend whose listen stream is already open.
 */
import { env } from "cloudflare:workers";
import { listDurableObjectIds } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { ADMIN_TOKEN, ORIGIN, backend, connect, createTenant, gateway, mcp, putTenant, names, readReply, SseReader, text, token, type Json, type RpcMessage } from "./helpers.ts";
import { StateSealer } from "../../worker/broker/sealed.ts";
import { statelessTenant } from "../../worker/stateless/home.ts";
import type { Env } from "../../worker/env.ts";

const MODERN = "2026-07-28";
const SECRET = "workers-test-state-secret"; // vitest.config.ts
const CAPABILITIES = { elicitation: { form: {} } };
let nextId = 1;

interface ModernOptions {
  sub?: string;
  headers?: Record<string, string>;
  capabilities?: Json;
}

/** One 2026-07-28 request: the `_meta` envelope and the mirrored headers, as a modern client sends them. */
async function modern(tenant: string, method: string, params: Json = {}, options: ModernOptions = {}): Promise<Response> {
  const name = params.name ?? params.uri;
  const headers: Record<string, string> = { "mcp-method": method, ...(typeof name === "string" ? { "mcp-name": name } : {}), ...options.headers };
  const meta = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": options.capabilities ?? CAPABILITIES,
    "io.modelcontextprotocol/clientInfo": { name: "stateless-test", version: "1" },
  };
  return mcp(tenant, { jsonrpc: "2.0", id: nextId++, method, params: { ...params, _meta: { ...(params._meta as Json | undefined), ...meta } } }, { token: await token(tenant, { sub: options.sub ?? "ada" }), version: MODERN, headers });
}

/** The response of a modern request (JSON or the last message of its SSE reply). */
async function answer(res: Response): Promise<RpcMessage & { status: number }> {
  const reply = await readReply(res);
  const response = reply.messages.findLast((m) => m.result !== undefined || m.error !== undefined);
  expect(response, JSON.stringify(reply.messages)).toBeDefined();
  return { ...response!, status: reply.status };
}

async function result(tenant: string, method: string, params: Json = {}, options: ModernOptions = {}): Promise<Json> {
  const response = await answer(await modern(tenant, method, params, options));
  expect(response.status).toBe(200);
  expect(response.error, JSON.stringify(response.error)).toBeUndefined();
  return response.result!;
}

async function sessionObjects(): Promise<number> {
  return (await listDurableObjectIds(env.SESSIONS)).length;
}

/** Audit events of a tenant as the admin API reads them back, waiting for the background write. */
async function auditRows(tenant: string, count: number): Promise<Json[]> {
  return vi.waitFor(
    async () => {
      const res = await gateway(`${ORIGIN}/admin/tenants/${tenant}/audit`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const events = ((await res.json()) as { events: Json[] }).events;
      expect(events.length).toBeGreaterThanOrEqual(count);
      return events;
    },
    { timeout: 4_000 },
  );
}

/**
 * Runs `act` and reads what the stream brings, round after round (at most five), until `done`
 * holds for everything read: a backend's listen stream opens in the background, so the first
 * change may come before it is listening.
 */
async function collect(reader: SseReader, act: (attempt: number) => Promise<unknown>, done: (messages: RpcMessage[]) => boolean): Promise<RpcMessage[]> {
  const received: RpcMessage[] = [];
  for (let attempt = 0; attempt < 5 && !done(received); attempt++) {
    await act(attempt);
    try {
      for (let i = 0; i < 4; i++) {
        const message = await reader.nextMessage(1_000);
        if (message) received.push(message);
      }
    } catch {
      // nothing more this round
    }
  }
  return received;
}

describe("an all-modern tenant is served in the Worker", () => {
  it("answers discover, lists, calls, reads and gets without creating a session object", async () => {
    // One backend declared modern, one detected (era auto): both count as modern.
    const tenant = (await createTenant("stateless", { backends: [backend.modern({ era: "modern" }), backend.modernShort()] })).id;
    const before = await sessionObjects();

    const discovered = await result(tenant, "server/discover");
    expect(discovered.supportedVersions).toContain(MODERN);
    expect(discovered.resultType).toBe("complete");
    expect((discovered.capabilities as Json).tools).toBeDefined();

    const tools = await result(tenant, "tools/list");
    expect(names(tools.tools)).toEqual(expect.arrayContaining(["modern__echo", "short__echo", "modern__ask_name"]));
    expect(tools.cacheScope).toBe("private");

    const called = await result(tenant, "tools/call", { name: "modern__echo", arguments: { message: "no hop" } });
    expect(text(called)).toBe("Echo: no hop");
    expect(called.resultType).toBe("complete");

    const read = await result(tenant, "resources/read", { uri: "modern://modern__status" });
    expect(JSON.stringify(read.contents)).toContain("calls");
    // The contents name the URI as the client knows it; the plain URI both backends serve names neither.
    expect((read.contents as Json[])[0]!.uri).toBe("modern://modern__status");
    expect((await answer(await modern(tenant, "resources/read", { uri: "modern://status" }))).error?.code).toBe(-32602);
    const prompt = await result(tenant, "prompts/get", { name: "short__greeting", arguments: { name: "Ada" } });
    expect(JSON.stringify(prompt.messages)).toContain("Please greet Ada warmly.");

    // Pagination through the merged list with the gateway's own cursors.
    const paged = (await createTenant("stateless-pages", { backends: [backend.modern({ era: "modern" })], limits: { pageSize: 2 } })).id;
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await result(paged, "tools/list", cursor === undefined ? {} : { cursor });
      expect((page.tools as unknown[]).length).toBeLessThanOrEqual(2);
      seen.push(...names(page.tools));
      cursor = page.nextCursor as string | undefined;
    } while (cursor !== undefined);
    expect(seen).toEqual(expect.arrayContaining(["modern__echo", "modern__count", "modern__regional"]));
    expect(new Set(seen).size).toBe(seen.length);

    expect(await sessionObjects()).toBe(before);
  });

  it("applies policy, redaction and audit exactly as the session object does", async () => {
    const tenant = (
      await createTenant("stateless-policy", {
        backends: [backend.modern({ era: "modern" })],
        policy: {
          defaultEffect: "allow",
          rules: [{ id: "no-count", effect: "deny", items: { names: ["count"] } }],
          redact: [{ pattern: "secret-\\w+", replacement: "[gone]" }],
          audit: { arguments: true, results: false },
        },
      })
    ).id;
    const before = await sessionObjects();
    const tools = await result(tenant, "tools/list");
    expect(names(tools.tools)).toContain("modern__echo");
    expect(names(tools.tools)).not.toContain("modern__count");

    // A denied tool reads exactly like one that does not exist.
    const denied = await answer(await modern(tenant, "tools/call", { name: "modern__count", arguments: { steps: 1 } }));
    const missing = await answer(await modern(tenant, "tools/call", { name: "modern__nope", arguments: {} }));
    expect(denied.error?.code).toBe(missing.error?.code);
    expect(denied.error?.message).toBe("Unknown tool: modern__count");

    const echoed = await result(tenant, "tools/call", { name: "modern__echo", arguments: { message: "secret-token" } });
    expect(text(echoed)).toBe("Echo: [gone]");

    const rows = await auditRows(tenant, 2);
    const deniedRow = rows.find((r) => r.item === "count")!;
    expect(deniedRow, JSON.stringify(rows)).toMatchObject({ decision: "deny", outcome: "denied", sessionId: "stateless", principal: "ada", method: "tools/call", backend: "modern" });
    const okRow = rows.find((r) => r.item === "echo")!;
    expect(okRow).toMatchObject({ decision: "allow", outcome: "ok", sessionId: "stateless", clientName: "stateless-test" });
    // Arguments are audited redacted.
    expect((okRow.detail as Json).arguments).toEqual({ message: "[gone]" });
    expect(await sessionObjects()).toBe(before);
  });

  it("counts tool rate limits and audits the refusal", async () => {
    const tenant = (
      await createTenant("stateless-rate", {
        backends: [backend.modern({ era: "modern" })],
        limits: { rate: [{ scope: "tool", tools: ["modern__inspect_request"], limit: 1, windowSeconds: 600 }] },
      })
    ).id;
    await result(tenant, "tools/call", { name: "modern__inspect_request", arguments: {} });
    const limited = await readReply(await modern(tenant, "tools/call", { name: "modern__inspect_request", arguments: {} }));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    const rows = await auditRows(tenant, 2);
    expect(rows.map((r) => r.outcome).sort()).toEqual(["ok", "rate_limited"]);
  });

  it("cancels the backend's call when the client closes the stream", async () => {
    const tenant = (await createTenant("stateless-cancel", { backends: [backend.modern({ era: "modern" })] })).id;
    const status = async () => JSON.parse(String(((await result(tenant, "resources/read", { uri: "modern://status" })).contents as Json[])[0]!.text)) as { cancelled: number };
    const before = (await status()).cancelled;
    // Steps 2 s apart: the backend sends nothing between them, and the cancellation must not wait for the next one.
    const res = await modern(tenant, "tools/call", { name: "modern__count", arguments: { steps: 10, intervalMs: 2_000 }, _meta: { progressToken: "c1" } });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = new SseReader(res.body!);
    const progress = await reader.nextMessage(5_000);
    expect(progress?.method).toBe("notifications/progress");
    expect(progress?.params?.progressToken).toBe("c1");
    await reader.cancel();
    await vi.waitFor(async () => expect((await status()).cancelled).toBe(before + 1), { timeout: 1_200, interval: 100 });
  });

  it("keeps principals apart: a list cached for one is never served to another", async () => {
    const tenant = (
      await createTenant("stateless-principals", {
        backends: [backend.modern({ era: "modern" })],
        policy: { defaultEffect: "allow", rules: [{ id: "eve-no-echo", effect: "deny", principals: { subjects: ["eve"] }, items: { names: ["echo"] } }] },
      })
    ).id;
    expect(names((await result(tenant, "tools/list", {}, { sub: "ada" })).tools)).toContain("modern__echo");
    expect(names((await result(tenant, "tools/list", {}, { sub: "eve" })).tools)).not.toContain("modern__echo");
    expect(names((await result(tenant, "tools/list", {}, { sub: "ada" })).tools)).toContain("modern__echo");
  });

  it("checks Mcp-Param-* headers against the tool's x-mcp-header arguments", async () => {
    const tenant = (await createTenant("stateless-params", { backends: [backend.modern({ era: "modern" })] })).id;
    const args = { region: "eu-west", query: "q" };
    const missing = await readReply(await modern(tenant, "tools/call", { name: "modern__regional", arguments: args }));
    expect(missing.status).toBe(400);
    expect(missing.messages[0]!.error?.code).toBe(-32020);
    const wrong = await readReply(await modern(tenant, "tools/call", { name: "modern__regional", arguments: args }, { headers: { "mcp-param-region": "us-east" } }));
    expect(wrong.status).toBe(400);
    const right = await result(tenant, "tools/call", { name: "modern__regional", arguments: args }, { headers: { "mcp-param-region": "eu-west" } });
    // The backend got the header recomputed from its own definition.
    expect(JSON.parse(text(right))).toEqual({ region: "eu-west", query: "q", header: "eu-west" });
  });

  it("passes a backend's input_required through with its state sealed, and the retry completes", async () => {
    const tenant = await createTenant("stateless-mrtr", { backends: [backend.modern({ era: "modern" })] });
    const other = await createTenant("stateless-mrtr-other", { backends: [backend.modern({ era: "modern" })] });
    const before = await sessionObjects();
    const first = await result(tenant.id, "tools/call", { name: "modern__ask_name", arguments: {} });
    expect(first.resultType).toBe("input_required");
    expect(Object.keys(first.inputRequests as Json)).toEqual(["name"]);
    const state = first.requestState as string;
    expect(typeof state).toBe("string");

    // Another holder of the secret (another isolate) opens it; it is bound to tenant and principal.
    const opened = await new StateSealer(SECRET).open(state, `${tenant.id}\u0000ada`);
    expect(opened).toMatchObject({ park: "", m: "tools/call", n: "modern__ask_name" });
    expect(typeof opened!.bs).toBe("string"); // the backend's own state, inside ours
    expect(await new StateSealer("another-secret").open(state, `${tenant.id}\u0000ada`)).toBeNull();

    const inputResponses = { name: { action: "accept", content: { name: "Ada" } } };
    const retry = (params: Json) => ({ name: "modern__ask_name", arguments: {}, inputResponses, ...params });
    const refused = async (tenantId: string, params: Json, sub = "ada") => {
      const response = await answer(await modern(tenantId, "tools/call", retry(params), { sub }));
      expect(response.error?.code, JSON.stringify(response)).toBe(-32602);
    };
    // Another principal, another tenant, a tampered state: all refused before any backend sees them.
    await refused(tenant.id, { requestState: state }, "eve");
    await refused(other.id, { requestState: state });
    await refused(tenant.id, { requestState: `${state.slice(0, -4)}${state.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}` });
    // Another item: a state issued for ask_name does not serve echo.
    const echo = await answer(await modern(tenant.id, "tools/call", { name: "modern__echo", arguments: { message: "x" }, inputResponses, requestState: state }));
    expect(echo.error?.code).toBe(-32602);
    // Expired: a state sealed with the right key, binding and item, but out of date.
    const expired = await new StateSealer(SECRET).seal({ park: "", exp: Date.now() - 1, m: "tools/call", n: "modern__ask_name", bs: opened!.bs! }, `${tenant.id}\u0000ada`);
    await refused(tenant.id, { requestState: expired });

    const done = await result(tenant.id, "tools/call", retry({ requestState: state }));
    expect(text(done)).toBe("Hello, Ada");
    // Used once: a replay in this isolate is refused.
    await refused(tenant.id, { requestState: state });
    expect(await sessionObjects()).toBe(before);
  });

  it("merges subscriptions/listen across backends on a stream the Worker holds", async () => {
    const tenant = (await createTenant("stateless-listen", { backends: [backend.modern({ era: "modern" }), backend.modernShort({ era: "modern" })] })).id;
    const before = await sessionObjects();
    const res = await modern(tenant, "subscriptions/listen", { notifications: { toolsListChanged: true, resourceSubscriptions: ["modern://modern__status"] } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = new SseReader(res.body!);
    const ack = JSON.parse((await reader.next())!.data) as RpcMessage;
    expect(ack.method).toBe("notifications/subscriptions/acknowledged");
    const subscriptionId = (ack.params!._meta as Json)["io.modelcontextprotocol/subscriptionId"];
    // Both backends serve modern://status: each under its own name (naming.resources on-collision, broker/uris.ts).
    expect(ack.params!.notifications).toEqual({ toolsListChanged: true, resourceSubscriptions: ["modern://modern__status"] });

    // The backends' listen streams open in the background: call until a change arrives.
    const tool = `added_${crypto.randomUUID().slice(0, 6)}`;
    const received = await collect(
      reader,
      (attempt) => result(tenant, "tools/call", { name: "modern__add_tool", arguments: { name: `${tool}_${attempt}` } }),
      (messages) => messages.some((m) => m.method === "notifications/resources/updated"),
    );
    const changed = received.find((m) => m.method === "notifications/tools/list_changed");
    expect(changed, JSON.stringify(received)).toBeDefined();
    expect((changed!.params!._meta as Json)["io.modelcontextprotocol/subscriptionId"]).toBe(subscriptionId);
    expect(received.find((m) => m.method === "notifications/resources/updated")?.params?.uri).toBe("modern://modern__status");
    // Nothing the client did not ask for (prompts, resource list changes).
    expect(received.every((m) => ["notifications/tools/list_changed", "notifications/resources/updated"].includes(m.method!))).toBe(true);
    await reader.cancel();
    // The new tool is listed (the short backend's tools/list says ttlMs 0).
    expect(names((await result(tenant, "tools/list")).tools)).toContain(`modern__${tool}_0`);
    expect(await sessionObjects()).toBe(before);
  });
  it("follows only resources the principal may read that some backend serves", async () => {
    const tenant = (
      await createTenant("stateless-listen-hidden", {
        backends: [backend.modern({ era: "modern" })],
        policy: { defaultEffect: "allow", rules: [{ id: "no-status", effect: "deny", items: { kinds: ["resource"], names: ["modern://status"] } }] },
      })
    ).id;
    const res = await modern(tenant, "subscriptions/listen", { notifications: { promptsListChanged: true, resourceSubscriptions: ["modern://status", "nowhere://x"] } });
    const reader = new SseReader(res.body!);
    const ack = await reader.nextMessage(5_000);
    expect(ack?.params?.notifications).toEqual({ promptsListChanged: true });
    await reader.cancel();
  });

  it("announces a new tenant config on an open listen stream as list changes", async () => {
    const config = await createTenant("stateless-listen-policy", { backends: [backend.modern({ era: "modern" })] });
    const res = await modern(config.id, "subscriptions/listen", { notifications: { toolsListChanged: true } });
    const reader = new SseReader(res.body!);
    expect(((await reader.nextMessage(5_000))!).method).toBe("notifications/subscriptions/acknowledged");
    const { id, version: _version, ...document } = config;
    await putTenant(id, { ...document, policy: { ...document.policy, rules: [{ id: "no-echo", effect: "deny", items: { names: ["echo"] } }] } });
    const changed = await reader.nextMessage(8_000);
    expect(changed?.method).toBe("notifications/tools/list_changed");
    await reader.cancel();
    // And the next list follows the new policy.
    await vi.waitFor(async () => expect(names((await result(id, "tools/list")).tools)).not.toContain("modern__echo"), { timeout: 5_000, interval: 500 });
  });
});

describe("what stays with session objects", () => {
  it("answers a call whose only message is its response as JSON, and one with progress as a stream (both homes)", async () => {
    const stateless = (await createTenant("stateless-json", { backends: [backend.modern({ era: "modern" })] })).id;
    const mixed = (await createTenant("stateless-json-mixed", { backends: [backend.modern(), backend.notes()] })).id;
    for (const tenant of [stateless, mixed]) {
      const lone = await modern(tenant, "tools/call", { name: "modern__echo", arguments: { message: "json" } });
      expect(lone.headers.get("content-type"), tenant).toBe("application/json");
      expect(text((await answer(lone)).result!)).toBe("Echo: json");

      const progressed = await modern(tenant, "tools/call", { name: "modern__count", arguments: { steps: 2, intervalMs: 10 }, _meta: { progressToken: "j1" } });
      expect(progressed.headers.get("content-type"), tenant).toContain("text/event-stream");
      const reply = await readReply(progressed);
      expect(reply.messages.filter((m) => m.method === "notifications/progress").length).toBeGreaterThanOrEqual(1);
      expect(reply.messages.at(-1)?.result).toBeDefined();
    }
    // The reply's form waits for the call's first message (serveModern reads it to answer a
    // refusal as such), so a slow lone response is JSON too.
    const slow = await modern(stateless, "tools/call", { name: "modern__count", arguments: { steps: 1, intervalMs: 1_200 } });
    expect(slow.headers.get("content-type")).toBe("application/json");
    expect((await answer(slow)).result).toBeDefined();
  });

  it("a tenant with a legacy backend serves modern requests through a session object", async () => {
    const tenant = (await createTenant("stateless-mixed", { backends: [backend.modern(), backend.notes()] })).id;
    const before = await sessionObjects();
    const tools = await result(tenant, "tools/list");
    expect(names(tools.tools)).toEqual(expect.arrayContaining(["modern__echo", "notes__add_note"]));
    expect(await sessionObjects()).toBe(before + 1);
    // A second request reuses that object (keyed by tenant, principal and capabilities).
    await result(tenant, "tools/call", { name: "modern__echo", arguments: { message: "again" } });
    expect(await sessionObjects()).toBe(before + 1);
  });

  it("a modern client's listen through a session object follows its resources on their owners", async () => {
    const tenant = (await createTenant("stateless-mixed-listen", { backends: [backend.modern(), backend.notes()] })).id;
    const res = await modern(tenant, "subscriptions/listen", { notifications: { resourceSubscriptions: ["modern://status", "nowhere://x"] } });
    const reader = new SseReader(res.body!);
    const ack = await reader.nextMessage(5_000);
    // The URI no backend serves is not honoured, and the acknowledgement says so.
    expect(ack?.params?.notifications).toEqual({ resourceSubscriptions: ["modern://status"] });
    const tool = `mixed_${crypto.randomUUID().slice(0, 6)}`;
    const received = await collect(
      reader,
      (attempt) => result(tenant, "tools/call", { name: "modern__add_tool", arguments: { name: `${tool}_${attempt}` } }),
      (messages) => messages.some((m) => m.method === "notifications/resources/updated"),
    );
    expect(received.find((m) => m.method === "notifications/resources/updated")?.params?.uri, JSON.stringify(received)).toBe("modern://status");
    // Nothing it did not ask for: the list changes of add_tool stay off this stream.
    expect(received.every((m) => m.method === "notifications/resources/updated")).toBe(true);
    await reader.cancel();
  });

  it("decides by era and secret: declared or detected modern only, and only with STATE_SECRET", async () => {
    const gatewayEnv: Env = env;
    const modernOnly = await createTenant("stateless-decide", { backends: [backend.modern(), backend.modernShort()] });
    expect((await statelessTenant(gatewayEnv, modernOnly, null))?.backends.map((b) => b.era)).toEqual(["modern", "modern"]);
    expect(await statelessTenant({ ...gatewayEnv, STATE_SECRET: undefined }, modernOnly, null)).toBeNull();
    const declaredLegacy = await createTenant("stateless-decide-legacy", { backends: [backend.modern(), backend.modernShort({ era: "legacy" })] });
    expect(await statelessTenant(gatewayEnv, declaredLegacy, null)).toBeNull();
    const detectedLegacy = await createTenant("stateless-decide-detected", { backends: [backend.modern(), backend.weather()] });
    expect(await statelessTenant(gatewayEnv, detectedLegacy, null)).toBeNull();
    // A backend that is down decides nothing: the session object serves the tenant meanwhile.
    const down = await createTenant("stateless-decide-down", { backends: [backend.modern(), backend.down({ timeoutMs: 1_000 })] });
    expect(await statelessTenant(gatewayEnv, down, null)).toBeNull();
  });
});

describe("logLevel is per request (2026-07-28 server/utilities/logging)", () => {
  /** Log messages of a `count` call, with or without a level in its own _meta. */
  async function logsOf(tenant: string, level: string | null): Promise<RpcMessage[]> {
    const meta = level === null ? {} : { _meta: { "io.modelcontextprotocol/logLevel": level } };
    const reply = await readReply(await modern(tenant, "tools/call", { name: "modern__count", arguments: { steps: 3, intervalMs: 30 }, ...meta }));
    expect(reply.messages.findLast((m) => m.result !== undefined)?.result).toBeDefined();
    return reply.messages.filter((m) => m.method === "notifications/message");
  }

  for (const [path, backends] of [
    ["in the Worker", () => [backend.modern({ era: "modern" })]],
    ["through a session object", () => [backend.modern(), backend.notes()]],
  ] as const) {
    it(`${path}: concurrent requests of one principal each get the log messages they asked for, and only those`, async () => {
      const tenant = (await createTenant("stateless-loglevel", { backends: backends() })).id;
      // Twice over, so that neither request's level can be left behind for the next.
      for (let round = 0; round < 2; round++) {
        const [asked, silent, above] = await Promise.all([logsOf(tenant, "info"), logsOf(tenant, null), logsOf(tenant, "error")]);
        expect(asked.map((m) => (m.params as Json).data)).toEqual(["step 1", "step 2", "step 3"]);
        expect(silent).toEqual([]);
        expect(above).toEqual([]);
      }
    });
  }
});

describe("a policy change under a running modern call", () => {
  for (const [path, backends] of [
    ["in the Worker", () => [backend.modern({ era: "modern" })]],
    ["through a session object", () => [backend.modern(), backend.notes()]],
  ] as const) {
    it(`${path}: the call is stopped and answered as for a tool that is gone`, async () => {
      const config = await createTenant("stateless-revoke", { backends: backends() });
      const res = await modern(config.id, "tools/call", { name: "modern__count", arguments: { steps: 60, intervalMs: 100 }, _meta: { progressToken: "revoke" } });
      const reader = new SseReader(res.body!);
      expect((await reader.nextMessage(5_000))?.method).toBe("notifications/progress");
      const { id, version: _version, ...document } = config;
      await putTenant(id, { ...document, policy: { ...document.policy, rules: [{ id: "no-count", effect: "deny", items: { names: ["count"] } }] } });
      const rest: RpcMessage[] = [];
      for (;;) {
        const message = await reader.nextMessage(10_000);
        if (message === null) break;
        rest.push(message);
      }
      const last = rest.at(-1)!;
      expect(last.error).toEqual({ code: -32602, message: "Unknown tool: modern__count" });
      // Stopped well before its 60 steps (the version is checked every 2 s; 6 s of steps).
      expect(rest.filter((m) => m.method === "notifications/progress").length).toBeLessThan(55);
      expect(rest.filter((m) => m.result !== undefined)).toEqual([]);
    });
  }
});

describe("ttlMs (2026-07-28 server/utilities/caching)", () => {
  it("is the minimum the contributing backends gave, on both paths", async () => {
    const stateless = (await createTenant("ttl-stateless", { backends: [backend.modern({ era: "modern" }), backend.modernShort({ era: "modern" })] })).id;
    const prompts = await result(stateless, "prompts/list");
    expect(prompts.ttlMs).toBe(5_000);
    expect(prompts.cacheScope).toBe("private");
    expect((await result(stateless, "tools/list")).ttlMs).toBe(0);

    // Through the session object (a legacy backend in the tenant), the same merge; the legacy
    // backend gives no ttlMs and so does not lower it.
    const mixed = (await createTenant("ttl-mixed", { backends: [backend.modern(), backend.modernShort(), backend.notes()] })).id;
    expect((await result(mixed, "prompts/list")).ttlMs).toBe(5_000);
    // Only legacy backends: the gateway's default.
    const legacy = (await createTenant("ttl-legacy", { backends: [backend.notes()] })).id;
    expect((await result(legacy, "tools/list")).ttlMs).toBe(30_000);
  });

  it("expires the gateway's cached list when the backend said so (ttlMs 0: every time)", async () => {
    // The session object keeps lists until a change is heard of, unless the backend's ttlMs says less.
    const tenant = (await createTenant("ttl-expiry", { backends: [backend.modern(), backend.notes()] })).id;
    const client = await connect(tenant);
    const before = names((await client.result("tools/list")).tools);
    const tool = `fresh_${crypto.randomUUID().slice(0, 6)}`;
    await client.callTool("modern__add_tool", { name: tool });
    const after = names((await client.result("tools/list")).tools);
    expect(before).not.toContain(`modern__${tool}`);
    expect(after).toContain(`modern__${tool}`);
  });
});

describe("resources/subscribe from a legacy client to a modern backend", () => {
  it("re-opens the backend's listen stream with the URI, and drops it on unsubscribe", async () => {
    const tenant = (await createTenant("resubscribe", { backends: [backend.modern()] })).id;
    const client = await connect(tenant);
    const writer = await connect(tenant);
    const reader = new SseReader((await client.listen()).body!);
    expect((await reader.next())!.data).toBe(""); // priming
    const tool = `sub_${crypto.randomUUID().slice(0, 6)}`;

    // Let the listen stream open (a list change comes through it), then subscribe.
    const listChanged = (messages: RpcMessage[]) => messages.some((m) => m.method === "notifications/tools/list_changed");
    const warm = await collect(reader, (attempt) => writer.callTool("modern__add_tool", { name: `${tool}_warm${attempt}` }), listChanged);
    expect(listChanged(warm)).toBe(true);
    // Not subscribed yet: the backend was not asked for the URI's updates.
    expect(warm.some((m) => m.method === "notifications/resources/updated")).toBe(false);
    expect(await client.result("resources/subscribe", { uri: "modern://status" })).toEqual({});

    const received = await collect(
      reader,
      (attempt) => writer.callTool("modern__add_tool", { name: `${tool}_${attempt}` }),
      (messages) => messages.some((m) => m.method === "notifications/resources/updated"),
    );
    expect(received.find((m) => m.method === "notifications/resources/updated")?.params?.uri, JSON.stringify(received)).toBe("modern://status");

    expect(await client.result("resources/unsubscribe", { uri: "modern://status" })).toEqual({});
    // Once the re-opened stream carries list changes again, it no longer carries the URI's updates.
    const later = await collect(reader, (attempt) => writer.callTool("modern__add_tool", { name: `${tool}_after${attempt}` }), listChanged);
    const firstChange = later.findIndex((m) => m.method === "notifications/tools/list_changed");
    expect(firstChange).toBeGreaterThanOrEqual(0);
    expect(later.slice(firstChange).some((m) => m.method === "notifications/resources/updated")).toBe(false);
    await reader.cancel();
  });
});
