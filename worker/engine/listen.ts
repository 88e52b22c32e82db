/**
 * The 2026-07-28 face of a session object: how its answers look to a modern client. Pure
 * helpers; the object (SessionObject.modern) decides when to use them.
 */
import { LISTS } from "../broker/merge.ts";
import type { JsonRpcMessage, JsonRpcResponse } from "../protocol/jsonrpc.ts";
import { META } from "../protocol/modern.ts";

/** Freshness hint on merged lists (2026-07-28 server/utilities/caching): lists change rarely and list_changed covers the rest. */
export const LIST_TTL_MS = 30_000;
/** Freshness hint on server/discover. */
export const DISCOVER_TTL_MS = 60_000;

const LIST_METHODS = new Set(Object.values(LISTS).map((l) => l.method));
/** Results that carry ttlMs / cacheScope (2026-07-28 changelog, minor 5: CacheableResult). */
const CACHEABLE = new Set([...LIST_METHODS, "resources/read", "server/discover"]);

/**
 * A response as a modern client expects it: `resultType` on every result, `ttlMs` and
 * `cacheScope` where cacheable. The scope is always "private": what a principal sees passed
 * that principal's policy, so no shared cache may serve it to anyone else. Errors keep their
 * code, except resource-not-found, which 2026-07-28 renumbered to -32602 (changelog, minor 6).
 */
export function modernResponse(response: JsonRpcResponse, method: string): JsonRpcResponse {
  if ("error" in response) {
    return response.error.code === -32002 ? { ...response, error: { ...response.error, code: -32602 } } : response;
  }
  const result: Record<string, unknown> = { ...response.result };
  if (typeof result.resultType !== "string") result.resultType = "complete";
  if (CACHEABLE.has(method) && result.resultType === "complete") {
    if (typeof result.ttlMs !== "number") result.ttlMs = method === "server/discover" ? DISCOVER_TTL_MS : LIST_TTL_MS;
    result.cacheScope = "private";
  }
  return { ...response, result };
}

/**
 * The client's own protocol `_meta` keys are the gateway's business, not the backend's, with one
 * exception: the request's `logLevel` travels with it (2026-07-28 server/utilities/logging: the
 * level is per request), so a modern backend hears this request's level and no other's; the
 * upstream drops it for a legacy backend (worker/protocol/modern.ts legacyRequest).
 */
export function withoutModernMeta(params: Record<string, unknown>): Record<string, unknown> {
  const { requestState: _s, inputResponses: _r, _meta, ...rest } = params;
  if (typeof _meta !== "object" || _meta === null) return rest;
  const meta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(_meta)) if (!key.startsWith("io.modelcontextprotocol/") || key === META.logLevel) meta[key] = value;
  return Object.keys(meta).length > 0 ? { ...rest, _meta: meta } : rest;
}

/** The filter of a subscriptions/listen request (2026-07-28 basic/patterns/subscriptions). */
export interface ListenFilter {
  toolsListChanged: boolean;
  promptsListChanged: boolean;
  resourcesListChanged: boolean;
  resourceSubscriptions: string[];
}

export function listenFilter(params: Record<string, unknown>): ListenFilter {
  const n = (typeof params.notifications === "object" && params.notifications !== null ? params.notifications : {}) as Record<string, unknown>;
  return {
    toolsListChanged: n.toolsListChanged === true,
    promptsListChanged: n.promptsListChanged === true,
    resourcesListChanged: n.resourcesListChanged === true,
    resourceSubscriptions: Array.isArray(n.resourceSubscriptions) ? n.resourceSubscriptions.filter((u): u is string => typeof u === "string") : [],
  };
}

/** Whether a change notification is one the subscriber opted in to; the server MUST NOT send others. */
export function wanted(filter: ListenFilter, message: JsonRpcMessage): boolean {
  if (!("method" in message)) return false;
  switch (message.method) {
    case "notifications/tools/list_changed":
      return filter.toolsListChanged;
    case "notifications/prompts/list_changed":
      return filter.promptsListChanged;
    case "notifications/resources/list_changed":
      return filter.resourcesListChanged;
    case "notifications/resources/updated":
      return typeof message.params?.uri === "string" && filter.resourceSubscriptions.includes(message.params.uri);
    default:
      return false;
  }
}

/** Tags a notification with its subscription (the `_meta` key of 2026-07-28 subscriptions "Acknowledgment"). */
export function tagged(message: JsonRpcMessage & { method: string }, subscriptionId: string | number): JsonRpcMessage {
  const params: Record<string, unknown> = { ...(("params" in message ? message.params : undefined) ?? {}) };
  params._meta = { ...((params._meta as Record<string, unknown>) ?? {}), [META.subscriptionId]: subscriptionId };
  return { jsonrpc: "2.0", method: message.method, params };
}

/** The subset of a filter the gateway honours, as the acknowledgement states it (fields left out are not sent). */
export function honoured(filter: ListenFilter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (filter.toolsListChanged) out.toolsListChanged = true;
  if (filter.promptsListChanged) out.promptsListChanged = true;
  if (filter.resourcesListChanged) out.resourcesListChanged = true;
  if (filter.resourceSubscriptions.length > 0) out.resourceSubscriptions = filter.resourceSubscriptions;
  return out;
}
