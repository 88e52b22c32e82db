/**
 * A session survives its Durable Object being evicted: meta, upstream sessions and the name
 * table live in SQLite, so the same session id keeps working with nothing held in memory.
 *
 * Eviction waits for the object's pending timers, among them each request's deadline
 * (AbortSignal.timeout of the largest backend timeoutMs), so these tenants use short timeouts.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { backend as realBackend, connect, createTenant, names, putTenant, readReply, text, type BackendInput } from "./helpers.ts";

const fast = { timeoutMs: 1_000 };
const backend = {
  weather: (): BackendInput => realBackend.weather(fast),
  notes: (): BackendInput => realBackend.notes(fast),
  everything: (): BackendInput => realBackend.everything(fast),
};

interface UpstreamRow {
  backend: string;
  sessionId: string | null;
}

async function upstreams(stub: DurableObjectStub): Promise<UpstreamRow[]> {
  return runInDurableObject(stub, (_instance, state) =>
    state.storage.sql
      // Upstream sessions are meta rows under 'u:<backend>' (durable-objects/session/storage.ts).
      .exec<{ info: string }>("SELECT v AS info FROM meta WHERE k >= 'u:' AND k < 'u;' ORDER BY k")
      .toArray()
      .map((row) => {
        const info = JSON.parse(row.info) as UpstreamRow;
        return { backend: info.backend, sessionId: info.sessionId };
      }),
  );
}

describe("eviction", () => {
  it("tools/list and tools/call work on the same session after the object is evicted", async () => {
    const tenant = await createTenant("durable", { backends: [backend.weather(), backend.notes(), backend.everything()] });
    const session = await connect(tenant.id);
    const before = names((await session.result("tools/list")).tools);
    const stub = session.stub();
    const upstreamsBefore = await upstreams(stub);
    expect(upstreamsBefore.map((u) => u.backend)).toEqual(["everything", "notes", "weather"]);
    expect(upstreamsBefore.every((u) => typeof u.sessionId === "string")).toBe(true);

    await evictDurableObject(stub);

    // A call first, with no list in memory: routing comes from the stored name table.
    const forecast = await session.callTool("weather__get_forecast", { city: "Berlin", days: 3 });
    expect((forecast.structuredContent as { city: string; days: unknown[] }).city).toBe("Berlin");
    expect((forecast.structuredContent as { days: unknown[] }).days).toHaveLength(3);
    expect(text(await session.callTool("everything__echo", { message: "still here" }))).toBe("Echo: still here");
    expect(names((await session.result("tools/list")).tools)).toEqual(before);
    // The backends' sessions were reused, not re-created.
    expect(await upstreams(stub)).toEqual(upstreamsBefore);
  });

  it("a session stored in the earlier layout (upstreams in their own table) keeps its upstream sessions", async () => {
    const tenant = await createTenant("durable-layout", { backends: [backend.weather(), backend.notes()] });
    const session = await connect(tenant.id);
    const stub = session.stub();
    const before = await upstreams(stub);
    expect(before.map((u) => u.backend)).toEqual(["notes", "weather"]);
    // Rewrite the object's storage as the earlier layout left it, then start it afresh.
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec("CREATE TABLE upstreams (backend TEXT PRIMARY KEY, info TEXT NOT NULL)");
      sql.exec("INSERT INTO upstreams (backend, info) SELECT substr(k, 3), v FROM meta WHERE k >= 'u:' AND k < 'u;'");
      sql.exec("DELETE FROM meta WHERE k >= 'u:' AND k < 'u;'");
    });
    await evictDurableObject(stub);
    expect(text(await session.callTool("weather__get_forecast", { city: "Oslo", days: 1 }))).toContain("Oslo");
    expect(await upstreams(stub)).toEqual(before);
    const tables = await runInDurableObject(stub, (_instance, state) => state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'upstreams'").toArray());
    expect(tables).toEqual([]);
  });

  it("an idle session keeps one table of its own; the others come with their first use", async () => {
    const tenant = await createTenant("durable-tables", { backends: [backend.weather()] });
    const session = await connect(tenant.id);
    const tables = () =>
      runInDurableObject(session.stub(), (_instance, state) =>
        state.storage.sql
          .exec<{ name: string }>("SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite_%' ORDER BY name")
          .toArray()
          .map((r) => r.name),
      );
    expect(await tables()).toEqual(["meta"]);
    await session.result("tools/list");
    expect(await tables()).toEqual(["meta", "names"]);
  });

  it("the negotiated version and client capabilities survive eviction", async () => {
    const tenant = await createTenant("durable-meta", { backends: [backend.weather()] });
    const session = await connect(tenant.id, { version: "2025-03-26" });
    await session.result("ping");
    await evictDurableObject(session.stub());
    // Still a 2025-03-26 session: batches are accepted, and structured content is dropped.
    const reply = await readReply(
      await session.post([
        { jsonrpc: "2.0", id: 1, method: "ping" },
        { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "weather__get_forecast", arguments: { city: "Tokyo", days: 1 } } },
      ]),
    );
    expect(reply.status).toBe(200);
    const call = reply.messages.find((m) => m.id === 2)!;
    expect(text(call.result!)).toContain("Forecast for Tokyo");
    expect(call.result!.structuredContent).toBeUndefined();
  });

  it("a finished stream can be resumed after eviction from its stored events", async () => {
    const tenant = await createTenant("durable-resume", { backends: [backend.weather()] });
    const session = await connect(tenant.id);
    const reply = await readReply(
      await session.post({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "weather__watch_storm", arguments: { steps: 3, intervalMs: 5 }, _meta: { progressToken: "t" } } }),
    );
    const priming = reply.events[0]!;
    expect(priming.data).toBe("");
    await evictDurableObject(session.stub());
    const replay = await readReply(await session.listen(priming.id));
    expect(replay.messages).toEqual(reply.messages);
  });

  it("a backend moved to another server while the object was evicted gets a new upstream session there", async () => {
    const tenant = await createTenant("durable-config", { backends: [realBackend.notes({ ...fast, name: "moving" })] });
    const session = await connect(tenant.id);
    expect(JSON.parse(text(await session.callTool("moving__list_notes")))).toBeInstanceOf(Array);
    await evictDurableObject(session.stub());
    // Regression: the old upstream session id was restored and sent to the new server, which
    // (server-everything) answers an unknown session with 400, so every call failed.
    await putTenant(tenant.id, { ...tenant, backends: [realBackend.everything({ ...fast, name: "moving" })] });
    expect(text(await session.callTool("moving__echo", { message: "new home" }))).toBe("Echo: new home");
  });
});
