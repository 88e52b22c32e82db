/**
 * Rate limits of a lone `tools/call` (issue 13, one limiter hit per call): the Worker leaves the
 * principal's limits to the engine, which counts them in the same hit as the tool's. Every call
 * still counts exactly once against the principal, whatever its answer (allowed, unknown tool,
 * denied by policy); only a call that may leave counts against its tool; over a limit the
 * answer is 429 with Retry-After, and a refused call consumes nothing. Counters are read from
 * the RateLimiter object itself.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { backend, connect, createTenant, mcp, readReply, sleep, token } from "./helpers.ts";

const WINDOW_SECONDS = 3_600;

/** The principal object's counters, by check id. */
async function counters(tenant: string, sub: string): Promise<Record<string, number>> {
  const stub = env.LIMITERS.get(env.LIMITERS.idFromName(`p:${tenant}:${sub}`));
  return runInDurableObject(stub, (_instance, state) =>
    Object.fromEntries(state.storage.sql.exec<{ id: string; count: number }>("SELECT id, count FROM counters").toArray().map((r) => [r.id, r.count])),
  );
}

/** Waits out the last seconds of a window, so every count of a test falls in one. */
async function awayFromWindowEdge(): Promise<void> {
  const left = WINDOW_SECONDS * 1000 - (Date.now() % (WINDOW_SECONDS * 1000));
  if (left < 5_000) await sleep(left + 100);
}

describe("a lone tools/call's rate limits", () => {
  it("count once against the principal whatever the answer, against the tool only when the call may leave, and refuse with 429 past the limit", async () => {
    const tenant = (
      await createTenant("limits-one-hit", {
        backends: [backend.weather(), backend.notes()],
        policy: { rules: [{ id: "no-deletes", effect: "deny", items: { names: ["delete_note"] } }] },
        limits: {
          rate: [
            { scope: "principal", limit: 6, windowSeconds: WINDOW_SECONDS },
            { scope: "tool", tools: ["weather__*"], limit: 100, windowSeconds: WINDOW_SECONDS },
          ],
        },
      })
    ).id;
    await awayFromWindowEdge();
    const session = await connect(tenant); // initialize and notifications/initialized: two requests
    const principal = `principal0:${WINDOW_SECONDS}s`;
    const tool = `tool1:weather__get_forecast:${WINDOW_SECONDS}s`;
    const base = (await counters(tenant, "alice"))[principal]!;
    expect(base).toBe(2);

    const allowed = await session.request("tools/call", { name: "weather__get_forecast", arguments: { city: "Oslo", days: 1 } });
    expect(allowed.response.result).toBeDefined();
    expect(await counters(tenant, "alice")).toMatchObject({ [principal]: 3, [tool]: 1 });

    const unknown = await session.request("tools/call", { name: "weather__no_such_tool", arguments: {} });
    expect(unknown.response.error?.message).toContain("Unknown tool");
    const denied = await session.request("tools/call", { name: "notes__delete_note", arguments: { id: "x" } });
    expect(denied.response.error?.message).toContain("Unknown tool");
    expect(await counters(tenant, "alice")).toMatchObject({ [principal]: 5, [tool]: 1 });

    // A request that is not a lone tools/call is counted by the Worker, as before.
    expect((await session.request("tools/list")).response.result).toBeDefined();
    expect((await counters(tenant, "alice"))[principal]).toBe(6);

    // Past the principal's limit: 429 with Retry-After, for a call as for anything else, and nothing more is counted.
    const refused = await session.post({ jsonrpc: "2.0", id: 77, method: "tools/call", params: { name: "weather__get_forecast", arguments: { city: "Oslo", days: 1 } } });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { id: number; error: { message: string } })).toMatchObject({ id: 77, error: { message: "Too Many Requests" } });
    expect(await counters(tenant, "alice")).toMatchObject({ [principal]: 6, [tool]: 1 });
  });

  it("the same in the Worker's stateless home, for a 2026-07-28 client", async () => {
    const tenant = (
      await createTenant("limits-one-hit-modern", {
        backends: [backend.modern({ era: "modern" })],
        limits: {
          rate: [
            { scope: "principal", limit: 2, windowSeconds: WINDOW_SECONDS },
            { scope: "tool", limit: 100, windowSeconds: WINDOW_SECONDS },
          ],
        },
      })
    ).id;
    await awayFromWindowEdge();
    const bearer = await token(tenant, { sub: "mona" });
    const call = (id: number, name: string) =>
      mcp(
        tenant,
        {
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: {
            name,
            arguments: { message: "hi" },
            _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "limits-test", version: "1" } },
          },
        },
        { token: bearer, version: "2026-07-28", headers: { "mcp-method": "tools/call", "mcp-name": name } },
      );
    expect((await readReply(await call(1, "modern__echo"))).messages.at(-1)?.result).toBeDefined();
    expect((await readReply(await call(2, "modern__nothing"))).messages.at(-1)?.error?.message).toContain("Unknown tool");
    expect(await counters(tenant, "mona")).toStrictEqual({ [`principal0:${WINDOW_SECONDS}s`]: 2, [`tool1:modern__echo:${WINDOW_SECONDS}s`]: 1 });
    const refused = await call(3, "modern__echo");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    await refused.body?.cancel();
  });
});
