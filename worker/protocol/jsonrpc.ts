/**
 * JSON-RPC 2.0 message model for MCP (spec 2025-11-25, basic/index "Messages").
 *
 * Every message crossing the gateway is parsed with these schemas at the boundary; nothing
 * downstream trusts a shape it did not parse. The schemas are deliberately loose about `params`
 * and `result` (objects, validated per method where the gateway needs a field) so that fields a
 * newer revision adds pass through untouched.
 */
import { z } from "zod";

/** JSON-RPC ids: MCP forbids null ids on requests (2025-11-25 basic/index "Requests"). */
export const RequestIdSchema = z.union([z.string(), z.number().int()]);
export type RequestId = z.infer<typeof RequestIdSchema>;

const ParamsSchema = z.record(z.string(), z.unknown());

export const RequestSchema = z.object({
  jsonrpc: z.literal("2.0"),
  id: RequestIdSchema,
  method: z.string().min(1),
  params: ParamsSchema.optional(),
});
export const NotificationSchema = z.object({
  jsonrpc: z.literal("2.0"),
  method: z.string().min(1),
  params: ParamsSchema.optional(),
});
export const ResultResponseSchema = z.object({
  jsonrpc: z.literal("2.0"),
  id: RequestIdSchema,
  result: z.record(z.string(), z.unknown()),
});
export const ErrorObjectSchema = z.object({
  code: z.number().int(),
  message: z.string(),
  data: z.unknown().optional(),
});
export const ErrorResponseSchema = z.object({
  jsonrpc: z.literal("2.0"),
  // An error about a message whose id could not be read carries no id (JSON-RPC 2.0 §5).
  id: z.union([RequestIdSchema, z.null()]).optional(),
  error: ErrorObjectSchema,
});

export type JsonRpcRequest = z.infer<typeof RequestSchema>;
export type JsonRpcNotification = z.infer<typeof NotificationSchema>;
export type JsonRpcResult = z.infer<typeof ResultResponseSchema>;
export type JsonRpcError = z.infer<typeof ErrorResponseSchema>;
export type JsonRpcResponse = JsonRpcResult | JsonRpcError;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export type Classified =
  | { kind: "request"; message: JsonRpcRequest }
  | { kind: "notification"; message: JsonRpcNotification }
  | { kind: "response"; message: JsonRpcResponse }
  | { kind: "invalid"; id: RequestId | null; reason: string };

/** Sorts one parsed JSON value into a JSON-RPC message kind, or says why it is not one. */
export function classify(value: unknown): Classified {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { kind: "invalid", id: null, reason: "a JSON-RPC message must be an object" };
  }
  const record = value as Record<string, unknown>;
  const rawId = record.id;
  const id = typeof rawId === "string" || (typeof rawId === "number" && Number.isInteger(rawId)) ? rawId : null;
  if (record.jsonrpc !== "2.0") return { kind: "invalid", id, reason: 'jsonrpc must be "2.0"' };
  const fast = wellFormed(record);
  if (fast) return fast;
  if ("method" in record) {
    if ("id" in record) {
      const parsed = RequestSchema.safeParse(value);
      return parsed.success
        ? { kind: "request", message: parsed.data }
        : { kind: "invalid", id, reason: describe(parsed.error) };
    }
    const parsed = NotificationSchema.safeParse(value);
    return parsed.success
      ? { kind: "notification", message: parsed.data }
      : { kind: "invalid", id: null, reason: describe(parsed.error) };
  }
  if ("result" in record && "error" in record) {
    // JSON-RPC 2.0 §5: "Either the result member or error member MUST be included, but both
    // members MUST NOT be included." Picking one would silently drop the other.
    return { kind: "invalid", id, reason: "a response must not carry both result and error" };
  }
  if ("result" in record) {
    const parsed = ResultResponseSchema.safeParse(value);
    return parsed.success
      ? { kind: "response", message: parsed.data }
      : { kind: "invalid", id, reason: describe(parsed.error) };
  }
  if ("error" in record) {
    const parsed = ErrorResponseSchema.safeParse(value);
    return parsed.success
      ? { kind: "response", message: parsed.data }
      : { kind: "invalid", id, reason: describe(parsed.error) };
  }
  return { kind: "invalid", id, reason: "not a request, notification or response" };
}

/**
 * The common case without zod: a request, notification or result response whose members are
 * exactly the schema's and already of the right types. The schemas would accept it unchanged, but
 * parsing copies every params and result object (a record schema rebuilds it), which for a stream
 * of 10,000 progress notifications was a sixth of the gateway's CPU time (docs/benchmarks.md).
 * Anything else, valid or not, goes through the schemas; null here means "ask them".
 */
function wellFormed(record: Record<string, unknown>): Classified | null {
  let hasId = false;
  let hasMethod = false;
  let hasParams = false;
  let hasResult = false;
  for (const key of Object.keys(record)) {
    if (key === "id") hasId = true;
    else if (key === "method") hasMethod = true;
    else if (key === "params") hasParams = true;
    else if (key === "result") hasResult = true;
    else if (key !== "jsonrpc") return null;
  }
  const id = record.id;
  const idOk = typeof id === "string" || (typeof id === "number" && Number.isSafeInteger(id));
  if (hasMethod && !hasResult) {
    if (typeof record.method !== "string" || record.method === "") return null;
    if (hasParams && !isPlainRecord(record.params)) return null;
    if (!hasId) return { kind: "notification", message: record as JsonRpcNotification };
    return idOk ? { kind: "request", message: record as JsonRpcRequest } : null;
  }
  if (hasResult && hasId && !hasMethod && !hasParams && idOk && isPlainRecord(record.result)) {
    return { kind: "response", message: record as JsonRpcResult };
  }
  return null;
}

/** A JSON object (what JSON.parse makes): not null, not an array, an ordinary prototype. */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid message";
  const path = issue.path.length > 0 ? issue.path.join(".") : "message";
  return `${path}: ${issue.message}`;
}

export function isRequest(m: JsonRpcMessage): m is JsonRpcRequest {
  return "method" in m && "id" in m;
}
export function isNotification(m: JsonRpcMessage): m is JsonRpcNotification {
  return "method" in m && !("id" in m);
}
export function isResponse(m: JsonRpcMessage): m is JsonRpcResponse {
  return !("method" in m);
}
export function isErrorResponse(m: JsonRpcMessage): m is JsonRpcError {
  return "error" in m;
}

export function result(id: RequestId, value: Record<string, unknown>): JsonRpcResult {
  return { jsonrpc: "2.0", id, result: value };
}
export function notification(method: string, params?: Record<string, unknown>): JsonRpcNotification {
  return params === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params };
}

/** A params-like value as a record: an object as it is, anything else (arrays, null, scalars) as {}. */
export function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Log levels in order (2025-11-25 server/utilities/logging, the RFC 5424 severities). */
export const LOG_LEVELS: readonly string[] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
