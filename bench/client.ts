/**
 * The load client: hand-written on node:http with a keep-alive Agent (no MCP SDK, no fetch), so
 * the client's own cost is small, identical for every target, and timed with
 * process.hrtime.bigint() around exactly one JSON-RPC exchange.
 *
 * Two client transports, because the targets speak two:
 * - StreamableSession: Streamable HTTP (MCP 2025-03-26+), used for the backends and the gateway.
 *   A reply is JSON or SSE; SSE is parsed as it arrives and the exchange ends at the response.
 *   With `modern`, it is a 2026-07-28 client instead: no session, `server/discover` in place of
 *   the handshake, and every request carries its `_meta` and its Mcp-* headers
 *   (basic/transports/streamable-http "Request Metadata").
 * - LegacySseSession: the 2024-11-05 HTTP+SSE transport, which is what mcp-hub 4.2.1 serves at
 *   /mcp (GET opens the stream, POSTs go to /messages?sessionId=..., responses come on the stream).
 */
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage } from "node:http";

export type Json = Record<string, unknown>;

export const CLIENT_PROTOCOL_VERSION = "2025-11-25";
export const MODERN_PROTOCOL_VERSION = "2026-07-28";
/** The request field an `Mcp-Name` header repeats, per method (2026-07-28 streamable-http). */
const NAME_FIELD: Record<string, string> = { "tools/call": "name", "prompts/get": "name", "resources/read": "uri" };
const CLIENT_INFO = { name: "bench-client", version: "1.0.0" };

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

/** One keep-alive connection pool per target, so targets never share sockets. */
export class Http {
  readonly agent: Agent;
  readonly timeoutMs: number;

  constructor(options: { maxSockets?: number; timeoutMs?: number } = {}) {
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 256, keepAliveMsecs: 30_000 });
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  send(url: URL, method: string, headers: Record<string, string>, body?: string): Promise<HttpReply> {
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          headers: body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) },
          timeout: this.timeoutMs,
        },
        (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      req.once("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: no answer within ${this.timeoutMs} ms`)));
      req.once("error", reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export async function readAll(body: IncomingMessage): Promise<string> {
  body.setEncoding("utf8");
  let text = "";
  for await (const chunk of body as AsyncIterable<string>) text += chunk;
  return text;
}

/**
 * Yields the `data` of each SSE event as it arrives (events split on a blank line; comments and
 * fields other than data skipped). Enough for the servers measured here, which send LF line ends.
 */
export async function* sseData(body: IncomingMessage): AsyncIterable<{ event: string | undefined; data: string }> {
  body.setEncoding("utf8");
  let buffer = "";
  for await (const chunk of body as AsyncIterable<string>) {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let data = "";
      let event: string | undefined;
      for (const line of block.split("\n")) {
        if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(line.charAt(5) === " " ? 6 : 5);
        else if (line.startsWith("event:")) event = line.slice(6).trim();
      }
      yield { event, data };
    }
  }
}

export interface Exchange {
  response: Json;
  /** Messages other than the response that arrived in the reply (progress, logs). */
  notifications: number;
}

export class RpcError extends Error {
  readonly status: number;
  constructor(message: string, status = 0) {
    super(message);
    this.status = status;
  }
}

/** A client session over Streamable HTTP. */
export class StreamableSession {
  readonly #http: Http;
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #modern: boolean;
  #sessionId: string | null = null;
  #nextId = 1;

  constructor(http: Http, url: string, headers: Record<string, string> = {}, options: { modern?: boolean } = {}) {
    this.#http = http;
    this.#url = new URL(url);
    this.#headers = { ...headers, accept: "application/json, text/event-stream", "content-type": "application/json" };
    this.#modern = options.modern === true;
  }

  get sessionId(): string | null {
    return this.#sessionId;
  }

  /** initialize + notifications/initialized (the whole handshake, as every client does it); a modern client discovers instead. */
  async initialize(): Promise<Json> {
    if (this.#modern) return (await this.request("server/discover", {})).response;
    const { response } = await this.request("initialize", {
      protocolVersion: CLIENT_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: CLIENT_INFO,
    });
    await this.notify("notifications/initialized");
    return response;
  }

  async notify(method: string, params?: Json): Promise<void> {
    const reply = await this.#http.send(this.#url, "POST", this.#requestHeaders(), JSON.stringify({ jsonrpc: "2.0", method, ...(params ? { params } : {}) }));
    await readAll(reply.body);
    if (reply.status !== 202 && reply.status !== 200) throw new RpcError(`${method}: HTTP ${reply.status}`, reply.status);
  }

  /** One request; resolves with the response once it has arrived (the reply stream drained). */
  async request(method: string, params: Json, onNotification?: (message: Json) => void): Promise<Exchange> {
    const id = this.#nextId++;
    const headers = this.#requestHeaders();
    if (this.#modern) {
      params = { ...params, _meta: { ...((params._meta as Json | undefined) ?? {}), "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL_VERSION, "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": CLIENT_INFO } };
      headers["mcp-protocol-version"] = MODERN_PROTOCOL_VERSION;
      headers["mcp-method"] = method;
      const field = NAME_FIELD[method];
      if (field) headers["mcp-name"] = String(params[field]);
    }
    const reply = await this.#http.send(this.#url, "POST", headers, JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    if (method === "initialize") {
      const sid = reply.headers["mcp-session-id"];
      if (typeof sid === "string") this.#sessionId = sid;
    }
    const type = String(reply.headers["content-type"] ?? "");
    if (reply.status !== 200) {
      const text = await readAll(reply.body);
      throw new RpcError(`${method}: HTTP ${reply.status} ${text.slice(0, 200)}`, reply.status);
    }
    let response: Json | undefined;
    let notifications = 0;
    if (type.startsWith("text/event-stream")) {
      for await (const { data } of sseData(reply.body)) {
        if (data === "") continue; // priming event
        const message = JSON.parse(data) as Json;
        if (message.id === id && ("result" in message || "error" in message)) response = message;
        else {
          notifications++;
          onNotification?.(message);
        }
      }
    } else {
      const text = await readAll(reply.body);
      const parsed = JSON.parse(text) as Json | Json[];
      response = Array.isArray(parsed) ? parsed.find((m) => m.id === id) : parsed;
    }
    if (!response) throw new RpcError(`${method}: no response`);
    if ("error" in response) throw new RpcError(`${method}: ${JSON.stringify(response.error).slice(0, 200)}`);
    return { response, notifications };
  }

  async close(): Promise<void> {
    if (this.#sessionId === null) return;
    try {
      const reply = await this.#http.send(this.#url, "DELETE", this.#requestHeaders());
      await readAll(reply.body);
    } catch {
      // best effort
    }
    this.#sessionId = null;
  }

  #requestHeaders(): Record<string, string> {
    const headers = { ...this.#headers };
    if (this.#sessionId !== null) {
      headers["mcp-session-id"] = this.#sessionId;
      headers["mcp-protocol-version"] = CLIENT_PROTOCOL_VERSION;
    }
    return headers;
  }
}

/** A client session over the 2024-11-05 HTTP+SSE transport (mcp-hub's /mcp). */
export class LegacySseSession {
  readonly #http: Http;
  readonly #url: URL;
  #endpoint: URL | null = null;
  #stream: IncomingMessage | null = null;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (m: Json) => void; reject: (e: Error) => void; notifications: number }>();

  constructor(http: Http, url: string) {
    this.#http = http;
    this.#url = new URL(url);
  }

  async initialize(): Promise<Json> {
    const reply = await this.#http.send(this.#url, "GET", { accept: "text/event-stream" });
    if (reply.status !== 200) throw new RpcError(`GET ${this.#url.pathname}: HTTP ${reply.status}`, reply.status);
    this.#stream = reply.body;
    const endpoint = new Promise<URL>((resolve, reject) => {
      void (async () => {
        try {
          for await (const { event, data } of sseData(reply.body)) {
            if (event === "endpoint") {
              resolve(new URL(data, this.#url));
              continue;
            }
            if (data === "") continue;
            const message = JSON.parse(data) as Json;
            const pending = typeof message.id === "number" ? this.#pending.get(message.id) : undefined;
            if (pending && ("result" in message || "error" in message)) {
              this.#pending.delete(message.id as number);
              pending.resolve(message);
            }
          }
          reject(new RpcError("stream ended"));
        } catch (error) {
          reject(error as Error);
        }
        for (const p of this.#pending.values()) p.reject(new RpcError("stream ended"));
        this.#pending.clear();
      })();
    });
    this.#endpoint = await endpoint;
    const { response } = await this.request("initialize", { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: CLIENT_INFO });
    await this.#post({ jsonrpc: "2.0", method: "notifications/initialized" });
    return response;
  }

  async request(method: string, params: Json): Promise<Exchange> {
    const id = this.#nextId++;
    const answered = new Promise<Json>((resolve, reject) => this.#pending.set(id, { resolve, reject, notifications: 0 }));
    try {
      await this.#post({ jsonrpc: "2.0", id, method, params });
    } catch (error) {
      this.#pending.delete(id);
      throw error;
    }
    const response = await answered;
    if ("error" in response) throw new RpcError(`${method}: ${JSON.stringify(response.error).slice(0, 200)}`);
    return { response, notifications: 0 };
  }

  async close(): Promise<void> {
    this.#stream?.destroy();
    this.#stream = null;
  }

  async #post(message: Json): Promise<void> {
    if (!this.#endpoint) throw new RpcError("not connected");
    const reply = await this.#http.send(this.#endpoint, "POST", { "content-type": "application/json" }, JSON.stringify(message));
    await readAll(reply.body);
    if (reply.status !== 202 && reply.status !== 200) throw new RpcError(`POST: HTTP ${reply.status}`, reply.status);
  }
}

export type Session = StreamableSession | LegacySseSession;

/** Milliseconds (float) since `start` (a process.hrtime.bigint() reading). */
export function since(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}
