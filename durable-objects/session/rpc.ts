/**
 * What the Worker hands the session Durable Object over RPC. The Worker has already parsed,
 * authenticated and resolved the tenant; the object trusts these shapes and nothing else.
 */
import type { JsonRpcMessage, JsonRpcRequest } from "../../worker/protocol/jsonrpc.ts";
import type { TenantConfig } from "../../worker/tenant/schema.ts";

export interface Caller {
  config: TenantConfig;
  /** The authenticated principal's stable id (`sub`); a session answers only to its creator. */
  principal: string;
}

export interface InitializeInput extends Caller {
  sessionId: string;
  request: JsonRpcRequest;
}

export interface PostInput extends Caller {
  messages: JsonRpcMessage[];
  /** The body was a JSON array (a JSON-RPC batch). */
  batch: boolean;
  /** The client accepts `text/event-stream` replies. */
  acceptsSse: boolean;
}

export interface ListenInput extends Caller {
  lastEventId: string | null;
}
