/**
 * The client-facing SSE bodies of both homes (worker/engine/reply.ts sseStream) and the
 * 2026-07-28 `subscriptions/listen` stream built on it (worker/engine/listen.ts
 * subscriptionStream, basic/patterns/subscriptions).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { subscriptionStream, type ListenFilter } from "../../../worker/engine/listen.ts";
import { sseStream, type SseSink } from "../../../worker/engine/reply.ts";
import type { JsonRpcMessage } from "../../../worker/protocol/jsonrpc.ts";
import { decodeEvents } from "../../../worker/protocol/sse.ts";

const decoder = new TextDecoder();
const ping = (n: number): JsonRpcMessage => ({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: n } });

/** A stream whose sink the test holds, and a count of the cancels that ran. */
function held(keepaliveMs?: number) {
  let sink!: SseSink;
  let cancels = 0;
  const body = sseStream({
    start: (s) => (sink = s),
    cancel: () => void cancels++,
    ...(keepaliveMs === undefined ? {} : { keepaliveMs }),
  });
  return { body, reader: body.getReader(), sink, cancels: () => cancels };
}

async function readText(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const { done, value } = await reader.read();
  if (done) throw new Error("stream ended");
  return decoder.decode(value);
}

afterEach(() => {
  vi.useRealTimers();
});

describe("sseStream", () => {
  it("writes events as SSE, with the id when one is given", async () => {
    const { reader, sink } = held();
    expect(sink.message(ping(1))).toBe(true);
    expect(sink.message(ping(2), "s1:2")).toBe(true);
    expect(await readText(reader)).toBe(`data: ${JSON.stringify(ping(1))}\n\n`);
    expect(await readText(reader)).toBe(`id: s1:2\ndata: ${JSON.stringify(ping(2))}\n\n`);
    sink.close();
    expect(await reader.read()).toEqual({ done: true, value: undefined });
  });

  it("after the client cancelled, writes return false and do not throw, and cancel ran exactly once", async () => {
    const { reader, sink, cancels } = held();
    expect(sink.open).toBe(true);
    await reader.cancel("client went away");
    expect(cancels()).toBe(1);
    expect(sink.open).toBe(false);
    expect(sink.message(ping(1))).toBe(false);
    expect(sink.event({ data: "late" })).toBe(false);
    expect(() => sink.close()).not.toThrow();
    await reader.cancel("again");
    expect(cancels()).toBe(1);
  });

  it("a stream the server closed does not run cancel when the client lets go afterwards", async () => {
    const { reader, sink, cancels } = held();
    sink.close();
    sink.close(); // idempotent
    expect(sink.open).toBe(false);
    expect(sink.message(ping(1))).toBe(false);
    expect(await reader.read()).toEqual({ done: true, value: undefined });
    await reader.cancel();
    expect(cancels()).toBe(0);
  });

  it("sends keepalive comments every keepaliveMs between events", async () => {
    const { reader, sink } = held(5);
    expect(await readText(reader)).toBe(": keepalive\n\n");
    sink.message(ping(1));
    // Comments may have queued before the event: skip them, the event comes in order.
    let text = await readText(reader);
    while (text === ": keepalive\n\n") text = await readText(reader);
    expect(text).toBe(`data: ${JSON.stringify(ping(1))}\n\n`);
    expect(await readText(reader)).toBe(": keepalive\n\n");
    sink.close();
  });

  it("stops its keepalive timer when the server closes the stream", async () => {
    vi.useFakeTimers();
    const { reader, sink } = held(1_000);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(2_000);
    expect(await readText(reader)).toBe(": keepalive\n\n");
    expect(await readText(reader)).toBe(": keepalive\n\n");
    sink.close();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(5_000);
    expect(await reader.read()).toEqual({ done: true, value: undefined });
  });

  it("stops its keepalive timer when the client cancels", async () => {
    vi.useFakeTimers();
    const { reader, cancels } = held(1_000);
    expect(vi.getTimerCount()).toBe(1);
    await reader.cancel();
    expect(vi.getTimerCount()).toBe(0);
    expect(cancels()).toBe(1);
  });

  it("a start that throws leaves no keepalive timer behind", () => {
    vi.useFakeTimers();
    const failing = () =>
      sseStream({
        start: () => {
          throw new Error("boom");
        },
        keepaliveMs: 1_000,
      });
    expect(failing).toThrow("boom");
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("subscriptionStream", () => {
  const filter: ListenFilter = {
    toolsListChanged: true,
    promptsListChanged: false,
    resourcesListChanged: false,
    resourceSubscriptions: ["file:///watched.txt"],
  };

  async function events(body: ReadableStream<Uint8Array>, count: number): Promise<unknown[]> {
    const reader = decodeEvents(body).getReader();
    const out: unknown[] = [];
    while (out.length < count) {
      const { done, value } = await reader.read();
      if (done) break;
      out.push(JSON.parse(value.data));
    }
    await reader.cancel();
    return out;
  }

  it("sends the acknowledgement first, then only the notifications the filter wants, each tagged with the subscription id", async () => {
    let cancelled = 0;
    const subscription = subscriptionStream("sub-9", filter, () => void cancelled++);
    const tag = { "io.modelcontextprotocol/subscriptionId": "sub-9" };
    subscription.push({ jsonrpc: "2.0", method: "notifications/prompts/list_changed" }); // not asked for
    subscription.push({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
    subscription.push({ jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri: "file:///other.txt" } }); // not subscribed
    subscription.push({ jsonrpc: "2.0", method: "notifications/resources/list_changed" }); // not asked for
    subscription.push({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1 } }); // never on a listen stream
    subscription.push({ jsonrpc: "2.0", id: 4, result: {} }); // not a notification
    subscription.push({ jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri: "file:///watched.txt", _meta: { kept: true } } });
    // A marker the filter wants: everything before it has been decided.
    subscription.push({ jsonrpc: "2.0", method: "notifications/tools/list_changed", params: { marker: true } });

    expect(await events(subscription.body, 4)).toEqual([
      {
        jsonrpc: "2.0",
        method: "notifications/subscriptions/acknowledged",
        params: { notifications: { toolsListChanged: true, resourceSubscriptions: ["file:///watched.txt"] }, _meta: tag },
      },
      { jsonrpc: "2.0", method: "notifications/tools/list_changed", params: { _meta: tag } },
      { jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri: "file:///watched.txt", _meta: { kept: true, ...tag } } },
      { jsonrpc: "2.0", method: "notifications/tools/list_changed", params: { marker: true, _meta: tag } },
    ]);
    // The reader above let go: the cancel reaches the stream through the decoder's pipe.
    await expect.poll(() => cancelled).toBe(1);
  });

  it("the acknowledgement states only what is honoured; a numeric subscription id is kept as a number", async () => {
    const subscription = subscriptionStream(7, { toolsListChanged: false, promptsListChanged: true, resourcesListChanged: false, resourceSubscriptions: [] }, () => {});
    expect(await events(subscription.body, 1)).toEqual([
      {
        jsonrpc: "2.0",
        method: "notifications/subscriptions/acknowledged",
        params: { notifications: { promptsListChanged: true }, _meta: { "io.modelcontextprotocol/subscriptionId": 7 } },
      },
    ]);
  });

  it("pushing after the client went away is dropped without throwing, and onCancel runs once", async () => {
    let cancelled = 0;
    const subscription = subscriptionStream("s", filter, () => void cancelled++);
    const reader = subscription.body.getReader();
    await reader.cancel();
    await reader.cancel();
    expect(() => subscription.push({ jsonrpc: "2.0", method: "notifications/tools/list_changed" })).not.toThrow();
    expect(cancelled).toBe(1);
  });
});
