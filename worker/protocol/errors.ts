/**
 * The closed set of failures the gateway answers on purpose, and the one place that maps each
 * to an HTTP status and a JSON-RPC error (one constructor serves every place that answers an error).
 *
 * The client sees a generic, stable message; the precise reason (`detail`) goes to the log only,
 * so upstream internals and stack traces never leave the gateway. Anything thrown that is not a
 * GatewayError is a bug: it is answered as `internal`, a 500 with a generic body (`worker/app.ts`
 * `onError`; `toClientError` in worker/engine/relay.ts for one call of many).
 */
import type { JsonRpcError, RequestId } from "./jsonrpc.ts";

/** JSON-RPC 2.0 §5.1 codes and the MCP-specific ones (2025-11-25 schema). */
export const RpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** MCP 2025-11-25 server/resources "Error Handling": resource not found. */
  ResourceNotFound: -32002,
  /** Implementation-defined server error range (JSON-RPC 2.0 §5.1: -32000 to -32099). */
  ServerError: -32000,
  /** 2026-07-28 basic/index "Error Codes" (the spec's own part of the -32000..-32099 range). */
  HeaderMismatch: -32020,
  MissingRequiredClientCapability: -32021,
  UnsupportedProtocolVersion: -32022,
} as const;

export type GatewayErrorKind =
  | "parse_error"
  | "invalid_request"
  | "method_not_found"
  | "invalid_params"
  | "unknown_tool"
  | "resource_not_found"
  | "not_acceptable"
  | "unsupported_media_type"
  | "forbidden_origin"
  | "forbidden_host"
  | "payload_too_large"
  | "unsupported_protocol_version"
  | "session_required"
  | "session_not_found"
  | "method_not_allowed"
  | "batch_not_supported"
  | "unauthorized"
  | "forbidden"
  | "tenant_not_found"
  | "backend_unavailable"
  | "all_backends_failed"
  | "backend_timeout"
  | "client_capability_missing"
  | "insufficient_scope"
  | "rate_limited"
  | "header_mismatch"
  | "unsupported_modern_version"
  | "modern_method_not_found"
  | "invalid_request_state"
  | "missing_meta"
  | "internal";

interface Mapping {
  status: number;
  code: number;
  message: string;
}

/**
 * One row per failure: the status and code follow MCP 2025-11-25 basic/transports (400 for a
 * missing session, 404 for an unknown one, 406/415 for media types, 403 for a bad Origin) and
 * JSON-RPC 2.0 §5.1. Errors inside a session that concern one request travel as a JSON-RPC error
 * with HTTP 200, because the transport itself worked.
 */
const MAPPING: Record<GatewayErrorKind, Mapping> = {
  parse_error: { status: 400, code: RpcCode.ParseError, message: "Parse error" },
  invalid_request: { status: 400, code: RpcCode.InvalidRequest, message: "Invalid Request" },
  method_not_found: { status: 200, code: RpcCode.MethodNotFound, message: "Method not found" },
  invalid_params: { status: 200, code: RpcCode.InvalidParams, message: "Invalid params" },
  // MCP 2025-11-25 server/tools "Error Handling": unknown tools are a protocol error, -32602.
  unknown_tool: { status: 200, code: RpcCode.InvalidParams, message: "Unknown tool" },
  resource_not_found: { status: 200, code: RpcCode.ResourceNotFound, message: "Resource not found" },
  not_acceptable: { status: 406, code: RpcCode.InvalidRequest, message: "Not Acceptable" },
  unsupported_media_type: { status: 415, code: RpcCode.InvalidRequest, message: "Unsupported Media Type" },
  forbidden_origin: { status: 403, code: RpcCode.InvalidRequest, message: "Forbidden: Origin not allowed" },
  forbidden_host: { status: 403, code: RpcCode.InvalidRequest, message: "Forbidden: Host not allowed" },
  payload_too_large: { status: 413, code: RpcCode.InvalidRequest, message: "Payload Too Large" },
  unsupported_protocol_version: {
    status: 400,
    code: RpcCode.InvalidRequest,
    message: "Bad Request: Unsupported protocol version",
  },
  session_required: { status: 400, code: RpcCode.InvalidRequest, message: "Bad Request: Mcp-Session-Id header is required" },
  session_not_found: { status: 404, code: RpcCode.InvalidRequest, message: "Session not found" },
  method_not_allowed: { status: 405, code: RpcCode.InvalidRequest, message: "Method Not Allowed" },
  batch_not_supported: {
    status: 400,
    code: RpcCode.InvalidRequest,
    message: "Invalid Request: batches are not supported by this protocol version",
  },
  unauthorized: { status: 401, code: RpcCode.InvalidRequest, message: "Unauthorized" },
  forbidden: { status: 403, code: RpcCode.InvalidRequest, message: "Forbidden" },
  tenant_not_found: { status: 404, code: RpcCode.InvalidRequest, message: "Not Found" },
  backend_unavailable: { status: 200, code: RpcCode.ServerError, message: "Backend unavailable" },
  all_backends_failed: { status: 200, code: RpcCode.ServerError, message: "No backend is available" },
  backend_timeout: { status: 200, code: RpcCode.ServerError, message: "Backend timed out" },
  // MCP 2025-11-25 basic/authorization "Scope Challenge Handling" (RFC 6750 §3.1).
  insufficient_scope: { status: 403, code: RpcCode.InvalidRequest, message: "Forbidden: insufficient scope" },
  // RFC 6585 §4; inside a streamed batch the same refusal travels as this JSON-RPC error.
  rate_limited: { status: 429, code: RpcCode.ServerError, message: "Too Many Requests" },
  // 2026-07-28 basic/transports/streamable-http "Server Validation".
  header_mismatch: { status: 400, code: RpcCode.HeaderMismatch, message: "Header mismatch" },
  // 2026-07-28 basic/versioning "Protocol Version Negotiation"; data lists the supported versions.
  unsupported_modern_version: { status: 400, code: RpcCode.UnsupportedProtocolVersion, message: "Unsupported protocol version" },
  // 2026-07-28 streamable-http "Protocol Version Header": an unknown method is 404 with -32601.
  modern_method_not_found: { status: 404, code: RpcCode.MethodNotFound, message: "Method not found" },
  // A retry whose requestState is forged, expired, replayed or another principal's (2026-07-28 mrtr).
  invalid_request_state: { status: 200, code: RpcCode.InvalidParams, message: "Invalid params: requestState is not valid" },
  // 2026-07-28 basic/index "_meta": protocolVersion and clientCapabilities are required on every request.
  missing_meta: { status: 400, code: RpcCode.InvalidParams, message: "Invalid params: _meta must carry the protocol version and client capabilities" },
  client_capability_missing: {
    status: 200,
    code: RpcCode.MethodNotFound,
    message: "Client does not support this request",
  },
  // Not thrown on purpose: what a bug is answered with (JSON-RPC 2.0 §5.1 Internal error).
  internal: { status: 500, code: RpcCode.InternalError, message: "Internal error" },
};

export class GatewayError extends Error {
  readonly kind: GatewayErrorKind;
  /** Precise reason for the log; never sent to the client. */
  readonly detail: string | undefined;
  /** Extra headers for the HTTP answer (e.g. WWW-Authenticate, Allow). */
  readonly headers: Record<string, string>;
  /** A client-safe message that replaces the generic one (for example the name of a bad field). */
  readonly publicMessage: string | undefined;
  /** Client-safe structured data (for example the supported protocol versions). */
  readonly data: unknown;
  /** The id of the message the error is about, when the gateway could read one. */
  readonly rpcId: RequestId | null;

  constructor(
    kind: GatewayErrorKind,
    options: {
      detail?: string;
      headers?: Record<string, string>;
      publicMessage?: string;
      data?: unknown;
      rpcId?: RequestId | null;
    } = {},
  ) {
    super(options.detail ?? kind);
    this.name = "GatewayError";
    this.kind = kind;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
    this.publicMessage = options.publicMessage;
    this.data = options.data;
    this.rpcId = options.rpcId ?? null;
  }

  get status(): number {
    return MAPPING[this.kind].status;
  }

  get code(): number {
    return MAPPING[this.kind].code;
  }

  get clientMessage(): string {
    return this.publicMessage ?? MAPPING[this.kind].message;
  }

  /**
   * The JSON-RPC error object for this failure, answering `id`. When the id is unknown the
   * member is left out rather than set to null: MCP 2025-11-25 (schema `JSONRPCErrorResponse`,
   * `id?: RequestId`; basic/index "Error Responses") has no null id, and MCP SDKs reject one.
   */
  toRpc(id: RequestId | null = this.rpcId): JsonRpcError {
    const error: JsonRpcError["error"] = { code: this.code, message: this.clientMessage };
    if (this.data !== undefined) error.data = this.data;
    return id === null ? { jsonrpc: "2.0", error } : { jsonrpc: "2.0", id, error };
  }

  /** The whole HTTP answer for a failure that ends the HTTP exchange. */
  toResponse(id: RequestId | null = this.rpcId): Response {
    const headers = new Headers({ "content-type": "application/json", ...this.headers });
    // 2025-11-25 basic/transports: "The HTTP response body MAY comprise a JSON-RPC error response that has no id".
    return new Response(JSON.stringify(this.toRpc(id)), { status: this.status, headers });
  }
}

export function rpcError(id: RequestId | null, kind: GatewayErrorKind, publicMessage?: string): JsonRpcError {
  return new GatewayError(kind, publicMessage === undefined ? {} : { publicMessage }).toRpc(id);
}

export function mappingOf(kind: GatewayErrorKind): Readonly<Mapping> {
  return MAPPING[kind];
}
