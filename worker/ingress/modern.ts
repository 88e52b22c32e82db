/**
 * ⑤ for 2026-07-28 clients: what a stateless request must carry, checked before it goes anywhere
 * (basic/transports/streamable-http "Request Metadata" and "Server Validation";
 * basic/versioning "Protocol Version Negotiation").
 */
import { GatewayError } from "../protocol/errors.ts";
import { isRequest, type JsonRpcMessage, type JsonRpcRequest } from "../protocol/jsonrpc.ts";
import { fromBase64 } from "../protocol/encoding.ts";
import { META, MODERN_VERSION, NAMED } from "../protocol/modern.ts";
import { SUPPORTED_VERSIONS } from "../protocol/versions.ts";


/** Methods a modern client may call on the gateway (2026-07-28 schema, client requests). */
export const MODERN_METHODS = new Set([
  "server/discover",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "completion/complete",
  "subscriptions/listen",
  // The tasks extension (io.modelcontextprotocol/tasks "Task Polling", "Task Update Requests", "Task Cancellation").
  "tasks/get",
  "tasks/update",
  "tasks/cancel",
]);

const NAME_FIELD = NAMED;

export interface ModernRequest {
  request: JsonRpcRequest;
  clientCapabilities: Record<string, unknown>;
  clientInfo: Record<string, unknown>;
  /** Set only when the client asked for log messages on this request. */
  logLevel: string | null;
  /** The client's `Mcp-Param-*` headers, decoded, by lowercase name. */
  paramHeaders: Record<string, string>;
}

/** A request speaks the modern era when its header or its `_meta` says a modern version. */
export function isModernRequest(request: Request, messages: JsonRpcMessage[]): boolean {
  const header = request.headers.get("mcp-protocol-version");
  if (header !== null && header.trim() >= MODERN_VERSION) return true;
  const first = messages[0];
  const meta = first && "params" in first ? (first.params?._meta as Record<string, unknown> | undefined) : undefined;
  return typeof meta?.[META.protocolVersion] === "string";
}

export function checkModern(request: Request, messages: JsonRpcMessage[], batch: boolean): ModernRequest | "notification" {
  const message = messages[0]!;
  const id = "id" in message && message.id !== undefined && message.id !== null ? message.id : null;
  // 2026-07-28: one message per POST, and never a response from the client.
  if (batch) throw new GatewayError("invalid_request", { publicMessage: "Invalid Request: batches are not part of 2026-07-28" });
  if (!("method" in message)) throw new GatewayError("invalid_request", { publicMessage: "Invalid Request: clients do not send responses in 2026-07-28", rpcId: id });
  if (!isRequest(message)) return "notification";
  const meta = (message.params?._meta ?? {}) as Record<string, unknown>;
  const version = meta[META.protocolVersion];
  const header = request.headers.get("mcp-protocol-version")?.trim() ?? null;
  const capabilities = meta[META.clientCapabilities];
  if (typeof version !== "string" || typeof capabilities !== "object" || capabilities === null || Array.isArray(capabilities)) {
    throw new GatewayError("missing_meta", { rpcId: message.id });
  }
  if (header === null) {
    throw new GatewayError("header_mismatch", { rpcId: message.id, publicMessage: "Header mismatch: MCP-Protocol-Version header is required" });
  }
  // A header that disagrees with the body is a mismatch whatever either says (streamable-http
  // "Server Validation"); only an agreed version can then be unsupported.
  if (header !== version) {
    throw new GatewayError("header_mismatch", { rpcId: message.id, publicMessage: `Header mismatch: MCP-Protocol-Version header '${header}' does not match body value '${version}'` });
  }
  if (version !== MODERN_VERSION) {
    throw new GatewayError("unsupported_modern_version", { rpcId: message.id, data: { supported: SUPPORTED_VERSIONS, requested: version } });
  }
  const method = request.headers.get("mcp-method");
  if (method !== message.method) {
    throw new GatewayError("header_mismatch", { rpcId: message.id, publicMessage: method === null ? "Header mismatch: Mcp-Method header is required" : "Header mismatch: Mcp-Method header does not match the body" });
  }
  const field = NAME_FIELD[message.method];
  if (field) {
    const expected = message.params?.[field];
    const name = decodeHeaderValue(request.headers.get("mcp-name"));
    if (name === null || name !== expected) {
      throw new GatewayError("header_mismatch", { rpcId: message.id, publicMessage: name === null ? "Header mismatch: Mcp-Name header is required" : "Header mismatch: Mcp-Name header does not match the body" });
    }
  }
  if (!MODERN_METHODS.has(message.method)) {
    throw new GatewayError("modern_method_not_found", { rpcId: message.id, publicMessage: `Method not found: ${message.method}` });
  }
  const paramHeaders: Record<string, string> = {};
  for (const [name, value] of request.headers) {
    if (!name.startsWith("mcp-param-")) continue;
    const decoded = decodeHeaderValue(value);
    if (decoded === null) throw new GatewayError("header_mismatch", { rpcId: message.id, publicMessage: `Header mismatch: ${name} is malformed` });
    paramHeaders[name] = decoded;
  }
  const level = meta[META.logLevel];
  return {
    request: message,
    clientCapabilities: record(meta[META.clientCapabilities]),
    clientInfo: record(meta[META.clientInfo]),
    logLevel: typeof level === "string" ? level : null,
    paramHeaders,
  };
}

/** Undoes the `=?base64?…?=` sentinel encoding (streamable-http "Value Encoding"); null when malformed. */
export function decodeHeaderValue(value: string | null): string | null {
  if (value === null) return null;
  if (!value.startsWith("=?base64?")) return value;
  // Strict Base64 (length a multiple of four, padding only at the end): anything else is malformed.
  const match = /^=\?base64\?((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)\?=$/.exec(value);
  if (!match) return null;
  const bytes = fromBase64(match[1]!);
  if (!bytes) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
