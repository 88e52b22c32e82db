/**
 * What the handler produces for a request (Produced), and the answers the engine gives without
 * a backend, shared by the handler and both homes: a local answer, a rate-limit refusal, the
 * answer to a call whose item was revoked while it ran, and the client-facing error of a failed call.
 */
import type { LimitResult } from "../limits/rate.ts";
import { GatewayError } from "../protocol/errors.ts";
import type { JsonRpcMessage, JsonRpcRequest, JsonRpcResponse, RequestId } from "../protocol/jsonrpc.ts";
import type { PolicyItem } from "../policy/engine.ts";
import { GrantRequiredError, UpstreamError } from "../upstream/errors.ts";
import { logger } from "../observe/log.ts";

/** A request routed to a backend: what it is about, so it can be re-decided when policy changes. */
export interface Routed {
  request: JsonRpcRequest;
  item: PolicyItem;
  args: Record<string, unknown>;
}

export type Produced =
  | { routed: false; messages: JsonRpcMessage[]; refusal?: GatewayError }
  | { routed: true; messages: AsyncIterable<JsonRpcMessage>; about: Routed };

/** MCP 2025-11-25 client/elicitation: the error a server answers when a URL elicitation must happen first. */
export const URL_ELICITATION_REQUIRED = -32042;

/** Error -32042 naming one URL the user must open before calling again (both protocol eras). */
export function urlElicitationRequired(id: RequestId, elicitation: { elicitationId: string; url: string; message: string }): JsonRpcResponse {
  return { jsonrpc: "2.0", id, error: { code: URL_ELICITATION_REQUIRED, message: elicitation.message, data: { elicitations: [{ mode: "url", ...elicitation }] } } };
}

export function local(message: JsonRpcMessage): Produced {
  return { routed: false, messages: [message] };
}

/** A call refused by a rate limit: 429 with Retry-After when it is the POST's only request (RFC 6585 §4). */
export function rateLimitedAnswer(id: JsonRpcRequest["id"], limited: Extract<LimitResult, { ok: false }>): Produced {
  const refusal = new GatewayError("rate_limited", {
    headers: { "retry-after": String(limited.retryAfterSeconds) },
    data: { retryAfterSeconds: limited.retryAfterSeconds },
    detail: limited.limit,
  });
  return { routed: false, messages: [refusal.toRpc(id)], refusal };
}

/**
 * The answer to a request whose item was revoked while it ran: exactly what the same request
 * gets when sent now (unknown tool or prompt, resource not found), so revoked reads as gone.
 */
export function goneAnswer(request: JsonRpcRequest): JsonRpcMessage {
  const params = request.params ?? {};
  switch (request.method) {
    case "tools/call":
      return new GatewayError("unknown_tool", { publicMessage: `Unknown tool: ${String(params.name)}` }).toRpc(request.id);
    case "prompts/get":
      return new GatewayError("invalid_params", { publicMessage: `Unknown prompt: ${String(params.name)}` }).toRpc(request.id);
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe":
      return new GatewayError("resource_not_found", { data: { uri: params.uri } }).toRpc(request.id);
    default:
      return new GatewayError("invalid_params").toRpc(request.id);
  }
}

/** The client-facing error for a failed call: the kind of failure, never the backend's words. */
export function toClientError(id: RequestId, error: unknown): JsonRpcResponse {
  if (error instanceof GatewayError) return error.toRpc(id) as JsonRpcResponse;
  if (error instanceof GrantRequiredError) {
    const message = `This needs your own ${error.backend} account, which is not connected. Open the link to connect it, then call again.`;
    return urlElicitationRequired(id, { elicitationId: error.elicitationId, url: error.url, message });
  }
  if (error instanceof UpstreamError) {
    logger.warn("backend_call_failed", { backend: error.backend, kind: error.kind, detail: error.message });
    const kind = error.kind === "timeout" ? "backend_timeout" : "backend_unavailable";
    return new GatewayError(kind).toRpc(id) as JsonRpcResponse;
  }
  logger.error("relay_bug", { error: String(error) });
  return new GatewayError("internal").toRpc(id) as JsonRpcResponse;
}
