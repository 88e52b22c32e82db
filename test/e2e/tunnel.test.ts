/**
 * Tunnels (issue 18, docs/tunnels.md): a stdio MCP server from npm (server-everything in stdio
 * mode) served to a real gateway by the real connector (`scripts/connect.ts`) over its outbound
 * WebSocket; clients of both eras call it through the gateway. Faults: the connector killed
 * mid-call (its servers do not outlive it), the server process killed, a second connector taking
 * over; security: another tenant's key, revoked keys.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { freePort, startDemoBackend, startProcess, startServerEverything, type Running, type RunningServer } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";

const require = createRequire(import.meta.url);
const everything = require.resolve("@modelcontextprotocol/server-everything/dist/index.js");
const filesystem = require.resolve("@modelcontextprotocol/server-filesystem/dist/index.js");
let gateway: RunningGateway;
/** A backend that is always up beside a tunnel, so a session starts while the tunnel is down. */
let weather: RunningServer;
let signer: TestSigner;
const connectors: Running[] = [];
/** The tenant each connector serves: tests that need the "tunneled" one pick it by this, not by position. */
const tenantOf = new Map<Running, string>();
let port: number;
let state: string;

beforeAll(async () => {
  weather = await startDemoBackend("weather");
  port = await freePort();
  state = mkdtempSync(join(tmpdir(), "gateway-tunnel-"));
  gateway = await startGateway({ port, persistTo: state });
  signer = await testSigner();
  for (const id of ["tunneled", "other"]) {
    await gateway.putTenant({ id, backends: [{ name: "everything", transport: "tunnel", timeoutMs: 15_000 }], auth: jwtAuth(signer, gateway.mcpUrl(id)) });
  }
  await gateway.putTenant({
    id: "late",
    backends: [{ name: "everything", transport: "tunnel", timeoutMs: 15_000 }, { name: "weather", url: weather.url }],
    auth: jwtAuth(signer, gateway.mcpUrl("late")),
  });
  await gateway.putTenant({
    id: "files",
    backends: [
      { name: "fs", transport: "tunnel", timeoutMs: 15_000 },
      { name: "private", transport: "tunnel", timeoutMs: 15_000 },
    ],
    auth: jwtAuth(signer, gateway.mcpUrl("files")),
  });
});

afterAll(async () => {
  await Promise.allSettled([...connectors.map((c) => c.stop()), gateway?.stop(), weather?.stop()]);
  rmSync(state, { recursive: true, force: true });
});

async function admin(method: string, path: string): Promise<Response> {
  return fetch(`${gateway.origin}/admin${path}`, { method, headers: { authorization: `Bearer ${gateway.adminToken}` } });
}

async function issueKey(tenant = "tunneled", backend = "everything"): Promise<{ id: string; key: string }> {
  const res = await admin("POST", `/tenants/${tenant}/tunnels/${backend}/keys`);
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; key: string };
}

/** The real connector, serving server-everything in stdio mode, once it is attached. */
async function startConnector(key: string, tenant = "tunneled", backend = "everything", server: string[] = ["--", process.execPath, everything, "stdio"]): Promise<Running> {
  const running = await startProcess({
    name: "connector",
    command: process.execPath,
    args: ["scripts/connect.ts", "--gateway", gateway.origin, "--tenant", tenant, "--backend", backend, ...server],
    env: { TUNNEL_KEY: key },
    readyLine: /attached as connector/,
  });
  connectors.push(running);
  tenantOf.set(running, tenant);
  return running;
}

async function legacyClient(tenant = "tunneled"): Promise<LegacyClient> {
  const token = await signer.token({ sub: "ada", audience: gateway.mcpUrl(tenant) });
  const client = new LegacyClient({ name: "e2e-tunnel", version: "1.0.0" }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada Lovelace", check: true } }));
  await client.connect(new LegacyTransport(new URL(gateway.mcpUrl(tenant)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

const text = (r: unknown) => ((r as CallToolResult).content ?? []).map((c) => (c.type === "text" ? c.text : "")).join("");

/** The server processes the connector runs (its children, the watchdog aside). */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(pid), "-f", "server-everything/dist/index.js"], { encoding: "utf8" }).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("a stdio server through the tunnel", () => {
  it("reads as down until a connector attaches, then serves tools, progress and elicitation to a 2025-11-25 client", async () => {
    const health = async () => ((await (await admin("GET", "/tenants/tunneled/health")).json()) as { backends: { status: string; connectors: number }[] }).backends[0]!;
    expect(await health()).toMatchObject({ status: "down", error: "no_connector", connectors: 0 });
    const { key, id } = await issueKey();
    const connector = await startConnector(key);
    expect(await health()).toMatchObject({ status: "up", server: "mcp-servers/everything", connectors: 1 });
    const listed = (await (await admin("GET", "/tenants/tunneled/tunnels/everything/keys")).json()) as { keys: { id: string }[]; connectors: { keyId: string }[] };
    expect(listed.keys.map((k) => k.id)).toContain(id);
    expect(JSON.stringify(listed)).not.toContain(key);
    expect(listed.connectors).toEqual([expect.objectContaining({ keyId: id })]);

    const client = await legacyClient();
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["everything__echo", "everything__trigger-long-running-operation"]));
    expect(text(await client.callTool({ name: "everything__echo", arguments: { message: "through the tunnel" } }))).toBe("Echo: through the tunnel");
    // Larger than one frame each way: the request and the reply both travel in chunks.
    const big = "z".repeat(1_500_000);
    expect(text(await client.callTool({ name: "everything__echo", arguments: { message: big } }))).toBe(`Echo: ${big}`);
    const progress: number[] = [];
    await client.callTool({ name: "everything__trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    expect(progress).toEqual([1, 2, 3]);
    expect(text(await client.callTool({ name: "everything__trigger-elicitation-request", arguments: {} }))).toContain("Ada Lovelace");
    // One server process per gateway session; ending the session ends it.
    expect(childrenOf(connector.pid).length).toBeGreaterThan(0);
    await client.close();
  });

  it("a session that found no connector several times uses one at once when it attaches (no breaker cool-down)", async () => {
    const client = await legacyClient("late");
    // More failures in a row than the session's breaker takes to open (BREAKER_FAILURE_THRESHOLD, 3):
    // were they counted, the session would skip the backend for 30 s after the connector attaches.
    for (let i = 0; i < 5; i++) expect((await client.listTools()).tools.map((t) => t.name.split("__")[0])).not.toContain("everything");
    const { key } = await issueKey("late");
    const late = await startConnector(key, "late");
    expect((await client.listTools()).tools.map((t) => t.name)).toContain("everything__echo");
    expect(text(await client.callTool({ name: "everything__echo", arguments: { message: "late" } }))).toBe("Echo: late");
    await client.close();
    await late.stop();
    connectors.splice(connectors.indexOf(late), 1);
  });

  it("serves a 2026-07-28 client too: tools, progress and elicitation", async () => {
    const token = await signer.token({ sub: "maya", audience: gateway.mcpUrl("tunneled") });
    const client = new ModernClient({ name: "modern", version: "1" }, { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: "2026-07-28" } } });
    client.setRequestHandler("elicitation/create", async () => ({ action: "accept", content: { name: "Grace Hopper", check: true } }));
    await client.connect(new ModernTransport(new URL(gateway.mcpUrl("tunneled")), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const result = await client.callTool({ name: "everything__echo", arguments: { message: "modern" } });
    expect(text(result)).toBe("Echo: modern");
    const progress: number[] = [];
    await client.callTool({ name: "everything__trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } }, { onprogress: (p: { progress: number }) => progress.push(p.progress) });
    expect(progress).toEqual([1, 2, 3]);
    expect(text(await client.callTool({ name: "everything__trigger-elicitation-request", arguments: {} }))).toContain("Grace Hopper");
    await client.close();
  });
});

describe("faults", () => {
  it("a server process killed mid-call fails that call at once; the next call starts a new one", async () => {
    const connector = connectors.find((c) => tenantOf.get(c) === "tunneled")!;
    const client = await legacyClient();
    await client.listTools();
    const before = childrenOf(connector.pid);
    expect(before.length).toBeGreaterThan(0);
    const started = Date.now();
    const call = client.callTool({ name: "everything__trigger-long-running-operation", arguments: { duration: 10, steps: 10 } }, undefined, {
      onprogress: () => {
        for (const pid of before) if (alive(pid)) process.kill(pid, "SIGKILL");
      },
      timeout: 60_000,
    });
    const outcome = await call.then(
      (r) => (r.isError ? text(r) : "succeeded"),
      (e: unknown) => String(e),
    );
    expect(outcome).toContain("Backend unavailable");
    expect(Date.now() - started).toBeLessThan(8_000);
    // The session's next call gets a fresh server process.
    expect(text(await client.callTool({ name: "everything__echo", arguments: { message: "again" } }))).toBe("Echo: again");
    expect(childrenOf(connector.pid).some((pid) => !before.includes(pid))).toBe(true);
    await client.close();
  });

  it("a connector killed mid-call fails the call fast; a second connector takes over", async () => {
    const first = connectors.find((c) => tenantOf.get(c) === "tunneled")!;
    const { key } = await issueKey();
    const second = await startConnector(key);
    const before = new Set([...childrenOf(first.pid), ...childrenOf(second.pid)]);
    const client = await legacyClient();
    await client.listTools();
    // Which connector serves the new session is the object's choice: the one that started a server for it.
    const victim = childrenOf(second.pid).some((pid) => !before.has(pid)) ? second : first;
    expect(childrenOf(victim.pid).some((pid) => !before.has(pid))).toBe(true);
    const servers = childrenOf(victim.pid);
    const started = Date.now();
    const outcome = await client
      .callTool({ name: "everything__trigger-long-running-operation", arguments: { duration: 10, steps: 10 } }, undefined, {
        onprogress: () => {
          if (alive(victim.pid)) process.kill(victim.pid, "SIGKILL");
        },
        timeout: 60_000,
      })
      .then(
        (r) => (r.isError ? text(r) : "succeeded"),
        (e: unknown) => String(e),
      );
    expect(outcome).toContain("Backend unavailable");
    expect(Date.now() - started).toBeLessThan(8_000);
    // Killed outright, the connector could not end its servers: its watchdog did.
    await expect.poll(() => servers.filter(alive), { timeout: 5_000 }).toEqual([]);
    await victim.stop();
    connectors.splice(connectors.indexOf(victim), 1);
    // The same session continues on the connector that is left.
    expect(text(await client.callTool({ name: "everything__echo", arguments: { message: "failover" } }))).toBe("Echo: failover");
    await client.close();
  });
});

describe("a gateway restarted", () => {
  // A gateway restart (wrangler dev) alone can take half a minute on a loaded machine.
  it("gets its connector back, and a session started before continues on the same server process", { timeout: 120_000 }, async () => {
    const connector = connectors.find((c) => tenantOf.get(c) === "tunneled")!;
    const client = await legacyClient();
    expect(text(await client.callTool({ name: "everything__echo", arguments: { message: "before" } }))).toBe("Echo: before");
    const servers = childrenOf(connector.pid);
    const attachedBefore = (connector.output().match(/attached as connector/g) ?? []).length;
    await gateway.stop();
    gateway = await startGateway({ port, persistTo: state, adminToken: gateway.adminToken });
    await expect.poll(() => (connector.output().match(/attached as connector/g) ?? []).length, { timeout: 45_000, interval: 250 }).toBeGreaterThan(attachedBefore);
    expect(text(await client.callTool({ name: "everything__echo", arguments: { message: "after" } }))).toBe("Echo: after");
    // The connector kept its server processes through the outage: the session's is still there.
    expect(childrenOf(connector.pid)).toEqual(expect.arrayContaining(servers));
    await client.close();
  });
});

describe("keys", () => {
  it("a key of another tenant does not attach, and a revoked key closes its tunnel within seconds", async () => {
    const { key: otherKey } = await issueKey("other");
    const refused = await fetch(`${gateway.origin}/t/tunneled/tunnels/everything/connect`, { headers: { authorization: `Bearer ${otherKey}`, "x-connector-id": "abcdefgh12" } });
    expect(refused.status).toBe(401);

    const { key, id } = await issueKey("other");
    const connector = await startConnector(key, "other");
    const exited = new Promise<number>((resolve) => {
      const timer = setInterval(() => {
        if (!alive(connector.pid)) {
          clearInterval(timer);
          resolve(Date.now());
        }
      }, 50);
    });
    const revokedAt = Date.now();
    expect((await admin("DELETE", `/tenants/other/tunnels/everything/keys/${id}`)).status).toBe(204);
    expect((await exited) - revokedAt).toBeLessThan(5_000);
    expect(connector.output()).toContain("revoked");
    const listed = (await (await admin("GET", "/tenants/other/tunnels/everything/keys")).json()) as { keys: { id: string }[]; connectors: unknown[] };
    expect(listed.keys.map((k) => k.id)).not.toContain(id);
    expect(listed.connectors).toEqual([]);
  });
});

describe("server-filesystem through the tunnel", () => {
  it("reads and writes files in its folder on the connector's machine, and nothing outside it", async () => {
    const folder = mkdtempSync(join(tmpdir(), "tunnel-files-"));
    try {
      writeFileSync(join(folder, "hello.txt"), "from the connector's disk");
      const { key } = await issueKey("files", "fs");
      await startConnector(key, "files", "fs", ["--", process.execPath, filesystem, folder]);
      const client = await legacyClient("files");
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(["fs__read_text_file", "fs__write_file", "fs__list_directory"]));
      expect(text(await client.callTool({ name: "fs__read_text_file", arguments: { path: join(folder, "hello.txt") } }))).toBe("from the connector's disk");
      await client.callTool({ name: "fs__write_file", arguments: { path: join(folder, "written.txt"), content: "through the gateway" } });
      expect(readFileSync(join(folder, "written.txt"), "utf8")).toBe("through the gateway");
      const outside = await client.callTool({ name: "fs__read_text_file", arguments: { path: "/etc/hostname" } });
      expect(outside.isError).toBe(true);
      expect(text(outside)).toContain("Access denied");
      await client.close();
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe("a private Streamable HTTP server through the tunnel (--url)", () => {
  it("is relayed as is: its own sessions, its progress", async () => {
    const server = await startServerEverything("streamableHttp");
    try {
      const { key } = await issueKey("files", "private");
      await startConnector(key, "files", "private", ["--url", server.url]);
      const client = await legacyClient("files");
      expect(text(await client.callTool({ name: "private__echo", arguments: { message: "inside the network" } }))).toBe("Echo: inside the network");
      const progress: number[] = [];
      await client.callTool({ name: "private__trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
      expect(progress).toEqual([1, 2, 3]);
      await client.close();
    } finally {
      await server.stop();
    }
  });
});
