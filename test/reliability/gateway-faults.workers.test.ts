/**
 * Gateway faults inside workerd (issue 7): the session Durable Object evicted between requests
 * and between a client's drop and its resume, and a client that drops its SSE connection again
 * and again, resuming each time with `Last-Event-ID`. Every event is counted by its sequence
 * number: zero lost, zero duplicated. (gateway-restart.e2e.test.ts kills workerd itself.)
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { backend, connect, createTenant, names, readReply, SseReader, text, type RpcMessage, type Session, type SseEvent } from "../workers/helpers.ts";
import { LAZY_SCHEMA } from "../../durable-objects/session/storage.ts";

let tenant: string;

beforeAll(async () => {
  // Short timeouts: eviction waits for the object's pending timers, request deadlines among them.
  tenant = (await createTenant("gwfaults", { backends: [backend.weather({ timeoutMs: 2_000 }), backend.notes({ timeoutMs: 2_000 })] })).id;
});

const seqOf = (event: SseEvent) => Number(/_(\d+)$/.exec(event.id ?? "")?.[1] ?? Number.NaN);
const streamOf = (event: SseEvent) => event.id!.split("_")[0]!;

function storm(id: number | string, steps: number, intervalMs: number): RpcMessage {
  return { jsonrpc: "2.0", id, method: "tools/call", params: { name: "weather__watch_storm", arguments: { steps, intervalMs }, _meta: { progressToken: `storm-${id}` } } };
}

/** Checks a whole stream as the client assembled it: one stream, seq 1..n once each, progress 1..steps once each, one final response. */
function expectComplete(events: SseEvent[], id: number | string, steps: number): void {
  const data = events.filter((e) => e.data !== "");
  expect(new Set(data.map(streamOf)).size).toBe(1);
  expect(data.map(seqOf)).toEqual(Array.from({ length: data.length }, (_, i) => i + 1));
  const messages = data.map((e) => JSON.parse(e.data) as RpcMessage);
  const progress = messages.filter((m) => m.method === "notifications/progress").map((m) => m.params!.progress);
  expect(progress).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  const responses = messages.filter((m) => m.id === id);
  expect(responses).toHaveLength(1);
  expect(text(responses[0]!.result!)).toBe(`Storm watch finished after ${steps} steps.`);
  expect(messages.at(-1)!.id).toBe(id);
}

/** Reads `count` events carrying data (skipping priming), then drops the connection. */
async function readSome(res: Response, count: number): Promise<SseEvent[]> {
  const reader = new SseReader(res.body!);
  const got: SseEvent[] = [];
  for (;;) {
    const event = await reader.next();
    if (event === null) break;
    if (event.data === "") continue;
    got.push(event);
    if (got.length >= count) break;
  }
  await reader.cancel();
  return got;
}

describe("the session object evicted", () => {
  it("between requests, three times over: every call, list and stream goes on, stream ids never repeat", { timeout: 60_000 }, async () => {
    const session = await connect(tenant);
    const tools = names((await session.result("tools/list")).tools);
    const streams = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const forecast = await session.callTool("weather__get_forecast", { city: `City ${round}`, days: 1 });
      expect(text(forecast)).toContain(`Forecast for City ${round}`);
      const reply = await readReply(await session.post(storm(100 + round, 3, 5)));
      expectComplete(reply.events, 100 + round, 3);
      const stream = streamOf(reply.events[0]!);
      expect(streams.has(stream)).toBe(false);
      streams.add(stream);
      expect(names((await session.result("tools/list")).tools)).toEqual(tools);
      await evictDurableObject(session.stub());
    }
  });

  it("between a client's drop and its resume: the rest arrives exactly once, from storage", async () => {
    const session = await connect(tenant);
    const first = await readSome(await session.post(storm(7, 12, 30)), 3);
    await evictDurableObject(session.stub()); // waits for the running call, which logs the rest
    const rest = await readReply(await session.listen(first.at(-1)!.id));
    expectComplete([...first, ...rest.events], 7, 12);
  });
});

describe("a client that drops its SSE connection again and again", () => {
  it("resuming each time after the last event it saw gets every event exactly once", async () => {
    const session = await connect(tenant);
    const steps = 40;
    const assembled: SseEvent[] = [];
    let res = await session.post(storm("again", steps, 25));
    let drops = 0;
    for (;;) {
      const got = await readSome(res, 1 + (drops % 3));
      assembled.push(...got);
      if (got.length === 0 || JSON.parse(got.at(-1)!.data).id === "again") break;
      drops++;
      res = await session.listen(got.at(-1)!.id);
      expect(res.status).toBe(200);
    }
    expect(drops).toBeGreaterThan(10);
    expectComplete(assembled, "again", steps);
    console.info(JSON.stringify({ figures: "drop-and-resume", drops, events: assembled.length, progress: steps }));
  });

  it("two sessions dropping and resuming at once never see each other's events", async () => {
    const [a, b] = await Promise.all([connect(tenant), connect(tenant)]);
    const run = async (session: Session, steps: number) => {
      const assembled: SseEvent[] = [];
      let res = await session.post(storm(1, steps, 20));
      for (;;) {
        const got = await readSome(res, 2);
        assembled.push(...got);
        if (got.length === 0 || JSON.parse(got.at(-1)!.data).id === 1) break;
        res = await session.listen(got.at(-1)!.id);
      }
      return assembled;
    };
    const [ea, eb] = await Promise.all([run(a, 15), run(b, 25)]);
    expectComplete(ea, 1, 15);
    expectComplete(eb, 1, 25);
  });
});

describe("a stream whose producer died with the process", () => {
  it("is resumed with its logged events and ends its unanswered calls with an error (regression)", async () => {
    // What a restart leaves behind (gateway-restart.e2e.test.ts does it for real): a stream that
    // never finished, one event logged, and its call unanswered.
    const session = await connect(tenant);
    await session.result("ping");
    const progress = { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "t", progress: 1, total: 9 } };
    await runInDurableObject(session.stub(), (_instance, state) => {
      // Stream tables exist once a session has streamed (storage.ts creates them on first use).
      state.storage.sql.exec(LAZY_SCHEMA.streams);
      state.storage.sql.exec("INSERT INTO streams (stream, done, created_at) VALUES ('p9999', 0, ?)", Date.now());
      state.storage.sql.exec("INSERT INTO events (stream, seq, data) VALUES ('p9999', 1, ?)", JSON.stringify(progress));
      state.storage.sql.exec("INSERT INTO stream_requests (stream, ids) VALUES ('p9999', ?)", JSON.stringify(["lost", 5]));
    });
    const replay = await readReply(await session.listen("p9999_0"));
    expect(replay.events.map(seqOf)).toEqual([1, 2, 3]);
    expect(replay.messages[0]).toEqual(progress);
    expect(replay.messages.slice(1).map((m) => [m.id, m.error?.code])).toEqual([
      ["lost", -32000],
      [5, -32000],
    ]);
    // Every later resume reads the same ending; nothing is appended twice.
    const again = await readReply(await session.listen("p9999_0"));
    expect(again.messages).toEqual(replay.messages);
  });
});
