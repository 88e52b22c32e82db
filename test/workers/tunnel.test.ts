/**
 * Tunnel backends inside workerd (docs/tunnels.md): connector keys issued, listed and revoked
 * through the admin API; what attaches and what does not (no key, a wrong key, another tenant's
 * or another backend's key, a revoked key); oversized and malformed frames; a backend with no
 * connector reads as down. The socket below plays the connector's side of the frame protocol;
 * the real connector runs in test/e2e/tunnel.test.ts.
 */
import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, backend, connect, createTenant, expectClean, gateway, mcp, ORIGIN, token } from "./helpers.ts";

const KEY_SHAPE = /^mtk_[A-Za-z0-9_-]{43}$/;

function admin(method: string, path: string, body?: unknown): Promise<Response> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  return gateway(`${ORIGIN}/admin${path}`, init);
}

async function tunnelTenant(prefix: string) {
  return createTenant(prefix, { backends: [{ name: "files", transport: "tunnel" }, { name: "git", transport: "tunnel" }, backend.weather()] });
}

async function issue(tenant: string, name = "files"): Promise<{ id: string; key: string }> {
  const res = await admin("POST", `/tenants/${tenant}/tunnels/${name}/keys`);
  expect(res.status).toBe(201);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return (await res.json()) as { id: string; key: string };
}

function attach(tenant: string, name: string, key: string | null, upgrade = true): Promise<Response> {
  const headers: Record<string, string> = { "x-connector-id": `conn-${crypto.randomUUID().slice(0, 8)}` };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (upgrade) headers.upgrade = "websocket";
  return gateway(`${ORIGIN}/t/${tenant}/tunnels/${name}/connect`, { headers });
}

/** An attached socket, recording what it receives and how it was closed. */
async function attached(tenant: string, name: string, key: string) {
  const res = await attach(tenant, name, key);
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const received: string[] = [];
  let closed: number | null = null;
  ws.addEventListener("message", (e) => {
    received.push(String(e.data));
  });
  ws.addEventListener("close", (e) => {
    closed = e.code;
  });
  ws.accept();
  return { ws, received, closed: () => closed };
}

describe("tunnel keys", () => {
  it("are issued once, listed by id only, and attach only to their own tenant and backend", async () => {
    const tenant = await tunnelTenant("tunnel-keys");
    const other = await tunnelTenant("tunnel-other");
    const { id, key } = await issue(tenant.id);
    expect(key).toMatch(KEY_SHAPE);
    const listed = await admin("GET", `/tenants/${tenant.id}/tunnels/files/keys`);
    const text = await listed.text();
    expect(JSON.parse(text)).toEqual({ keys: [{ id, createdAt: expect.any(Number) }], connectors: [] });
    expect(text).not.toContain(key);

    // A good key without an upgrade is recognised (426), which the connector uses as a check.
    expect((await attach(tenant.id, "files", key, false)).status).toBe(426);
    for (const [t, b, k] of [
      [tenant.id, "files", null],
      [tenant.id, "files", `mtk_${"A".repeat(43)}`],
      [tenant.id, "files", "not-a-key"],
      [tenant.id, "git", key], // another backend of the same tenant
      [other.id, "files", key], // the same backend name at another tenant
    ] as const) {
      const res = await attach(t, b, k);
      const body = await res.text();
      expect(res.status, `${t}/${b}`).toBe(401);
      expectClean(res.status, body);
    }
    const ok = await attached(tenant.id, "files", key);
    const after = (await (await admin("GET", `/tenants/${tenant.id}/tunnels/files/keys`)).json()) as { connectors: { keyId: string }[] };
    expect(after.connectors).toEqual([expect.objectContaining({ keyId: id })]);
    ok.ws.close(1000, "done");
  });

  it("refuses keys for backends that are not tunnels or do not exist", async () => {
    const tenant = await tunnelTenant("tunnel-kinds");
    const weather = await admin("POST", `/tenants/${tenant.id}/tunnels/weather/keys`);
    expect(weather.status).toBe(400);
    expect(await weather.json()).toEqual({ error: "backend 'weather' is not a tunnel (transport 'streamable-http')" });
    expect((await admin("POST", `/tenants/${tenant.id}/tunnels/nope/keys`)).status).toBe(404);
    expect((await admin("POST", `/tenants/no-such-tenant-x/tunnels/files/keys`)).status).toBe(404);
    expect((await attach(tenant.id, "weather", `mtk_${"A".repeat(43)}`)).status).toBe(404);
    expect((await gateway(`${ORIGIN}/admin/tenants/${tenant.id}/tunnels/files/keys`, { method: "POST" })).status).toBe(401);
  });

  it("revoked, close the tunnels attached with them at once and attach no more", async () => {
    const tenant = await tunnelTenant("tunnel-revoke");
    const { id, key } = await issue(tenant.id);
    const { key: kept } = await issue(tenant.id);
    const doomed = await attached(tenant.id, "files", key);
    const survivor = await attached(tenant.id, "files", kept);
    expect((await admin("DELETE", `/tenants/${tenant.id}/tunnels/files/keys/${id}`)).status).toBe(204);
    await expect.poll(() => doomed.received).toContain("goodbye 4001");
    await expect.poll(() => doomed.closed()).toBe(4001);
    expect(survivor.closed()).toBeNull();
    expect((await attach(tenant.id, "files", key)).status).toBe(401);
    expect((await admin("DELETE", `/tenants/${tenant.id}/tunnels/files/keys/${id}`)).status).toBe(404);
    const listed = (await (await admin("GET", `/tenants/${tenant.id}/tunnels/files/keys`)).json()) as { keys: { id: string }[]; connectors: unknown[] };
    expect(listed.keys.map((k) => k.id)).not.toContain(id);
    expect(listed.connectors).toHaveLength(1);
    survivor.ws.close(1000, "done");
  });
});

describe("a tunnel backend removed", () => {
  it("takes its keys and connectors with it, so a backend declared again under its name starts with none", async () => {
    const tenant = await tunnelTenant("tunnel-removed");
    const { key } = await issue(tenant.id);
    const { key: gitKey } = await issue(tenant.id, "git");
    const socket = await attached(tenant.id, "files", key);
    const withoutFiles = { ...tenant, backends: tenant.backends.filter((b) => b.name !== "files") };
    // The stored document, as GET answers it, is written back (its tunnels' placeholder URLs included).
    expect((await admin("PUT", `/tenants/${tenant.id}`, withoutFiles)).status).toBe(200);
    await expect.poll(() => socket.closed()).toBe(4001);
    expect((await admin("PUT", `/tenants/${tenant.id}`, { ...tenant, version: undefined })).status).toBe(200);
    expect((await attach(tenant.id, "files", key)).status).toBe(401);
    expect(((await (await admin("GET", `/tenants/${tenant.id}/tunnels/files/keys`)).json()) as { keys: unknown[] }).keys).toEqual([]);
    // The backend that stayed kept its key.
    expect((await attach(tenant.id, "git", gitKey, false)).status).toBe(426);
    // Deleting the tenant revokes the rest.
    expect((await admin("DELETE", `/tenants/${tenant.id}`)).status).toBe(204);
    expect((await admin("PUT", `/tenants/${tenant.id}`, { ...tenant, version: undefined })).status).toBe(201);
    expect((await attach(tenant.id, "git", gitKey, false)).status).toBe(401);
  });
});

describe("tunnel frames", () => {
  it("a connector sending an oversized frame is disconnected (1009)", async () => {
    const tenant = await tunnelTenant("tunnel-big");
    const { key } = await issue(tenant.id);
    const socket = await attached(tenant.id, "files", key);
    socket.ws.send(JSON.stringify({ type: "data", id: 1, chunk: "x".repeat(1024 * 1024 + 10) }));
    await expect.poll(() => socket.closed()).toBe(1009);
    expect(socket.received).toContain("goodbye 1009");
  });

  it("a connector sending something that is not a frame is disconnected (1002); pings are answered", async () => {
    const tenant = await tunnelTenant("tunnel-junk");
    const { key } = await issue(tenant.id);
    const socket = await attached(tenant.id, "files", key);
    socket.ws.send("ping");
    await expect.poll(() => socket.received).toContain("pong");
    socket.ws.send(JSON.stringify({ type: "head", id: "x" }));
    await expect.poll(() => socket.closed()).toBe(1002);
  });
});

describe("a tunnel backend without a connector", () => {
  it("reads as down: health says so, the merge leaves it out, and a call to one of its tools finds no such tool", async () => {
    const tenant = await tunnelTenant("tunnel-down");
    const health = (await (await admin("GET", `/tenants/${tenant.id}/health`)).json()) as { backends: { backend: string; status: string; transport: string }[] };
    expect(health.backends.filter((b) => b.transport === "tunnel")).toEqual([
      expect.objectContaining({ backend: "files", status: "down", error: "no_connector", connectors: 0 }),
      expect.objectContaining({ backend: "git", status: "down", error: "no_connector", connectors: 0 }),
    ]);
    expect(health.backends.find((b) => b.backend === "weather")).not.toHaveProperty("connectors");
    const session = await connect(tenant.id);
    const tools = (await session.result("tools/list")).tools as { name: string }[];
    expect(tools.length).toBeGreaterThan(0);
    expect(tools.every((t) => t.name.startsWith("weather__"))).toBe(true);
    const { response } = await session.request("tools/call", { name: "files__read", arguments: {} });
    expect(response.error).toEqual({ code: -32602, message: "Unknown tool: files__read" });
  });

  it("a tenant document giving a tunnel a URL is refused with the field named", async () => {
    const res = await admin("PUT", "/tenants/tunnel-with-url", { backends: [{ name: "files", transport: "tunnel", url: "https://example.com/mcp" }] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain("backends.0.url");
  });
});

describe("a 2026-07-28 client of a tenant whose only backend is down (a tunnel without connector, a closed port)", () => {
  it("gets clean answers, never a 500", async () => {
    for (const backends of [[backend.down({ name: "files" })], [{ name: "files", transport: "tunnel" as const }]]) {
      const tenant = await createTenant("tunnel-modern", { backends });
      for (const [method, params] of [["server/discover", {}], ["tools/list", {}], ["tools/call", { name: "files__read", arguments: {} }]] as const) {
        const meta = {
          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientCapabilities": {},
          "io.modelcontextprotocol/clientInfo": { name: "t", version: "1" },
        };
        const headers: Record<string, string> = { "mcp-method": method, ...("name" in params ? { "mcp-name": params.name } : {}) };
        const res = await mcp(tenant.id, { jsonrpc: "2.0", id: 1, method, params: { ...params, _meta: meta } }, { token: await token(tenant.id), version: "2026-07-28", headers });
        const body = await res.text();
        expectClean(res.status, body);
        if (method !== "server/discover") expect(JSON.parse(body)).toMatchObject({ id: 1, error: { code: -32000, message: "No backend is available" } });
      }
    }
  });
});
