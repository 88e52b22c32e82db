/**
 * A running gateway (`wrangler dev`, workerd) in front of the demo backends and the third-party
 * server-everything, driven by the real MCP SDK client and the MCP Inspector CLI.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ResourceListChangedNotificationSchema,
  type CallToolResult,
} from "@modelcontextprotocol/sdk/types.js";
import { startDemoBackend, startServerEverything, type Running, type RunningServer } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";

const run = promisify(execFile);
let servers: Running[] = [];
let gateway: RunningGateway;
let signer: TestSigner;
let url: string;

beforeAll(async () => {
  const backends: RunningServer[] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes"), startServerEverything()]);
  const [weather, notes, everything] = backends as [RunningServer, RunningServer, RunningServer];
  servers = backends;
  gateway = await startGateway();
  servers.push(gateway);
  signer = await testSigner();
  url = gateway.mcpUrl("acme");
  await gateway.putTenant({
    id: "acme",
    backends: [
      { name: "weather", url: weather.url },
      { name: "notes", url: notes.url },
      { name: "everything", url: everything.url },
    ],
    auth: jwtAuth(signer, url),
  });
});

afterAll(async () => {
  await Promise.allSettled(servers.map((s) => s.stop()));
});

async function connect(sub: string, capabilities: Record<string, unknown> = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const token = await signer.token({ sub, audience: url });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: "e2e", version: "1.0.0" }, { capabilities });
  await client.connect(transport);
  return { client, transport };
}

function text(result: unknown): string {
  return ((result as CallToolResult).content ?? []).map((c) => (c.type === "text" ? c.text : "")).join("");
}

describe("the MCP SDK client through the gateway", () => {
  it("lists the tools of all three backends, namespaced, and calls one on each", async () => {
    const { client, transport } = await connect("alice");
    expect(transport.sessionId).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(client.getServerVersion()?.name).toBe("edge-mcp-gateway");
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["weather__get_forecast", "notes__add_note", "everything__echo", "everything__get-sum"]));
    expect(names.every((n) => /^(weather|notes|everything)__/.test(n))).toBe(true);

    expect(text(await client.callTool({ name: "everything__echo", arguments: { message: "through the edge" } }))).toBe("Echo: through the edge");
    expect(text(await client.callTool({ name: "everything__get-sum", arguments: { a: 2, b: 40 } }))).toContain("42");
    const forecast = (await client.callTool({ name: "weather__get_forecast", arguments: { city: "Lisbon", days: 2 } })) as CallToolResult;
    expect((forecast.structuredContent as { days: unknown[] }).days).toHaveLength(2);
    await client.close();
  });

  it("streams progress of a long-running backend tool to the client as it happens", async () => {
    const { client } = await connect("alice");
    const progress: number[] = [];
    const result = await client.callTool(
      { name: "everything__trigger-long-running-operation", arguments: { duration: 0.5, steps: 5 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(text(result)).toContain("Long running operation completed");
    await client.close();
  });

  it("routes a backend's sampling request to the client and the answer back", async () => {
    const { client } = await connect("alice", { sampling: {} });
    const asked: string[] = [];
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      const first = request.params.messages[0]?.content;
      asked.push(first && "text" in first ? String(first.text) : "");
      return { role: "assistant", content: { type: "text", text: "sampled by the e2e client" }, model: "e2e-model" };
    });
    const result = await client.callTool({ name: "everything__trigger-sampling-request", arguments: { prompt: "hello", maxTokens: 10 } });
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain("hello");
    expect(text(result)).toContain("sampled by the e2e client");
    await client.close();
  });

  it("routes a backend's elicitation request to the client and the answer back", async () => {
    const { client } = await connect("alice", { elicitation: {} });
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada Lovelace", check: true } }));
    const result = await client.callTool({ name: "everything__trigger-elicitation-request", arguments: {} });
    expect(text(result)).toContain("Ada Lovelace");
    await client.close();
  });

  it("forwards a backend's list_changed notification to the client", async () => {
    const { client } = await connect("alice");
    let changed = 0;
    client.setNotificationHandler(ResourceListChangedNotificationSchema, async () => {
      changed++;
    });
    await client.callTool({ name: "notes__add_note", arguments: { title: "edge", body: "gateway" } });
    await expect.poll(() => changed).toBeGreaterThan(0);
    await client.close();
  });

  it("ends the session on DELETE: the id is then unknown (404)", async () => {
    const { client, transport } = await connect("alice");
    const id = transport.sessionId!;
    await transport.terminateSession();
    const token = await signer.token({ sub: "alice", audience: url });
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": id },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(res.status).toBe(404);
    await client.close();
  });
});

describe("the MCP Inspector CLI through the gateway", () => {
  const inspector = async (...args: string[]) => {
    const token = await signer.token({ sub: "inspector", audience: url });
    const { stdout } = await run(
      process.execPath,
      [inspectorBin(), "--cli", url, "--transport", "http", "--header", `Authorization: Bearer ${token}`, ...args],
      { timeout: 60_000 },
    );
    return JSON.parse(stdout) as Record<string, unknown>;
  };

  it("lists the merged tools", async () => {
    const listed = (await inspector("--method", "tools/list")) as { tools: { name: string }[] };
    expect(listed.tools.map((t) => t.name)).toEqual(expect.arrayContaining(["weather__get_forecast", "notes__list_notes", "everything__echo"]));
  });

  it("calls a tool with arguments", async () => {
    const result = await inspector("--method", "tools/call", "--tool-name", "weather__get_forecast", "--tool-arg", "city=Berlin", "--tool-arg", "days=1");
    expect(text(result)).toContain("Forecast for Berlin");
  });
});

/** The Inspector's own launcher (its package `bin`), run with the Node that runs the tests. */
function inspectorBin(): string {
  return new URL("../../node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js", import.meta.url).pathname;
}
