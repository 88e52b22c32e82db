/**
 * Tenants reached by hostname: `https://<tenant hostname>/mcp` serves the tenant's endpoint, the
 * hostname is allowed past the Host check because a tenant owns it, and the OAuth metadata names
 * the URL the client actually used (RFC 9728 §3.3: the resource must match it).
 */
import { expect, it } from "vitest";
import { ADMIN_TOKEN, gateway } from "./helpers.ts";

const HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const INIT = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } } };

async function put(id: string, body: Record<string, unknown>): Promise<Response> {
  return gateway(`http://127.0.0.1/admin/tenants/${id}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ backends: [], auth: { anonymous: true }, ...body }),
  });
}

it("serves a tenant at /mcp on its own hostname, and only there", async () => {
  expect((await put("host-a", { hostnames: ["mcp.alpha.test"] })).status).toBe(201);
  const init = await gateway("http://mcp.alpha.test/mcp", { method: "POST", headers: HEADERS, body: JSON.stringify(INIT) });
  expect(init.status).toBe(200);
  expect(init.headers.get("mcp-session-id")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  // The session lives under the tenant, so its path-based URL reaches it too.
  const session = init.headers.get("mcp-session-id")!;
  const ping = await gateway("http://127.0.0.1/t/host-a/mcp", {
    method: "POST",
    headers: { ...HEADERS, "mcp-session-id": session },
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }),
  });
  expect(await ping.json()).toEqual({ jsonrpc: "2.0", id: 2, result: {} });

  // A hostname no tenant owns is refused by the Host check (DNS rebinding defence), not served.
  const stranger = await gateway("http://mcp.nobody.test/mcp", { method: "POST", headers: HEADERS, body: JSON.stringify(INIT) });
  expect(stranger.status).toBe(403);
});

it("names the hostname URL as the protected resource when reached by hostname", async () => {
  await put("host-b", { hostnames: ["mcp.beta.test"], auth: { anonymous: false } });
  const refused = await gateway("http://mcp.beta.test/mcp", { method: "POST", headers: HEADERS, body: JSON.stringify(INIT) });
  expect(refused.status).toBe(401);
  expect(refused.headers.get("www-authenticate")).toContain('resource_metadata="http://mcp.beta.test/.well-known/oauth-protected-resource/mcp"');
  const metadata = await gateway("http://mcp.beta.test/.well-known/oauth-protected-resource/mcp");
  expect(await metadata.json()).toMatchObject({ resource: "http://mcp.beta.test/mcp" });
});

it("refuses a hostname another tenant owns, and frees hostnames a tenant drops", async () => {
  await put("host-c", { hostnames: ["mcp.gamma.test"] });
  const clash = await put("host-d", { hostnames: ["mcp.gamma.test"] });
  expect(clash.status).toBe(409);
  expect(await clash.json()).toEqual({ error: "hostnames: 'mcp.gamma.test' already belongs to another tenant" });
  expect((await put("host-c", { hostnames: [] })).status).toBe(200);
  expect((await put("host-d", { hostnames: ["mcp.gamma.test"] })).status).toBe(201);
});
