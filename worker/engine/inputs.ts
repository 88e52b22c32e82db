/**
 * What the Worker hands the session Durable Object over RPC. The Worker has already parsed,
 * authenticated and resolved the tenant; the object trusts these shapes and nothing else.
 */
import type { Principal } from "../policy/principal.ts";
import type { JsonRpcMessage, JsonRpcRequest } from "../protocol/jsonrpc.ts";

/**
 * The tenant a request is for and the config version the Worker resolved. The document itself
 * is not cloned into every RPC: the home holds the newest version it has seen and loads a newer
 * one only when a request names it (durable-objects/session/SessionObject.ts).
 */
export interface TenantRef {
  id: string;
  version: number;
}

export interface Caller {
  tenant: TenantRef;
  /** The authenticated principal; a session answers only to the subject that created it. */
  principal: Principal;
  /**
   * The client's own bearer token, kept in memory for one request and used only as the RFC 8693
   * subject token at a token-exchange endpoint. Never stored, never sent to a backend.
   */
  subjectToken: string | null;
  /** RFC 9728 metadata URL for challenges the object answers itself (insufficient_scope). */
  resourceMetadataUrl: string;
  /** W3C trace context of the request (continued from the client or started by the Worker). */
  traceparent: string;
}

export interface InitializeInput extends Caller {
  sessionId: string;
  request: JsonRpcRequest;
}

/** What a POST adds to the caller: its principal rate limits may be left to the engine. */
interface Deferrable {
  /**
   * The Worker did not count the principal's rate limits for this request (a lone
   * `tools/call`): the engine counts them with the tool's limits in one hit.
   */
  limitsDeferred?: boolean;
}

export interface PostInput extends Caller, Deferrable {
  messages: JsonRpcMessage[];
  /** The body was a JSON array (a JSON-RPC batch). */
  batch: boolean;
  /** The client accepts `text/event-stream` replies. */
  acceptsSse: boolean;
}

export interface ListenInput extends Caller {
  lastEventId: string | null;
}

/** A 2026-07-28 request: everything the client sent in `_meta` and the mirrored headers, parsed. */
export interface ModernInput extends Caller, Deferrable {
  request: JsonRpcRequest;
  acceptsSse: boolean;
  clientCapabilities: Record<string, unknown>;
  clientInfo: Record<string, unknown>;
  logLevel: string | null;
  /** The client's Mcp-Param-* headers, decoded. */
  paramHeaders: Record<string, string>;
}
