/**
 * A backend that is another Worker, reached through a service binding rather than a URL:
 * examples/service-backend bundled by wrangler and run as an auxiliary Worker in workerd.
 */
import { exports } from "cloudflare:workers";
import { beforeAll, expect, it } from "vitest";

const ADMIN = "workers-test-admin-token";
const BASE = "http://127.0.0.1";
const HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

async function rpc(body: unknown, session?: string): Promise<Response> {
  return exports.default.fetch(`${BASE}/t/svc/mcp`, {
    method: "POST",
    headers: session ? { ...HEADERS, "mcp-session-id": session } : HEADERS,
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  const res = await exports.default.fetch(`${BASE}/admin/tenants/svc`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({
      id: "svc",
      backends: [{ name: "inventory", transport: "service", service: "BACKEND_INVENTORY" }],
      auth: { anonymous: true },
    }),
  });
  expect(res.status).toBeLessThan(300);
});

it("initializes, lists and calls a backend Worker bound as a service", async () => {
  const init = await rpc({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } } });
  expect(init.status).toBe(200);
  const session = init.headers.get("mcp-session-id")!;
  expect((await init.json()) as object).toMatchObject({ result: { capabilities: { tools: { listChanged: true } } } });

  const list = await rpc({ jsonrpc: "2.0", id: 2, method: "tools/list" }, session);
  const tools = ((await list.json()) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name);
  expect(tools).toEqual(["inventory__stock_level"]);

  const call = await rpc({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "inventory__stock_level", arguments: { sku: "sku-300" } } }, session);
  expect(call.status).toBe(200);
  expect(await call.text()).toContain("sku-300: 57 units");
});

it("refuses a service backend whose binding does not exist, without leaking the binding name", async () => {
  await exports.default.fetch(`${BASE}/admin/tenants/svc-missing`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ id: "svc-missing", backends: [{ name: "ghost", transport: "service", service: "BACKEND_GHOST" }], auth: { anonymous: true } }),
  });
  const res = await exports.default.fetch(`${BASE}/t/svc-missing/mcp`, {
    method: "POST",
    headers: HEADERS,
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } } }),
  });
  const text = await res.text();
  expect(res.status).toBe(200);
  expect(JSON.parse(text)).toMatchObject({ error: { code: -32000, message: "No backend is available" } });
  expect(text).not.toContain("BACKEND_GHOST");
});
