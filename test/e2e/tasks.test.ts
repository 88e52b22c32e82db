/**
 * Tasks through the multiplexer (2025-11-25 basic/utilities/tasks): two real SDK v1 servers with
 * task-augmented tools behind one tenant, both minting the SAME task ids (task-1, task-2, ...),
 * and real SDK v1 clients creating, polling, fetching, listing and cancelling tasks through the
 * gateway. Ids the client sees name their backend and are bound to the principal: another
 * principal's id, a forged one and a backend's raw id are all "Task not found" (-32602).
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, CreateTaskResultSchema, McpError, TaskStatusNotificationSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { freePort, startProcess, type RunningServer } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";

const TENANT = "tasks";
const RELATED_TASK = "io.modelcontextprotocol/related-task";
const MODERN_TENANT = "tasks-modern";
const MIXED_TENANT = "tasks-mixed";
let alpha: RunningServer;
let beta: RunningServer;
let gamma: RunningServer;
let delta: RunningServer;
let gateway: RunningGateway;
let signer: TestSigner;

/** test/fixtures/task-server.ts (SDK v1, 2025-11-25) or modern-task-server.ts (the 2026-07-28 extension). */
async function startTaskServer(name: string, fixture = "task-server.ts"): Promise<RunningServer> {
  const port = await freePort();
  const running = await startProcess({
    name,
    command: process.execPath,
    args: [fileURLToPath(new URL(`../fixtures/${fixture}`, import.meta.url))],
    env: { PORT: String(port), NAME: name },
    readyLine: /^ready http:\/\/\S+$/,
  });
  return { ...running, url: `http://127.0.0.1:${port}/mcp` };
}

beforeAll(async () => {
  [alpha, beta, gamma, delta, gateway, signer] = await Promise.all([
    startTaskServer("alpha"),
    startTaskServer("beta"),
    startTaskServer("gamma", "modern-task-server.ts"),
    startTaskServer("delta", "modern-task-server.ts"),
    startGateway(),
    testSigner(),
  ]);
  await gateway.putTenant({
    id: TENANT,
    backends: [
      { name: "alpha", url: alpha.url },
      { name: "beta", url: beta.url },
    ],
    policy: { audit: { results: true } },
    auth: jwtAuth(signer, gateway.mcpUrl(TENANT)),
  });
  // All-modern: 2026-07-28 clients are served by the Worker's stateless home (no Durable Object).
  await gateway.putTenant({
    id: MODERN_TENANT,
    backends: [
      { name: "gamma", url: gamma.url, era: "modern" },
      { name: "delta", url: delta.url, era: "modern" },
    ],
    auth: jwtAuth(signer, gateway.mcpUrl(MODERN_TENANT)),
  });
  // A legacy backend beside: 2026-07-28 clients are served by a session Durable Object.
  await gateway.putTenant({
    id: MIXED_TENANT,
    backends: [
      { name: "alpha", url: alpha.url },
      { name: "gamma", url: gamma.url, era: "modern" },
    ],
    auth: jwtAuth(signer, gateway.mcpUrl(MIXED_TENANT)),
  });
});

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), alpha?.stop(), beta?.stop(), gamma?.stop(), delta?.stop()]);
});

async function connect(sub: string): Promise<Client> {
  const token = await signer.token({ sub, audience: gateway.mcpUrl(TENANT) });
  const transport = new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: "e2e-tasks", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

const text = (r: unknown) => ((r as CallToolResult).content ?? []).map((c) => (c.type === "text" ? c.text : "")).join("");

async function createTask(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const created = await client.request({ method: "tools/call", params: { name, arguments: args, task: { ttl: 60_000 } } }, CreateTaskResultSchema);
  return created.task.taskId;
}

async function settled(client: Client, taskId: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const task = await client.experimental.tasks.getTask(taskId);
    expect(task.taskId).toBe(taskId);
    if (task.status !== "working") return task.status;
    await new Promise((resolve) => setTimeout(resolve, task.pollInterval ?? 50));
  }
  throw new Error(`task ${taskId} did not settle`);
}

async function refused(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(McpError);
  return { code: (error as McpError).code, message: (error as McpError).message };
}

describe("tasks from two backends that mint the same ids", () => {
  it("advertises the backends' task support and keeps each tool's taskSupport", async () => {
    const client = await connect("alice");
    expect(client.getServerCapabilities()?.tasks).toEqual({ list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const tools = (await client.listTools()).tools;
    for (const name of ["alpha__square", "beta__square"]) expect(tools.find((t) => t.name === name)?.execution).toEqual({ taskSupport: "optional" });
    await client.close();
  });

  it("creates a task on each, polls tasks/get and fetches each result from its own backend", async () => {
    const client = await connect("alice");
    const statuses: { taskId: string; status: string }[] = [];
    client.setNotificationHandler(TaskStatusNotificationSchema, async (n) => {
      statuses.push({ taskId: n.params.taskId, status: n.params.status });
    });
    const a = await createTask(client, "alpha__square", { n: 7 });
    const b = await createTask(client, "beta__square", { n: 8 });
    // Both backends minted task-1 for this session; the client sees two different gateway ids.
    expect(a).toMatch(/^gt1\./);
    expect(b).toMatch(/^gt1\./);
    expect(a).not.toBe(b);
    expect(await settled(client, a)).toBe("completed");
    expect(await settled(client, b)).toBe("completed");

    const resultA = await client.experimental.tasks.getTaskResult(a, CallToolResultSchema);
    const resultB = await client.experimental.tasks.getTaskResult(b, CallToolResultSchema);
    expect(text(resultA)).toBe("alpha: 7² = 49");
    expect(text(resultB)).toBe("beta: 8² = 64");
    // tasks/result carries the related task in _meta (2025-11-25 "Related Task Metadata"), as the client knows it.
    expect(resultA._meta?.[RELATED_TASK]).toEqual({ taskId: a });
    expect(resultB._meta?.[RELATED_TASK]).toEqual({ taskId: b });

    // tasks/list: both backends' tasks, under the same ids the client was given.
    const listed = await client.experimental.tasks.listTasks();
    expect(listed.tasks.map((t) => t.taskId).sort()).toEqual([a, b].sort());
    expect(listed.nextCursor).toBeUndefined();
    // The gateway answers in one page and issues no cursor: one it did not issue is invalid (-32602).
    expect((await refused(client.experimental.tasks.listTasks("made-up"))).code).toBe(-32602);

    // Each backend's notifications/tasks/status (sent on its own stream) reaches the client under the client's id.
    await expect.poll(() => statuses, { timeout: 5_000 }).toEqual(
      expect.arrayContaining([
        { taskId: a, status: "completed" },
        { taskId: b, status: "completed" },
      ]),
    );
    await client.close();
  });

  it("cancels a running task on its backend", async () => {
    const client = await connect("alice");
    const slow = await createTask(client, "beta__square", { n: 3, delayMs: 60_000 });
    const other = await createTask(client, "alpha__square", { n: 2, delayMs: 60_000 });
    const cancelled = await client.experimental.tasks.cancelTask(slow);
    expect(cancelled).toMatchObject({ taskId: slow, status: "cancelled" });
    expect((await client.experimental.tasks.getTask(slow)).status).toBe("cancelled");
    // The task of the same backend id on the other backend is untouched.
    expect((await client.experimental.tasks.getTask(other)).status).toBe("working");
    // Cancelling a terminal task is the backend's -32602 (2025-11-25 tasks "Task Cancellation").
    expect((await refused(client.experimental.tasks.cancelTask(slow))).code).toBe(-32602);
    await client.experimental.tasks.cancelTask(other);
    await client.close();
  });
});

describe("who may reach a task", () => {
  it("refuses another principal's task id, a forged id and a backend's raw id with -32602 Task not found", async () => {
    const alice = await connect("alice");
    const bob = await connect("bob");
    const id = await createTask(alice, "alpha__square", { n: 5 });
    expect(await settled(alice, id)).toBe("completed");

    for (const attempt of [
      () => bob.experimental.tasks.getTask(id),
      () => bob.experimental.tasks.getTaskResult(id, CallToolResultSchema),
      () => bob.experimental.tasks.cancelTask(id),
    ]) {
      expect(await refused(attempt())).toEqual({ code: -32602, message: "MCP error -32602: Failed to retrieve task: Task not found" });
    }
    // Bob's own list holds none of Alice's tasks.
    expect((await bob.experimental.tasks.listTasks()).tasks).toEqual([]);

    // The same payload with a changed MAC, a made-up id, and the backend's own id.
    const forged = id.slice(0, -2) + (id.endsWith("AA") ? "BB" : "AA");
    for (const bad of [forged, "gt1.WyJhbHBoYSIsInRhc2stMSJd.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "task-1"]) {
      expect((await refused(alice.experimental.tasks.getTask(bad))).code).toBe(-32602);
    }
    // Alice still reaches her own.
    expect(text(await alice.experimental.tasks.getTaskResult(id, CallToolResultSchema))).toBe("alpha: 5² = 25");
    await Promise.all([alice.close(), bob.close()]);
  });
});

describe("the audit trail", () => {
  interface AuditRow {
    principal: string;
    method: string;
    backend?: string;
    item?: string;
    decision: string;
    outcome: string;
    detail?: Record<string, unknown>;
  }

  it("records the call that made a task and the fetch of its result, by principal and backend", async () => {
    const carol = await connect("carol");
    const id = await createTask(carol, "beta__square", { n: 11 });
    expect(await settled(carol, id)).toBe("completed");
    expect(text(await carol.experimental.tasks.getTaskResult(id, CallToolResultSchema))).toBe("beta: 11² = 121");
    await carol.close();
    const rows = async () => {
      const res = await fetch(`${gateway.origin}/admin/tenants/${TENANT}/audit`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { events: AuditRow[] }).events.filter((r) => r.principal === "carol");
    };
    await expect.poll(async () => (await rows()).length, { timeout: 10_000, interval: 250 }).toBe(2);
    const events = await rows();
    expect(events.find((r) => r.method === "tools/call")).toMatchObject({ backend: "beta", item: "square", decision: "allow", outcome: "ok" });
    // The row of tasks/result names the backend's own task id and holds the tool's result.
    const fetched = events.find((r) => r.method === "tasks/result");
    expect(fetched).toMatchObject({ backend: "beta", item: expect.stringMatching(/^task-\d+$/), decision: "allow", outcome: "ok" });
    expect(JSON.stringify(fetched!.detail?.result)).toContain("beta: 11² = 121");
  });
});

describe("a 2026-07-28 client of the tasks extension", () => {
  type Json = Record<string, any>;
  const MODERN = "2026-07-28";
  const EXTENSION = "io.modelcontextprotocol/tasks";

  /** One 2026-07-28 request with its headers and `_meta`; the JSON answer or the last message of an SSE one. */
  async function modern(sub: string, method: string, params: Json, name?: string, extension = true, tenant = MODERN_TENANT): Promise<{ status: number; message: Json }> {
    const token = await signer.token({ sub, audience: gateway.mcpUrl(tenant) });
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN,
      "mcp-method": method,
    };
    if (name !== undefined) headers["mcp-name"] = name;
    const meta = {
      "io.modelcontextprotocol/protocolVersion": MODERN,
      "io.modelcontextprotocol/clientInfo": { name: "e2e-tasks-modern", version: "1" },
      "io.modelcontextprotocol/clientCapabilities": extension ? { extensions: { [EXTENSION]: {} } } : {},
    };
    const res = await fetch(gateway.mcpUrl(tenant), { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: { ...params, _meta: meta } }) });
    const body = await res.text();
    const messages = (res.headers.get("content-type") ?? "").startsWith("text/event-stream")
      ? body.split(/\n\n/).flatMap((frame) => frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5)) as Json))
      : [JSON.parse(body) as Json];
    return { status: res.status, message: messages.at(-1)! };
  }

  const getTask = (sub: string, taskId: string) => modern(sub, "tasks/get", { taskId }, taskId);

  async function completed(sub: string, taskId: string): Promise<Json> {
    for (let i = 0; i < 100; i++) {
      const { message } = await getTask(sub, taskId);
      expect(message.result?.taskId).toBe(taskId);
      if (message.result.status !== "working") return message.result;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`task ${taskId} did not settle`);
  }

  it("offers the extension, creates tasks on two backends minting the same ids, and polls each result from its own backend", async () => {
    const discovered = await modern("maya", "server/discover", {});
    expect(discovered.message.result.capabilities.extensions).toEqual({ [EXTENSION]: {} });

    const a = (await modern("maya", "tools/call", { name: "gamma__square", arguments: { n: 4 } }, "gamma__square")).message.result;
    const b = (await modern("maya", "tools/call", { name: "delta__square", arguments: { n: 5 } }, "delta__square")).message.result;
    expect(a).toMatchObject({ resultType: "task", status: "working", taskId: expect.stringMatching(/^gt1\./) });
    expect(b).toMatchObject({ resultType: "task", status: "working", taskId: expect.stringMatching(/^gt1\./) });
    expect(a.taskId).not.toBe(b.taskId);

    // The backend checks that Mcp-Name carries ITS id: a mismatch there would be a 400 here.
    expect(await completed("maya", a.taskId)).toMatchObject({ resultType: "complete", status: "completed", result: { content: [{ type: "text", text: "gamma: 4² = 16" }] } });
    expect(await completed("maya", b.taskId)).toMatchObject({ status: "completed", result: { content: [{ type: "text", text: "delta: 5² = 25" }] } });
  });

  it("cancels on the owning backend, and refuses another principal's id and a forged one with -32602", async () => {
    const slow = (await modern("maya", "tools/call", { name: "delta__square", arguments: { n: 9, delayMs: 60_000 } }, "delta__square")).message.result;
    expect((await modern("maya", "tasks/cancel", { taskId: slow.taskId }, slow.taskId)).message.result).toEqual({ resultType: "complete" });
    expect((await getTask("maya", slow.taskId)).message.result.status).toBe("cancelled");

    const other = await getTask("noah", slow.taskId);
    expect(other.message.error).toEqual({ code: -32602, message: "Failed to retrieve task: Task not found" });
    const forged = slow.taskId.slice(0, -2) + (slow.taskId.endsWith("AA") ? "BB" : "AA");
    expect((await getTask("maya", forged)).message.error.code).toBe(-32602);
  });

  it("reaches its task the same way through a session Durable Object (a tenant with a legacy backend too)", async () => {
    const made = (await modern("maya", "tools/call", { name: "gamma__square", arguments: { n: 6 } }, "gamma__square", true, MIXED_TENANT)).message.result;
    expect(made).toMatchObject({ resultType: "task", taskId: expect.stringMatching(/^gt1\./) });
    let task: Json = {};
    for (let i = 0; i < 100 && task.status !== "completed"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      task = (await modern("maya", "tasks/get", { taskId: made.taskId }, made.taskId, true, MIXED_TENANT)).message.result;
    }
    expect(task).toMatchObject({ taskId: made.taskId, status: "completed", result: { content: [{ type: "text", text: "gamma: 6² = 36" }] } });
    // The id of one tenant opens in no other, even for the same principal.
    expect((await getTask("maya", made.taskId)).message.error.code).toBe(-32602);
  });

  it("gives a client that did not declare the extension the result itself, never a task, and -32021 on tasks/get", async () => {
    const { message } = await modern("maya", "tools/call", { name: "gamma__square", arguments: { n: 3 } }, "gamma__square", false);
    expect(message.result).toMatchObject({ resultType: "complete", content: [{ type: "text", text: "gamma: 3² = 9" }] });
    const made = (await modern("maya", "tools/call", { name: "gamma__square", arguments: { n: 2 } }, "gamma__square")).message.result;
    const undeclared = await modern("maya", "tasks/get", { taskId: made.taskId }, made.taskId, false);
    expect(undeclared.status).toBe(400);
    expect(undeclared.message.error).toEqual({ code: -32021, message: "Missing required client capability", data: { requiredCapabilities: { extensions: { [EXTENSION]: {} } } } });
  });
});
