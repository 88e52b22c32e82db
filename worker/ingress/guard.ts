/**
 * ⑤ Guard and parse: what is checked about a request itself before it is dispatched to a home
 * (media types, the protocol version header, the session id, the body cap, the JSON-RPC shape).
 * Each check throws a GatewayError that the app maps to the spec's status and code.
 */
import { GatewayError } from "../protocol/errors.ts";
import { classify, type JsonRpcMessage } from "../protocol/jsonrpc.ts";
import { accepts, isContentType, JSON_TYPE, parseAccept, SSE_TYPE } from "../protocol/mediaType.ts";
import { BodyTooLargeError, readTextCapped } from "../protocol/body.ts";
import { isSupportedLegacyVersion } from "../protocol/versions.ts";

/** Session ids are visible ASCII (2025-11-25 basic/transports "Session Management" 1); ours are 43 chars. */
const SESSION_ID_PATTERN = /^[\x21-\x7e]{16,128}$/;

/** 2025-11-25 basic/transports "Protocol Version Header": unsupported versions are 400. */
export function checkProtocolVersionHeader(request: Request): void {
  const version = request.headers.get("mcp-protocol-version");
  if (version !== null && !isSupportedLegacyVersion(version.trim())) {
    throw new GatewayError("unsupported_protocol_version", { detail: `version ${version}` });
  }
}

export interface PostAccept {
  sse: boolean;
}

/** POST needs JSON in and must accept both JSON and SSE out (2025-11-25 basic/transports, "Sending Messages" 2). */
export function checkPostMediaTypes(request: Request): PostAccept {
  if (!isContentType(request.headers.get("content-type"), JSON_TYPE)) {
    throw new GatewayError("unsupported_media_type", { publicMessage: "Unsupported Media Type: Content-Type must be application/json" });
  }
  const ranges = parseAccept(request.headers.get("accept"));
  const json = accepts(ranges, JSON_TYPE);
  const sse = accepts(ranges, SSE_TYPE);
  if (!json || !sse) {
    throw new GatewayError("not_acceptable", { publicMessage: "Not Acceptable: Accept must list application/json and text/event-stream" });
  }
  return { sse };
}

/** GET opens an SSE stream, so the client must accept one ("Listening for Messages" 2). */
export function checkGetMediaTypes(request: Request): void {
  if (!accepts(parseAccept(request.headers.get("accept")), SSE_TYPE)) {
    throw new GatewayError("not_acceptable", { publicMessage: "Not Acceptable: Accept must list text/event-stream" });
  }
}

export function sessionIdOf(request: Request): string | null {
  const id = request.headers.get("mcp-session-id");
  if (id === null) return null;
  // A malformed id cannot name a session: the same 404 as an unknown one.
  if (!SESSION_ID_PATTERN.test(id)) throw new GatewayError("session_not_found", { detail: "malformed session id" });
  return id;
}

/**
 * Deepest nesting of arrays and objects a client body may have. Messages cross into the session
 * object by structured clone, which recurses and overflows the stack a few thousand levels
 * down (a 500, found by test/reliability/hostile-input.workers.test.ts); 128 is also where common
 * backend parsers stop (serde_json's default), and no MCP message needs more.
 */
export const MAX_JSON_DEPTH = 128;

/** True when `value` nests arrays and objects deeper than `limit`; iterative, so a deep value cannot overflow the check itself. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== "object" || current === null) continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

export interface ParsedBody {
  messages: JsonRpcMessage[];
  batch: boolean;
}

/**
 * Reads the body under the tenant's cap (413 past it, without buffering more), parses JSON
 * (-32700) and checks every message's JSON-RPC shape (-32600).
 */
export async function readMessages(request: Request, maxBytes: number): Promise<ParsedBody> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) throw new GatewayError("payload_too_large", { detail: `declared ${declared}` });
  let text: string;
  try {
    text = await readTextCapped(request, maxBytes);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new GatewayError("payload_too_large", { detail: error.message });
    throw new GatewayError("parse_error", { detail: "body could not be read" });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new GatewayError("parse_error", { detail: "body is not JSON" });
  }
  const batch = Array.isArray(value);
  const values = batch ? (value as unknown[]) : [value];
  if (values.length === 0) throw new GatewayError("invalid_request", { publicMessage: "Invalid Request: empty batch" });
  const messages: JsonRpcMessage[] = [];
  for (const item of values) {
    const classified = classify(item);
    if (classified.kind === "invalid") {
      throw new GatewayError("invalid_request", { publicMessage: `Invalid Request: ${classified.reason}`, detail: classified.reason, rpcId: classified.id });
    }
    messages.push(classified.message);
  }
  // A parser may limit nesting (RFC 8259 §9); past this one the gateway refuses what it cannot carry.
  if (nestedDeeperThan(value, MAX_JSON_DEPTH)) {
    throw new GatewayError("parse_error", { publicMessage: `Parse error: JSON nested deeper than ${MAX_JSON_DEPTH} levels`, detail: "body nested too deep" });
  }
  return { messages, batch };
}
