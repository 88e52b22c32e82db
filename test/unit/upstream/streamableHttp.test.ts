/**
 * Resuming a backend's reply stream (MCP 2025-11-25 basic/transports "Resumability and
 * Redelivery"): a stream that ends before the response is resumed with GET + Last-Event-ID after
 * the delay the backend asked for in its last SSE `retry:` field (which a client MUST respect,
 * "Sending Messages" 5), capped so that a backend cannot park a call for long.
 *
 * The backend is a `fetcher` function serving SSE from web streams: no network.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_RESUME_DELAY_MS, MAX_RESUME_DELAY_MS, StreamableHttpUpstream } from "../../../worker/upstream/streamableHttp.ts";
import type { JsonRpcMessage } from "../../../worker/protocol/jsonrpc.ts";

const RESPONSE = 'data: {"jsonrpc":"2.0","id":1,"result":{"ok":true}}\n\n';

interface Resume {
  lastEventId: string | null;
  /** performance.now() when the GET arrived, and how long after the previous stream ended. */
  at: number;
  afterDropMs: number;
}

/**
 * A backend whose POST reply and each resumed stream send `bodies[i]` and then end. The time a
 * stream ends is taken when its last byte is handed over, which is no later than the moment the
 * gateway sees the end, so `afterDropMs` never overstates the gateway's wait.
 */
function backend(bodies: string[]) {
  const resumes: Resume[] = [];
  let endedAt = 0;
  let served = 0;
  const sse = (text: string) =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(new TextEncoder().encode(text));
          endedAt = performance.now();
          controller.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  const fetcher = async (request: Request): Promise<Response> => {
    if (request.method === "GET") {
      const at = performance.now();
      resumes.push({ lastEventId: request.headers.get("last-event-id"), at, afterDropMs: at - endedAt });
    }
    const body = bodies[served++];
    if (body === undefined) throw new Error("the test backend has no more streams to serve");
    return sse(body);
  };
  const upstream = new StreamableHttpUpstream({
    backend: "b",
    url: "https://backend.test/mcp",
    fetcher,
    headers: {},
    timeoutMs: 60 * 60_000,
    info: { backend: "b", sessionId: "s-1", protocolVersion: "2025-11-25", capabilities: {}, serverInfo: {} },
  });
  return { upstream, resumes };
}

async function call(upstream: StreamableHttpUpstream): Promise<JsonRpcMessage[]> {
  const out: JsonRpcMessage[] = [];
  for await (const message of upstream.request({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "slow" } }, new AbortController().signal)) {
    out.push(message);
  }
  return out;
}

const answered = [{ jsonrpc: "2.0", id: 1, result: { ok: true } }];

// setTimeout may fire up to a millisecond before performance.now() says the delay is over.
const TIMER_SLACK_MS = 2;

afterEach(() => {
  vi.useRealTimers();
});

describe("resuming a dropped reply stream", () => {
  it("waits the retry a priming event carried (an event with empty data, otherwise skipped)", async () => {
    const { upstream, resumes } = backend(["id: e-1\nretry: 300\ndata:\n\n", `id: e-2\n${RESPONSE}`]);
    expect(await call(upstream)).toEqual(answered);
    expect(resumes).toHaveLength(1);
    expect(resumes[0]!.lastEventId).toBe("e-1");
    expect(resumes[0]!.afterDropMs).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
  });

  it("waits the retry a backend sends on its own just before it closes the stream", async () => {
    // 2025-11-25 basic/transports: a server that closes the connection early SHOULD send an SSE
    // event with a retry field first. A field block without data is no event (HTML §9.2.6), yet
    // its reconnection time counts.
    const { upstream, resumes } = backend(["id: e-1\nretry: 20\ndata:\n\nretry: 300\n\n", `id: e-2\n${RESPONSE}`]);
    expect(await call(upstream)).toEqual(answered);
    expect(resumes[0]!.afterDropMs).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
  });

  it("keeps the last retry for later resumes of the same reply", async () => {
    const { upstream, resumes } = backend(["id: e-1\nretry: 250\ndata:\n\n", "id: e-2\ndata:\n\n", `id: e-3\n${RESPONSE}`]);
    expect(await call(upstream)).toEqual(answered);
    expect(resumes.map((r) => r.lastEventId)).toEqual(["e-1", "e-2"]);
    for (const resume of resumes) expect(resume.afterDropMs).toBeGreaterThanOrEqual(250 - TIMER_SLACK_MS);
  });

  it("caps a retry of ten minutes at MAX_RESUME_DELAY_MS", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const { upstream, resumes } = backend(["id: e-1\nretry: 600000\ndata:\n\n", `id: e-2\n${RESPONSE}`]);
    const done = call(upstream);
    // Fake time moves only when told to; 30 s of it is far past the cap and far short of the ask.
    for (let step = 0; step < 300 && resumes.length === 0; step++) await vi.advanceTimersByTimeAsync(100);
    expect(resumes).toHaveLength(1);
    expect(resumes[0]!.afterDropMs).toBeGreaterThanOrEqual(MAX_RESUME_DELAY_MS);
    expect(resumes[0]!.afterDropMs).toBeLessThanOrEqual(MAX_RESUME_DELAY_MS + 100);
    expect(await done).toEqual(answered);
  });

  it("waits DEFAULT_RESUME_DELAY_MS when the backend sent no retry", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const { upstream, resumes } = backend(["id: e-1\ndata:\n\n", `id: e-2\n${RESPONSE}`]);
    const done = call(upstream);
    for (let step = 0; step < 300 && resumes.length === 0; step++) await vi.advanceTimersByTimeAsync(10);
    expect(resumes).toHaveLength(1);
    expect(resumes[0]!.afterDropMs).toBeGreaterThanOrEqual(DEFAULT_RESUME_DELAY_MS);
    expect(resumes[0]!.afterDropMs).toBeLessThanOrEqual(DEFAULT_RESUME_DELAY_MS + 10);
    expect(await done).toEqual(answered);
  });
});
