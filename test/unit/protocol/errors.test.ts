/**
 * The closed set of gateway failures and the HTTP status and JSON-RPC code each one maps to.
 * Statuses follow MCP 2025-11-25 basic/transports; codes follow JSON-RPC 2.0 §5.1 and the MCP
 * server chapters.
 */
import { describe, expect, it } from "vitest";
import { GatewayError, mappingOf, rpcError, RpcCode, type GatewayErrorKind } from "../../../worker/protocol/errors.ts";

/**
 * Typed as a Record so that adding a kind without a row here fails the type check.
 * [status, code, where the spec says so]
 */
const EXPECTED: Record<GatewayErrorKind, [number, number, string]> = {
  parse_error: [400, -32700, "JSON-RPC 2.0 §5.1 Parse error; transports 'Sending Messages' 4: HTTP error status, e.g. 400"],
  invalid_request: [400, -32600, "JSON-RPC 2.0 §5.1 Invalid Request; transports 'Sending Messages' 4"],
  method_not_found: [200, -32601, "JSON-RPC 2.0 §5.1 Method not found; the transport itself worked"],
  invalid_params: [200, -32602, "JSON-RPC 2.0 §5.1 Invalid params"],
  unknown_tool: [200, -32602, "server/tools 'Error Handling': unknown tools are a protocol error, -32602"],
  resource_not_found: [200, -32002, "server/resources 'Error Handling': resource not found is -32002"],
  not_acceptable: [406, -32600, "transports 'Sending Messages' 2 / 'Listening for Messages' 2 (Accept), RFC 9110 406"],
  unsupported_media_type: [415, -32600, "transports: POST body is JSON, RFC 9110 415"],
  forbidden_origin: [403, -32600, "transports 'Security Warning' 1: invalid Origin MUST be 403"],
  forbidden_host: [403, -32600, "DNS rebinding defence alongside the Origin check: 403"],
  payload_too_large: [413, -32600, "RFC 9110 413 Content Too Large"],
  unsupported_protocol_version: [400, -32600, "transports 'Protocol Version Header': unsupported version MUST be 400"],
  session_required: [400, -32600, "transports 'Session Management' 2: missing session id SHOULD be 400"],
  session_not_found: [404, -32600, "transports 'Session Management' 3: unknown session MUST be 404"],
  method_not_allowed: [405, -32600, "RFC 9110 405 for HTTP methods the endpoint does not serve"],
  batch_not_supported: [400, -32600, "2025-06-18 changelog: batching removed"],
  unauthorized: [401, -32600, "basic/authorization: 401 when authorization is required"],
  forbidden: [403, -32600, "basic/authorization: 403 for insufficient permissions"],
  tenant_not_found: [404, -32600, "unknown endpoint: 404"],
  backend_unavailable: [200, -32000, "JSON-RPC 2.0 §5.1 server error range"],
  all_backends_failed: [200, -32000, "JSON-RPC 2.0 §5.1 server error range"],
  backend_timeout: [200, -32000, "JSON-RPC 2.0 §5.1 server error range"],
  client_capability_missing: [200, -32601, "basic/lifecycle capability negotiation: a request the client did not declare support for"],
  insufficient_scope: [403, -32600, "basic/authorization 'Scope Challenge Handling' and error table: 403 for insufficient scope"],
  rate_limited: [429, -32000, "RFC 6585 §4 429 Too Many Requests"],
  header_mismatch: [400, -32020, "Header mismatch"],
  unsupported_modern_version: [400, -32022, "Unsupported protocol version"],
  modern_method_not_found: [404, -32601, "Method not found"],
  invalid_request_state: [200, -32602, "Invalid params: requestState is not valid"],
  missing_meta: [400, -32602, "Invalid params: _meta must carry the protocol version and client capabilities"],
  internal: [500, -32603, "JSON-RPC 2.0 §5.1 Internal error: what a bug is answered with (worker/app.ts onError, relay toClientError)"],
};

const KINDS = Object.keys(EXPECTED) as GatewayErrorKind[];

describe("status and code of every error kind", () => {
  it.each(KINDS)("%s maps to the status and code the spec names", (kind) => {
    const [status, code] = EXPECTED[kind];
    const error = new GatewayError(kind);
    expect(error.status).toBe(status);
    expect(error.code).toBe(code);
    expect(mappingOf(kind)).toMatchObject({ status, code });
  });

  it("uses the standard JSON-RPC 2.0 §5.1 values, the MCP resource-not-found code and the 2026-07-28 codes", () => {
    expect(RpcCode).toEqual({
      ParseError: -32700,
      InvalidRequest: -32600,
      MethodNotFound: -32601,
      InvalidParams: -32602,
      InternalError: -32603,
      ResourceNotFound: -32002,
      ServerError: -32000,
      HeaderMismatch: -32020,
      MissingRequiredClientCapability: -32021,
      UnsupportedProtocolVersion: -32022,
    });
  });

  it("keeps implementation-defined codes inside the server error range -32000..-32099 or the standard set", () => {
    const standard = new Set<number>([-32700, -32600, -32601, -32602, -32603]);
    for (const kind of KINDS) {
      const { code } = mappingOf(kind);
      expect(Number.isInteger(code)).toBe(true);
      expect(standard.has(code) || (code <= -32000 && code >= -32099)).toBe(true);
    }
  });

  it("gives every kind a non-empty generic client message", () => {
    for (const kind of KINDS) expect(mappingOf(kind).message.length).toBeGreaterThan(0);
  });
});

describe("GatewayError", () => {
  it("is an Error whose message is the detail (for logs) and whose client message is generic", () => {
    const error = new GatewayError("session_not_found", { detail: "session abc evicted at 12:00" });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("GatewayError");
    expect(error.message).toBe("session abc evicted at 12:00");
    expect(error.clientMessage).toBe("Session not found");
  });

  it("lets a public message replace the generic one", () => {
    const error = new GatewayError("invalid_params", { publicMessage: "Invalid params: name must be a string" });
    expect(error.clientMessage).toBe("Invalid params: name must be a string");
  });

  it("answers the id it was given, else its own rpcId", () => {
    const error = new GatewayError("invalid_request", { rpcId: 17 });
    expect(error.toRpc()).toEqual({ jsonrpc: "2.0", id: 17, error: { code: -32600, message: "Invalid Request" } });
    expect(error.toRpc("x")).toMatchObject({ id: "x" });
  });

  // Regression: the id used to be sent as `null`, which MCP's schema does not allow and MCP SDK
  // clients refuse to parse.
  it("leaves the id out when it is unknown (basic/index Error Responses; schema JSONRPCErrorResponse id?: RequestId)", () => {
    const rpc = new GatewayError("parse_error").toRpc();
    expect(rpc).toEqual({ jsonrpc: "2.0", error: { code: -32700, message: "Parse error" } });
    expect("id" in rpc).toBe(false);
  });

  it("includes client-safe data only when given", () => {
    expect("data" in new GatewayError("resource_not_found").toRpc(1).error).toBe(false);
    const rpc = new GatewayError("resource_not_found", { data: { uri: "file:///x" } }).toRpc(1);
    expect(rpc.error).toEqual({ code: -32002, message: "Resource not found", data: { uri: "file:///x" } });
  });

  it("rpcError builds the same error object as the class", () => {
    expect(rpcError(5, "unknown_tool", "Unknown tool: nope")).toEqual({
      jsonrpc: "2.0",
      id: 5,
      error: { code: -32602, message: "Unknown tool: nope" },
    });
    expect(rpcError(5, "method_not_found")).toEqual({ jsonrpc: "2.0", id: 5, error: { code: -32601, message: "Method not found" } });
  });
});

describe("toResponse", () => {
  it("answers with the mapped status and a JSON body holding the JSON-RPC error", async () => {
    const response = new GatewayError("session_required").toResponse();
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({
      jsonrpc: "2.0",
      error: { code: -32600, message: "Bad Request: Mcp-Session-Id header is required" },
    });
  });

  it("uses the error's rpcId by default and an explicit id when given", async () => {
    const error = new GatewayError("invalid_request", { rpcId: "req-9" });
    expect(await error.toResponse().json()).toMatchObject({ id: "req-9" });
    expect(await error.toResponse(42).json()).toMatchObject({ id: 42 });
  });

  it("adds the extra headers (e.g. WWW-Authenticate, Allow)", () => {
    const response = new GatewayError("unauthorized", {
      headers: { "www-authenticate": 'Bearer resource_metadata="https://gw.example/.well-known/oauth-protected-resource"' },
    }).toResponse();
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain("resource_metadata=");
    expect(response.headers.get("content-type")).toBe("application/json");

    const notAllowed = new GatewayError("method_not_allowed", { headers: { allow: "GET, POST, DELETE" } }).toResponse();
    expect(notAllowed.status).toBe(405);
    expect(notAllowed.headers.get("allow")).toBe("GET, POST, DELETE");
  });

  it("never leaks the detail into the body", async () => {
    const secret = "upstream https://internal.example:9000 said: stack trace at foo.ts:12";
    const response = new GatewayError("forbidden_origin", { detail: secret }).toResponse();
    expect(response.status).toBe(403);
    const text = await response.text();
    expect(text).not.toContain("internal.example");
    expect(text).not.toContain("stack trace");
    expect(JSON.parse(text)).toEqual({ jsonrpc: "2.0", error: { code: -32600, message: "Forbidden: Origin not allowed" } });
  });

  it("answers a bug as `internal`: 500, -32603, a generic message, and no id rather than a null one", async () => {
    const response = new GatewayError("internal", { detail: "TypeError: x is undefined" }).toResponse();
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ jsonrpc: "2.0", error: { code: -32603, message: "Internal error" } });
    expect(new GatewayError("internal").toRpc(3)).toEqual({ jsonrpc: "2.0", id: 3, error: { code: -32603, message: "Internal error" } });
  });

  it.each(KINDS)("%s answers with its mapped status", (kind) => {
    expect(new GatewayError(kind).toResponse().status).toBe(EXPECTED[kind][0]);
  });
});
