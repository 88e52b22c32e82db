/** The tunnel's frames (worker/upstream/tunnelFrames.ts): what each side accepts from the other. */
import { describe, expect, it } from "vitest";
import { DATA_CHUNK_CHARS, dataFrames, joinSession, parseDownFrame, parseUpFrame, requestFrames, splitSession } from "../../../worker/upstream/tunnelFrames.ts";

describe("parseUpFrame", () => {
  it("accepts head, data and end frames", () => {
    expect(parseUpFrame('{"type":"head","id":3,"status":200,"headers":{"content-type":"text/event-stream"}}')).toEqual({ type: "head", id: 3, status: 200, headers: { "content-type": "text/event-stream" } });
    expect(parseUpFrame('{"type":"data","id":3,"chunk":"x"}')).toEqual({ type: "data", id: 3, chunk: "x" });
    expect(parseUpFrame('{"type":"end","id":3}')).toEqual({ type: "end", id: 3 });
  });

  it.each([
    "not json",
    "null",
    "[]",
    '{"type":"head","id":"3","status":200,"headers":{}}',
    '{"type":"head","id":3,"status":99,"headers":{}}',
    '{"type":"head","id":3,"status":200,"headers":{"a":1}}',
    '{"type":"head","id":-1,"status":200,"headers":{}}',
    '{"type":"data","id":3,"chunk":5}',
    '{"type":"request","id":3,"method":"GET","headers":{},"body":null}',
  ])("refuses %s", (text) => {
    expect(parseUpFrame(text)).toBeNull();
  });
});

describe("parseDownFrame", () => {
  it("accepts requests and cancels, and nothing else", () => {
    expect(parseDownFrame('{"type":"request","id":1,"method":"POST","headers":{"accept":"text/event-stream"},"body":"{}"}')).toEqual({ type: "request", id: 1, method: "POST", headers: { accept: "text/event-stream" }, body: "{}" });
    expect(parseDownFrame('{"type":"cancel","id":1}')).toEqual({ type: "cancel", id: 1 });
    expect(parseDownFrame('{"type":"request","id":1,"method":"POST","headers":{},"body":{}}')).toBeNull();
    expect(parseDownFrame('{"type":"end","id":1}')).toBeNull();
  });
});

describe("dataFrames", () => {
  it("cuts a body into bounded chunks that join back to it", () => {
    const body = "x".repeat(DATA_CHUNK_CHARS * 2 + 5);
    const frames = dataFrames(7, body);
    expect(frames).toHaveLength(3);
    expect(frames.map((f) => (f.type === "data" ? f.chunk : "")).join("")).toBe(body);
    expect(dataFrames(7, "")).toEqual([]);
  });
});

describe("requestFrames", () => {
  it("sends a small body in the request frame itself", () => {
    expect(requestFrames(1, "POST", {}, "{}")).toEqual([{ type: "request", id: 1, method: "POST", headers: {}, body: "{}" }]);
    expect(requestFrames(1, "GET", {}, null)).toEqual([{ type: "request", id: 1, method: "GET", headers: {}, body: null }]);
  });

  it("cuts a large body into body frames, the last one marked, each of which parses", () => {
    const body = "y".repeat(DATA_CHUNK_CHARS * 2 + 1);
    const frames = requestFrames(4, "POST", { a: "b" }, body).map((f) => parseDownFrame(JSON.stringify(f)));
    expect(frames.map((f) => f?.type)).toEqual(["request", "body", "body"]);
    expect(frames[0]).toMatchObject({ more: true });
    expect(frames.map((f) => (f?.type === "body" ? f.last : null))).toEqual([null, false, true]);
    expect(frames.map((f) => (f?.type === "request" ? f.body : f?.type === "body" ? f.chunk : "")).join("")).toBe(body);
  });
});

describe("session ids", () => {
  it("carry the connector's id, and only a well-formed one", () => {
    expect(splitSession(joinSession("conn-1234", "a.b-c"))).toEqual({ connector: "conn-1234", session: "a.b-c" });
    expect(splitSession("short.x")).toBeNull();
    expect(splitSession(".x")).toBeNull();
    expect(splitSession("no-separator-here")).toBeNull();
  });
});
