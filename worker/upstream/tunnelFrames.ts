/**
 * The wire between the gateway's TunnelObject and a connector (scripts/connect.ts): HTTP
 * exchanges carried as JSON text frames over one outbound WebSocket (docs/tunnels.md).
 *
 * The gateway talks Streamable HTTP to the tunnel (MCP 2025-11-25 basic/transports) exactly as to
 * any backend; the object turns each HTTP request into a `request` frame and the connector's
 * `head`, `data` and `end` frames back into the streamed response. So sessions, SSE replies and
 * server-to-client requests travel unchanged, and the connector decides how to serve them (a
 * stdio child per session, or a private URL). Shared by the Worker and the connector (Node).
 */

/** No frame may be larger: the object closes a connector that sends one (1009), and the connector does the same. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Bodies (requests' and responses') are cut into frames of at most this many characters. */
export const DATA_CHUNK_CHARS = 128 * 1024;
/** A request body larger than this is refused before it enters the tunnel (413): a tenant's largest `limits.maxBodyBytes`. */
export const MAX_TUNNEL_BODY_BYTES = 32 * 1024 * 1024;
/** Keepalive: the connector sends this text, the object answers PONG without waking up (hibernation). */
export const PING = "ping";
export const PONG = "pong";
/**
 * Sent by the object just before it closes a connector, as `goodbye <code>`: a close handshake
 * can take a client seconds to complete, and a revoked connector must stop at once.
 */
export const GOODBYE = "goodbye ";
/** Close codes the connector acts on. */
export const CLOSE_REVOKED = 4001;
export const CLOSE_REPLACED = 4002;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_PROTOCOL = 1002;
/** A connector names itself with this, so the sessions it serves survive its reconnects. */
export const CONNECTOR_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
/** Separates the connector's id from the session id it minted, in the session id the gateway sees. */
export const SESSION_SEPARATOR = ".";

export type Headers_ = Record<string, string>;

/**
 * Object -> connector. A request whose body does not fit one frame has `more` set and its body's
 * first chunk; `body` frames carry the rest, the last one with `last` set.
 */
export type DownFrame =
  | { type: "request"; id: number; method: string; headers: Headers_; body: string | null; more?: boolean }
  | { type: "body"; id: number; chunk: string; last: boolean }
  | { type: "cancel"; id: number };

/** Connector -> object. */
export type UpFrame =
  | { type: "head"; id: number; status: number; headers: Headers_ }
  | { type: "data"; id: number; chunk: string }
  | { type: "end"; id: number };

function isHeaders(value: unknown): value is Headers_ {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string");
}

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** A frame's fields, when `text` is a JSON object with a frame id; null otherwise. */
function frameFields(text: string): (Record<string, unknown> & { id: number }) | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const f = value as Record<string, unknown>;
  return isId(f.id) ? (f as Record<string, unknown> & { id: number }) : null;
}

/** A frame from the connector, or null when it is not one (the object then closes the tunnel). */
export function parseUpFrame(text: string): UpFrame | null {
  const f = frameFields(text);
  if (!f) return null;
  if (f.type === "head" && typeof f.status === "number" && f.status >= 100 && f.status <= 599 && isHeaders(f.headers)) {
    return { type: "head", id: f.id, status: f.status, headers: f.headers };
  }
  if (f.type === "data" && typeof f.chunk === "string") return { type: "data", id: f.id, chunk: f.chunk };
  if (f.type === "end") return { type: "end", id: f.id };
  return null;
}

/** A frame from the object, or null when it is not one. */
export function parseDownFrame(text: string): DownFrame | null {
  const f = frameFields(text);
  if (!f) return null;
  if (f.type === "request" && typeof f.method === "string" && isHeaders(f.headers) && (typeof f.body === "string" || f.body === null) && (f.more === undefined || typeof f.more === "boolean")) {
    return { type: "request", id: f.id, method: f.method, headers: f.headers, body: f.body, ...(f.more ? { more: true } : {}) };
  }
  if (f.type === "body" && typeof f.chunk === "string" && typeof f.last === "boolean") return { type: "body", id: f.id, chunk: f.chunk, last: f.last };
  if (f.type === "cancel") return { type: "cancel", id: f.id };
  return null;
}

/** Splits a response body into data frames no bigger than DATA_CHUNK_CHARS characters. */
export function dataFrames(id: number, text: string): UpFrame[] {
  const frames: UpFrame[] = [];
  for (let i = 0; i < text.length; i += DATA_CHUNK_CHARS) frames.push({ type: "data", id, chunk: text.slice(i, i + DATA_CHUNK_CHARS) });
  return frames;
}

/** The frames that carry a request: the first holds the head and the body's first chunk. */
export function requestFrames(id: number, method: string, headers: Headers_, body: string | null): DownFrame[] {
  if (body === null || body.length <= DATA_CHUNK_CHARS) return [{ type: "request", id, method, headers, body }];
  const frames: DownFrame[] = [{ type: "request", id, method, headers, body: body.slice(0, DATA_CHUNK_CHARS), more: true }];
  for (let i = DATA_CHUNK_CHARS; i < body.length; i += DATA_CHUNK_CHARS) {
    frames.push({ type: "body", id, chunk: body.slice(i, i + DATA_CHUNK_CHARS), last: i + DATA_CHUNK_CHARS >= body.length });
  }
  return frames;
}

/** `<connector>.<session>`: the session id the gateway sees, so a session's requests reach the connector serving it. */
export function joinSession(connector: string, session: string): string {
  return `${connector}${SESSION_SEPARATOR}${session}`;
}

export function splitSession(value: string): { connector: string; session: string } | null {
  const at = value.indexOf(SESSION_SEPARATOR);
  if (at <= 0) return null;
  const connector = value.slice(0, at);
  return CONNECTOR_ID_PATTERN.test(connector) ? { connector, session: value.slice(at + 1) } : null;
}
