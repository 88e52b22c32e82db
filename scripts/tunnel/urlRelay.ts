/**
 * A private Streamable HTTP MCP server behind the tunnel (`--url`): each exchange is replayed
 * against it as is (method, headers, body) and its answer streamed back, so its sessions, SSE
 * replies, resumption and protocol era are the server's own. Only the connector needs to reach it.
 */
import type { Handler, Reply, TunnelRequest } from "./handler.ts";
import { refuse } from "./handler.ts";

/** Response headers that describe the hop from the private server, not the answer. */
const HOP = new Set(["content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"]);

export class UrlRelay implements Handler {
  readonly #url: URL;
  readonly #log: (line: string) => void;
  readonly #all = new AbortController();

  constructor(url: URL, log: (line: string) => void) {
    this.#url = url;
    this.#log = log;
  }

  async handle(request: TunnelRequest, reply: Reply, cancelled: AbortSignal): Promise<void> {
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal: AbortSignal.any([cancelled, this.#all.signal]),
      });
    } catch (error) {
      if (cancelled.aborted) return;
      this.#log(`cannot reach ${this.#url.origin}: ${error instanceof Error ? error.message : String(error)}`);
      // The gateway reads this as the backend being down; the private address stays here.
      return refuse(reply, 502, "The connector cannot reach its server");
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (!HOP.has(name)) headers[name] = value;
    });
    reply.head(response.status, headers);
    if (!response.body) return reply.end();
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body) {
        const text = decoder.decode(chunk as Uint8Array, { stream: true });
        if (text !== "") reply.data(text);
      }
      const rest = decoder.decode();
      if (rest !== "") reply.data(rest);
    } catch (error) {
      if (!cancelled.aborted) this.#log(`stream from ${this.#url.origin} broke: ${error instanceof Error ? error.message : String(error)}`);
    }
    reply.end();
  }

  async close(): Promise<void> {
    this.#all.abort();
  }
}
