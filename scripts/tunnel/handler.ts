/** What serves the gateway's HTTP exchanges on the connector's side: a stdio bridge or a URL relay. */
export interface TunnelRequest {
  method: string;
  headers: Record<string, string>;
  body: string | null;
}

/** The connector's answer to one exchange: a head, any number of data chunks, an end. */
export interface Reply {
  head(status: number, headers: Record<string, string>): void;
  data(text: string): void;
  end(): void;
}

export interface Handler {
  /** Serves one exchange; `cancelled` aborts when the gateway stopped reading it. */
  handle(request: TunnelRequest, reply: Reply, cancelled: AbortSignal): Promise<void>;
  /** Ends everything (children killed, requests aborted). */
  close(): Promise<void>;
}

/** One SSE event carrying a JSON-RPC message (2025-11-25 basic/transports "Sending Messages to the Server"). */
export function sseEvent(message: unknown): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

export const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };

/** Answers with a JSON-RPC error and no id: what the gateway's upstream reads from a refused request. */
export function refuse(reply: Reply, status: number, message: string, headers: Record<string, string> = {}): void {
  reply.head(status, { "content-type": "application/json", ...headers });
  reply.data(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message } }));
  reply.end();
}
