/**
 * A raw Streamable HTTP client for the Node-side reliability suites and scripts/soak.ts: plain
 * fetch against a running gateway, so every header, id and event stays visible to the test.
 */
import { EventReader, messagesOf, type Event } from "./sse.ts";

export type Message = Record<string, unknown> & { id?: unknown; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { code: number; message: string } };

export class McpClient {
  readonly url: string;
  token: string;
  sessionId: string | null = null;
  version = "2025-11-25";

  constructor(url: string, token: string) {
    this.url = url;
    this.token = token;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: "application/json, text/event-stream", "content-type": "application/json", ...extra };
    if (this.sessionId) {
      headers["mcp-session-id"] = this.sessionId;
      headers["mcp-protocol-version"] = this.version;
    }
    return headers;
  }

  async initialize(clientName = "reliability"): Promise<Message> {
    const res = await fetch(this.url, {
      method: "POST",
      headers: this.headers(),
      body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: this.version, capabilities: {}, clientInfo: { name: clientName, version: "1.0.0" } } }),
    });
    const body = (await res.json()) as Message;
    if (res.status !== 200 || body.error) throw new Error(`initialize: ${res.status} ${JSON.stringify(body)}`);
    this.sessionId = res.headers.get("mcp-session-id");
    const ack = await this.post({ jsonrpc: "2.0", method: "notifications/initialized" });
    await ack.body?.cancel();
    return body;
  }

  post(message: unknown, extra: Record<string, string> = {}): Promise<Response> {
    return fetch(this.url, { method: "POST", headers: this.headers(extra), body: JSON.stringify(message) });
  }

  /** One request; every message of its reply (SSE or JSON), and its events when it streamed. */
  async request(message: Message): Promise<{ status: number; messages: Message[]; events: Event[] }> {
    const res = await this.post(message);
    if ((res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
      const events = await new EventReader(res.body!).rest();
      return { status: res.status, messages: messagesOf(events) as Message[], events };
    }
    const text = await res.text();
    const body = text === "" ? null : (JSON.parse(text) as Message | Message[]);
    return { status: res.status, messages: body === null ? [] : Array.isArray(body) ? body : [body], events: [] };
  }

  /** GET: the standalone stream, or a resume after `lastEventId`. */
  listen(lastEventId?: string): Promise<Response> {
    const headers = this.headers({ accept: "text/event-stream" });
    delete headers["content-type"];
    if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
    return fetch(this.url, { method: "GET", headers });
  }

  async close(): Promise<void> {
    if (!this.sessionId) return;
    const res = await fetch(this.url, { method: "DELETE", headers: this.headers() });
    await res.body?.cancel();
  }
}

/** The response to `id` among `messages`, or undefined. */
export function responseTo(messages: Message[], id: unknown): Message | undefined {
  return messages.find((m) => m.id === id && (m.result !== undefined || m.error !== undefined));
}

/** The text of a tool result's first text content. */
export function textOf(message: Message | undefined): string {
  const content = (message?.result?.content ?? []) as { type: string; text?: string }[];
  return content.find((c) => c.type === "text")?.text ?? "";
}
