/**
 * Transport guards of the Streamable HTTP endpoint (2025-11-25 basic/transports): media types,
 * Origin and Host, body limits, protocol version header, session header, HTTP methods, JSON-RPC
 * shape, batches by negotiated version, and what notifications get. Every reply passes the
 * hygiene check in helpers.ts (never a 500, no stack trace, no internal error text).
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  ACCEPT_BOTH,
  ADMIN_TOKEN,
  backend,
  connect,
  createTenant,
  endpoint,
  gateway,
  initializeRequest,
  mcp,
  ORIGIN,
  readError,
  readReply,
  token,
  type Session,
} from "./helpers.ts";

let tenant: string;
let bearer: string;
let session: Session;

beforeAll(async () => {
  const config = await createTenant("transport", {
    backends: [backend.weather()],
    allowedOrigins: ["https://app.example"],
    limits: { maxBodyBytes: 2048 },
  });
  tenant = config.id;
  bearer = await token(tenant);
  session = await connect(tenant);
});

const ping = { jsonrpc: "2.0", id: 1, method: "ping" };

describe("media types", () => {
  it.each([
    ["no Accept header", null],
    ["JSON only", "application/json"],
    ["SSE only", "text/event-stream"],
    ["SSE refused with q=0", "application/json, text/event-stream;q=0"],
    ["JSON refused with q=0", "application/json;q=0, text/event-stream"],
    ["a look-alike type", "application/json-seq, text/event-stream"],
  ])("POST with %s is 406", async (_label, accept) => {
    const { status, error } = await readError(await session.post(ping, { accept }));
    expect(status).toBe(406);
    expect(error!.code).toBe(-32600);
  });

  it("POST accepting */* (and both types with parameters) is served", async () => {
    for (const accept of ["*/*", "application/json;q=0.9, text/event-stream;q=0.5", "APPLICATION/JSON, Text/Event-Stream"]) {
      const reply = await readReply(await session.post(ping, { accept }));
      expect(reply.status, accept).toBe(200);
      expect(reply.messages[0]).toEqual({ jsonrpc: "2.0", id: 1, result: {} });
    }
  });

  it.each([
    ["no Content-Type", null],
    ["text/plain", "text/plain"],
    ["a JSON look-alike", "application/jsonp"],
    ["form data", "application/x-www-form-urlencoded"],
  ])("POST with %s is 415", async (_label, contentType) => {
    const { status, error } = await readError(await session.post(ping, { contentType }));
    expect(status).toBe(415);
    expect(error!.code).toBe(-32600);
  });

  it("Content-Type with a charset parameter is accepted", async () => {
    const reply = await readReply(await session.post(ping, { contentType: "application/json; charset=utf-8" }));
    expect(reply.status).toBe(200);
  });

  it("GET without text/event-stream in Accept is 406", async () => {
    const { status } = await readError(await session.listen(undefined, { accept: "application/json" }));
    expect(status).toBe(406);
  });
});

describe("Origin and Host", () => {
  it("a foreign Origin is 403, before authentication", async () => {
    for (const tokenValue of [bearer, null]) {
      const { status, error } = await readError(await mcp(tenant, initializeRequest(), { token: tokenValue, headers: { origin: "https://evil.example" } }));
      expect(status).toBe(403);
      expect(error!.message).toMatch(/Origin/);
    }
  });

  it("a listed Origin and the same origin are served", async () => {
    for (const origin of ["https://app.example", ORIGIN]) {
      const reply = await readReply(await session.post(ping, { headers: { origin } }));
      expect(reply.status, origin).toBe(200);
    }
  });

  it("a Host the gateway does not serve is 403 on every route (DNS rebinding)", async () => {
    for (const url of [`http://evil.example/t/${tenant}/mcp`, "http://evil.example/healthz", "http://evil.example/admin/tenants/x", "http://127.0.0.1.evil.example/healthz"]) {
      const res = await gateway(url, {
        method: "POST",
        headers: { accept: ACCEPT_BOTH, "content-type": "application/json", authorization: `Bearer ${bearer}`, origin: "http://evil.example" },
        body: JSON.stringify(initializeRequest()),
      });
      const { status, error } = await readError(res);
      expect(status, url).toBe(403);
      expect(error!.message).toMatch(/Host/);
    }
  });

  it("loopback names and *.workers.dev are served", async () => {
    for (const url of ["http://localhost/healthz", "http://[::1]/healthz", "https://gateway.someone.workers.dev/healthz"]) {
      const res = await gateway(url);
      expect(res.status, url).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true, name: "edge-mcp-gateway" });
    }
  });
});

describe("body limit (limits.maxBodyBytes = 2048)", () => {
  const padded = (bytes: number) => {
    const message = initializeRequest();
    (message.params!.clientInfo as Record<string, unknown>).padding = "x".repeat(bytes);
    return JSON.stringify(message);
  };

  it("a body over the limit with Content-Length is 413", async () => {
    const body = padded(4000);
    const { status } = await readError(await mcp(tenant, body, { token: bearer }));
    expect(status).toBe(413);
  });

  it("a streamed body over the limit without Content-Length is 413", async () => {
    const bytes = new TextEncoder().encode(padded(6000));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 500) controller.enqueue(bytes.slice(i, i + 500));
        controller.close();
      },
    });
    const request = new Request(endpoint(tenant), {
      method: "POST",
      headers: { accept: ACCEPT_BOTH, "content-type": "application/json", authorization: `Bearer ${bearer}` },
      body: stream,
    });
    expect(request.headers.get("content-length")).toBeNull();
    const { status } = await readError(await gateway(request.url, request));
    expect(status).toBe(413);
  });

  it("a body just under the limit is served", async () => {
    const body = padded(1500);
    expect(new TextEncoder().encode(body).length).toBeLessThan(2048);
    const res = await mcp(tenant, body, { token: bearer });
    const reply = await readReply(res);
    expect(reply.status).toBe(200);
    expect(res.headers.get("mcp-session-id")).toBeTruthy();
  });
});

describe("headers and methods", () => {
  it("an unsupported MCP-Protocol-Version is 400", async () => {
    for (const version of ["2099-01-01", "1.0", "latest"]) {
      const { status, error } = await readError(await session.post(ping, { version }));
      expect(status, version).toBe(400);
      expect(error!.message).toMatch(/protocol version/i);
    }
  });

  it("every listed revision is accepted in MCP-Protocol-Version", async () => {
    for (const version of ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]) {
      const reply = await readReply(await session.post(ping, { version }));
      expect(reply.status, version).toBe(200);
    }
  });

  it("POST, GET and DELETE without Mcp-Session-Id are 400", async () => {
    const requests = [
      mcp(tenant, ping, { token: bearer }),
      mcp(tenant, { jsonrpc: "2.0", method: "notifications/initialized" }, { token: bearer }),
      mcp(tenant, undefined, { token: bearer, method: "GET" }),
      mcp(tenant, undefined, { token: bearer, method: "DELETE" }),
    ];
    for (const res of await Promise.all(requests)) {
      const { status, error } = await readError(res);
      expect(status).toBe(400);
      expect(error!.message).toMatch(/Mcp-Session-Id/);
    }
  });

  it("an unknown or malformed session id is 404 for POST, GET and DELETE", async () => {
    const unknown = "A".repeat(43);
    for (const id of [unknown, "short", "has space in it......", "x".repeat(200)]) {
      for (const method of ["POST", "GET", "DELETE"]) {
        const res = await mcp(tenant, method === "POST" ? ping : undefined, { token: bearer, session: id, method });
        const { status } = await readError(res);
        expect(status, `${method} ${id}`).toBe(404);
      }
    }
  });

  it("a session id of another tenant is 404", async () => {
    const other = await createTenant("transport-other", { backends: [backend.weather()] });
    const res = await mcp(other.id, ping, { token: await token(other.id), session: session.id });
    expect((await readError(res)).status).toBe(404);
  });

  it.each(["PUT", "PATCH"])("%s is 405 with Allow", async (method) => {
    const res = await mcp(tenant, ping, { token: bearer, session: session.id, method, contentType: "application/json" });
    const { status, headers } = await readError(res);
    expect(status).toBe(405);
    expect(headers.get("allow")).toBe("GET, POST, DELETE");
  });
});

describe("JSON-RPC", () => {
  it.each([
    ["truncated JSON", '{"jsonrpc":"2.0","id":1,"method":'],
    ["not JSON at all", "hello"],
    ["an empty body", ""],
    ["a JSON value followed by garbage", '{"jsonrpc":"2.0","id":1,"method":"ping"} trailing'],
  ])("%s is -32700 with 400", async (_label, body) => {
    const { status, error, id } = await readError(await session.post(body));
    expect(status).toBe(400);
    expect(error!.code).toBe(-32700);
    // No id could be read, so none is echoed (absent, as 2025-11-25 allows, or null as JSON-RPC 2.0 had it).
    expect(id ?? null).toBeNull();
  });

  it.each([
    ["jsonrpc 1.0", { jsonrpc: "1.0", id: 7, method: "ping" }, 7],
    ["no jsonrpc member", { id: 7, method: "ping" }, 7],
    ["a null id", { jsonrpc: "2.0", id: null, method: "ping" }, null],
    ["a fractional id", { jsonrpc: "2.0", id: 1.5, method: "ping" }, null],
    ["params as an array", { jsonrpc: "2.0", id: "a", method: "tools/list", params: [] }, "a"],
    ["an empty method", { jsonrpc: "2.0", id: 8, method: "" }, 8],
    ["neither request nor response", { jsonrpc: "2.0", id: 9 }, 9],
    ["a bare number", 42, null],
    ["a string", "ping", null],
    ["null", null, null],
    ["an empty batch", [], null],
    ["a batch with one bad member", [{ jsonrpc: "2.0", id: 1, method: "ping" }, { jsonrpc: "2.0", id: 2 }], 2],
  ])("%s is -32600 with 400", async (_label, body, expectedId) => {
    const res = await session.post(JSON.stringify(body));
    const { status, error, id } = await readError(res);
    expect(status).toBe(400);
    expect(error!.code).toBe(-32600);
    // The id is echoed when it could be read, and never invented when it could not.
    expect(id ?? null).toBe(expectedId);
  });

  it("initialize inside a batch is -32600 with 400", async () => {
    const res = await mcp(tenant, [initializeRequest(), ping], { token: bearer });
    const { status, error } = await readError(res);
    expect(status).toBe(400);
    expect(error!.code).toBe(-32600);
    expect(res.headers.get("mcp-session-id")).toBeNull();
  });

  it("a second initialize inside a session is a -32600 error", async () => {
    const { response } = await session.request("initialize", initializeRequest().params);
    expect(response.error!.code).toBe(-32600);
  });

  it("a notification is 202 with no body", async () => {
    for (const method of ["notifications/initialized", "notifications/roots/list_changed", "notifications/unknown-kind"]) {
      const res = await session.notify(method);
      expect(res.status, method).toBe(202);
      expect(await res.text()).toBe("");
    }
  });

  it("a notification of a cancellation for a request not in flight is 202", async () => {
    const res = await session.notify("notifications/cancelled", { requestId: 12345, reason: "changed my mind" });
    expect(res.status).toBe(202);
  });

  it("a response to nothing the gateway asked is refused with 400", async () => {
    const res = await session.post({ jsonrpc: "2.0", id: "weather:999", result: {} });
    const { status, error } = await readError(res);
    expect(status).toBe(400);
    expect(error!.code).toBe(-32600);
  });

  it("an unknown method is -32601", async () => {
    const { response } = await session.request("tools/frobnicate", {});
    expect(response.error!.code).toBe(-32601);
  });

  it("tools/call without a name is -32602", async () => {
    for (const params of [{}, { name: 42 }, { arguments: { city: "Berlin" } }]) {
      const { response } = await session.request("tools/call", params);
      expect(response.error!.code, JSON.stringify(params)).toBe(-32602);
    }
  });

  it("tools/call of an unknown tool is -32602", async () => {
    for (const name of ["nope", "weather__nope", "get_forecast", "notes__add_note"]) {
      const { response } = await session.request("tools/call", { name, arguments: {} });
      expect(response.error!.code, name).toBe(-32602);
      expect(response.error!.message).toContain(name);
    }
  });

  it("prompts/get of an unknown prompt and resources/read of an unknown URI are errors, not 500s", async () => {
    const prompt = await session.request("prompts/get", { name: "weather__nope" });
    expect(prompt.response.error!.code).toBe(-32602);
    const resource = await session.request("resources/read", { uri: "nowhere://at/all" });
    expect(resource.response.error!.code).toBe(-32002);
    const noUri = await session.request("resources/read", {});
    expect(noUri.response.error!.code).toBe(-32602);
  });

  it("logging/setLevel validates its level", async () => {
    const bad = await session.request("logging/setLevel", { level: "loud" });
    expect(bad.response.error!.code).toBe(-32602);
    const good = await session.request("logging/setLevel", { level: "warning" });
    expect(good.response.result).toEqual({});
  });
});

describe("batches by negotiated version", () => {
  it.each(["2025-06-18", "2025-11-25"])("a batch in a %s session is refused with 400", async (version) => {
    const s = await connect(tenant, { version });
    expect(s.version).toBe(version);
    const res = await s.post([ping, { jsonrpc: "2.0", id: 2, method: "tools/list" }]);
    const { status, error } = await readError(res);
    expect(status).toBe(400);
    expect(error!.code).toBe(-32600);
  });

  it("a batch in a 2025-03-26 session is served, its responses in an array", async () => {
    const s = await connect(tenant, { version: "2025-03-26" });
    const res = await s.post([
      { jsonrpc: "2.0", id: "a", method: "ping" },
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", id: "b", method: "tools/list" },
      { jsonrpc: "2.0", id: "c", method: "no/such/method" },
    ]);
    const reply = await readReply(res);
    expect(reply.status).toBe(200);
    expect(reply.sse).toBe(false);
    expect(Array.isArray(reply.body)).toBe(true);
    const byId = new Map(reply.messages.map((m) => [m.id, m]));
    expect(reply.messages).toHaveLength(3);
    expect(byId.get("a")!.result).toEqual({});
    expect((byId.get("b")!.result!.tools as { name: string }[]).map((t) => t.name)).toContain("weather__get_forecast");
    expect(byId.get("c")!.error!.code).toBe(-32601);
  });

  it("a 2025-03-26 batch with a routed call streams every response", async () => {
    const s = await connect(tenant, { version: "2025-03-26" });
    const res = await s.post([
      { jsonrpc: "2.0", id: 1, method: "ping" },
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "weather__get_forecast", arguments: { city: "Lisbon", days: 1 } } },
    ]);
    const reply = await readReply(res);
    expect(reply.sse).toBe(true);
    const ids = reply.messages.filter((m) => m.result !== undefined).map((m) => m.id);
    expect(ids.sort()).toEqual([1, 2]);
    const call = reply.messages.find((m) => m.id === 2)!;
    // 2025-03-26 predates structured output: the gateway drops it for this client.
    expect(call.result!.structuredContent).toBeUndefined();
    expect(JSON.stringify(call.result)).toContain("Forecast for Lisbon");
    // A 2025-03-26 client gets no priming event (empty data) on the stream.
    expect(reply.events.every((e) => e.data !== "")).toBe(true);
  });

  it("a 2025-03-26 batch of notifications only is 202", async () => {
    const s = await connect(tenant, { version: "2025-03-26" });
    const res = await s.post([
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", method: "notifications/roots/list_changed" },
    ]);
    expect(res.status).toBe(202);
  });
});

describe("unknown tenants", () => {
  it("an unknown tenant is 404 on the MCP endpoint and the metadata endpoint", async () => {
    const res = await mcp("no-such-tenant", initializeRequest(), { token: bearer });
    expect((await readError(res)).status).toBe(404);
    const meta = await gateway(`${ORIGIN}/.well-known/oauth-protected-resource/t/no-such-tenant/mcp`);
    expect((await readError(meta)).status).toBe(404);
  });

  it("an unknown path is 404 without a stack trace", async () => {
    const res = await gateway(`${ORIGIN}/nothing/here`);
    expect((await readError(res)).status).toBe(404);
  });
});

describe("odd inputs never reach a 500", () => {
  const long = "a".repeat(600);
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  it.each([
    ["an over-long tenant id on the MCP endpoint", () => mcp(long, initializeRequest()), 404],
    ["an upper-case tenant id", () => mcp("UPPER", initializeRequest()), 404],
    ["an encoded slash in the tenant id", () => mcp("a%2Fb", initializeRequest()), 404],
    ["an over-long tenant id on the metadata endpoint", () => gateway(`${ORIGIN}/.well-known/oauth-protected-resource/t/${long}/mcp`), 404],
    ["admin GET of an over-long id", () => gateway(`${ORIGIN}/admin/tenants/${long}`, { headers: admin }), 404],
    ["admin PUT of an over-long id", () => gateway(`${ORIGIN}/admin/tenants/${long}`, { method: "PUT", headers: admin, body: "{}" }), 400],
    // Regression: KV refuses keys over 512 bytes, and the delete let that through as a 500.
    ["admin DELETE of an over-long id", () => gateway(`${ORIGIN}/admin/tenants/${long}`, { method: "DELETE", headers: admin }), 204],
    // Regression: an array was spread into an empty document and stored as a tenant (201).
    ["admin PUT of a JSON array", () => gateway(`${ORIGIN}/admin/tenants/odd-array`, { method: "PUT", headers: admin, body: "[]" }), 400],
    ["admin PUT of JSON null", () => gateway(`${ORIGIN}/admin/tenants/odd-null`, { method: "PUT", headers: admin, body: "null" }), 400],
    ["admin PUT of a non-JSON body", () => gateway(`${ORIGIN}/admin/tenants/odd-text`, { method: "PUT", headers: admin, body: "tenant please" }), 400],
    ["OPTIONS on an MCP endpoint", () => gateway(`${ORIGIN}/t/no-such-tenant/mcp`, { method: "OPTIONS" }), 404],
  ])("%s", async (_label, send, expected) => {
    const res = await send();
    const body = await res.text();
    expect(res.status, body).toBe(expected);
    expect(body).not.toContain("Internal error");
    expect(body).not.toContain("Error:");
  });

  it("a body of invalid UTF-8 is a parse error, and deep nesting is no crash", async () => {
    const invalid = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
    const res = await session.post(new ReadableStream({ start: (c) => (c.enqueue(invalid), c.close()) }));
    const { status, error } = await readError(res);
    expect(status).toBe(400);
    expect(error!.code).toBe(-32700);
    const deep = `${"[".repeat(900)}${"]".repeat(900)}`;
    const nested = await readError(await session.post(deep));
    expect(nested.status).toBe(400);
    expect(nested.error!.code).toBe(-32600);
  });

  it("arguments that are not an object are -32602 from the gateway, never forwarded", async () => {
    // Regression: they were forwarded, and the backend's -32603 with its validator's dump came back.
    for (const args of ["not an object", [1, 2], null, 7]) {
      for (const [method, name] of [["tools/call", "weather__get_forecast"], ["prompts/get", "weather__forecast_summary"]] as const) {
        const { response } = await session.request(method, { name, arguments: args });
        expect(response.error, `${method} ${JSON.stringify(args)}`).toEqual({ code: -32602, message: "Invalid params: arguments must be an object" });
      }
    }
  });

  it("odd but valid requests are answered with JSON-RPC errors", async () => {
    const long = await session.request("tools/call", { name: "x".repeat(1_500) });
    expect(long.response.error!.code).toBe(-32602);
    const uri = await session.request("resources/read", { uri: 42 });
    expect(uri.response.error!.code).toBe(-32602);
  });
});
