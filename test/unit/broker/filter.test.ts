/**
 * The filter point: results going to a client are adapted to the client's protocol revision.
 * Structured tool output (`outputSchema`, `structuredContent`) and `title` arrived in 2025-06-18
 * (2025-06-18 changelog, "Major changes" 2 and "Other schema changes" 3), so older clients get
 * results without them.
 */
import { describe, expect, it } from "vitest";
import { downgradeResult, filterMessage } from "../../../worker/broker/filter.ts";
import type { JsonRpcMessage } from "../../../worker/protocol/jsonrpc.ts";

const toolsList = {
  tools: [
    { name: "a__weather", title: "Weather", description: "d", inputSchema: { type: "object" }, outputSchema: { type: "object" } },
    { name: "a__plain", inputSchema: { type: "object" } },
  ],
  nextCursor: "abc",
};
const toolsCall = {
  content: [{ type: "text", text: '{"t":21}' }],
  structuredContent: { t: 21 },
  isError: false,
};

describe("downgradeResult", () => {
  it("keeps the 2025-11-25 tasks _meta keys for clients of that revision, and drops them (with the 2026-07-28 envelope) for older ones", () => {
    const fetched = {
      content: [],
      resultType: "complete",
      _meta: { "io.modelcontextprotocol/related-task": { taskId: "t" }, "io.modelcontextprotocol/serverInfo": { name: "b" }, mine: 1 },
    };
    expect(downgradeResult("tasks/result", fetched, "2025-11-25")).toEqual({ content: [], _meta: { "io.modelcontextprotocol/related-task": { taskId: "t" }, mine: 1 } });
    expect(downgradeResult("tasks/result", fetched, "2025-06-18")).toEqual({ content: [], _meta: { mine: 1 } });
    expect(downgradeResult("tasks/result", fetched, "2026-07-28")).toBe(fetched);
    const created = { task: { taskId: "t" }, _meta: { "io.modelcontextprotocol/model-immediate-response": "working on it" } };
    expect(downgradeResult("tools/call", created, "2025-11-25")).toBe(created);
  });

  it.each(["2025-03-26", "2024-11-05"])("drops outputSchema and title from tools/list for a %s client", (version) => {
    expect(downgradeResult("tools/list", toolsList, version)).toEqual({
      tools: [
        { name: "a__weather", description: "d", inputSchema: { type: "object" } },
        { name: "a__plain", inputSchema: { type: "object" } },
      ],
      nextCursor: "abc",
    });
  });

  it.each(["2025-03-26", "2024-11-05"])("drops structuredContent from tools/call for a %s client, keeping the text content", (version) => {
    expect(downgradeResult("tools/call", toolsCall, version)).toEqual({ content: [{ type: "text", text: '{"t":21}' }], isError: false });
  });

  it.each(["2025-06-18", "2025-11-25"])("leaves results untouched for a %s client", (version) => {
    expect(downgradeResult("tools/list", toolsList, version)).toBe(toolsList);
    expect(downgradeResult("tools/call", toolsCall, version)).toBe(toolsCall);
  });

  it("does not mutate the result it downgrades", () => {
    const list = structuredClone(toolsList);
    const call = structuredClone(toolsCall);
    downgradeResult("tools/list", list, "2025-03-26");
    downgradeResult("tools/call", call, "2025-03-26");
    expect(list).toEqual(toolsList);
    expect(call).toEqual(toolsCall);
  });

  it("leaves other methods' results alone", () => {
    const prompts = { prompts: [{ name: "p", title: "P" }] };
    expect(downgradeResult("prompts/list", prompts, "2025-03-26")).toBe(prompts);
  });

  it("leaves a tools/list result without a tools array and a tools/call result without structuredContent alone", () => {
    const odd = { tools: "nope" };
    expect(downgradeResult("tools/list", odd, "2025-03-26")).toBe(odd);
    const plain = { content: [] };
    expect(downgradeResult("tools/call", plain, "2025-03-26")).toBe(plain);
  });
});

describe("filterMessage", () => {
  const response: JsonRpcMessage = { jsonrpc: "2.0", id: 1, result: toolsCall };

  it("downgrades a result going to an older client when the method is known", () => {
    expect(filterMessage(response, { direction: "to-client", peerVersion: "2025-03-26", method: "tools/call" })).toEqual({
      jsonrpc: "2.0",
      id: 1,
      result: { content: [{ type: "text", text: '{"t":21}' }], isError: false },
    });
  });

  it("keeps the result for a 2025-06-18 or newer client", () => {
    expect(filterMessage(response, { direction: "to-client", peerVersion: "2025-06-18", method: "tools/call" })).toEqual(response);
    expect(filterMessage(response, { direction: "to-client", peerVersion: "2025-11-25", method: "tools/call" })).toEqual(response);
  });

  it("does not touch a result when the method it answers is unknown", () => {
    expect(filterMessage(response, { direction: "to-client", peerVersion: "2025-03-26" })).toBe(response);
  });

  it("does not touch messages going to a backend", () => {
    expect(filterMessage(response, { direction: "to-backend", peerVersion: "2024-11-05", method: "tools/call" })).toBe(response);
  });

  it("does not touch requests, notifications or error responses", () => {
    const messages: JsonRpcMessage[] = [
      { jsonrpc: "2.0", id: 2, method: "sampling/createMessage", params: { structuredContent: {} } },
      { jsonrpc: "2.0", method: "notifications/tools/list_changed" },
      { jsonrpc: "2.0", id: 3, error: { code: -32602, message: "Unknown tool" } },
    ];
    for (const message of messages) {
      expect(filterMessage(message, { direction: "to-client", peerVersion: "2024-11-05", method: "tools/call" })).toBe(message);
    }
  });
});
