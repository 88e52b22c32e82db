/**
 * The contract between the session Durable Object and a backend connection, whatever its
 * transport (Streamable HTTP, legacy HTTP+SSE, a service binding).
 */
import type { JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from "../protocol/jsonrpc.ts";

/** What the gateway learned from a backend's `initialize` and keeps in the session's storage. */
export interface UpstreamInfo {
  backend: string;
  /** `Mcp-Session-Id` the backend minted, or null when it runs without sessions. */
  sessionId: string | null;
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  serverInfo: Record<string, unknown>;
  instructions?: string;
  /** The endpoint a legacy HTTP+SSE backend told us to POST to. */
  endpoint?: string;
}

/** How bytes leave the Worker: global fetch for URLs, `binding.fetch` for service bindings. */
export type Fetcher = (request: Request) => Promise<Response>;

/** Headers computed per request (credentials that expire, tokens per principal). */
export type HeaderSource = (signal: AbortSignal) => Promise<Record<string, string>>;

export interface Upstream {
  readonly backend: string;
  /** The state to persist; null until `initialize` succeeded. */
  readonly info: UpstreamInfo | null;
  /** Runs the initialize handshake (request + `notifications/initialized`). */
  initialize(params: Record<string, unknown>, signal: AbortSignal): Promise<UpstreamInfo>;
  /**
   * Sends a request and yields what the backend sends back for it: notifications and
   * server-to-client requests first, its response last. Breaking out of the loop cancels the read.
   */
  request(message: JsonRpcRequest, signal: AbortSignal, headers?: Record<string, string>): AsyncIterable<JsonRpcMessage>;
  /** Sends a notification or a response to a server-to-client request (answered 202). */
  send(message: JsonRpcNotification | JsonRpcResponse, signal: AbortSignal): Promise<void>;
  /** Opens the backend's own stream of unsolicited messages, or null when it offers none (405). */
  listen(signal: AbortSignal): Promise<AsyncIterable<JsonRpcMessage> | null>;
  /** Ends the upstream session (DELETE), ignoring failures. */
  terminate(signal: AbortSignal): Promise<void>;
}
