/**
 * Shared fixtures of the workerd integration tests: a JWT signer (a key pair made here, its
 * public half in each tenant's inline JWKS), tenants written through the admin API, a client that
 * speaks MCP Streamable HTTP to the gateway's own fetch handler, and an SSE reader.
 *
 * Every reply read through these helpers is checked for hygiene: never a 500, never a stack
 * trace, and never internal error text ("Error:") in an error reply or a JSON-RPC error.
 */
import { env, exports } from "cloudflare:workers";
import { expect, inject } from "vitest";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import type { TenantConfig, TenantInput } from "../../worker/tenant/schema.ts";

export const ORIGIN = "http://127.0.0.1";
export const ADMIN_TOKEN = "workers-test-admin-token";
export const ISSUER = "https://issuer.gateway.test";
export const LATEST_VERSION = "2025-11-25";
export const KEY_ID = "workers-test-key";

export type Json = Record<string, unknown>;
export interface RpcMessage {
  jsonrpc: "2.0";
  id?: string | number | null;
  method?: string;
  params?: Json;
  result?: Json;
  error?: { code: number; message: string; data?: unknown };
}

export const endpoint = (tenant: string): string => `${ORIGIN}/t/${tenant}/mcp`;

/** One request to the gateway's default export, exactly as the edge would hand it over. */
export function gateway(url: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(url, init);
}

/** The session Durable Object's stub: its name joins tenant and session id (worker/dispatch/sessions.ts). */
export function sessionStub(tenant: string, sessionId: string) {
  return env.SESSIONS.get(env.SESSIONS.idFromName(`${tenant}:${sessionId}`));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- keys and tokens ----------------------------------------------------------------------

interface KeyPair {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

let signing: Promise<KeyPair> | undefined;
let stranger: Promise<KeyPair> | undefined;

async function makeKeyPair(kid: string): Promise<KeyPair> {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  return { privateKey, publicJwk };
}

/** The key pair whose public half every test tenant trusts. */
export function signingKey(): Promise<KeyPair> {
  return (signing ??= makeKeyPair(KEY_ID));
}

/** A key pair no tenant trusts, with the same kid (a forger's key). */
function strangerKey(): Promise<KeyPair> {
  return (stranger ??= makeKeyPair(KEY_ID));
}

export interface TokenOptions {
  /** The subject; null leaves the claim out. Default "alice". */
  sub?: string | null;
  iss?: string;
  aud?: string;
  /** Seconds since the epoch. */
  exp?: number;
  /** Sign with a key the tenant does not know. */
  foreignKey?: boolean;
}

/** A bearer JWT for `tenant` (audience: its canonical MCP URL), valid for ten minutes by default. */
export async function token(tenant: string, options: TokenOptions = {}): Promise<string> {
  const { privateKey } = options.foreignKey ? await strangerKey() : await signingKey();
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ scope: "mcp:tools" }).setProtectedHeader({ alg: "ES256", kid: KEY_ID, typ: "JWT" });
  if (options.sub !== null) jwt.setSubject(options.sub ?? "alice");
  return jwt
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? endpoint(tenant))
    .setIssuedAt(now - 5)
    .setExpirationTime(options.exp ?? now + 600)
    .sign(privateKey);
}

export function base64url(text: string): string {
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

// --- tenants ------------------------------------------------------------------------------

export function uniqueTenantId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

export type BackendInput = NonNullable<TenantInput["backends"]>[number];

/** The real backends globalSetup started, as tenant backend entries. */
export const backend = {
  weather: (extra: Partial<BackendInput> = {}): BackendInput => ({ name: "weather", url: inject("weatherUrl"), timeoutMs: 10_000, ...extra }),
  notes: (extra: Partial<BackendInput> = {}): BackendInput => ({ name: "notes", url: inject("notesUrl"), timeoutMs: 10_000, ...extra }),
  everything: (extra: Partial<BackendInput> = {}): BackendInput => ({ name: "everything", url: inject("everythingUrl"), timeoutMs: 10_000, ...extra }),
  /** The 2026-07-28 fixture (modern only). */
  modern: (extra: Partial<BackendInput> = {}): BackendInput => ({ name: "modern", url: inject("modernUrl"), timeoutMs: 10_000, ...extra }),
  /** A second instance of the fixture whose prompts/list carries ttlMs 5000. */
  modernShort: (extra: Partial<BackendInput> = {}): BackendInput => ({ name: "short", url: inject("modernShortUrl"), timeoutMs: 10_000, ...extra }),
  /** A backend on a closed port: every connection is refused. */
  down: (extra: Partial<BackendInput> = {}): BackendInput => ({ name: "down", url: inject("closedUrl"), timeoutMs: 3_000, ...extra }),
};

/** Writes a tenant through the admin API and returns the stored document. */
export async function putTenant(id: string, document: Omit<TenantInput, "id">): Promise<TenantConfig> {
  const res = await gateway(`${ORIGIN}/admin/tenants/${id}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(document),
  });
  const text = await res.text();
  expect(res.status, text).toBeOneOf([200, 201]);
  return JSON.parse(text) as TenantConfig;
}

/**
 * A fresh tenant (unique id) trusting the test key, with the given backends and overrides.
 * `auth` in the overrides replaces the JWT settings entirely.
 */
export async function createTenant(prefix: string, overrides: Omit<TenantInput, "id"> = {}): Promise<TenantConfig> {
  const id = uniqueTenantId(prefix);
  const { publicJwk } = await signingKey();
  return putTenant(id, {
    auth: {
      jwt: { issuer: ISSUER, audience: endpoint(id), jwks: { keys: [publicJwk as Json] }, algorithms: ["ES256"] },
    },
    ...overrides,
  });
}

// --- requests -----------------------------------------------------------------------------

export const ACCEPT_BOTH = "application/json, text/event-stream";

export interface McpOptions {
  /** Bearer token; omitted when null or undefined. */
  token?: string | null;
  session?: string | null;
  /** MCP-Protocol-Version header; omitted when null or undefined. */
  version?: string | null;
  /** Accept header; null omits it. Default: JSON and SSE. */
  accept?: string | null;
  /** Content-Type header; null omits it. Default: application/json. */
  contentType?: string | null;
  method?: string;
  headers?: Record<string, string>;
}

/** A raw request to a tenant's MCP endpoint; `body` is JSON-encoded unless it is a string or a stream. */
export function mcp(tenant: string, body: unknown, options: McpOptions = {}): Promise<Response> {
  const method = options.method ?? "POST";
  const headers = new Headers(options.headers);
  if (options.accept !== null) headers.set("accept", options.accept ?? (method === "GET" ? "text/event-stream" : ACCEPT_BOTH));
  if (options.contentType !== null && method === "POST") headers.set("content-type", options.contentType ?? "application/json");
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  if (options.session) headers.set("mcp-session-id", options.session);
  if (options.version) headers.set("mcp-protocol-version", options.version);
  const init: RequestInit = { method, headers };
  if (body !== undefined && body !== null) init.body = typeof body === "string" || body instanceof ReadableStream ? body : JSON.stringify(body);
  return gateway(endpoint(tenant), init);
}

export function initializeRequest(version: string = LATEST_VERSION, capabilities: Json = {}, id: string | number = "init"): RpcMessage {
  return {
    jsonrpc: "2.0",
    id,
    method: "initialize",
    params: { protocolVersion: version, capabilities, clientInfo: { name: "workers-test", version: "1.0.0" } },
  };
}

// --- replies ------------------------------------------------------------------------------

/** A V8 stack frame, raw or JSON-escaped: "\n    at f (file:1:2)", "at file:///x.js:1:2", "at async f (...)". */
const STACK_TRACE = /(?:\n|\\n)\s+at\s+\S|\bat\s+(?:async\s+)?[\w$.<>[\]]+\s+\([^)]*:\d+:\d+\)|\bat\s+(?:file|node|https?):\S*:\d+:\d+/;

/** The hygiene every reply must pass: no 500, no stack trace, no internal error text. */
export function expectClean(status: number, text: string): void {
  expect(status, text).not.toBe(500);
  expect(text).not.toMatch(STACK_TRACE);
  if (status >= 400) expect(text).not.toContain("Error:");
}

function expectCleanMessage(message: RpcMessage): void {
  if (message.error) {
    const text = JSON.stringify(message.error);
    expect(text).not.toContain("Error:");
    expect(text).not.toMatch(STACK_TRACE);
  }
}

export interface Reply {
  status: number;
  headers: Headers;
  /** The JSON-RPC messages of the body, in order (one for a JSON reply, every event's for SSE). */
  messages: RpcMessage[];
  /** The raw JSON body of a JSON reply (an object, an array for a batch, or null). */
  body: unknown;
  /** The SSE events of an SSE reply, priming events included. */
  events: SseEvent[];
  sse: boolean;
}

/** Reads a whole reply, JSON or SSE, and checks its hygiene. */
export async function readReply(res: Response): Promise<Reply> {
  const sse = (res.headers.get("content-type") ?? "").startsWith("text/event-stream");
  if (sse) {
    const reader = new SseReader(res.body!);
    const events: SseEvent[] = [];
    for (;;) {
      const event = await reader.next();
      if (event === null) break;
      events.push(event);
    }
    const messages = events.filter((e) => e.data !== "").map((e) => JSON.parse(e.data) as RpcMessage);
    for (const event of events) expectClean(res.status, event.data);
    messages.forEach(expectCleanMessage);
    return { status: res.status, headers: res.headers, messages, body: null, events, sse };
  }
  const text = await res.text();
  expectClean(res.status, text);
  const body = text === "" ? null : (JSON.parse(text) as unknown);
  const messages = body === null ? [] : ((Array.isArray(body) ? body : [body]) as RpcMessage[]);
  messages.forEach(expectCleanMessage);
  return { status: res.status, headers: res.headers, messages, body, events: [], sse };
}

/** Reads an error reply that ends the HTTP exchange: its status and JSON-RPC error. */
export async function readError(res: Response): Promise<{ status: number; headers: Headers; error: RpcMessage["error"]; id: unknown }> {
  const reply = await readReply(res);
  expect(reply.sse).toBe(false);
  const message = reply.body as RpcMessage;
  expect(message.jsonrpc).toBe("2.0");
  expect(message.error).toBeDefined();
  return { status: reply.status, headers: reply.headers, error: message.error, id: message.id };
}

// --- SSE ----------------------------------------------------------------------------------

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
  retry?: number;
}

/**
 * An incremental `text/event-stream` parser (HTML Living Standard §9.2.6), independent of the
 * gateway's own encoder. Unlike a browser it also reports events with an id and empty data (the
 * priming events of 2025-11-25), since tests assert on them.
 */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  #queue: SseEvent[] = [];
  #done = false;
  #current: { id?: string; event?: string; data: string[]; retry?: number; seen: boolean } = { data: [], seen: false };
  /** A read still pending after a timeout: the next call takes it up, so no chunk is lost. */
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** The next event, or null when the stream ended. Fails the test after `timeoutMs`. */
  async next(timeoutMs = 15_000): Promise<SseEvent | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length === 0 && !this.#done) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no SSE event within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), remaining)));
      this.#pending ??= this.#reader.read();
      const read = await Promise.race([this.#pending, timeout]).finally(() => clearTimeout(timer));
      if (read === "timeout") throw new Error(`no SSE event within ${timeoutMs} ms`);
      this.#pending = null;
      if (read.done) {
        this.#done = true;
        this.#feed(this.#decoder.decode(), true);
      } else {
        this.#feed(this.#decoder.decode(read.value, { stream: true }), false);
      }
    }
    return this.#queue.shift() ?? null;
  }

  /** The next event that carries a JSON-RPC message (skips priming events). */
  async nextMessage(timeoutMs?: number): Promise<RpcMessage | null> {
    for (;;) {
      const event = await this.next(timeoutMs);
      if (event === null) return null;
      if (event.data === "") continue;
      const message = JSON.parse(event.data) as RpcMessage;
      expectCleanMessage(message);
      return message;
    }
  }

  /** Stops reading: the client goes away. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }

  #feed(text: string, end: boolean): void {
    this.#buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (!match) break;
      // A lone CR at the very end may be the first half of CRLF: wait for more unless the stream ended.
      if (match[0] === "\r" && match.index === this.#buffer.length - 1 && !end) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      this.#line(line);
    }
    // At the end an incomplete event is discarded (the standard's rule).
  }

  #line(line: string): void {
    if (line === "") {
      const c = this.#current;
      if (c.seen) {
        const event: SseEvent = { data: c.data.join("\n") };
        if (c.id !== undefined) event.id = c.id;
        if (c.event !== undefined) event.event = c.event;
        if (c.retry !== undefined) event.retry = c.retry;
        this.#queue.push(event);
      }
      this.#current = { data: [], seen: false };
      return;
    }
    if (line.startsWith(":")) return; // comment (keepalive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    const c = this.#current;
    switch (field) {
      case "data":
        c.data.push(value);
        c.seen = true;
        break;
      case "id":
        if (!value.includes("\0")) c.id = value;
        c.seen = true;
        break;
      case "event":
        c.event = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) c.retry = Number(value);
        break;
      default:
        break;
    }
  }
}

// --- sessions -----------------------------------------------------------------------------

export interface ConnectOptions {
  token?: string | null;
  version?: string;
  capabilities?: Json;
  /** Send notifications/initialized after the result (default true). */
  initialized?: boolean;
}

/** A client session with the gateway: the headers every request after initialize carries. */
export class Session {
  readonly tenant: string;
  readonly id: string;
  readonly version: string;
  readonly token: string | null;
  readonly initializeResult: Json;
  #nextId = 1;

  constructor(tenant: string, id: string, version: string, tokenValue: string | null, initializeResult: Json) {
    this.tenant = tenant;
    this.id = id;
    this.version = version;
    this.token = tokenValue;
    this.initializeResult = initializeResult;
  }

  nextId(): number {
    return this.#nextId++;
  }

  options(extra: McpOptions = {}): McpOptions {
    return { token: this.token, session: this.id, version: this.version, ...extra };
  }

  /** POSTs any body inside the session. */
  post(body: unknown, extra: McpOptions = {}): Promise<Response> {
    return mcp(this.tenant, body, this.options(extra));
  }

  /** Sends one request and reads the whole reply; `response` is the message answering it. */
  async request(method: string, params?: Json, extra: McpOptions = {}): Promise<{ response: RpcMessage; messages: RpcMessage[]; reply: Reply }> {
    const id = this.nextId();
    const message: RpcMessage = params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params };
    const reply = await readReply(await this.post(message, extra));
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    const response = reply.messages.find((m) => m.id === id && (m.result !== undefined || m.error !== undefined));
    expect(response, `no response to ${method} in ${JSON.stringify(reply.messages)}`).toBeDefined();
    return { response: response!, messages: reply.messages, reply };
  }

  /** A request whose answer must be a result; returns it. */
  async result(method: string, params?: Json): Promise<Json> {
    const { response } = await this.request(method, params);
    expect(response.error, JSON.stringify(response.error)).toBeUndefined();
    return response.result!;
  }

  /** A tools/call; returns the call's result. */
  callTool(name: string, args: Json = {}): Promise<Json> {
    return this.result("tools/call", { name, arguments: args });
  }

  /** Sends a notification; the gateway answers 202 without a body. */
  async notify(method: string, params?: Json): Promise<Response> {
    return this.post(params === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params });
  }

  /** GET: the standalone stream, or a resume with Last-Event-ID. */
  listen(lastEventId?: string, extra: McpOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...extra.headers };
    if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
    return mcp(this.tenant, undefined, this.options({ method: "GET", ...extra, headers }));
  }

  delete(extra: McpOptions = {}): Promise<Response> {
    return mcp(this.tenant, undefined, this.options({ method: "DELETE", ...extra }));
  }

  stub() {
    return sessionStub(this.tenant, this.id);
  }
}

/** initialize (+ notifications/initialized): a ready session. */
export async function connect(tenant: string, options: ConnectOptions = {}): Promise<Session> {
  const tokenValue = options.token === undefined ? await token(tenant) : options.token;
  const res = await mcp(tenant, initializeRequest(options.version ?? LATEST_VERSION, options.capabilities ?? {}), { token: tokenValue });
  const sessionId = res.headers.get("mcp-session-id");
  const reply = await readReply(res);
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  const response = reply.messages.find((m) => m.id === "init");
  expect(response?.error, JSON.stringify(response?.error)).toBeUndefined();
  expect(sessionId).toBeTruthy();
  const result = response!.result!;
  const session = new Session(tenant, sessionId!, String(result.protocolVersion), tokenValue, result);
  if (options.initialized !== false) {
    const ack = await session.notify("notifications/initialized");
    expect(ack.status).toBe(202);
  }
  return session;
}

/** The names in a list result field (tools, prompts). */
export function names(items: unknown): string[] {
  return (items as { name: string }[]).map((item) => item.name);
}

/** The text of a tool result's first text content. */
export function text(result: Json): string {
  const content = result.content as { type: string; text?: string }[];
  const first = content.find((c) => c.type === "text");
  expect(first, JSON.stringify(result)).toBeDefined();
  return first!.text!;
}
