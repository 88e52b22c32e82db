/**
 * Any client version with any backend version (issue 5): legacy and 2026-07-28 clients against a
 * gateway fronting legacy backends (the demo servers, server-everything) and a modern one (an SDK
 * v2 server), through lists, calls with progress, elicitation and sampling round trips, and
 * change subscriptions, plus the 2026-07-28 wire rules the gateway enforces itself.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, ElicitRequestSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { startDemoBackend, startServerEverything, type RunningServer } from "../support/processes.ts";
import { startModernBackend } from "../support/modern.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";

const MODERN = "2026-07-28";
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let servers: RunningServer[] = [];
let gateway: RunningGateway;
let signer: TestSigner;
let url: string;

beforeAll(async () => {
  const [weather, notes, everything, modern] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes"), startServerEverything(), startModernBackend()]);
  servers = [weather!, notes!, everything!, modern!];
  gateway = await startGateway();
  signer = await testSigner();
  url = gateway.mcpUrl("eras");
  await gateway.putTenant({
    id: "eras",
    backends: [
      { name: "weather", url: weather!.url },
      { name: "notes", url: notes!.url },
      { name: "everything", url: everything!.url },
      { name: "modern", url: modern!.url },
    ],
    auth: jwtAuth(signer, url),
  });
});

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), ...servers.map((s) => s.stop())]);
});

const text = (r: unknown) => (((r as CallToolResult).content ?? []) as { type: string; text?: string }[]).map((c) => (c.type === "text" ? c.text : "")).join("");

async function legacyClient(version?: string) {
  const token = await signer.token({ sub: "lena", audience: url });
  const transport = new LegacyTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new LegacyClient({ name: "legacy", version: "1" }, { capabilities: { elicitation: {}, sampling: {} } });
  if (version) {
    // The v1 SDK announces its latest version; older ones are exercised by raw requests below.
    expect(version).toBe("2025-11-25");
  }
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada", confirm: true } }));
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: "assistant", content: { type: "text", text: "A short summary." }, model: "m" }));
  await client.connect(transport);
  return client;
}

async function modernClient(sub = "maya") {
  const token = await signer.token({ sub, audience: url });
  const client = new ModernClient(
    { name: "modern", version: "1" },
    { capabilities: { elicitation: { form: {} }, sampling: {} }, versionNegotiation: { mode: { pin: MODERN } } },
  );
  client.setRequestHandler("elicitation/create", async () => ({ action: "accept", content: { name: "Ada", confirm: true } }));
  client.setRequestHandler("sampling/createMessage", async () => ({ role: "assistant", content: { type: "text", text: "A short summary." }, model: "m", stopReason: "endTurn" }));
  await client.connect(new ModernTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

describe("a 2025-11-25 client", () => {
  it("sees legacy and modern backends merged, calls both, and gets a modern backend's progress", async () => {
    const client = await legacyClient("2025-11-25");
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["weather__get_forecast", "modern__echo", "modern__count"]));
    expect(text(await client.callTool({ name: "modern__echo", arguments: { message: "across eras" } }))).toBe("Echo: across eras");
    const progress: number[] = [];
    await client.callTool({ name: "modern__count", arguments: { steps: 3, intervalMs: 10 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    expect(progress).toEqual([1, 2, 3]);
    await client.close();
  });

  it("answers a modern backend's InputRequiredResult as ordinary elicitation and sampling requests", async () => {
    const client = await legacyClient();
    expect(text(await client.callTool({ name: "modern__ask_name", arguments: {} }))).toBe("Hello, Ada");
    expect(text(await client.callTool({ name: "modern__summarize", arguments: { text: "long" } }))).toBe("Summary: A short summary.");
    await client.close();
  });

  it("never sees 2026-07-28-only result fields (checked on the raw bytes)", async () => {
    const token = await signer.token({ sub: "lena", audience: url });
    const base = { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" };
    const init = await fetch(url, {
      method: "POST",
      headers: base,
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } }),
    });
    const session = init.headers.get("mcp-session-id")!;
    await init.text();
    const call = await fetch(url, {
      method: "POST",
      headers: { ...base, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "modern__echo", arguments: { message: "bytes" } } }),
    });
    const body = await call.text();
    expect(body).toContain("Echo: bytes");
    expect(body).not.toContain("resultType");
    expect(body).not.toContain("io.modelcontextprotocol/serverInfo");
  });
});

describe("Mcp-Param headers", () => {
  it("are recomputed for a modern backend from its tool's x-mcp-header, after the name is restored", async () => {
    const client = await legacyClient();
    const reply = JSON.parse(text(await client.callTool({ name: "modern__regional", arguments: { region: "eu-west", query: "select 1" } })));
    expect(reply).toEqual({ region: "eu-west", query: "select 1", header: "eu-west" });
    await client.close();
  });

  it("are checked on a modern client's request and forwarded", async () => {
    const client = await modernClient();
    const tools = (await client.listTools()).tools;
    expect(tools.find((t) => t.name === "modern__regional")?.inputSchema).toMatchObject({ properties: { region: { "x-mcp-header": "Region" } } });
    // The v2 client mirrors the argument into Mcp-Param-Region itself; the gateway checks it against the body.
    const reply = JSON.parse(text(await client.callTool({ name: "modern__regional", arguments: { region: "ap-south", query: "q" } })));
    expect(reply.header).toBe("ap-south");
    await client.close();
  });
});

describe("a 2026-07-28 client", () => {
  it("discovers the gateway and calls backends of both eras", async () => {
    const client = await modernClient();
    expect(client.getProtocolEra()).toBe("modern");
    expect(client.getDiscoverResult()?.supportedVersions).toEqual(expect.arrayContaining([MODERN, "2025-11-25", "2025-03-26"]));
    expect(client.getServerVersion()?.name).toBe("edge-mcp-gateway");
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["weather__get_forecast", "modern__echo", "everything__echo"]));
    expect(text(await client.callTool({ name: "everything__echo", arguments: { message: "old backend" } }))).toBe("Echo: old backend");
    expect(text(await client.callTool({ name: "modern__echo", arguments: { message: "new backend" } }))).toBe("Echo: new backend");
    await client.close();
  });

  it("gets a legacy backend's progress on the request's own stream", async () => {
    const client = await modernClient();
    const progress: number[] = [];
    await client.callTool({ name: "weather__watch_storm", arguments: { steps: 4, intervalMs: 10 } }, { onprogress: (p) => void progress.push(p.progress) });
    expect(progress).toEqual([1, 2, 3, 4]);
    await client.close();
  });

  it("answers a legacy backend's elicitation and sampling through InputRequiredResult round trips", async () => {
    const client = await modernClient();
    expect(text(await client.callTool({ name: "notes__ask_user", arguments: { question: "Proceed?" } }))).toContain("accept");
    expect(text(await client.callTool({ name: "everything__trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 5 } }))).toContain("A short summary.");
    expect(text(await client.callTool({ name: "modern__ask_name", arguments: {} }))).toBe("Hello, Ada");
    await client.close();
  });

  it("hears a modern backend's list change on a subscriptions/listen stream", async () => {
    const client = await modernClient();
    const changed = new Promise<void>((resolve) => client.setNotificationHandler("notifications/tools/list_changed", () => resolve()));
    const subscription = await client.listen({ toolsListChanged: true });
    expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
    // The gateway's own listen to the backend is opened on the first subscription; nudge until it hears.
    for (let i = 0; i < 10; i++) {
      await client.callTool({ name: "modern__add_tool", arguments: { name: `dyn_${i}` } });
      const heard = await Promise.race([changed.then(() => true), new Promise((r) => setTimeout(() => r(false), 500))]);
      if (heard) break;
    }
    await changed;
    await subscription.close();
    await client.close();
  });
});

describe("the 2026-07-28 wire rules at the gateway", () => {
  async function post(body: Json, headers: Record<string, string>, sub = "rita") {
    const token = await signer.token({ sub, audience: url });
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
      body: JSON.stringify(body),
    });
    const raw = await res.text();
    const messages = (res.headers.get("content-type") ?? "").startsWith("text/event-stream")
      ? raw.split(/\n\n/).flatMap((f) => f.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)) as Json))
      : raw ? [JSON.parse(raw) as Json] : [];
    return { status: res.status, messages, headers: res.headers };
  }
  const meta = { "io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": { elicitation: { form: {} } }, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" } };
  const headers = (method: string, name?: string) => ({ "mcp-protocol-version": MODERN, "mcp-method": method, ...(name ? { "mcp-name": name } : {}) });

  it("puts resultType on results and ttlMs / cacheScope on lists", async () => {
    const list = await post({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: meta } }, headers("tools/list"));
    expect(list.status).toBe(200);
    expect(list.messages.at(-1)!.result).toMatchObject({ resultType: "complete", ttlMs: expect.any(Number), cacheScope: "private" });
    expect(list.headers.get("mcp-session-id")).toBeNull();
  });

  it("refuses a header that does not match the body (400, -32020)", async () => {
    const res = await post({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "modern__echo", arguments: { message: "x" }, _meta: meta } }, headers("tools/call", "weather__get_forecast"));
    expect(res.status).toBe(400);
    expect(res.messages[0]).toMatchObject({ id: 2, error: { code: -32020 } });
  });

  it("refuses an Mcp-Param header that does not match the argument (400, -32020)", async () => {
    await post({ jsonrpc: "2.0", id: 20, method: "tools/list", params: { _meta: meta } }, headers("tools/list"));
    const body = { jsonrpc: "2.0", id: 21, method: "tools/call", params: { name: "modern__regional", arguments: { region: "eu-west", query: "q" }, _meta: meta } };
    const wrong = await post(body, { ...headers("tools/call", "modern__regional"), "mcp-param-region": "us-east" });
    expect(wrong.status).toBe(400);
    expect(wrong.messages[0]).toMatchObject({ id: 21, error: { code: -32020 } });
    const missing = await post(body, headers("tools/call", "modern__regional"));
    expect(missing.status).toBe(400);
    const right = await post(body, { ...headers("tools/call", "modern__regional"), "mcp-param-region": "eu-west" });
    expect(right.status).toBe(200);
  });

  it("refuses an unsupported version with the supported list (400, -32022)", async () => {
    const res = await post(
      { jsonrpc: "2.0", id: 3, method: "tools/list", params: { _meta: { ...meta, "io.modelcontextprotocol/protocolVersion": "2099-01-01" } } },
      { ...headers("tools/list"), "mcp-protocol-version": "2099-01-01" },
    );
    expect(res.status).toBe(400);
    expect(res.messages[0]).toMatchObject({ error: { code: -32022, data: { supported: expect.arrayContaining([MODERN]), requested: "2099-01-01" } } });
  });

  it("answers an unknown method 404 with -32601, and GET / DELETE 405", async () => {
    const res = await post({ jsonrpc: "2.0", id: 4, method: "ping", params: { _meta: meta } }, headers("ping"));
    expect(res.status).toBe(404);
    expect(res.messages[0]).toMatchObject({ error: { code: -32601 } });
    const token = await signer.token({ sub: "rita", audience: url });
    for (const method of ["GET", "DELETE"]) {
      const r = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, accept: "text/event-stream", "mcp-protocol-version": MODERN } });
      expect(r.status).toBe(405);
      await r.body?.cancel();
    }
  });

  it("passes a modern backend's InputRequiredResult through, its own keys kept and its state sealed inside the gateway's", async () => {
    const call = { jsonrpc: "2.0", id: 30, method: "tools/call", params: { name: "modern__ask_name", arguments: {}, _meta: meta } };
    const first = await post(call, headers("tools/call", "modern__ask_name"));
    const interim = first.messages.at(-1)!.result;
    expect(interim).toMatchObject({ resultType: "input_required", inputRequests: { name: { method: "elicitation/create" } }, requestState: expect.any(String) });
    // The state does not work for another tool...
    const misused = await post(
      { jsonrpc: "2.0", id: 31, method: "tools/call", params: { name: "modern__summarize", arguments: { text: "t" }, _meta: meta, inputResponses: { name: { action: "accept", content: { name: "Eve" } } }, requestState: interim.requestState } },
      headers("tools/call", "modern__summarize"),
    );
    expect(misused.messages.at(-1)).toMatchObject({ error: { code: -32602 } });
    // ...and resumes the call it was issued for.
    const done = await post(
      { jsonrpc: "2.0", id: 32, method: "tools/call", params: { ...call.params, inputResponses: { name: { action: "accept", content: { name: "Ada" } } }, requestState: interim.requestState } },
      headers("tools/call", "modern__ask_name"),
    );
    expect(done.messages.at(-1)).toMatchObject({ id: 32, result: { resultType: "complete", content: [{ type: "text", text: "Hello, Ada" }] } });
  });

  it("seals requestState: only the principal it was issued to can resume, and only once", async () => {
    const call = { jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "notes__ask_user", arguments: { question: "ok?" }, _meta: meta } };
    const first = await post(call, headers("tools/call", "notes__ask_user"));
    const interim = first.messages.at(-1)!.result;
    expect(interim).toMatchObject({ resultType: "input_required", inputRequests: expect.any(Object), requestState: expect.any(String) });
    const [key, input] = Object.entries(interim.inputRequests as Record<string, Json>)[0]!;
    expect(input.method).toBe("elicitation/create");
    const retry = (id: number) => ({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { ...call.params, inputResponses: { [key]: { action: "accept", content: { confirm: true } } }, requestState: interim.requestState },
    });
    // Another principal presenting the same state is refused and does not consume it.
    const stolen = await post(retry(6), headers("tools/call", "notes__ask_user"), "mallory");
    expect(stolen.messages.at(-1)).toMatchObject({ error: { code: -32602 } });
    // A tampered state is refused too.
    const tampered = await post({ ...retry(7), params: { ...retry(7).params, requestState: `${interim.requestState}x` } }, headers("tools/call", "notes__ask_user"));
    expect(tampered.messages.at(-1)).toMatchObject({ error: { code: -32602 } });
    const done = await post(retry(8), headers("tools/call", "notes__ask_user"));
    expect(done.messages.at(-1)).toMatchObject({ id: 8, result: { resultType: "complete" } });
    // Replaying it finds nothing to resume.
    const replay = await post(retry(9), headers("tools/call", "notes__ask_user"));
    expect(replay.messages.at(-1)).toMatchObject({ error: { code: -32602 } });
  });
});

describe("the MCP Inspector CLI in each protocol era", () => {
  const inspector = new URL("../../node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js", import.meta.url).pathname;
  for (const era of ["legacy", "modern", "auto"] as const) {
    it(`lists and calls through the gateway with --protocol-era ${era}`, async () => {
      const token = await signer.token({ sub: `inspector-${era}`, audience: url });
      const run = (...args: string[]) =>
        promisify(execFile)(process.execPath, [inspector, "--cli", url, "--transport", "http", "--protocol-era", era, "--header", `Authorization: Bearer ${token}`, ...args], { timeout: 60_000 });
      const listed = JSON.parse((await run("--method", "tools/list")).stdout) as { tools: { name: string }[] };
      expect(listed.tools.map((t) => t.name)).toEqual(expect.arrayContaining(["weather__get_forecast", "modern__echo"]));
      const called = JSON.parse((await run("--method", "tools/call", "--tool-name", "modern__echo", "--tool-arg", `message=${era}`)).stdout);
      expect(text(called)).toBe(`Echo: ${era}`);
      const legacyCalled = JSON.parse((await run("--method", "tools/call", "--tool-name", "weather__get_alerts", "--tool-arg", "region=north")).stdout);
      expect(text(legacyCalled)).not.toBe("");
    });
  }
});

describe("older legacy revisions, byte for byte", () => {
  /** A raw session at `version`: initialize, initialized, then requests; SSE or JSON replies parsed. */
  async function session(version: string, capabilities: Json = {}) {
    const token = await signer.token({ sub: `raw-${version}`, audience: url });
    const base = { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" };
    const init = await fetch(url, { method: "POST", headers: base, body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: version, capabilities, clientInfo: { name: "raw", version: "1" } } }) });
    const initBody = JSON.parse(await init.text()) as Json;
    const id = init.headers.get("mcp-session-id")!;
    const headers = { ...base, "mcp-session-id": id, ...(version >= "2025-06-18" ? { "mcp-protocol-version": version } : {}) };
    await (await fetch(url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) })).text();
    const post = async (body: Json) => {
      const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
      const raw = await res.text();
      return (res.headers.get("content-type") ?? "").startsWith("text/event-stream")
        ? raw.split(/\n\n/).flatMap((f) => f.split("\n").filter((l) => l.startsWith("data: ") && l.length > 6).map((l) => JSON.parse(l.slice(6)) as Json))
        : raw ? [JSON.parse(raw) as Json] : [];
    };
    return { negotiated: initBody.result.protocolVersion as string, post };
  }

  for (const version of ["2025-03-26", "2025-06-18"]) {
    it(`${version}: lists both eras, streams a modern backend's progress, and sees no field its revision lacks`, async () => {
      const s = await session(version);
      expect(s.negotiated).toBe(version);
      const list = await s.post({ jsonrpc: "2.0", id: 1, method: "tools/list" });
      const tools = list.at(-1)!.result.tools as Json[];
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["modern__count", "weather__get_forecast"]));
      // outputSchema arrived in 2025-06-18 (and title with it); a 2025-03-26 client never sees them.
      const forecast = tools.find((t) => t.name === "weather__get_forecast")!;
      if (version === "2025-03-26") expect(forecast).not.toHaveProperty("outputSchema");
      else expect(forecast).toHaveProperty("outputSchema");
      const counted = await s.post({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "modern__count", arguments: { steps: 3, intervalMs: 5 }, _meta: { progressToken: "tok" } } });
      expect(counted.filter((m) => m.method === "notifications/progress").map((m) => m.params.progress)).toEqual([1, 2, 3]);
      expect(counted.filter((m) => m.method === "notifications/progress").every((m) => m.params.progressToken === "tok")).toBe(true);
      expect(JSON.stringify(counted)).not.toContain("resultType");
      const weather = await s.post({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "weather__get_forecast", arguments: { city: "Rome", days: 1 } } });
      const result = weather.at(-1)!.result;
      if (version === "2025-03-26") expect(result).not.toHaveProperty("structuredContent");
      else expect(result).toHaveProperty("structuredContent");
    });
  }

  it("2025-03-26: a batch of calls to both eras comes back as one array", async () => {
    const s = await session("2025-03-26");
    const replies = await s.post([
      { jsonrpc: "2.0", id: 10, method: "tools/call", params: { name: "modern__echo", arguments: { message: "a" } } },
      { jsonrpc: "2.0", id: 11, method: "tools/call", params: { name: "everything__echo", arguments: { message: "b" } } },
    ] as unknown as Json);
    const flat = replies.flat() as Json[];
    const byId = new Map(flat.filter((m) => "id" in m).map((m) => [m.id, m]));
    expect(text(byId.get(10)!.result)).toBe("Echo: a");
    expect(text(byId.get(11)!.result)).toBe("Echo: b");
  });

  it("2025-06-18: a modern backend's elicitation arrives as elicitation/create and the answer completes the call", async () => {
    const token = await signer.token({ sub: "raw-elicit", audience: url });
    const base = { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" };
    const init = await fetch(url, {
      method: "POST",
      headers: base,
      body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: { elicitation: {} }, clientInfo: { name: "raw", version: "1" } } }),
    });
    await init.text();
    const headers = { ...base, "mcp-session-id": init.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-06-18" };
    const call = await fetch(url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: 20, method: "tools/call", params: { name: "modern__ask_name", arguments: {} } }) });
    // Read the call's stream as it arrives: it pauses at the elicitation request.
    const reader = call.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    const next = async (): Promise<Json> => {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame.split("\n").find((l) => l.startsWith("data: ") && l.length > 6);
          if (data) return JSON.parse(data.slice(6)) as Json;
          continue;
        }
        const { done, value } = await reader.read();
        if (done) throw new Error("stream ended");
        buffer += value;
      }
    };
    const ask = await next();
    expect(ask).toMatchObject({ method: "elicitation/create", id: expect.stringMatching(/^modern:\d+$/) });
    const answered = await fetch(url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: ask.id, result: { action: "accept", content: { name: "Grace" } } }) });
    expect(answered.status).toBe(202);
    const response = await next();
    expect(response).toMatchObject({ id: 20, result: { content: [{ type: "text", text: "Hello, Grace" }] } });
    expect(response.result).not.toHaveProperty("resultType");
    await reader.cancel();
  });
});
