/**
 * Session lifecycle (2025-11-25 basic/lifecycle and basic/transports "Session Management"):
 * version negotiation, session ids, the merged initialize result, DELETE, and the idle alarm.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { backend, connect, createTenant, initializeRequest, LATEST_VERSION, mcp, readError, readReply, sleep, token } from "./helpers.ts";

const ping = { jsonrpc: "2.0", id: 1, method: "ping" };

describe("initialize", () => {
  let tenant: string;

  beforeAll(async () => {
    tenant = (await createTenant("life", { backends: [backend.weather()] })).id;
  });

  it.each([
    ["2025-11-25", "2025-11-25"],
    ["2025-06-18", "2025-06-18"],
    ["2025-03-26", "2025-03-26"],
    ["2024-11-05", "2024-11-05"],
    ["2099-12-31", LATEST_VERSION],
    ["2025-11-26", LATEST_VERSION],
  ])("a client asking for %s gets %s", async (asked, negotiated) => {
    const session = await connect(tenant, { version: asked });
    expect(session.initializeResult.protocolVersion).toBe(negotiated);
    // The negotiated version is then the one the client sends, and the session accepts it.
    const reply = await readReply(await session.post(ping));
    expect(reply.messages[0]!.result).toEqual({});
  });

  it("a client sending no usable version gets the latest", async () => {
    const request = initializeRequest();
    request.params!.protocolVersion = 20251125;
    const res = await mcp(tenant, request, { token: await token(tenant) });
    const reply = await readReply(res);
    expect(reply.messages[0]!.result!.protocolVersion).toBe(LATEST_VERSION);
  });

  it("answers with a JSON body carrying the session id header", async () => {
    const res = await mcp(tenant, initializeRequest(), { token: await token(tenant) });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    const reply = await readReply(res);
    expect(reply.messages).toHaveLength(1);
    expect(reply.messages[0]!.id).toBe("init");
    expect(res.headers.get("mcp-session-id")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("mints session ids of 256 random bits (43 base64url characters), unique over many sessions", async () => {
    const empty = await createTenant("life-empty", { backends: [] });
    const bearer = await token(empty.id);
    const ids = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const res = await mcp(empty.id, initializeRequest(), { token: bearer });
        await res.body?.cancel();
        expect(res.status).toBe(200);
        return res.headers.get("mcp-session-id")!;
      }),
    );
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const bytes = atob(id.replaceAll("-", "+").replaceAll("_", "/") + "=");
      expect(bytes.length).toBe(32);
    }
    // Random ids use the whole alphabet: across 40 ids every position varies.
    for (let position = 0; position < 42; position++) {
      expect(new Set(ids.map((id) => id[position])).size, `position ${position}`).toBeGreaterThan(5);
    }
  });

  it("merges capabilities, server info and instructions of weather, notes and server-everything", async () => {
    const all = await createTenant("life-merge", { backends: [backend.weather(), backend.notes(), backend.everything()] });
    const session = await connect(all.id);
    const result = session.initializeResult;
    expect(result.capabilities).toEqual({
      logging: {},
      tools: { listChanged: true },
      prompts: { listChanged: true },
      // Only server-everything supports subscriptions; the merge offers what any backend offers.
      resources: { listChanged: true, subscribe: true },
      completions: {},
      // server-everything runs tools as tasks (2025-11-25 basic/utilities/tasks); the gateway routes them (docs/tasks.md).
      tasks: { cancel: {}, list: {}, requests: { tools: { call: {} } } },
    });
    expect(result.serverInfo).toMatchObject({ name: "edge-mcp-gateway", version: "0.1.0" });
    // Only server-everything has instructions; they come under its backend's heading.
    expect(result.instructions).toMatch(/^## everything\n/);
  });

  it("offers only what its backends offer", async () => {
    const notesOnly = await createTenant("life-notes", { backends: [backend.notes()] });
    const session = await connect(notesOnly.id);
    expect(session.initializeResult.capabilities).toEqual({
      logging: {},
      tools: { listChanged: true },
      prompts: { listChanged: true },
      resources: { listChanged: true },
    });
    expect(session.initializeResult.instructions).toBeUndefined();
  });

  it("a tenant without backends still initializes and lists nothing", async () => {
    const empty = await createTenant("life-none", { backends: [] });
    const session = await connect(empty.id);
    expect(session.initializeResult.capabilities).toEqual({ logging: {} });
    expect(await session.result("tools/list")).toEqual({ tools: [] });
  });
});

describe("termination", () => {
  it("DELETE ends the session: 204, then 404 for POST, GET and DELETE", async () => {
    const tenant = (await createTenant("life-delete", { backends: [backend.weather(), backend.notes()] })).id;
    const session = await connect(tenant);
    await session.result("tools/list");
    const res = await session.delete();
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect((await readError(await session.post(ping))).status).toBe(404);
    expect((await readError(await session.listen())).status).toBe(404);
    expect((await readError(await session.delete())).status).toBe(404);
    // The object's storage is gone, not just marked.
    const rows = await runInDurableObject(session.stub(), (_instance, state) => state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").toArray());
    expect(rows).toEqual([]);
  });

  it("DELETE closes an open GET stream", async () => {
    const tenant = (await createTenant("life-delete-get", { backends: [backend.weather()] })).id;
    const session = await connect(tenant);
    const stream = await session.listen();
    expect(stream.status).toBe(200);
    const reading = readReply(stream);
    expect((await session.delete()).status).toBe(204);
    // The stream ends (the reader returns) rather than hanging.
    const reply = await reading;
    expect(reply.sse).toBe(true);
  });
});

describe("idle expiry", () => {
  it("the alarm ends a session idle for limits.sessionIdleMs, and not before", async () => {
    const tenant = (await createTenant("life-idle", { backends: [backend.weather()], limits: { sessionIdleMs: 1_000 } })).id;
    const session = await connect(tenant);
    const stub = session.stub();
    // Run early, the alarm finds the session fresh and leaves it alone.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await readReply(await session.post(ping))).status).toBe(200);
    await sleep(1_400);
    // Past the idle time: the alarm (run now, if it has not already fired on its own) ends it.
    await runDurableObjectAlarm(stub);
    expect((await readError(await session.post(ping))).status).toBe(404);
    expect((await readError(await session.listen())).status).toBe(404);
    expect(await runDurableObjectAlarm(stub)).toBe(false);
  });

  it("activity keeps a session alive past its idle time", async () => {
    const tenant = (await createTenant("life-active", { backends: [backend.weather()], limits: { sessionIdleMs: 1_000 } })).id;
    const session = await connect(tenant);
    const started = Date.now();
    // Regression: lastSeenAt was written at most every 5 s, so with a short idle time the alarm
    // ended sessions in active use. Active every 300 ms for twice the idle time, running the alarm each time.
    while (Date.now() - started < 2_000) {
      await sleep(300);
      const reply = await readReply(await session.post(ping));
      expect(reply.status, `after ${Date.now() - started} ms`).toBe(200);
      await runDurableObjectAlarm(session.stub());
    }
    expect((await readReply(await session.post(ping))).status).toBe(200);
  });
});
