/**
 * The 2026-07-28 envelope the gateway puts on requests to backends (worker/protocol/modern.ts):
 * a modern backend hears the request's own log level before the session's, and a legacy backend
 * never sees the envelope at all.
 */
import { describe, expect, it } from "vitest";
import { legacyRequest, META, MODERN_VERSION, requestMeta } from "../../../worker/protocol/modern.ts";
import type { JsonRpcRequest } from "../../../worker/protocol/jsonrpc.ts";

const client = { capabilities: { sampling: {} }, info: { name: "gw", version: "1" } };

describe("requestMeta", () => {
  it("fills in version, capabilities and identity, keeping the request's other keys", () => {
    const meta = requestMeta({ progressToken: 7, "example.com/x": 1 }, client);
    expect(meta).toEqual({
      progressToken: 7,
      "example.com/x": 1,
      [META.protocolVersion]: MODERN_VERSION,
      [META.clientCapabilities]: client.capabilities,
      [META.clientInfo]: client.info,
    });
  });

  it("uses the request's own logLevel over the session's, and the session's only when the request has none", () => {
    expect(requestMeta({ [META.logLevel]: "error" }, { ...client, logLevel: "debug" })[META.logLevel]).toBe("error");
    expect(requestMeta({}, { ...client, logLevel: "debug" })[META.logLevel]).toBe("debug");
    expect(requestMeta(undefined, client)[META.logLevel]).toBeUndefined();
  });
});

describe("legacyRequest", () => {
  const base: JsonRpcRequest = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { a: 1 } } };

  it("drops the modern envelope and keeps everything else in _meta", () => {
    const sent = legacyRequest({ ...base, params: { ...base.params, _meta: { progressToken: "p", [META.logLevel]: "info", [META.protocolVersion]: MODERN_VERSION, "io.modelcontextprotocol/related-task": { taskId: "t" } } } });
    expect(sent.params).toEqual({ name: "echo", arguments: { a: 1 }, _meta: { progressToken: "p", "io.modelcontextprotocol/related-task": { taskId: "t" } } });
  });

  it("removes _meta when only the envelope was in it, and leaves a request without one as it is", () => {
    expect(legacyRequest({ ...base, params: { ...base.params, _meta: { [META.logLevel]: "info" } } }).params).toEqual(base.params);
    expect(legacyRequest(base)).toBe(base);
  });
});
