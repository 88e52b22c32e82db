/**
 * ⑤ The guard: what is checked about a request itself before it is dispatched to a home.
 * Statuses follow MCP 2025-11-25 basic/transports; each failure is a GatewayError of one kind.
 */
import { describe, expect, it } from "vitest";
import {
  checkGetMediaTypes,
  checkPostMediaTypes,
  checkProtocolVersionHeader,
  readMessages,
  sessionIdOf,
} from "../../../worker/ingress/guard.ts";
import { GatewayError } from "../../../worker/protocol/errors.ts";
import { expectKind, failure, req } from "../support/errors.ts";

async function asyncFailure(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error instanceof GatewayError) return error;
  throw new Error(`expected a GatewayError, got ${String(error)}`);
}

describe("checkPostMediaTypes (transports 'Sending Messages' 2)", () => {
  const post = (headers: Record<string, string>) => req("http://localhost/mcp", headers, { method: "POST", body: "{}" });
  const both = "application/json, text/event-stream";

  it("accepts a JSON body from a client accepting JSON and SSE", () => {
    expect(checkPostMediaTypes(post({ "content-type": "application/json", accept: both }))).toEqual({ sse: true });
    expect(checkPostMediaTypes(post({ "content-type": "application/json; charset=utf-8", accept: "*/*" }))).toEqual({ sse: true });
    expect(checkPostMediaTypes(post({ "content-type": "application/json", accept: "application/*, text/*" }))).toEqual({ sse: true });
  });

  it.each([
    ["missing", undefined],
    ["text/plain", "text/plain"],
    ["application/json-seq (a substring trap)", "application/json-seq"],
    ["form data", "application/x-www-form-urlencoded"],
  ])("refuses a %s Content-Type with unsupported_media_type (415)", (_label, contentType) => {
    const headers: Record<string, string> = { accept: both };
    if (contentType !== undefined) headers["content-type"] = contentType;
    const error = failure(() => checkPostMediaTypes(post(headers)));
    expectKind(error, "unsupported_media_type", 415);
    expect(error.clientMessage).toContain("application/json");
  });

  it.each([
    ["missing", undefined],
    ["JSON only", "application/json"],
    ["SSE only", "text/event-stream"],
    ["SSE refused with q=0", "application/json, text/event-stream;q=0"],
    ["everything refused", "*/*;q=0"],
  ])("refuses an Accept that is %s with not_acceptable (406)", (_label, accept) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (accept !== undefined) headers.accept = accept;
    const error = failure(() => checkPostMediaTypes(post(headers)));
    expectKind(error, "not_acceptable", 406);
    expect(error.clientMessage).toContain("text/event-stream");
  });

  it("checks the Content-Type before the Accept header", () => {
    expect(failure(() => checkPostMediaTypes(post({ "content-type": "text/plain" }))).kind).toBe("unsupported_media_type");
  });
});

describe("checkGetMediaTypes (transports 'Listening for Messages' 2)", () => {
  const get = (accept?: string) => req("http://localhost/mcp", accept === undefined ? {} : { accept });

  it("accepts a client that accepts SSE", () => {
    expect(() => checkGetMediaTypes(get("text/event-stream"))).not.toThrow();
    expect(() => checkGetMediaTypes(get("*/*"))).not.toThrow();
    expect(() => checkGetMediaTypes(get("application/json, text/event-stream"))).not.toThrow();
  });

  it.each([["missing", undefined], ["JSON only", "application/json"], ["SSE with q=0", "text/event-stream;q=0, */*"], ["text/html", "text/html"]])(
    "refuses an Accept that is %s with not_acceptable (406)",
    (_label, accept) => {
      expectKind(failure(() => checkGetMediaTypes(get(accept))), "not_acceptable", 406);
    },
  );
});

describe("checkProtocolVersionHeader (transports 'Protocol Version Header')", () => {
  const withVersion = (version?: string) => req("http://localhost/mcp", version === undefined ? {} : { "mcp-protocol-version": version });

  it("lets a request without the header through (the server then assumes 2025-03-26)", () => {
    expect(() => checkProtocolVersionHeader(withVersion())).not.toThrow();
  });

  it.each(["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", " 2025-06-18 "])("lets the supported version %j through", (version) => {
    expect(() => checkProtocolVersionHeader(withVersion(version))).not.toThrow();
  });

  it.each(["2026-07-28", "1.0", "2025-06-18,2025-03-26", "latest"])("refuses the unsupported version %j with 400", (version) => {
    expectKind(failure(() => checkProtocolVersionHeader(withVersion(version))), "unsupported_protocol_version", 400);
  });
});

describe("sessionIdOf (transports 'Session Management')", () => {
  const withId = (id?: string) => req("http://localhost/mcp", id === undefined ? {} : { "mcp-session-id": id });

  it("returns null when there is no session header", () => {
    expect(sessionIdOf(withId())).toBeNull();
  });

  it("returns a well-formed id of visible ASCII", () => {
    const id = "AbC-_123~!#$%&'*+.^`|0123456789abcdef0123456";
    expect(sessionIdOf(withId(id))).toBe(id);
    expect(sessionIdOf(withId("x".repeat(16)))).toBe("x".repeat(16));
    expect(sessionIdOf(withId("x".repeat(128)))).toBe("x".repeat(128));
  });

  it.each([
    ["too short", "x".repeat(15)],
    ["too long", "x".repeat(129)],
    ["containing a space", "abcdefgh ijklmnopq"],
    ["containing a non-ASCII character", "abcdefghijklmnopé"],
    ["empty", ""],
  ])("answers a malformed id (%s) like an unknown one: session_not_found (404)", (_label, id) => {
    expectKind(failure(() => sessionIdOf(withId(id))), "session_not_found", 404);
  });
});

/** A POST whose body is an endless or finite stream of `size`-byte chunks, counting pulls. */
function streamingPost(size: number, total: number, headers: Record<string, string> = {}) {
  const stats = { pulls: 0 };
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (stats.pulls >= total) {
          controller.close();
          return;
        }
        stats.pulls++;
        controller.enqueue(new Uint8Array(size).fill(0x20)); // spaces: valid JSON whitespace
      },
    },
    { highWaterMark: 0 },
  );
  const request = new Request("http://localhost/mcp", { method: "POST", headers, body, duplex: "half" } as RequestInit);
  return { request, stats };
}

describe("readMessages", () => {
  const post = (body: string, headers: Record<string, string> = {}) => req("http://localhost/mcp", headers, { method: "POST", body });

  it("reads a single message", async () => {
    const message = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25" } };
    expect(await readMessages(post(JSON.stringify(message)), 1024)).toEqual({ messages: [message], batch: false });
  });

  it("reads a batch of requests, notifications and responses, in order", async () => {
    const batch = [
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 0 } },
      { jsonrpc: "2.0", id: "s-1", result: { roots: [] } },
    ];
    expect(await readMessages(post(JSON.stringify(batch)), 1024)).toEqual({ messages: batch, batch: true });
  });

  it("reports a one-element batch as a batch", async () => {
    expect((await readMessages(post('[{"jsonrpc":"2.0","id":1,"method":"ping"}]'), 1024)).batch).toBe(true);
  });

  it.each([
    ["not JSON", "{not json"],
    ["empty", ""],
    ["truncated", '{"jsonrpc":"2.0","id":1,'],
  ])("answers a body that is %s with parse_error (400, -32700) and no id", async (_label, body) => {
    const error = await asyncFailure(readMessages(post(body), 1024));
    expectKind(error, "parse_error", 400);
    expect(error.code).toBe(-32700);
    expect(error.rpcId).toBeNull();
  });

  it("answers invalid UTF-8 between JSON tokens with parse_error (it decodes to U+FFFD, which is not JSON)", async () => {
    const json = new TextEncoder().encode('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    const body = new Uint8Array([0xff, ...json]);
    const request = new Request("http://localhost/mcp", { method: "POST", body });
    expectKind(await asyncFailure(readMessages(request, 1024)), "parse_error", 400);
  });

  it("answers an empty batch with invalid_request (400, -32600)", async () => {
    const error = await asyncFailure(readMessages(post("[]"), 1024));
    expectKind(error, "invalid_request", 400);
    expect(error.code).toBe(-32600);
    expect(error.clientMessage).toBe("Invalid Request: empty batch");
  });

  it("answers an invalid message with invalid_request, keeping its id for the answer", async () => {
    const error = await asyncFailure(readMessages(post('{"jsonrpc":"2.0","id":7,"method":""}'), 1024));
    expectKind(error, "invalid_request", 400);
    expect(error.rpcId).toBe(7);
    expect(error.clientMessage).toMatch(/^Invalid Request: method: /);
    expect(await error.toResponse().json()).toMatchObject({ jsonrpc: "2.0", id: 7, error: { code: -32600 } });
  });

  it("answers a request with a null id with invalid_request and no id (basic/index Requests)", async () => {
    const error = await asyncFailure(readMessages(post('{"jsonrpc":"2.0","id":null,"method":"ping"}'), 1024));
    expectKind(error, "invalid_request", 400);
    expect(error.rpcId).toBeNull();
  });

  it("answers a JSON value that is not a message (a number, a string, null) with invalid_request", async () => {
    for (const body of ["42", '"hello"', "null"]) expectKind(await asyncFailure(readMessages(post(body), 1024)), "invalid_request", 400);
  });

  it("refuses a whole batch when one of its messages is invalid, naming that message's id", async () => {
    const body = JSON.stringify([
      { jsonrpc: "2.0", id: 1, method: "ping" },
      { jsonrpc: "1.0", id: 2, method: "ping" },
    ]);
    const error = await asyncFailure(readMessages(post(body), 1024));
    expectKind(error, "invalid_request", 400);
    expect(error.rpcId).toBe(2);
  });

  it("refuses a declared Content-Length over the cap with payload_too_large (413) without reading the body", async () => {
    const { request, stats } = streamingPost(100, 100, { "content-length": "10000" });
    const error = await asyncFailure(readMessages(request, 1024));
    expectKind(error, "payload_too_large", 413);
    expect(stats.pulls).toBe(0);
  });

  it("refuses a streamed body that passes the cap with payload_too_large, reading no further", async () => {
    const { request, stats } = streamingPost(100, Number.POSITIVE_INFINITY);
    const error = await asyncFailure(readMessages(request, 1024));
    expectKind(error, "payload_too_large", 413);
    // 11 chunks of 100 bytes pass the 1024-byte cap; a chunk or two of read-ahead at most.
    expect(stats.pulls).toBeGreaterThanOrEqual(11);
    expect(stats.pulls).toBeLessThanOrEqual(13);
  });

  it("refuses a body larger than an understated Content-Length once it passes the cap", async () => {
    const { request } = streamingPost(100, 50, { "content-length": "10" });
    expectKind(await asyncFailure(readMessages(request, 1024)), "payload_too_large", 413);
  });

  it("accepts a body exactly at the cap", async () => {
    const message = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
    const padded = message.padEnd(256, " ");
    expect((await readMessages(post(padded), 256)).messages).toHaveLength(1);
    expectKind(await asyncFailure(readMessages(post(`${padded} `), 256)), "payload_too_large", 413);
  });

  it("answers a body stream that fails mid-read with parse_error", async () => {
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new Error("connection reset"));
      },
    });
    const request = new Request("http://localhost/mcp", { method: "POST", body, duplex: "half" } as RequestInit);
    const error = await asyncFailure(readMessages(request, 1024));
    expectKind(error, "parse_error", 400);
    expect(error.detail).toBe("body could not be read");
  });
});
