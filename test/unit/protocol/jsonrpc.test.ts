/**
 * classify(): the one gate every JSON value passes before the gateway treats it as a JSON-RPC
 * message. Shapes follow MCP 2025-11-25 basic/index "Messages" and JSON-RPC 2.0 §4-§5.
 */
import { describe, expect, it } from "vitest";
import {
  classify,
  isErrorResponse,
  isNotification,
  isRequest,
  isResponse,
  notification,
  result,
  type JsonRpcMessage,
} from "../../../worker/protocol/jsonrpc.ts";

describe("classify: valid messages", () => {
  it("recognises a request with an integer id", () => {
    const value = { jsonrpc: "2.0", id: 1, method: "tools/list" };
    expect(classify(value)).toEqual({ kind: "request", message: value });
  });

  it("recognises a request with a string id and object params", () => {
    const value = { jsonrpc: "2.0", id: "abc", method: "tools/call", params: { name: "x", arguments: { a: 1 } } };
    expect(classify(value)).toEqual({ kind: "request", message: value });
  });

  it("accepts an empty string and zero and negative integers as request ids (basic/index: string or integer)", () => {
    for (const id of ["", 0, -7]) {
      expect(classify({ jsonrpc: "2.0", id, method: "ping" }).kind).toBe("request");
    }
  });

  it("passes unknown fields inside params through untouched (fields a newer revision adds)", () => {
    const value = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "x", _meta: { progressToken: 5 }, future: [1, 2] } };
    const classified = classify(value);
    expect(classified).toEqual({ kind: "request", message: value });
  });

  it("recognises a notification (a message with a method and no id)", () => {
    const value = { jsonrpc: "2.0", method: "notifications/initialized" };
    expect(classify(value)).toEqual({ kind: "notification", message: value });
  });

  it("recognises a notification with params", () => {
    const value = { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "t", progress: 1 } };
    expect(classify(value)).toEqual({ kind: "notification", message: value });
  });

  it("recognises a result response", () => {
    const value = { jsonrpc: "2.0", id: 3, result: { tools: [] } };
    expect(classify(value)).toEqual({ kind: "response", message: value });
  });

  it("recognises a result response with an empty result object", () => {
    const value = { jsonrpc: "2.0", id: "p", result: {} };
    expect(classify(value)).toEqual({ kind: "response", message: value });
  });

  it("recognises an error response with data", () => {
    const value = { jsonrpc: "2.0", id: 4, error: { code: -32602, message: "Unknown tool: x", data: { name: "x" } } };
    expect(classify(value)).toEqual({ kind: "response", message: value });
  });

  it("recognises an error response without an id (basic/index: the id may be absent when it could not be read)", () => {
    const value = { jsonrpc: "2.0", error: { code: -32700, message: "Parse error" } };
    expect(classify(value)).toEqual({ kind: "response", message: value });
  });

  it("tolerates an error response with a null id from JSON-RPC 2.0 peers (§5)", () => {
    const value = { jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } };
    expect(classify(value)).toEqual({ kind: "response", message: value });
  });
});

describe("classify: invalid shapes", () => {
  it.each([
    ["a string", "hello"],
    ["a number", 42],
    ["a boolean", true],
    ["null", null],
    ["undefined", undefined],
    ["an array (a batch is not one message)", [{ jsonrpc: "2.0", id: 1, method: "ping" }]],
  ])("rejects %s with no id", (_label, value) => {
    const classified = classify(value);
    expect(classified).toEqual({ kind: "invalid", id: null, reason: "a JSON-RPC message must be an object" });
  });

  it("rejects a missing jsonrpc member, recovering the id", () => {
    expect(classify({ id: 5, method: "ping" })).toEqual({ kind: "invalid", id: 5, reason: 'jsonrpc must be "2.0"' });
  });

  it("rejects a wrong jsonrpc version, recovering a string id", () => {
    expect(classify({ jsonrpc: "1.0", id: "a", method: "ping" })).toEqual({ kind: "invalid", id: "a", reason: 'jsonrpc must be "2.0"' });
  });

  it("rejects jsonrpc given as the number 2.0", () => {
    expect(classify({ jsonrpc: 2.0, id: 1, method: "ping" })).toMatchObject({ kind: "invalid", id: 1 });
  });

  it("rejects a request with a null id (basic/index Requests: the ID MUST NOT be null)", () => {
    const classified = classify({ jsonrpc: "2.0", id: null, method: "ping" });
    expect(classified.kind).toBe("invalid");
    expect(classified).toMatchObject({ id: null });
  });

  it("rejects a request with a fractional id (basic/index Requests: string or integer ID) and reports no id", () => {
    const classified = classify({ jsonrpc: "2.0", id: 1.5, method: "ping" });
    expect(classified).toMatchObject({ kind: "invalid", id: null });
    if (classified.kind === "invalid") expect(classified.reason).toMatch(/^id: /);
  });

  it("rejects a request whose id is a boolean or an object, reporting no id", () => {
    expect(classify({ jsonrpc: "2.0", id: true, method: "ping" })).toMatchObject({ kind: "invalid", id: null });
    expect(classify({ jsonrpc: "2.0", id: { n: 1 }, method: "ping" })).toMatchObject({ kind: "invalid", id: null });
  });

  it("rejects a request whose integer id is beyond the exactly representable range, keeping the id for the answer", () => {
    const classified = classify({ jsonrpc: "2.0", id: 2 ** 53, method: "ping" });
    expect(classified).toMatchObject({ kind: "invalid", id: 2 ** 53 });
  });

  it("rejects an empty method name, recovering the id", () => {
    const classified = classify({ jsonrpc: "2.0", id: 9, method: "" });
    expect(classified).toMatchObject({ kind: "invalid", id: 9 });
    if (classified.kind === "invalid") expect(classified.reason).toMatch(/^method: /);
  });

  it("rejects a non-string method, recovering the id", () => {
    const classified = classify({ jsonrpc: "2.0", id: 9, method: 12 });
    expect(classified).toMatchObject({ kind: "invalid", id: 9 });
    if (classified.kind === "invalid") expect(classified.reason).toMatch(/^method: /);
  });

  it("rejects a message with an id but neither method, result nor error (missing method)", () => {
    expect(classify({ jsonrpc: "2.0", id: 2 })).toEqual({ kind: "invalid", id: 2, reason: "not a request, notification or response" });
  });

  it("rejects an empty object", () => {
    expect(classify({})).toEqual({ kind: "invalid", id: null, reason: 'jsonrpc must be "2.0"' });
  });

  it("rejects by-position params: MCP params are an object (basic/index Requests)", () => {
    const classified = classify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: ["x"] });
    expect(classified).toMatchObject({ kind: "invalid", id: 1 });
    if (classified.kind === "invalid") expect(classified.reason).toMatch(/^params: /);
  });

  it.each([
    ["null", null],
    ["a string", "x"],
    ["a number", 3],
  ])("rejects request params that are %s", (_label, params) => {
    expect(classify({ jsonrpc: "2.0", id: 1, method: "ping", params })).toMatchObject({ kind: "invalid", id: 1 });
  });

  it("rejects a notification whose params are not an object, with no id (a notification has none)", () => {
    const classified = classify({ jsonrpc: "2.0", method: "notifications/progress", params: [1] });
    expect(classified).toMatchObject({ kind: "invalid", id: null });
  });

  it("rejects a notification with an empty method", () => {
    expect(classify({ jsonrpc: "2.0", method: "" })).toMatchObject({ kind: "invalid", id: null });
  });

  it("rejects a result response whose result is not an object (basic/index Result Responses)", () => {
    for (const bad of [null, [], "ok", 1]) {
      const classified = classify({ jsonrpc: "2.0", id: 7, result: bad });
      expect(classified).toMatchObject({ kind: "invalid", id: 7 });
      if (classified.kind === "invalid") expect(classified.reason).toMatch(/^result: /);
    }
  });

  it("rejects a result response without an id (basic/index: result responses MUST include the request's id)", () => {
    expect(classify({ jsonrpc: "2.0", result: {} })).toMatchObject({ kind: "invalid", id: null });
  });

  it("rejects a result response with a null id", () => {
    expect(classify({ jsonrpc: "2.0", id: null, result: {} })).toMatchObject({ kind: "invalid", id: null });
  });

  it("rejects an error response whose code is not an integer (basic/index: error codes MUST be integers)", () => {
    const classified = classify({ jsonrpc: "2.0", id: 3, error: { code: 1.5, message: "x" } });
    expect(classified).toMatchObject({ kind: "invalid", id: 3 });
    if (classified.kind === "invalid") expect(classified.reason).toMatch(/^error\.code: /);
  });

  it("rejects an error response without a message", () => {
    const classified = classify({ jsonrpc: "2.0", id: 3, error: { code: -32000 } });
    expect(classified).toMatchObject({ kind: "invalid", id: 3 });
    if (classified.kind === "invalid") expect(classified.reason).toMatch(/^error\.message: /);
  });

  it("rejects an error member that is not an object", () => {
    expect(classify({ jsonrpc: "2.0", id: 3, error: "boom" })).toMatchObject({ kind: "invalid", id: 3 });
  });

  // Regression: this used to classify as a result response and silently drop the error.
  it("rejects a response carrying both result and error (JSON-RPC 2.0 §5: both MUST NOT be included)", () => {
    const classified = classify({ jsonrpc: "2.0", id: 8, result: {}, error: { code: -32603, message: "Internal error" } });
    expect(classified).toEqual({ kind: "invalid", id: 8, reason: "a response must not carry both result and error" });
  });
});

describe("message helpers", () => {
  const request: JsonRpcMessage = { jsonrpc: "2.0", id: 1, method: "ping" };
  const note: JsonRpcMessage = { jsonrpc: "2.0", method: "notifications/initialized" };
  const ok: JsonRpcMessage = { jsonrpc: "2.0", id: 1, result: {} };
  const failed: JsonRpcMessage = { jsonrpc: "2.0", id: 1, error: { code: -32601, message: "Method not found" } };

  it("tells requests, notifications and responses apart", () => {
    expect([isRequest(request), isNotification(request), isResponse(request)]).toEqual([true, false, false]);
    expect([isRequest(note), isNotification(note), isResponse(note)]).toEqual([false, true, false]);
    expect([isRequest(ok), isNotification(ok), isResponse(ok), isErrorResponse(ok)]).toEqual([false, false, true, false]);
    expect([isResponse(failed), isErrorResponse(failed)]).toEqual([true, true]);
  });

  it("builds a result response that classify accepts", () => {
    const built = result("r1", { content: [] });
    expect(built).toEqual({ jsonrpc: "2.0", id: "r1", result: { content: [] } });
    expect(classify(built).kind).toBe("response");
  });

  it("builds a notification without a params member when none are given", () => {
    expect(notification("notifications/tools/list_changed")).toEqual({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
    expect("params" in notification("x")).toBe(false);
    expect(notification("notifications/message", { level: "info" })).toEqual({
      jsonrpc: "2.0",
      method: "notifications/message",
      params: { level: "info" },
    });
  });
});
