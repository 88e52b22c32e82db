// Proves test/fixtures/modern-server.ts speaks the 2026-07-28 revision, two ways:
//   1. the v2 SDK client (@modelcontextprotocol/client 2.4.0), pinned to 2026-07-28, talking to it
//      directly: discover, lists, echo, progress, MRTR elicitation and sampling, subscriptions/listen;
//   2. raw fetch, to pin down the bytes a gateway's modern upstream client must produce and accept
//      (headers, `_meta` keys, resultType, error codes and HTTP statuses, SSE framing), and what the
//      fixture answers to 2025-era traffic.
// See docs/protocol-2026.md for the spec digest these assertions follow.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { startModernBackend } from "../support/modern.ts";
import type { RunningServer } from "../support/processes.ts";

const MODERN = "2026-07-28";
const PV = "io.modelcontextprotocol/protocolVersion";
const CAPS = "io.modelcontextprotocol/clientCapabilities";
const CLIENT_INFO = "io.modelcontextprotocol/clientInfo";
const LOG_LEVEL = "io.modelcontextprotocol/logLevel";
const SERVER_INFO = "io.modelcontextprotocol/serverInfo";
const SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let backend: RunningServer;
let strict: RunningServer;

beforeAll(async () => {
  [backend, strict] = await Promise.all([startModernBackend(), startModernBackend({ modernOnly: true })]);
});

afterAll(async () => {
  await Promise.all([backend?.stop(), strict?.stop()]);
});

// ---------------------------------------------------------------------------------------------
// Raw wire helpers
// ---------------------------------------------------------------------------------------------

interface Exchange {
  status: number;
  contentType: string;
  headers: Headers;
  /** JSON body, or the messages of an SSE body in order. */
  messages: Json[];
}

function envelope(extra: Json = {}, capabilities: Json = {}): Json {
  return { [PV]: MODERN, [CLIENT_INFO]: { name: "raw-fetch", version: "1.0.0" }, [CAPS]: capabilities, ...extra };
}

function modernHeaders(method: string, name?: string): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": MODERN,
    "mcp-method": method,
  };
  if (name !== undefined) headers["mcp-name"] = name;
  return headers;
}

/** Splits an SSE body into the JSON of its `data:` events (comment/keep-alive frames ignored). */
function parseSse(body: string): Json[] {
  const out: Json[] = [];
  for (const frame of body.split(/\r?\n\r?\n/)) {
    const data = frame
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trimStart())
      .join("\n");
    if (data !== "") out.push(JSON.parse(data) as Json);
  }
  return out;
}

async function post(url: string, headers: Record<string, string>, body: unknown, signal?: AbortSignal): Promise<Exchange> {
  const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), signal: signal ?? null });
  const contentType = res.headers.get("content-type") ?? "";
  const text = await res.text();
  const messages = text === "" ? [] : contentType.startsWith("text/event-stream") ? parseSse(text) : [JSON.parse(text) as Json];
  return { status: res.status, contentType, headers: res.headers, messages };
}

/** A modern request with correct headers and `_meta`. */
function call(method: string, id: number | string, params: Json = {}, meta: Json = {}, capabilities: Json = {}): Promise<Exchange> {
  const name = typeof params["name"] === "string" ? params["name"] : typeof params["uri"] === "string" ? params["uri"] : undefined;
  return post(backend.url, modernHeaders(method, name), {
    jsonrpc: "2.0",
    id,
    method,
    params: { ...params, _meta: envelope(meta, capabilities) },
  });
}

function only(exchange: Exchange): Json {
  expect(exchange.messages).toHaveLength(1);
  return exchange.messages[0]!;
}

async function status(): Promise<{ calls: Record<string, number>; cancelled: number; dynamicTools: string[] }> {
  const res = only(await call("resources/read", "status", { uri: "modern://status" }));
  return JSON.parse(res["result"]["contents"][0]["text"] as string);
}

/** Reads SSE messages off a live response body until `until` matches one. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, buffer: { text: string }, until: (m: Json) => boolean): Promise<Json[]> {
  const decoder = new TextDecoder();
  const seen: Json[] = [];
  for (;;) {
    const end = buffer.text.search(/\r?\n\r?\n/);
    if (end >= 0) {
      const frame = buffer.text.slice(0, end);
      buffer.text = buffer.text.slice(end).replace(/^\r?\n\r?\n/, "");
      for (const message of parseSse(frame)) {
        seen.push(message);
        if (until(message)) return seen;
      }
      continue;
    }
    const { done, value } = await reader.read();
    if (done) throw new Error(`stream ended; saw ${JSON.stringify(seen)}`);
    buffer.text += decoder.decode(value, { stream: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 1. The v2 SDK client, pinned to 2026-07-28
// ---------------------------------------------------------------------------------------------

interface WireRecord {
  method: string;
  headers: Record<string, string>;
  body: Json | undefined;
  status: number;
  contentType: string;
}

interface Connected {
  client: Client;
  wire: WireRecord[];
  elicitations: Json[];
  samplings: Json[];
}

async function connectSdkClient(mode: "pin" | "auto" = "pin"): Promise<Connected> {
  const wire: WireRecord[] = [];
  const recordingFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const res = await fetch(input, init);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as Json) : undefined;
    wire.push({ method: init?.method ?? "GET", headers, body, status: res.status, contentType: res.headers.get("content-type") ?? "" });
    return res;
  };

  const client = new Client(
    { name: "modern-fixture-test", version: "1.0.0" },
    {
      capabilities: { elicitation: { form: {} }, sampling: {} },
      versionNegotiation: { mode: mode === "pin" ? { pin: MODERN } : "auto" },
    },
  );
  const elicitations: Json[] = [];
  const samplings: Json[] = [];
  client.setRequestHandler("elicitation/create", async (request) => {
    elicitations.push(request.params as Json);
    return { action: "accept", content: { name: "Ada" } };
  });
  client.setRequestHandler("sampling/createMessage", async (request) => {
    samplings.push(request.params as Json);
    return { role: "assistant", content: { type: "text", text: "A short summary." }, model: "test-model", stopReason: "endTurn" };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(backend.url), { fetch: recordingFetch }));
  return { client, wire, elicitations, samplings };
}

function textOf(result: { content?: unknown }): string {
  const content = (result.content ?? []) as { type: string; text?: string }[];
  return content.map((block) => (block.type === "text" ? (block.text ?? "") : "")).join("");
}

describe("v2 SDK client (2026-07-28) against the modern fixture", () => {
  let sdk: Connected;

  beforeAll(async () => {
    sdk = await connectSdkClient("pin");
  });

  afterAll(async () => {
    await sdk?.client.close();
  });

  it("connects with server/discover, not initialize", () => {
    expect(sdk.client.getProtocolEra()).toBe("modern");
    expect(sdk.client.getNegotiatedProtocolVersion()).toBe(MODERN);
    expect(sdk.client.getDiscoverResult()?.supportedVersions).toEqual([MODERN]);
    expect(sdk.client.getServerVersion()).toEqual({ name: "modern-fixture", version: "0.1.0" });
    expect(sdk.client.getServerCapabilities()?.tools?.listChanged).toBe(true);

    const first = sdk.wire[0]!;
    expect(first.body?.["method"]).toBe("server/discover");
    expect(first.headers["mcp-method"]).toBe("server/discover");
    expect(first.headers["mcp-protocol-version"]).toBe(MODERN);
    expect(first.body?.["params"]?.["_meta"]?.[PV]).toBe(MODERN);
    expect(first.body?.["params"]?.["_meta"]?.[CAPS]).toEqual({ elicitation: { form: {} }, sampling: {} });
    expect(first.body?.["params"]?.["_meta"]?.[CLIENT_INFO]).toEqual({ name: "modern-fixture-test", version: "1.0.0" });
    expect(sdk.wire.some((w) => w.body?.["method"] === "initialize")).toBe(false);
  });

  it("lists tools, prompts and resources and reads them", async () => {
    const { tools } = await sdk.client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["echo", "count", "ask_name", "summarize", "add_tool", "inspect_request"]));
    const { prompts } = await sdk.client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(["greeting"]);
    const prompt = await sdk.client.getPrompt({ name: "greeting", arguments: { name: "Ada" } });
    expect(prompt.messages[0]?.content).toEqual({ type: "text", text: "Please greet Ada warmly." });
    const { resources } = await sdk.client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(["modern://status"]);
    const read = await sdk.client.readResource({ uri: "modern://status" });
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toHaveProperty("calls");
  });

  it("calls echo, sending Mcp-Method and Mcp-Name", async () => {
    const result = await sdk.client.callTool({ name: "echo", arguments: { message: "hello" } });
    expect(textOf(result)).toBe("Echo: hello");
    const sent = sdk.wire.findLast((w) => w.body?.["method"] === "tools/call")!;
    expect(sent.headers["mcp-method"]).toBe("tools/call");
    expect(sent.headers["mcp-name"]).toBe("echo");
    expect(sent.headers["mcp-session-id"]).toBeUndefined();
  });

  it("receives progress for count over SSE", async () => {
    const progress: { progress: number; total?: number }[] = [];
    const result = await sdk.client.callTool(
      { name: "count", arguments: { steps: 3, intervalMs: 10 } },
      { onprogress: (p) => void progress.push({ progress: p.progress, total: p.total }) },
    );
    expect(textOf(result)).toBe("Counted to 3");
    expect(progress).toEqual([
      { progress: 1, total: 3 },
      { progress: 2, total: 3 },
      { progress: 3, total: 3 },
    ]);
    const sent = sdk.wire.findLast((w) => w.body?.["params"]?.["name"] === "count")!;
    expect(sent.body?.["params"]?.["_meta"]?.["progressToken"]).toBeDefined();
    expect(sent.contentType).toMatch(/^text\/event-stream/);
  });

  it("completes the ask_name elicitation round trip (MRTR)", async () => {
    const before = sdk.wire.length;
    const result = await sdk.client.callTool({ name: "ask_name", arguments: {} });
    expect(textOf(result)).toBe("Hello, Ada");
    expect(sdk.elicitations).toHaveLength(1);
    expect(sdk.elicitations[0]).toMatchObject({ mode: "form", message: "What is your name?" });

    // Two independent tools/call POSTs: the retry has a new JSON-RPC id and carries
    // params.inputResponses + params.requestState (not inside _meta).
    const legs = sdk.wire.slice(before).filter((w) => w.body?.["params"]?.["name"] === "ask_name");
    expect(legs).toHaveLength(2);
    const [first, retry] = legs as [WireRecord, WireRecord];
    expect(retry.body?.["id"]).not.toEqual(first.body?.["id"]);
    expect(first.body?.["params"]).not.toHaveProperty("inputResponses");
    expect(retry.body?.["params"]?.["inputResponses"]).toEqual({ name: { action: "accept", content: { name: "Ada" } } });
    expect(typeof retry.body?.["params"]?.["requestState"]).toBe("string");
    expect(retry.body?.["params"]?.["_meta"]).not.toHaveProperty("inputResponses");
    expect(retry.headers["mcp-name"]).toBe("ask_name");
  });

  it("completes the summarize sampling round trip (MRTR)", async () => {
    const result = await sdk.client.callTool({ name: "summarize", arguments: { text: "A very long text about MCP." } });
    expect(textOf(result)).toBe("Summary: A short summary.");
    expect(sdk.samplings).toHaveLength(1);
    expect(sdk.samplings[0]).toMatchObject({ maxTokens: 200, systemPrompt: "You are a concise summarizer." });
  });

  it("gets tools/list_changed on a subscriptions/listen stream after add_tool", async () => {
    const changed = new Promise<void>((resolve) => {
      sdk.client.setNotificationHandler("notifications/tools/list_changed", () => resolve());
    });
    const subscription = await sdk.client.listen({ toolsListChanged: true });
    expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
    const listen = sdk.wire.findLast((w) => w.body?.["method"] === "subscriptions/listen")!;
    expect(listen.headers["mcp-method"]).toBe("subscriptions/listen");
    expect(listen.contentType).toMatch(/^text\/event-stream/);

    const added = await sdk.client.callTool({ name: "add_tool", arguments: { name: "sdk_dynamic" } });
    expect(textOf(added)).toBe("Added tool sdk_dynamic");
    await changed;

    const { tools } = await sdk.client.listTools(undefined, { cacheMode: "refresh" });
    expect(tools.map((t) => t.name)).toContain("sdk_dynamic");
    expect(textOf(await sdk.client.callTool({ name: "sdk_dynamic", arguments: {} }))).toBe("sdk_dynamic was added at runtime");

    await subscription.close();
    expect(await subscription.closed).toBe("local");
  });

  it("negotiates the modern era in 'auto' mode too", async () => {
    const auto = await connectSdkClient("auto");
    try {
      expect(auto.client.getProtocolEra()).toBe("modern");
      expect(textOf(await auto.client.callTool({ name: "echo", arguments: { message: "auto" } }))).toBe("Echo: auto");
    } finally {
      await auto.client.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 2. The bytes
// ---------------------------------------------------------------------------------------------

describe("raw 2026-07-28 wire", () => {
  it("server/discover: supportedVersions, capabilities, cache hints, serverInfo in _meta", async () => {
    const ex = await call("server/discover", "discover-1");
    expect(ex.status).toBe(200);
    expect(ex.contentType).toMatch(/^application\/json/);
    expect(ex.headers.get("mcp-session-id")).toBeNull();
    const res = only(ex);
    expect(res).toMatchObject({ jsonrpc: "2.0", id: "discover-1" });
    expect(res["result"]).toMatchObject({
      resultType: "complete",
      supportedVersions: [MODERN],
      capabilities: { tools: { listChanged: true }, resources: { subscribe: true }, prompts: {}, logging: {} },
      ttlMs: 60_000,
      cacheScope: "public",
      _meta: { [SERVER_INFO]: { name: "modern-fixture", version: "0.1.0" } },
    });
    expect(typeof res["result"]["instructions"]).toBe("string");
  });

  it("tools/list and resources/read carry resultType, ttlMs and cacheScope", async () => {
    const list = only(await call("tools/list", 2))["result"];
    expect(list).toMatchObject({ resultType: "complete", ttlMs: 0, cacheScope: "public" });
    expect(list["_meta"][SERVER_INFO]).toEqual({ name: "modern-fixture", version: "0.1.0" });
    expect(list["tools"][0]).toMatchObject({ name: "echo", inputSchema: { type: "object" } });

    const read = only(await call("resources/read", 3, { uri: "modern://status" }))["result"];
    expect(read).toMatchObject({ resultType: "complete", ttlMs: 1_000, cacheScope: "private" });

    const echo = only(await call("tools/call", 4, { name: "echo", arguments: { message: "x" } }))["result"];
    expect(echo).toEqual({
      content: [{ type: "text", text: "Echo: x" }],
      resultType: "complete",
      _meta: { [SERVER_INFO]: { name: "modern-fixture", version: "0.1.0" } },
    });
    expect(echo).not.toHaveProperty("ttlMs"); // only the cacheable results carry hints
  });

  it("the envelope reaches the handler; Mcp-* headers are what the fixture saw", async () => {
    const res = only(await call("tools/call", 5, { name: "inspect_request", arguments: {} }, { [LOG_LEVEL]: "debug" }));
    const report = res["result"]["structuredContent"] as Json;
    expect(report["envelope"]).toEqual({
      [PV]: MODERN,
      [CLIENT_INFO]: { name: "raw-fetch", version: "1.0.0" },
      [CAPS]: {},
      [LOG_LEVEL]: "debug",
    });
    expect(report["headers"]).toEqual({
      "mcp-protocol-version": MODERN,
      "mcp-method": "tools/call",
      "mcp-name": "inspect_request",
      "mcp-session-id": null,
    });
  });

  it("count with progressToken and logLevel answers an SSE stream: notifications, then the result", async () => {
    const ex = await call("tools/call", 6, { name: "count", arguments: { steps: 2, intervalMs: 5 } }, { progressToken: "tok-1", [LOG_LEVEL]: "info" });
    expect(ex.status).toBe(200);
    expect(ex.contentType).toMatch(/^text\/event-stream/);
    expect(ex.headers.get("x-accel-buffering")).toBe("no");
    expect(ex.messages.map((m) => m["method"] ?? `result:${m["id"]}`)).toEqual([
      "notifications/progress",
      "notifications/message",
      "notifications/progress",
      "notifications/message",
      "result:6",
    ]);
    expect(ex.messages[0]!["params"]).toEqual({ progressToken: "tok-1", progress: 1, total: 2, message: "step 1 of 2" });
    expect(ex.messages[1]!["params"]).toEqual({ level: "info", data: "step 1", logger: "count" });
    expect(ex.messages[4]!["result"]["content"]).toEqual([{ type: "text", text: "Counted to 2" }]);
  });

  it("without progressToken and logLevel, count is a plain JSON response (no notifications)", async () => {
    const ex = await call("tools/call", 7, { name: "count", arguments: { steps: 2, intervalMs: 5 } });
    expect(ex.contentType).toMatch(/^application\/json/);
    expect(only(ex)["result"]["content"]).toEqual([{ type: "text", text: "Counted to 2" }]);
  });

  it("closing the response stream cancels the call", async () => {
    const before = (await status()).cancelled;
    const abort = new AbortController();
    const res = await fetch(backend.url, {
      method: "POST",
      headers: modernHeaders("tools/call", "count"),
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 8,
        method: "tools/call",
        params: { name: "count", arguments: { steps: 100, intervalMs: 50 }, _meta: envelope({ progressToken: 8 }) },
      }),
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    await readUntil(reader, { text: "" }, (m) => m["method"] === "notifications/progress");
    abort.abort();
    await expect.poll(async () => (await status()).cancelled, { timeout: 5_000 }).toBe(before + 1);
  });

  it("ask_name: InputRequiredResult, then a retry with a new id carrying inputResponses and requestState", async () => {
    const caps = { elicitation: {} };
    const first = only(await call("tools/call", 10, { name: "ask_name", arguments: {} }, {}, caps));
    expect(first["id"]).toBe(10);
    const interim = first["result"] as Json;
    expect(interim["resultType"]).toBe("input_required");
    expect(interim["inputRequests"]).toEqual({
      name: {
        method: "elicitation/create",
        params: {
          mode: "form",
          message: "What is your name?",
          requestedSchema: {
            type: "object",
            properties: { name: { type: "string", title: "Name", description: "Your name" } },
            required: ["name"],
          },
        },
      },
    });
    expect(interim["requestState"]).toMatch(/^v1\./); // opaque to clients; HMAC-signed by the fixture
    expect(interim).not.toHaveProperty("ttlMs");
    expect(interim).not.toHaveProperty("content");

    const retryParams = { name: "ask_name", arguments: {}, inputResponses: { name: { action: "accept", content: { name: "Grace" } } }, requestState: interim["requestState"] };
    const done = only(await call("tools/call", 11, retryParams, {}, caps));
    expect(done["id"]).toBe(11);
    expect(done["result"]).toMatchObject({ resultType: "complete", content: [{ type: "text", text: "Hello, Grace" }] });

    // requestState must be echoed byte-exact: a modified one is refused in-band (HTTP 200, -32602).
    const tampered = await call("tools/call", 12, { ...retryParams, requestState: `${interim["requestState"] as string}x` }, {}, caps);
    expect(tampered.status).toBe(200);
    expect(only(tampered)["error"]).toEqual({ code: -32602, message: "Invalid or expired requestState", data: { reason: "invalid_request_state" } });

    // Dropping requestState is not an error here: the fixture simply asks again.
    const dropped = only(await call("tools/call", 13, { name: "ask_name", arguments: {}, inputResponses: retryParams.inputResponses }, {}, caps));
    expect(dropped["result"]["resultType"]).toBe("input_required");

    // inputResponses/requestState inside _meta are NOT read: the server asks again.
    const inMeta = only(await call("tools/call", 14, { name: "ask_name", arguments: {} }, { inputResponses: retryParams.inputResponses, requestState: interim["requestState"] }, caps));
    expect(inMeta["result"]["resultType"]).toBe("input_required");

    // A decline completes the call.
    const declined = only(await call("tools/call", 15, { ...retryParams, inputResponses: { name: { action: "decline" } } }, {}, caps));
    expect(declined["result"]["content"]).toEqual([{ type: "text", text: "No name given" }]);
  });

  it("ask_name without the elicitation capability: 400 + -32021 MissingRequiredClientCapability", async () => {
    const ex = await call("tools/call", 16, { name: "ask_name", arguments: {} });
    expect(ex.status).toBe(400);
    expect(only(ex)["error"]).toMatchObject({ code: -32021, data: { requiredCapabilities: { elicitation: { form: {} } } } });
  });

  it("summarize: sampling/createMessage input request and retry", async () => {
    const caps = { sampling: {} };
    const interim = only(await call("tools/call", 20, { name: "summarize", arguments: { text: "abc" } }, {}, caps))["result"] as Json;
    expect(interim["resultType"]).toBe("input_required");
    expect(interim["inputRequests"]["summary"]).toEqual({
      method: "sampling/createMessage",
      params: {
        messages: [{ role: "user", content: { type: "text", text: "Summarize in one sentence:\n\nabc" } }],
        systemPrompt: "You are a concise summarizer.",
        maxTokens: 200,
      },
    });
    const sample = { role: "assistant", content: { type: "text", text: "ABC." }, model: "m", stopReason: "endTurn" };
    const done = only(
      await call("tools/call", 21, { name: "summarize", arguments: { text: "abc" }, inputResponses: { summary: sample }, requestState: interim["requestState"] }, {}, caps),
    );
    expect(done["result"]["content"]).toEqual([{ type: "text", text: "Summary: ABC." }]);
  });

  it("subscriptions/listen: ack first, then tagged change notifications, graceful result on teardown", async () => {
    const abort = new AbortController();
    const res = await fetch(backend.url, {
      method: "POST",
      headers: modernHeaders("subscriptions/listen"),
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: "listen-1",
        method: "subscriptions/listen",
        params: {
          notifications: { toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: ["modern://status"] },
          _meta: envelope(),
        },
      }),
      signal: abort.signal,
    });
    try {
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const reader = res.body!.getReader();
      const buffer = { text: "" };
      const [ack] = await readUntil(reader, buffer, () => true);
      expect(ack).toEqual({
        jsonrpc: "2.0",
        method: "notifications/subscriptions/acknowledged",
        params: {
          notifications: { toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: ["modern://status"] },
          _meta: { [SUBSCRIPTION_ID]: "listen-1" },
        },
      });

      const added = only(await call("tools/call", 30, { name: "add_tool", arguments: { name: "raw_dynamic" } }));
      expect(added["result"]["content"]).toEqual([{ type: "text", text: "Added tool raw_dynamic" }]);

      const seen = await readUntil(reader, buffer, (m) => m["method"] === "notifications/resources/updated");
      expect(seen).toEqual([
        { jsonrpc: "2.0", method: "notifications/tools/list_changed", params: { _meta: { [SUBSCRIPTION_ID]: "listen-1" } } },
        { jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri: "modern://status", _meta: { [SUBSCRIPTION_ID]: "listen-1" } } },
      ]);
      const tools = only(await call("tools/list", 31))["result"]["tools"] as { name: string }[];
      expect(tools.map((t) => t.name)).toContain("raw_dynamic");
    } finally {
      abort.abort(); // client-side teardown = close the stream; no response is sent for it
    }
  });

  it("a listen request for nothing the server supports is acked empty and closed gracefully", async () => {
    const ex = await post(backend.url, modernHeaders("subscriptions/listen"), {
      jsonrpc: "2.0",
      id: 40,
      method: "subscriptions/listen",
      params: { notifications: {}, _meta: envelope() },
    });
    expect(ex.messages).toEqual([
      { jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { notifications: {}, _meta: { [SUBSCRIPTION_ID]: 40 } } },
      {
        jsonrpc: "2.0",
        id: 40,
        result: { resultType: "complete", _meta: { [SUBSCRIPTION_ID]: 40, [SERVER_INFO]: { name: "modern-fixture", version: "0.1.0" } } },
      },
    ]);
  });

  describe("validation ladder", () => {
    const listBody = (id: number, meta: Json = envelope()): Json => ({ jsonrpc: "2.0", id, method: "tools/list", params: { _meta: meta } });

    it("missing Mcp-Method: 400 + -32020 HeaderMismatch", async () => {
      const headers = modernHeaders("tools/list");
      delete headers["mcp-method"];
      const ex = await post(backend.url, headers, listBody(50));
      expect(ex.status).toBe(400);
      expect(only(ex)).toMatchObject({ id: 50, error: { code: -32020 } });
    });

    it("missing MCP-Protocol-Version header: 400 + -32020", async () => {
      const headers = modernHeaders("tools/list");
      delete headers["mcp-protocol-version"];
      const ex = await post(backend.url, headers, listBody(51));
      expect(ex.status).toBe(400);
      expect(only(ex)["error"]["code"]).toBe(-32020);
    });

    it("missing Mcp-Name on tools/call, or a mismatching one: 400 + -32020", async () => {
      const body = { jsonrpc: "2.0", id: 52, method: "tools/call", params: { name: "echo", arguments: { message: "x" }, _meta: envelope() } };
      const missing = await post(backend.url, modernHeaders("tools/call"), body);
      expect(missing.status).toBe(400);
      expect(only(missing)["error"]["code"]).toBe(-32020);
      const wrong = await post(backend.url, modernHeaders("tools/call", "count"), body);
      expect(wrong.status).toBe(400);
      expect(only(wrong)["error"]["code"]).toBe(-32020);
      const base64 = await post(backend.url, modernHeaders("tools/call", `=?base64?${Buffer.from("echo").toString("base64")}?=`), body);
      expect(base64.status).toBe(200);
    });

    it("header/body protocol version mismatch: 400 + -32020", async () => {
      const ex = await post(backend.url, { ...modernHeaders("tools/list"), "mcp-protocol-version": "2025-11-25" }, listBody(53));
      expect(ex.status).toBe(400);
      expect(only(ex)["error"]["code"]).toBe(-32020);
    });

    it("unsupported version: 400 + -32022 with data.supported/requested", async () => {
      const ex = await post(backend.url, { ...modernHeaders("tools/list"), "mcp-protocol-version": "2099-01-01" }, listBody(54, { ...envelope(), [PV]: "2099-01-01" }));
      expect(ex.status).toBe(400);
      expect(only(ex)).toEqual({
        jsonrpc: "2.0",
        id: 54,
        error: { code: -32022, message: "Unsupported protocol version: 2099-01-01", data: { supported: [MODERN], requested: "2099-01-01" } },
      });
    });

    it("missing clientCapabilities in _meta: 400 + -32602", async () => {
      const meta = envelope();
      delete meta[CAPS];
      const ex = await post(backend.url, modernHeaders("tools/list"), listBody(55, meta));
      expect(ex.status).toBe(400);
      expect(only(ex)["error"]["code"]).toBe(-32602);
    });

    it("unknown method: 404 + -32601; ping and initialize are unknown in this era", async () => {
      for (const method of ["foo/bar", "ping", "initialize", "logging/setLevel"]) {
        const ex = await post(backend.url, modernHeaders(method), { jsonrpc: "2.0", id: 56, method, params: { _meta: envelope() } });
        expect(ex.status, method).toBe(404);
        expect(only(ex)["error"]["code"], method).toBe(-32601);
      }
    });

    it("handler errors stay in-band: unknown tool is HTTP 200 + -32602", async () => {
      const ex = await call("tools/call", 57, { name: "nope", arguments: {} });
      expect(ex.status).toBe(200);
      expect(only(ex)["error"]).toEqual({ code: -32602, message: "Tool nope not found" });
    });

    it("GET and DELETE on the endpoint: 405", async () => {
      for (const method of ["GET", "DELETE"]) {
        const res = await fetch(backend.url, { method, headers: { accept: "text/event-stream" } });
        expect(res.status, method).toBe(405);
        expect(res.headers.get("allow")).toBe("POST");
        await res.body?.cancel();
      }
    });
  });

  describe("2025-era traffic", () => {
    const initialize = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "legacy", version: "1.0.0" } },
    };
    const legacyHeaders = { "content-type": "application/json", accept: "application/json, text/event-stream" };

    it("dual-era default: initialize is answered (2025-11-25, SSE, no Mcp-Session-Id)", async () => {
      const ex = await post(backend.url, legacyHeaders, initialize);
      expect(ex.status).toBe(200);
      expect(ex.contentType).toMatch(/^text\/event-stream/);
      expect(ex.headers.get("mcp-session-id")).toBeNull();
      const result = only(ex)["result"] as Json;
      expect(result).toMatchObject({ protocolVersion: "2025-11-25", serverInfo: { name: "modern-fixture", version: "0.1.0" } });
      expect(result).not.toHaveProperty("resultType");
    });

    it("dual-era default: envelope-less requests are served statelessly without resultType", async () => {
      const ex = await post(backend.url, { ...legacyHeaders, "mcp-protocol-version": "2025-11-25" }, { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "echo", arguments: { message: "old" } } });
      expect(ex.status).toBe(200);
      expect(only(ex)["result"]).toEqual({ content: [{ type: "text", text: "Echo: old" }] });
    });

    it("dual-era default: MRTR tools cannot elicit over stateless legacy serving (isError result)", async () => {
      const ex = await post(backend.url, { ...legacyHeaders, "mcp-protocol-version": "2025-11-25" }, { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "ask_name", arguments: {} } });
      const result = only(ex)["result"] as Json;
      expect(result["isError"]).toBe(true);
      expect(textOf(result)).toMatch(/per-request legacy serving cannot receive server-to-client requests/);
    });

    it("modern-only (MODERN_ONLY=1): initialize gets 400 + -32022 naming the supported versions", async () => {
      const ex = await post(strict.url, legacyHeaders, initialize);
      expect(ex.status).toBe(400);
      expect(only(ex)).toEqual({
        jsonrpc: "2.0",
        id: 1,
        error: { code: -32022, message: "Unsupported protocol version: 2025-11-25", data: { supported: [MODERN], requested: "2025-11-25" } },
      });
      const modern = only(await post(strict.url, modernHeaders("tools/call", "echo"), { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "echo", arguments: { message: "ok" }, _meta: envelope() } }));
      expect(modern["result"]["content"]).toEqual([{ type: "text", text: "Echo: ok" }]);
    });
  });
});
