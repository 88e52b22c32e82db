/**
 * Task ids through the multiplexer (worker/broker/taskIds.ts): reversible, deterministic, bound
 * to tenant and principal (2025-11-25 basic/utilities/tasks "Task Isolation and Access
 * Control"), and found in every place the two eras' messages carry them.
 */
import { describe, expect, it } from "vitest";
import { mapParams, mapResult, RELATED_TASK, taskBinding, TaskIds, TASK_ID_PREFIX } from "../../../worker/broker/taskIds.ts";
import { toBase64Url } from "../../../worker/protocol/encoding.ts";

const alice = taskBinding("acme", "alice");
const bob = taskBinding("acme", "bob");

describe("TaskIds", () => {
  it("maps (backend, backend id) to one id and back", async () => {
    const ids = new TaskIds("secret");
    const id = await ids.mint({ backend: "alpha", taskId: "task-1" }, alice);
    expect(id.startsWith(TASK_ID_PREFIX)).toBe(true);
    expect(id).toMatch(/^[A-Za-z0-9._-]+$/); // fits an Mcp-Name header as is
    expect(await ids.open(id, alice)).toEqual({ backend: "alpha", taskId: "task-1" });
  });

  it("is deterministic, so a task keeps its id across results, lists and notifications", async () => {
    const ids = new TaskIds("secret");
    const ref = { backend: "alpha", taskId: "786512e2-9e0d-44bd-8f29-789f320fe840" };
    expect(await ids.mint(ref, alice)).toBe(await ids.mint(ref, alice));
  });

  it("gives the same backend id from two backends two ids", async () => {
    const ids = new TaskIds("secret");
    const a = await ids.mint({ backend: "alpha", taskId: "task-1" }, alice);
    const b = await ids.mint({ backend: "beta", taskId: "task-1" }, alice);
    expect(a).not.toBe(b);
    expect(await ids.open(b, alice)).toEqual({ backend: "beta", taskId: "task-1" });
  });

  it("opens an id only for the tenant and principal it was minted for", async () => {
    const ids = new TaskIds("secret");
    const id = await ids.mint({ backend: "alpha", taskId: "task-1" }, alice);
    expect(await ids.open(id, bob)).toBeNull();
    expect(await ids.open(id, taskBinding("other", "alice"))).toBeNull();
    expect(await ids.open(id, taskBinding("alice", "acme"))).toBeNull();
  });

  it("opens with any holder of the secret (another isolate, the other home), and not with another key", async () => {
    const id = await new TaskIds("secret").mint({ backend: "alpha", taskId: "task-1" }, alice);
    expect(await new TaskIds("secret").open(id, alice)).toEqual({ backend: "alpha", taskId: "task-1" });
    expect(await new TaskIds("other secret").open(id, alice)).toBeNull();
    expect(await new TaskIds().open(id, alice)).toBeNull();
  });

  it("refuses forged, tampered and malformed ids", async () => {
    const ids = new TaskIds("secret");
    const id = await ids.mint({ backend: "alpha", taskId: "task-1" }, alice);
    const [, payload, mac] = id.split(".");
    const otherPayload = toBase64Url(JSON.stringify(["beta", "task-1"]));
    const flipped = mac!.slice(0, -1) + (mac!.endsWith("A") ? "B" : "A");
    for (const bad of [
      `gt1.${otherPayload}.${mac}`, // another backend under the same MAC
      `gt1.${payload}.${flipped}`,
      `gt1.${payload}`,
      `gt2.${payload}.${mac}`,
      "task-1",
      "",
      `gt1.${payload}.${mac}.`,
      `gt1.${"A".repeat(3000)}.${mac}`,
    ]) {
      expect(await ids.open(bad, alice), bad.slice(0, 40)).toBeNull();
    }
  });
});

describe("mapResult and mapParams", () => {
  const map = async (id: string) => `gw:${id}`;

  it("maps a 2025-11-25 CreateTaskResult (task.taskId) and keeps the rest", async () => {
    const created = { task: { taskId: "t1", status: "working", ttl: 60000 }, _meta: { "io.modelcontextprotocol/model-immediate-response": "started" } };
    expect(await mapResult("tools/call", created, map)).toEqual({ ...created, task: { taskId: "gw:t1", status: "working", ttl: 60000 } });
  });

  it("maps a 2026-07-28 CreateTaskResult (resultType task, the Task inline), and leaves an ordinary tool result alone", async () => {
    expect(await mapResult("tools/call", { resultType: "task", taskId: "t1", status: "working", ttlMs: 1000 }, map)).toEqual({ resultType: "task", taskId: "gw:t1", status: "working", ttlMs: 1000 });
    const plain = { content: [{ type: "text", text: "hi" }], taskId: "not a task field here" };
    expect(await mapResult("tools/call", plain, map)).toBe(plain);
  });

  it("maps tasks/get and tasks/cancel results, each of tasks/list, and related-task _meta of tasks/result", async () => {
    expect(await mapResult("tasks/get", { taskId: "t1", status: "completed", result: { content: [] } }, map)).toMatchObject({ taskId: "gw:t1" });
    expect(await mapResult("tasks/cancel", { taskId: "t1", status: "cancelled" }, map)).toMatchObject({ taskId: "gw:t1" });
    expect(await mapResult("tasks/list", { tasks: [{ taskId: "t1" }, { taskId: "t2" }], nextCursor: "c" }, map)).toEqual({ tasks: [{ taskId: "gw:t1" }, { taskId: "gw:t2" }], nextCursor: "c" });
    const fetched = { content: [], _meta: { [RELATED_TASK]: { taskId: "t1" }, other: 1 } };
    expect(await mapResult("tasks/result", fetched, map)).toEqual({ content: [], _meta: { [RELATED_TASK]: { taskId: "gw:t1" }, other: 1 } });
  });

  it("maps the Task of both eras' status notifications, and related-task _meta of any other message", async () => {
    expect(await mapParams("notifications/tasks/status", { taskId: "t1", status: "completed" }, map)).toEqual({ taskId: "gw:t1", status: "completed" });
    expect(await mapParams("notifications/tasks", { taskId: "t1", status: "completed", result: {} }, map)).toMatchObject({ taskId: "gw:t1" });
    const elicit = { message: "name?", _meta: { [RELATED_TASK]: { taskId: "t1" } } };
    expect(await mapParams("elicitation/create", elicit, map)).toEqual({ message: "name?", _meta: { [RELATED_TASK]: { taskId: "gw:t1" } } });
    const progress = { progressToken: 1, progress: 1 };
    expect(await mapParams("notifications/progress", progress, map)).toBe(progress);
  });
});
