/**
 * What flows on SSE streams (2025-11-25 basic/transports): progress notifications mapped back to
 * the client's own token, server-to-client requests (elicitation) and their answers, the
 * standalone GET stream, cancellation, resumption with Last-Event-ID, and which headers reach a
 * backend.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, backend, connect, createTenant, readReply, sleep, SseReader, text, type RpcMessage, type Session, type SseEvent } from "./helpers.ts";

let tenant: string;

beforeAll(async () => {
  tenant = (
    await createTenant("streams", {
      backends: [
        backend.weather(),
        backend.notes({ headers: { "x-gateway-tenant": "streams-tenant" }, secretHeaders: { "x-backend-key": "NOTES_BACKEND_KEY", "x-admin-token": "ADMIN_TOKEN" } }),
      ],
    })
  ).id;
});

function stormCall(id: number, progressToken: string | number | undefined, steps: number, intervalMs: number): RpcMessage {
  const params: Record<string, unknown> = { name: "weather__watch_storm", arguments: { steps, intervalMs } };
  if (progressToken !== undefined) params._meta = { progressToken };
  return { jsonrpc: "2.0", id, method: "tools/call", params };
}

const seqOf = (event: SseEvent) => Number(/_(\d+)$/.exec(event.id ?? "")?.[1] ?? NaN);

describe("progress", () => {
  it.each([["a string token", "storm-token-1"], ["a numeric token", 0]])("watch_storm with %s: every step in order with the client's token, then the result", async (_label, progressToken) => {
    const session = await connect(tenant);
    const res = await session.post(stormCall(7, progressToken, 4, 20));
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reply = await readReply(res);
    const progress = reply.messages.filter((m) => m.method === "notifications/progress");
    expect(progress.map((m) => m.params)).toEqual(
      [1, 2, 3, 4].map((step) => ({ progressToken, progress: step, total: 4, message: `storm step ${step}/4` })),
    );
    const last = reply.messages.at(-1)!;
    expect(last.id).toBe(7);
    expect(text(last.result!)).toBe("Storm watch finished after 4 steps.");
    expect(reply.messages).toHaveLength(5);
    // 2025-11-25: a priming event (id, empty data) first; then ids strictly increasing on one stream.
    expect(reply.events[0]).toMatchObject({ data: "", id: expect.stringMatching(/^p\d+_0$/) });
    const stream = reply.events[0]!.id!.split("_")[0];
    const seqs = reply.events.map(seqOf);
    expect(seqs).toEqual([0, 1, 2, 3, 4, 5]);
    expect(reply.events.every((e) => e.id!.startsWith(`${stream}_`))).toBe(true);
  });

  it("without a progress token there are no progress notifications", async () => {
    const session = await connect(tenant);
    const reply = await readReply(await session.post(stormCall(8, undefined, 3, 10)));
    expect(reply.messages.map((m) => m.method ?? "response")).toEqual(["response"]);
  });

  it("two concurrent calls with the same token each get only their own progress", async () => {
    const session = await connect(tenant);
    const [a, b] = await Promise.all([session.post(stormCall(1, "same", 3, 30)), session.post(stormCall(2, "same", 5, 20))]);
    const [ra, rb] = await Promise.all([readReply(a), readReply(b)]);
    expect(ra.messages.filter((m) => m.method === "notifications/progress").map((m) => m.params!.total)).toEqual([3, 3, 3]);
    expect(rb.messages.filter((m) => m.method === "notifications/progress").map((m) => m.params!.total)).toEqual([5, 5, 5, 5, 5]);
    expect(ra.messages.at(-1)!.id).toBe(1);
    expect(rb.messages.at(-1)!.id).toBe(2);
  });
});

describe("cancellation", () => {
  it("notifications/cancelled stops a call: its stream ends without a response", async () => {
    const session = await connect(tenant);
    const res = await session.post(stormCall(21, "cancel-me", 200, 50));
    const reader = new SseReader(res.body!);
    const first = await reader.nextMessage();
    expect(first!.method).toBe("notifications/progress");
    const ack = await session.notify("notifications/cancelled", { requestId: 21, reason: "user pressed stop" });
    expect(ack.status).toBe(202);
    const rest: RpcMessage[] = [];
    for (;;) {
      const message = await reader.nextMessage(5_000);
      if (message === null) break;
      rest.push(message);
    }
    // A few progress events may have been in flight; no response for the cancelled request.
    expect(rest.every((m) => m.method === "notifications/progress")).toBe(true);
    expect(rest.length).toBeLessThan(20);
    // The session goes on.
    expect(text(await session.callTool("weather__get_forecast", { city: "Berlin", days: 1 }))).toContain("Berlin");
  });
});

describe("headers to backends", () => {
  it("the client's Authorization and own headers never reach a backend; configured ones do", async () => {
    const session = await connect(tenant);
    const res = await session.post(
      { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "notes__whoami", arguments: {} } },
      { headers: { "x-client-secret": "do-not-forward", "x-forwarded-for": "10.0.0.1", cookie: "sid=1" } },
    );
    const reply = await readReply(res);
    const received = JSON.parse(text(reply.messages.at(-1)!.result!)) as Record<string, string>;
    expect(received["x-gateway-tenant"]).toBe("streams-tenant");
    expect(received["x-backend-key"]).toBe("workers-test-notes-key");
    // The gateway's own secrets are never sent, even when a tenant names one (worker/env.ts GATEWAY_SECRETS).
    expect(received["x-admin-token"]).toBeUndefined();
    expect(JSON.stringify(received)).not.toContain(ADMIN_TOKEN);
    expect(received.authorization).toBeUndefined();
    expect(received["x-client-secret"]).toBeUndefined();
    expect(received["x-forwarded-for"]).toBeUndefined();
    expect(JSON.stringify(received)).not.toContain(session.token!);
  });
});

describe("elicitation", () => {
  async function askUser(session: Session, id: number, question: string) {
    const res = await session.post({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "notes__ask_user", arguments: { question } } });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    return new SseReader(res.body!);
  }

  it("round trip: the request arrives on the call's stream under a namespaced id, the answer reaches the tool", async () => {
    const session = await connect(tenant, { capabilities: { elicitation: { form: {} } } });
    const reader = await askUser(session, 11, "Ship it?");
    const request = await reader.nextMessage();
    expect(request).toMatchObject({ jsonrpc: "2.0", method: "elicitation/create", params: { message: "Ship it?", mode: "form" } });
    expect(request!.id).toMatch(/^notes:\d+$/);
    expect(request!.params!.requestedSchema).toMatchObject({ type: "object", required: ["confirm"] });

    const ack = await session.post({ jsonrpc: "2.0", id: request!.id, result: { action: "accept", content: { confirm: true } } });
    expect(ack.status).toBe(202);
    expect(await ack.text()).toBe("");

    const response = await reader.nextMessage();
    expect(response!.id).toBe(11);
    expect(JSON.parse(text(response!.result!))).toEqual({ action: "accept", content: { confirm: true } });
    expect(await reader.nextMessage()).toBeNull();

    // The pending request is gone: answering again is refused.
    const again = await session.post({ jsonrpc: "2.0", id: request!.id, result: { action: "accept", content: { confirm: true } } });
    expect(again.status).toBe(400);
    await again.body?.cancel();
  });

  it("a declined elicitation reaches the tool as declined", async () => {
    const session = await connect(tenant, { capabilities: { elicitation: { form: {} } } });
    const reader = await askUser(session, 12, "Delete everything?");
    const request = await reader.nextMessage();
    expect(request!.method).toBe("elicitation/create");
    expect((await session.post({ jsonrpc: "2.0", id: request!.id, result: { action: "decline" } })).status).toBe(202);
    const response = await reader.nextMessage();
    expect(JSON.parse(text(response!.result!))).toEqual({ action: "decline", content: null });
  });

  it("another session cannot answer it", async () => {
    const owner = await connect(tenant, { capabilities: { elicitation: { form: {} } } });
    const other = await connect(tenant, { capabilities: { elicitation: { form: {} } } });
    const reader = await askUser(owner, 13, "Mine?");
    const request = await reader.nextMessage();
    const stolen = await other.post({ jsonrpc: "2.0", id: request!.id, result: { action: "accept", content: { confirm: false } } });
    expect(stolen.status).toBe(400);
    await stolen.body?.cancel();
    expect((await owner.post({ jsonrpc: "2.0", id: request!.id, result: { action: "accept", content: { confirm: true } } })).status).toBe(202);
    expect(JSON.parse(text((await reader.nextMessage())!.result!))).toEqual({ action: "accept", content: { confirm: true } });
  });

  it("without the elicitation capability the client is never asked and the backend gets an error", async () => {
    const session = await connect(tenant);
    const reply = await readReply(await session.post({ jsonrpc: "2.0", id: 14, method: "tools/call", params: { name: "notes__ask_user", arguments: { question: "Hello?" } } }));
    expect(reply.messages.some((m) => m.method === "elicitation/create")).toBe(false);
    const result = reply.messages.at(-1)!.result!;
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^Elicitation failed: /);
  });
});

describe("GET stream", () => {
  it("opens as text/event-stream with a priming event", async () => {
    const session = await connect(tenant);
    const res = await session.listen();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("cache-control")).toContain("no-cache");
    const reader = new SseReader(res.body!);
    const priming = await reader.next();
    expect(priming).toMatchObject({ data: "", id: expect.stringMatching(/^g\d+_0$/), retry: expect.any(Number) });
    await reader.cancel();
  });

  it("carries a backend's unsolicited notifications (notes' resources/list_changed caused by another session)", async () => {
    const listener = await connect(tenant);
    const writer = await connect(tenant);
    const reader = new SseReader((await listener.listen()).body!);
    expect((await reader.next())!.data).toBe("");
    let received: RpcMessage | null = null;
    // The gateway opens its own GET stream to each backend once the client's GET arrives; until
    // that is up a backend drops notifications, so nudge a few times.
    for (let attempt = 0; attempt < 10 && received === null; attempt++) {
      await writer.callTool("notes__add_note", { title: `from the other session ${attempt}`, body: "hello" });
      try {
        received = await reader.nextMessage(1_000);
      } catch {
        received = null;
      }
    }
    expect(received).toEqual({ jsonrpc: "2.0", method: "notifications/resources/list_changed" });
    await reader.cancel();
    // The change is visible to the listening session: its cache was dropped.
    const resources = (await listener.result("resources/list")).resources as { name: string }[];
    expect(resources.some((r) => r.name.startsWith("from the other session"))).toBe(true);
  });
});

describe("server-to-client requests on the GET stream", () => {
  it("server-everything's roots/list reaches the client on the GET stream under a namespaced id, and the answer reaches the backend", async () => {
    const rootsTenant = await createTenant("streams-roots", { backends: [backend.everything()] });
    const session = await connect(rootsTenant.id, { capabilities: { roots: { listChanged: true } } });
    const reader = new SseReader((await session.listen()).body!);
    expect((await reader.next())!.data).toBe("");
    // server-everything asks for roots 350 ms after initialize, on its own GET stream; if the
    // gateway's stream to it was not up yet, its get-roots-list tool asks again.
    const rootsResult = (async () => {
      let request: RpcMessage | null = null;
      let toolCall: Promise<Response> | null = null;
      for (let attempt = 0; attempt < 5 && request === null; attempt++) {
        try {
          for (;;) {
            const message = await reader.nextMessage(1_500);
            if (message?.method === "roots/list") {
              request = message;
              break;
            }
          }
        } catch {
          toolCall ??= session.post({ jsonrpc: "2.0", id: "nudge", method: "tools/call", params: { name: "everything__get-roots-list", arguments: {} } });
        }
      }
      return { request, toolCall };
    })();
    const { request, toolCall } = await rootsResult;
    expect(request).not.toBeNull();
    expect(request!.id).toMatch(/^everything:\d+$/);
    const answer = await session.post({ jsonrpc: "2.0", id: request!.id, result: { roots: [{ uri: "file:///work/project", name: "project" }] } });
    expect(answer.status).toBe(202);
    if (toolCall) await readReply(await toolCall);
    const listed = await session.callTool("everything__get-roots-list");
    expect(text(listed)).toContain("file:///work/project");
    await reader.cancel();
  });
});

describe("resumption", () => {
  it("after the client drops mid-call, GET with Last-Event-ID delivers the rest exactly once, ending with the result", async () => {
    const session = await connect(tenant);
    const res = await session.post(stormCall(31, "resume-me", 6, 120));
    const reader = new SseReader(res.body!);
    const seen: SseEvent[] = [];
    while (seen.filter((e) => e.data !== "").length < 2) seen.push((await reader.next())!);
    await reader.cancel();
    const lastId = seen.at(-1)!.id!;
    expect(lastId).toMatch(/^p\d+_2$/);

    const resumed = await session.listen(lastId);
    expect(resumed.status).toBe(200);
    const rest = await readReply(resumed);
    const steps = rest.messages.filter((m) => m.method === "notifications/progress").map((m) => m.params!.progress);
    expect(steps).toEqual([3, 4, 5, 6]);
    expect(rest.messages.at(-1)!.id).toBe(31);
    expect(text(rest.messages.at(-1)!.result!)).toBe("Storm watch finished after 6 steps.");
    expect(rest.messages).toHaveLength(5);
    // Same stream, continuing after the last id seen, no event twice.
    const stream = lastId.split("_")[0];
    expect(rest.events.every((e) => e.id!.startsWith(`${stream}_`))).toBe(true);
    expect(rest.events.map(seqOf)).toEqual([3, 4, 5, 6, 7]);
  });

  it("a resume after the call finished replays the logged events and ends", async () => {
    const session = await connect(tenant);
    const res = await session.post(stormCall(32, "late", 3, 10));
    const reader = new SseReader(res.body!);
    const priming = (await reader.next())!;
    const first = (await reader.next())!;
    expect(first.id).toMatch(/_1$/);
    await reader.cancel();
    await sleep(300);
    const rest = await readReply(await session.listen(first.id));
    expect(rest.messages.filter((m) => m.method === "notifications/progress").map((m) => m.params!.progress)).toEqual([2, 3]);
    expect(rest.messages.at(-1)!.id).toBe(32);
    // From the priming event: everything.
    const all = await readReply(await session.listen(priming.id));
    expect(all.messages.map((m) => m.method ?? m.id)).toEqual(["notifications/progress", "notifications/progress", "notifications/progress", 32]);
  });

  it("a resume with a new connection replaces the previous one", async () => {
    const session = await connect(tenant);
    const res = await session.post(stormCall(33, "twice", 5, 100));
    const reader = new SseReader(res.body!);
    const priming = (await reader.next())!;
    // Without dropping the first connection, resume from the start on a second one.
    const second = await readReply(await session.listen(priming.id));
    expect(second.messages.filter((m) => m.method === "notifications/progress")).toHaveLength(5);
    expect(second.messages.at(-1)!.id).toBe(33);
    // The first connection was closed rather than left to hang.
    for (;;) if ((await reader.next(5_000)) === null) break;
  });
});
