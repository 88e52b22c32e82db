/**
 * The OpenAPI upstream (worker/upstream/openapi.ts) with the API played by a `fetcher` function:
 * what it answers for initialize, tools/list and tools/call, and how headers, credentials,
 * timeouts and cancellation reach the API's request.
 */
import { describe, expect, it } from "vitest";
import { OpenApiUpstream } from "../../../worker/upstream/openapi.ts";
import { UpstreamError } from "../../../worker/upstream/errors.ts";
import type { JsonRpcMessage, JsonRpcRequest } from "../../../worker/protocol/jsonrpc.ts";

const spec = {
  openapi: "3.1.0",
  info: { title: "Notes API", version: "3" },
  servers: [{ url: "https://notes.example/api" }],
  paths: {
    "/notes/{id}": {
      get: { operationId: "getNote", parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }, { name: "Authorization", in: "header", schema: { type: "string" } }], responses: { "200": { description: "ok", content: { "application/json": { schema: { type: "object" } } } } } },
    },
  },
};

function upstream(fetcher: (request: Request) => Promise<Response>, extra: Partial<ConstructorParameters<typeof OpenApiUpstream>[0]> = {}) {
  return new OpenApiUpstream({ backend: "notes", source: { spec, allowPrivate: false }, fetcher, headers: { "x-api-key": "config-key" }, timeoutMs: 1_000, ...extra });
}

async function answer(u: OpenApiUpstream, request: JsonRpcRequest, signal = new AbortController().signal, headers?: Record<string, string>): Promise<JsonRpcMessage[]> {
  const out: JsonRpcMessage[] = [];
  for await (const message of u.request(request, signal, headers)) out.push(message);
  return out;
}

const call = (args: Record<string, unknown>, name = "getNote"): JsonRpcRequest => ({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name, arguments: args } });

describe("OpenApiUpstream", () => {
  it("initializes as a legacy-era server with tools and no session", async () => {
    const info = await upstream(async () => new Response()).initialize({}, new AbortController().signal);
    expect(info).toEqual({ backend: "notes", sessionId: null, protocolVersion: "2025-11-25", capabilities: { tools: { listChanged: false } }, serverInfo: { name: "Notes API", version: "3" } });
  });

  it("lists tools, answers ping, and refuses unknown methods and tools as JSON-RPC errors", async () => {
    const u = upstream(async () => new Response());
    const [list] = await answer(u, { jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect((list as unknown as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name)).toEqual(["getNote"]);
    expect(await answer(u, { jsonrpc: "2.0", id: 2, method: "ping" })).toEqual([{ jsonrpc: "2.0", id: 2, result: {} }]);
    expect(await answer(u, { jsonrpc: "2.0", id: 3, method: "prompts/list" })).toEqual([{ jsonrpc: "2.0", id: 3, error: { code: -32601, message: "Method not found: prompts/list" } }]);
    expect(await answer(u, call({}, "nope"))).toEqual([{ jsonrpc: "2.0", id: 5, error: { code: -32602, message: "Unknown tool: nope" } }]);
  });

  it("sends config headers and credentials over the model's header arguments, and no redirect is followed", async () => {
    let seen: Request | undefined;
    const u = upstream(async (request) => ((seen = request), Response.json({ ok: true })), { dynamicHeaders: async () => ({ authorization: "Bearer fresh" }) });
    const [reply] = await answer(u, call({ id: "n/1", Authorization: "Bearer from-model" }), undefined, { "x-mcp-principal": "ann", "mcp-param-id": "x" });
    expect(reply).toMatchObject({ result: { structuredContent: { ok: true } } });
    expect(seen!.url).toBe("https://notes.example/api/notes/n%2F1");
    expect(seen!.headers.get("authorization")).toBe("Bearer fresh");
    expect(seen!.headers.get("x-api-key")).toBe("config-key");
    expect(seen!.headers.get("x-mcp-principal")).toBe("ann");
    expect(seen!.headers.get("mcp-param-id")).toBeNull();
    expect(seen!.redirect).toBe("manual");
  });

  it("fails a call the API does not answer in time as a timeout, and a cancelled one as cancelled", async () => {
    const hang = (request: Request) =>
      new Promise<Response>((_, reject) => {
        if (request.signal.aborted) reject(request.signal.reason);
        request.signal.addEventListener("abort", () => reject(request.signal.reason));
      });
    await expect(answer(upstream(hang, { timeoutMs: 100 }), call({ id: "1" }))).rejects.toMatchObject({ kind: "timeout" });
    const controller = new AbortController();
    const pending = answer(upstream(hang), call({ id: "1" }), controller.signal);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ kind: "cancelled" });
    await expect(answer(upstream(async () => Promise.reject(new TypeError("connection refused"))), call({ id: "1" }))).rejects.toBeInstanceOf(UpstreamError);
  });

  it("reports a broken spec as a bad response, without calling the API", async () => {
    let calls = 0;
    const u = new OpenApiUpstream({ backend: "notes", source: { spec: { swagger: "1.2" }, allowPrivate: false }, fetcher: async () => (calls++, new Response()), headers: {}, timeoutMs: 1_000 });
    await expect(u.initialize({}, new AbortController().signal)).rejects.toMatchObject({ kind: "bad_response", message: expect.stringContaining("Swagger \"1.2\"") });
    expect(calls).toBe(0);
  });
});
