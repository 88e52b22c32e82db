/**
 * The one filter point every message crossing the gateway passes, in both directions.
 *
 * It adapts messages to the peer's protocol revision, so a client never sees fields its
 * revision does not define and a backend never gets what its revision cannot take; policy
 * decisions are made before (engine/handler.ts), redaction after (policy/redact.ts).
 */
import type { JsonRpcMessage } from "../protocol/jsonrpc.ts";
import { atLeast } from "../protocol/versions.ts";

export type Direction = "to-client" | "to-backend";

export interface FilterContext {
  direction: Direction;
  /** The protocol revision of the side the message goes to. */
  peerVersion: string;
  /** The method of the request a response answers, when the message is a response. */
  method?: string;
}

/** Returns the message to deliver (possibly rewritten), or null to drop it. */
export function filterMessage(message: JsonRpcMessage, ctx: FilterContext): JsonRpcMessage | null {
  if (ctx.direction === "to-client" && "result" in message && ctx.method !== undefined) {
    return { ...message, result: downgradeResult(ctx.method, message.result, ctx.peerVersion) };
  }
  return message;
}

/** `_meta` keys of 2025-11-25 basic/utilities/tasks, not of the 2026-07-28 envelope. */
const TASK_META_KEYS = new Set(["io.modelcontextprotocol/related-task", "io.modelcontextprotocol/model-immediate-response"]);

/**
 * `resultType`, `ttlMs`, `cacheScope` and the `io.modelcontextprotocol/` keys of `_meta` are
 * 2026-07-28 fields (changelog, major 2 and 8, minor 5); a result from a modern backend reaches a
 * legacy client without them.
 */
function withoutModernFields(result: Record<string, unknown>, version: string): Record<string, unknown> {
  const meta = result._meta;
  // 2025-11-25 tasks defines two keys of its own ("Related Task Metadata", "Creating Tasks"): its clients keep them.
  const own = (k: string) => k.startsWith("io.modelcontextprotocol/") && !(TASK_META_KEYS.has(k) && atLeast(version, "2025-11-25"));
  const modernMeta = typeof meta === "object" && meta !== null && Object.keys(meta).some(own);
  if (!("resultType" in result || "ttlMs" in result || "cacheScope" in result || modernMeta)) return result;
  const { resultType: _r, ttlMs: _t, cacheScope: _c, _meta: _m, ...rest } = result;
  if (typeof meta === "object" && meta !== null) {
    // The protocol's own _meta keys (serverInfo, subscriptionId) are 2026-07-28 envelope; others stay.
    const kept = Object.fromEntries(Object.entries(meta).filter(([k]) => !own(k)));
    if (Object.keys(kept).length > 0) return { ...rest, _meta: kept };
  }
  return rest;
}

/**
 * Structured tool output (`outputSchema`, `structuredContent`) and `title` arrived in 2025-06-18
 * (changelog of that revision); older clients get results without them.
 */
export function downgradeResult(method: string, full: Record<string, unknown>, version: string): Record<string, unknown> {
  const result = atLeast(version, "2026-07-28") ? full : withoutModernFields(full, version);
  if (atLeast(version, "2025-06-18")) return result;
  if (method === "tools/call" && "structuredContent" in result) {
    const { structuredContent: _dropped, ...rest } = result;
    return rest;
  }
  if (method === "tools/list" && Array.isArray(result.tools)) {
    return {
      ...result,
      tools: result.tools.map((tool: Record<string, unknown>) => {
        const { outputSchema: _o, title: _t, ...rest } = tool;
        return rest;
      }),
    };
  }
  return result;
}
