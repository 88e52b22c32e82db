/**
 * Wire details of the 2026-07-28 revision (stateless MCP) the gateway needs on both sides.
 *
 * Every request carries its version and the client's capabilities and identity in `_meta`
 * (2026-07-28 basic/index "_meta"); over HTTP, `Mcp-Method` / `Mcp-Name` mirror the body
 * (basic/transports/streamable-http "Request Metadata").
 */

import type { JsonRpcRequest } from "./jsonrpc.ts";
import { toBase64 } from "./encoding.ts";
export const MODERN_VERSION = "2026-07-28";

export const META = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  serverInfo: "io.modelcontextprotocol/serverInfo",
  logLevel: "io.modelcontextprotocol/logLevel",
  subscriptionId: "io.modelcontextprotocol/subscriptionId",
} as const;

/**
 * Methods whose `Mcp-Name` header mirrors `params.name`, `params.uri` or, for the tasks
 * extension's methods, `params.taskId` (io.modelcontextprotocol/tasks "Streamable HTTP: Routing Headers").
 */
export const NAMED: Record<string, "name" | "uri" | "taskId"> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
};

const SENTINEL = /^=\?base64\?.*\?=$/;

/**
 * A header value as 2026-07-28 streamable-http "Value Encoding" asks: plain when it is visible
 * ASCII without surrounding spaces (and not itself sentinel-shaped), else `=?base64?…?=` of UTF-8.
 */
export function encodeHeaderValue(value: string): string {
  const plain = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(value) && !SENTINEL.test(value);
  if (plain) return value;
  return `=?base64?${toBase64(value)}?=`;
}

/** `Mcp-Method` and (where the method names an item) `Mcp-Name` for a request. */
export function requestHeaders(method: string, params: Record<string, unknown> | undefined): Record<string, string> {
  const headers: Record<string, string> = { "mcp-method": method };
  const field = NAMED[method];
  const value = field ? params?.[field] : undefined;
  if (typeof value === "string") headers["mcp-name"] = encodeHeaderValue(value);
  return headers;
}

/**
 * `Mcp-Param-{Name}` headers for a tools/call, from the tool's `x-mcp-header` annotations
 * (2026-07-28 streamable-http "Custom Headers from Tool Parameters"): only properties reachable
 * through `properties` chains, only primitive values; absent or null values get no header.
 */
export function paramHeaders(inputSchema: unknown, args: Record<string, unknown>): Record<string, string> {
  const headers: Record<string, string> = {};
  const walk = (schema: unknown, value: unknown, depth: number): void => {
    if (depth > 8 || typeof schema !== "object" || schema === null) return;
    const properties = (schema as { properties?: Record<string, unknown> }).properties;
    if (typeof properties !== "object" || properties === null) return;
    for (const [key, sub] of Object.entries(properties)) {
      const inner = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
      const name = typeof sub === "object" && sub !== null ? (sub as Record<string, unknown>)["x-mcp-header"] : undefined;
      if (typeof name === "string" && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
        if (typeof inner === "string") headers[`mcp-param-${name.toLowerCase()}`] = encodeHeaderValue(inner);
        else if (typeof inner === "boolean") headers[`mcp-param-${name.toLowerCase()}`] = String(inner);
        else if (typeof inner === "number" && Number.isSafeInteger(inner)) headers[`mcp-param-${name.toLowerCase()}`] = String(inner);
      }
      walk(sub, inner, depth + 1);
    }
  };
  walk(inputSchema, args, 0);
  return headers;
}

/** `_meta` for a request the gateway sends to a modern backend. */
export function requestMeta(
  existing: unknown,
  client: { capabilities: Record<string, unknown>; info: Record<string, unknown>; logLevel?: string | undefined },
): Record<string, unknown> {
  const meta: Record<string, unknown> = typeof existing === "object" && existing !== null ? { ...(existing as Record<string, unknown>) } : {};
  meta[META.protocolVersion] = MODERN_VERSION;
  meta[META.clientCapabilities] = client.capabilities;
  meta[META.clientInfo] = client.info;
  // A level the request carries is that request's own (a modern client's, per request); the
  // session's (a legacy client's logging/setLevel) applies only where the request has none.
  if (client.logLevel && meta[META.logLevel] === undefined) meta[META.logLevel] = client.logLevel;
  return meta;
}

/** The 2026-07-28 envelope keys, which a backend of an earlier revision must never be sent. */
const MODERN_ENVELOPE = [META.protocolVersion, META.clientCapabilities, META.clientInfo, META.logLevel];

/** A request as a legacy backend gets it: without the modern envelope in its `_meta` (other keys stay). */
export function legacyRequest(message: JsonRpcRequest): JsonRpcRequest {
  const meta = message.params?._meta;
  if (typeof meta !== "object" || meta === null || !MODERN_ENVELOPE.some((key) => key in meta)) return message;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta)) if (!MODERN_ENVELOPE.includes(key as (typeof MODERN_ENVELOPE)[number])) kept[key] = value;
  const { _meta: _dropped, ...params } = message.params!;
  return { ...message, params: Object.keys(kept).length > 0 ? { ...params, _meta: kept } : params };
}
