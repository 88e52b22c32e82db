/**
 * Backends of every transport and in every state, behind one running gateway: a legacy
 * 2024-11-05 HTTP+SSE server, a Streamable HTTP one, one that accepts connections and never
 * answers; and a gateway restarted mid-session.
 */
import { createServer, type Server, type Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { freePort, startDemoBackend, startServerEverything, type RunningServer } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";

let legacy: RunningServer;
let weather: RunningServer;
let gateway: RunningGateway;
let signer: TestSigner;
let hanging: Server;
const sockets = new Set<Socket>();
let hangingPort: number;
let port: number;
let state: string;

beforeAll(async () => {
  [legacy, weather] = await Promise.all([startServerEverything("sse"), startDemoBackend("weather")]);
  // A backend that accepts the connection and then says nothing at all.
  hangingPort = await freePort();
  hanging = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => hanging.listen(hangingPort, "127.0.0.1", resolve));
  port = await freePort();
  state = mkdtempSync(join(tmpdir(), "gateway-restart-"));
  gateway = await startGateway({ port, persistTo: state });
  signer = await testSigner();
  await putTenants();
});

async function putTenants() {
  await gateway.putTenant({
    id: "mixed",
    backends: [
      { name: "legacy", transport: "sse", url: legacy.url },
      { name: "weather", url: weather.url },
    ],
    auth: jwtAuth(signer, gateway.mcpUrl("mixed")),
  });
  await gateway.putTenant({
    id: "flaky",
    backends: [
      { name: "weather", url: weather.url },
      { name: "stuck", url: `http://127.0.0.1:${hangingPort}/mcp`, timeoutMs: 1_000 },
    ],
    auth: jwtAuth(signer, gateway.mcpUrl("flaky")),
  });
}

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => hanging?.close(resolve));
  await Promise.allSettled([gateway?.stop(), legacy?.stop(), weather?.stop()]);
  rmSync(state, { recursive: true, force: true });
});

async function connect(tenant: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const token = await signer.token({ sub: "bob", audience: gateway.mcpUrl(tenant) });
  const transport = new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(tenant)), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: "e2e-backends", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
}

const text = (r: unknown) => ((r as CallToolResult).content ?? []).map((c) => (c.type === "text" ? c.text : "")).join("");

describe("a legacy HTTP+SSE (2024-11-05) backend next to a Streamable HTTP one", () => {
  it("merges both, calls through the legacy transport and relays its progress", async () => {
    const { client } = await connect("mixed");
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["legacy__echo", "weather__get_forecast"]));
    expect(text(await client.callTool({ name: "legacy__echo", arguments: { message: "old transport" } }))).toBe("Echo: old transport");
    const progress: number[] = [];
    await client.callTool({ name: "legacy__trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(progress).toEqual([1, 2, 3]);
    await client.close();
  });
});

describe("a backend that hangs", () => {
  it("is left out of the merged list after its timeout, with a warning, while the others answer", async () => {
    const { client } = await connect("flaky");
    const warnings: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
      warnings.push(n.params.data);
    });
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("weather__get_forecast");
    expect(names.some((n) => n.startsWith("stuck__"))).toBe(false);
    expect(warnings).toEqual([expect.objectContaining({ backend: "stuck", reason: "timeout" })]);
    // The session keeps working for the healthy backend.
    expect(text(await client.callTool({ name: "weather__get_alerts", arguments: { region: "north" } }))).not.toBe("");
    await client.close();
  });
});

describe("a gateway restarted mid-session", () => {
  it("continues the same session from its Durable Object storage", async () => {
    const { client, transport } = await connect("mixed");
    await client.listTools();
    const sessionId = transport.sessionId!;
    await gateway.stop();
    gateway = await startGateway({ port, persistTo: state, adminToken: gateway.adminToken });
    const token = await signer.token({ sub: "bob", audience: gateway.mcpUrl("mixed") });
    const res = await fetch(gateway.mcpUrl("mixed"), {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-11-25",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "weather__get_forecast", arguments: { city: "Oslo", days: 1 } } }),
    });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain("Forecast for Oslo");
    // The legacy backend's SSE stream died with the old process; the session re-initializes it
    // transparently and the call goes through.
    const again = await fetch(gateway.mcpUrl("mixed"), {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": sessionId,
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "legacy__echo", arguments: { message: "after restart" } } }),
    });
    expect(again.status).toBe(200);
    const againBody = await again.text();
    expect(againBody).toContain("Echo: after restart");
  });
});
