/**
 * One per tenant and `transport: "tunnel"` backend (`idFromName("<tenant>/<backend>")`): the
 * connector keys issued for it (SHA-256 only) and the connectors attached to it, each an outbound
 * WebSocket from scripts/connect.ts accepted with the hibernation API, so an idle tunnel costs
 * nothing (keepalive pings are answered by the runtime without waking the object).
 *
 * The gateway's upstream (worker/upstream/tunnel.ts) sends Streamable HTTP requests here; each is
 * relayed as a `request` frame (worker/upstream/tunnelFrames.ts) and answered by the connector's
 * `head`/`data`/`end` frames, streamed back as they arrive. Session ids carry the connector's id,
 * so a session stays on the connector serving it; a new session goes to any attached connector
 * (several connectors fail over). In-flight exchanges live in memory only: the object does not
 * hibernate while one is open, and a connector that drops ends each of its exchanges at once.
 */
import { DurableObject } from "cloudflare:workers";
import { BodyTooLargeError, readCapped } from "../../worker/protocol/body.ts";
import { sha256Hex, toBase64Url } from "../../worker/protocol/encoding.ts";
import { randomToken } from "../../worker/oauth/crypto.ts";
import { NO_CONNECTOR_HEADER, TUNNEL_KEY_PATTERN, type TunnelConnector, type TunnelKeyInfo } from "../../worker/upstream/tunnel.ts";
import {
  CLOSE_PROTOCOL,
  CLOSE_REPLACED,
  CLOSE_REVOKED,
  CLOSE_TOO_BIG,
  CONNECTOR_ID_PATTERN,
  GOODBYE,
  MAX_FRAME_BYTES,
  MAX_TUNNEL_BODY_BYTES,
  PING,
  PONG,
  joinSession,
  parseUpFrame,
  requestFrames,
  splitSession,
  type DownFrame,
} from "../../worker/upstream/tunnelFrames.ts";

const SCHEMA = `CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, created_at INTEGER NOT NULL);`;
/** Keys one backend may hold; more is a leak being built, not a deployment. */
const MAX_KEYS = 50;
/** Connectors one backend may have attached at once. */
const MAX_CONNECTORS = 20;
/** Exchanges in flight at once on one object (each holds a stream open). */
const MAX_IN_FLIGHT = 500;
/** A connector that has not answered a request's head within this long fails it. */
const HEAD_TIMEOUT_MS = 5 * 60_000;
/** Request headers that describe the hop to this object, not the request: never relayed. */
const HOP_HEADERS = /^(host|content-length|connection|upgrade|transfer-encoding|keep-alive|te|trailer|proxy-.*|cf-.*|x-forwarded-.*|x-real-ip)$/i;

interface Attachment {
  connector: string;
  keyId: string;
  since: number;
}

interface Exchange {
  ws: WebSocket;
  /** Resolves the HTTP response once the head arrives; null after. */
  head: ((response: Response) => void) | null;
  stream: ReadableStreamDefaultController<Uint8Array> | null;
  timer: ReturnType<typeof setTimeout>;
}

export class TunnelObject extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #exchanges = new Map<number, Exchange>();
  #nextId = 1;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(SCHEMA);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  async issueKey(now = Date.now()): Promise<{ id: string; key: string } | null> {
    const count = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM keys").one().n;
    if (count >= MAX_KEYS) return null;
    const key = `mtk_${toBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;
    const id = `tk-${randomToken(6)}`;
    this.#sql.exec("INSERT INTO keys (id, sha256, created_at) VALUES (?, ?, ?)", id, await sha256Hex(key), now);
    return { id, key };
  }

  listKeys(): TunnelKeyInfo[] {
    return this.#sql.exec<{ id: string; created_at: number }>("SELECT id, created_at FROM keys ORDER BY created_at").toArray().map((r) => ({ id: r.id, createdAt: r.created_at }));
  }

  revokeKey(id: string): boolean {
    const found = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM keys WHERE id = ?", id).one().n > 0;
    this.#sql.exec("DELETE FROM keys WHERE id = ?", id);
    for (const ws of this.ctx.getWebSockets(`k:${id}`)) this.#drop(ws, CLOSE_REVOKED, "key revoked");
    return found;
  }

  /** Every key revoked and every connector closed: the backend left its tenant, or the tenant is gone. */
  clear(): void {
    this.#sql.exec("DELETE FROM keys");
    for (const ws of this.ctx.getWebSockets()) this.#drop(ws, CLOSE_REVOKED, "tunnel removed");
  }

  connectors(): TunnelConnector[] {
    return this.ctx.getWebSockets().flatMap((ws) => {
      const a = ws.deserializeAttachment() as Attachment | null;
      return a ? [{ id: a.connector, keyId: a.keyId, since: a.since }] : [];
    });
  }

  /** `/connect`: a connector attaches (the Worker checked the tenant and backend); `/mcp`: the gateway's requests. */
  override async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/connect") return this.#attach(request);
    return this.#relay(request);
  }

  async #attach(request: Request): Promise<Response> {
    const auth = request.headers.get("authorization") ?? "";
    const keyId = await this.#keyOf(auth.startsWith("Bearer ") ? auth.slice(7).trim() : "");
    if (!keyId) return Response.json({ error: "unknown or revoked tunnel key" }, { status: 401, headers: { "www-authenticate": 'Bearer realm="tunnel"' } });
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return Response.json({ error: "expected a WebSocket upgrade" }, { status: 426 });
    const connector = request.headers.get("x-connector-id") ?? "";
    if (!CONNECTOR_ID_PATTERN.test(connector)) return Response.json({ error: "x-connector-id: 8-64 of A-Z, a-z, 0-9, '_' and '-'" }, { status: 400 });
    // The same connector reconnecting replaces its old socket (its sessions stay valid).
    for (const old of this.ctx.getWebSockets(`c:${connector}`)) this.#drop(old, CLOSE_REPLACED, "replaced by a newer connection");
    if (this.ctx.getWebSockets().length >= MAX_CONNECTORS) return Response.json({ error: "too many connectors attached" }, { status: 429 });
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [`c:${connector}`, `k:${keyId}`]);
    server.serializeAttachment({ connector, keyId, since: Date.now() } satisfies Attachment);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** The key's id when `presented` is a current key of this backend; each stored hash is compared in constant time. */
  async #keyOf(presented: string): Promise<string | null> {
    if (!TUNNEL_KEY_PATTERN.test(presented)) return null;
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(presented)));
    let found: string | null = null;
    for (const row of this.#sql.exec<{ id: string; sha256: string }>("SELECT id, sha256 FROM keys")) {
      if (crypto.subtle.timingSafeEqual(digest, hexBytes(row.sha256))) found = row.id;
    }
    return found;
  }

  async #relay(request: Request): Promise<Response> {
    const sessionHeader = request.headers.get("mcp-session-id");
    const target = sessionHeader === null ? null : splitSession(sessionHeader);
    let ws: WebSocket | undefined;
    if (sessionHeader !== null) {
      ws = target ? this.ctx.getWebSockets(`c:${target.connector}`)[0] : undefined;
      // 2025-11-25 basic/transports "Session Management": 404 tells the gateway to start a new
      // session, which then goes to a connector that is attached (failover).
      if (!ws) return rpcError(404, "Session not found: its connector is no longer attached");
    } else {
      const all = this.ctx.getWebSockets();
      ws = all[Math.floor(Math.random() * all.length)];
      if (!ws) return rpcError(503, "No connector is attached to this tunnel", { [NO_CONNECTOR_HEADER]: "1" });
    }
    if (this.#exchanges.size >= MAX_IN_FLIGHT) return rpcError(503, "Too many requests in flight on this tunnel");
    let body: string | null = null;
    if (request.body) {
      try {
        body = await readCapped(request.body, MAX_TUNNEL_BODY_BYTES);
      } catch (error) {
        if (error instanceof BodyTooLargeError) return rpcError(413, "Request too large for the tunnel");
        throw error;
      }
    }
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      if (!HOP_HEADERS.test(name)) headers[name] = value;
    });
    if (target) headers["mcp-session-id"] = target.session;
    const id = this.#nextId++;
    const connector = (ws.deserializeAttachment() as Attachment).connector;
    const response = new Promise<Response>((resolve) => {
      const timer = setTimeout(() => this.#fail(id, 504, "The connector did not answer in time"), HEAD_TIMEOUT_MS);
      this.#exchanges.set(id, { ws: ws!, head: resolve, stream: null, timer });
    });
    for (const frame of requestFrames(id, request.method, headers, body)) {
      if (!this.#send(ws, frame)) {
        this.#fail(id, 502, "The tunnel closed");
        break;
      }
    }
    const answered = await response;
    // The connector's session ids are prefixed with its own id, so later requests find it.
    const minted = answered.headers.get("mcp-session-id");
    if (minted !== null) answered.headers.set("mcp-session-id", joinSession(connector, minted));
    return answered;
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const size = typeof message === "string" ? message.length : message.byteLength;
    if (size > MAX_FRAME_BYTES) return this.#drop(ws, CLOSE_TOO_BIG, "frame too large");
    if (typeof message !== "string") return this.#drop(ws, CLOSE_PROTOCOL, "text frames only");
    if (message === PING) return void this.#sendText(ws, PONG);
    const frame = parseUpFrame(message);
    if (!frame) return this.#drop(ws, CLOSE_PROTOCOL, "malformed frame");
    const exchange = this.#exchanges.get(frame.id);
    // A late frame for an exchange that ended (cancelled, timed out) is ignored; one for another
    // connector's exchange is ignored too: a connector answers only what was sent to it.
    if (!exchange || exchange.ws !== ws) return;
    if (frame.type === "head") {
      if (!exchange.head) return this.#drop(ws, CLOSE_PROTOCOL, "second head for one request");
      clearTimeout(exchange.timer);
      const resolve = exchange.head;
      exchange.head = null;
      const headers = new Headers(frame.headers);
      headers.delete("content-length");
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          exchange.stream = controller;
        },
        // The gateway stopped reading (the client cancelled): the connector stops serving it.
        cancel: () => {
          if (this.#exchanges.get(frame.id) !== exchange) return;
          this.#exchanges.delete(frame.id);
          this.#send(ws, { type: "cancel", id: frame.id });
        },
      });
      resolve(new Response(frame.status === 204 || frame.status === 304 ? null : body, { status: frame.status, headers }));
      return;
    }
    if (exchange.head || !exchange.stream) return this.#drop(ws, CLOSE_PROTOCOL, "data before head");
    if (frame.type === "data") {
      exchange.stream.enqueue(new TextEncoder().encode(frame.chunk));
      return;
    }
    this.#exchanges.delete(frame.id);
    exchange.stream.close();
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.#abandon(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "closed");
    } catch {
      // Already closed.
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.#abandon(ws);
  }

  /** Closes a connector's socket and fails what it was serving. */
  #drop(ws: WebSocket, code: number, reason: string): void {
    this.#abandon(ws);
    this.#sendText(ws, `${GOODBYE}${code}`);
    try {
      ws.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  /** Every exchange on `ws` fails now: a call in flight must not wait for a connector that is gone. */
  #abandon(ws: WebSocket): void {
    for (const [id, exchange] of this.#exchanges) if (exchange.ws === ws) this.#fail(id, 502, "The tunnel's connector disconnected");
  }

  #fail(id: number, status: number, message: string): void {
    const exchange = this.#exchanges.get(id);
    if (!exchange) return;
    this.#exchanges.delete(id);
    clearTimeout(exchange.timer);
    if (exchange.head) exchange.head(rpcError(status, message));
    // A reply stream that breaks makes the upstream fail the call with "stream broke".
    else exchange.stream?.error(new Error(message));
  }

  #send(ws: WebSocket, frame: DownFrame): boolean {
    return this.#sendText(ws, JSON.stringify(frame));
  }

  #sendText(ws: WebSocket, text: string): boolean {
    try {
      ws.send(text);
      return true;
    } catch {
      return false;
    }
  }
}

/** A JSON-RPC error body with no id (2025-11-25 basic/transports: the HTTP status is what the client acts on). */
function rpcError(status: number, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ jsonrpc: "2.0", id: null, error: { code: -32000, message } }, { status, headers });
}

function hexBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}
