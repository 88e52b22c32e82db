/**
 * A home for the engine in Node, over the memory store (issue 12: "It is unit-tested over the
 * memory store, without workerd"), and real MCP backends served in-process.
 *
 * - Backends are real MCP servers (the v1 SDK's McpServer behind its web-standard Streamable
 *   HTTP transport, or a v2 SDK handler for 2026-07-28), reached through the `service`
 *   transport: a tenant backend `{ transport: "service", service: "BACKEND_X" }` makes the
 *   engine call `env.BACKEND_X.fetch(request)`, which here hands the web Request to the server.
 *   No socket is opened.
 * - The home is what a home provides (worker/engine/host.ts): a MemoryStore, an env holding the
 *   service bindings and nothing else (no AUDIT, LIMITERS, METRICS or MONITORS), a real
 *   SessionObserver that also keeps the audit events it is given, and a small in-memory tenant
 *   authority. It serves requests as both homes do: `handler.request`, then every message through
 *   `handler.toClient` for the client's revision.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { McpServer as ModernMcpServer, createMcpHandler } from "@modelcontextprotocol/server";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { AuditEvent } from "../../../worker/audit/audit.ts";
import type { Env } from "../../../worker/env.ts";
import type { Principal } from "../../../worker/policy/principal.ts";
import type { Produced } from "../../../worker/engine/handler.ts";
import type { ClientFacts, EngineHost, TenantAuthority } from "../../../worker/engine/host.ts";
import { createEngine, type Engine } from "../../../worker/engine/engine.ts";
import type { Caller } from "../../../worker/engine/inputs.ts";
import { MemoryStore } from "../../../worker/engine/store.ts";
import { SessionObserver } from "../../../worker/engine/observer.ts";
import type { PinInput, PinStatus } from "../../../worker/policy/pinning.ts";
import type { JsonRpcMessage, JsonRpcRequest, JsonRpcResponse } from "../../../worker/protocol/jsonrpc.ts";
import { parseTenant, type TenantConfig, type TenantInput } from "../../../worker/tenant/schema.ts";

/** The revision the test client speaks (legacy era). */
export const CLIENT_VERSION = "2025-11-25";

export interface ServiceBinding {
  fetch(request: Request): Promise<Response>;
}

/** An in-process MCP server behind a service binding. */
export interface TestBackend extends ServiceBinding {
  /** Every JSON-RPC message POSTed to it, in order (what the gateway sent). */
  readonly received: Record<string, unknown>[];
  /** The HTTP method and status of each exchange, once answered ("GET 200": a listen stream is open). */
  readonly exchanges: string[];
  close(): Promise<void>;
}

/**
 * A 2025-era MCP server with sessions (v1 SDK): one McpServer and transport per upstream session,
 * created by the `initialize` that opens it, as a real stateful Streamable HTTP server does.
 */
export function legacyBackend(name: string, register: (server: McpServer) => void): TestBackend {
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const servers = new Set<McpServer>();
  const received: Record<string, unknown>[] = [];
  const exchanges: string[] = [];
  const answer = async (request: Request): Promise<Response> => {
    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId !== null) {
      const transport = sessions.get(sessionId);
      if (transport) return transport.handleRequest(request);
      return Response.json({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } }, { status: 404 });
    }
    const server = new McpServer({ name, version: "1.0.0" }, { capabilities: { logging: {} } });
    register(server);
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, transport),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    await server.connect(transport);
    servers.add(server);
    const response = await transport.handleRequest(request);
    // Not an initialize (the gateway's server/discover probe): nothing was opened.
    if (transport.sessionId === undefined) {
      servers.delete(server);
      await server.close();
    }
    return response;
  };
  return {
    received,
    exchanges,
    async fetch(request) {
      if (request.method === "POST") {
        const body: unknown = await request.clone().json();
        for (const message of Array.isArray(body) ? body : [body]) received.push(message as Record<string, unknown>);
      }
      const response = await answer(request);
      exchanges.push(`${request.method} ${response.status}`);
      return response;
    },
    async close() {
      await Promise.all([...servers].map((server) => server.close()));
      servers.clear();
      sessions.clear();
    },
  };
}

/**
 * A 2026-07-28 MCP server (v2 SDK, `legacy: "reject"`): no sessions, a fresh McpServer per
 * request, served by the SDK's web-standard handler.
 */
export function modernBackend(name: string, register: (server: ModernMcpServer) => void): TestBackend {
  const handler = createMcpHandler(
    () => {
      const server = new ModernMcpServer({ name, version: "1.0.0" }, { capabilities: { tools: {} } });
      register(server);
      return server;
    },
    { legacy: "reject" },
  );
  const received: Record<string, unknown>[] = [];
  const exchanges: string[] = [];
  return {
    received,
    exchanges,
    async fetch(request) {
      if (request.method === "POST") received.push((await request.clone().json()) as Record<string, unknown>);
      const response = await handler.fetch(request);
      exchanges.push(`${request.method} ${response.status}`);
      return response;
    },
    close: () => handler.close(),
  };
}

/** A backend that is down: every request fails the way a dead origin answers. */
export function downBackend(status = 503): TestBackend {
  const received: Record<string, unknown>[] = [];
  const exchanges: string[] = [];
  return {
    received,
    exchanges,
    async fetch(request) {
      exchanges.push(`${request.method} ${status}`);
      return new Response("upstream connect error", { status });
    },
    async close() {},
  };
}

/** A tenant config as an admin would write it, defaults filled by the schema. */
export function tenantConfig(input: Omit<TenantInput, "id"> & { id?: string }): TenantConfig {
  const parsed = parseTenant({ id: "acme", ...input });
  if (!parsed.ok) throw new Error(`bad test tenant: ${parsed.error}`);
  return parsed.tenant;
}

/** A service backend entry of a tenant document. */
export function service(name: string, binding: string, extra: Record<string, unknown> = {}) {
  return { name, transport: "service" as const, service: binding, timeoutMs: 5_000, ...extra };
}

/** A SessionObserver that also keeps what it is told (the audit events of decided calls). */
export class RecordingObserver extends SessionObserver {
  readonly calls: AuditEvent[] = [];
  readonly backendCalls: { backend: string; method: string; outcome: string; tool: string | undefined }[] = [];

  override call(event: AuditEvent): void {
    this.calls.push(event);
    super.call(event);
  }

  override backendCall(facts: Parameters<SessionObserver["backendCall"]>[0]): void {
    this.backendCalls.push({ backend: facts.backend, method: facts.method, outcome: facts.outcome, tool: facts.tool });
    super.backendCall(facts);
  }
}

export interface HomeOptions {
  principal?: Principal;
  client?: Partial<ClientFacts>;
}

export interface TestHome {
  engine: Engine;
  host: EngineHost;
  env: Env;
  observer: RecordingObserver;
  store: MemoryStore;
  /** Tool definitions the catalog pinned with the tenant authority. */
  pinned: PinInput[];
  /** The config the home runs now (what host.config() returns). */
  readonly config: TenantConfig;
  /** A newer config arrived (from a request or the policy watch), as the homes adopt it. */
  useConfig(config: TenantConfig): void;
  /** handler.request on the current config. */
  request(request: JsonRpcRequest, stream?: string): Promise<Produced>;
  /** A request served to the end: every message the client would get, in order. */
  serve(request: JsonRpcRequest): Promise<JsonRpcMessage[]>;
  /** The client's view of one message (handler.toClient for the client's revision). */
  toClient(message: JsonRpcMessage, method: string | undefined): JsonRpcMessage | null;
  /** Ends upstream sessions, aborts calls, and waits for background work (audit, metrics). */
  close(): Promise<void>;
}

let traceCounter = 0;

export function testHome(bindings: Record<string, ServiceBinding>, initial: TenantConfig, options: HomeOptions = {}): TestHome {
  const env = { ...bindings } as unknown as Env;
  const store = new MemoryStore();
  const background: Promise<unknown>[] = [];
  const waitUntil = (promise: Promise<unknown>): void => void background.push(promise.catch(() => {}));
  const observer = new RecordingObserver(env, waitUntil, "unit-session");
  const principal: Principal = options.principal ?? { sub: "alice", roles: ["dev"], scopes: [] };
  const client: ClientFacts = { version: CLIENT_VERSION, capabilities: {}, name: "unit-client", logLevel: undefined, ...options.client };
  const pinned: PinInput[] = [];
  let current = initial;
  const authority: TenantAuthority = {
    version: async () => current.version,
    config: async () => current,
    pin: async (tools) => {
      pinned.push(...tools);
      return Object.fromEntries(tools.map((t) => [`${t.backend}\u0000${t.tool}`, "approved" as PinStatus]));
    },
    status: async () => null,
  };
  const traceparent = `00-${(++traceCounter).toString(16).padStart(32, "0")}-${"1".padStart(16, "0")}-01`;
  const caller = (): Caller => ({
    tenant: { id: current.id, version: current.version },
    principal,
    subjectToken: null,
    resourceMetadataUrl: "https://gateway.example/.well-known/oauth-protected-resource/t/acme/mcp",
    traceparent,
  });
  const host: EngineHost = {
    env,
    store,
    sessionId: "unit-session",
    observer,
    waitUntil,
    config: () => current,
    caller,
    client: () => client,
    tenant: () => authority,
  };
  const engine = createEngine(host, { credentials: null });
  // As a home does on each request: the config and the client's capabilities.
  engine.backends.restore(current, client.capabilities);
  engine.catalog.useConfig(current);

  const toClient = (message: JsonRpcMessage, method: string | undefined) => engine.handler.toClient(message, method, client.version);
  const home: TestHome = {
    engine,
    host,
    env,
    observer,
    store,
    pinned,
    get config() {
      return current;
    },
    useConfig(config) {
      if (config.version <= current.version) return;
      current = config;
      engine.catalog.useConfig(config);
      engine.backends.restore(config, client.capabilities);
    },
    request: (request, stream = "s1") => engine.handler.request(request, current, stream),
    async serve(request) {
      const produced = await home.request(request);
      const out: JsonRpcMessage[] = [];
      for await (const message of produced.messages) {
        const filtered = toClient(message, request.method);
        if (filtered) out.push(filtered);
      }
      return out;
    },
    toClient,
    async close() {
      engine.relay.abortAll();
      await engine.backends.terminateAll(AbortSignal.timeout(2_000));
      await Promise.all(background);
    },
  };
  return home;
}

let nextId = 0;

/** A client request with a fresh id. */
export function rpc(method: string, params?: Record<string, unknown>, id: string | number = `c${++nextId}`): JsonRpcRequest {
  return params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params };
}

/** The last message of a served request, which must be the response to it. */
export function responseOf(messages: JsonRpcMessage[], request: JsonRpcRequest): JsonRpcResponse {
  const last = messages.at(-1);
  if (!last || !("id" in last) || last.id !== request.id || "method" in last) {
    throw new Error(`no response to ${String(request.id)}: ${JSON.stringify(messages)}`);
  }
  return last as JsonRpcResponse;
}

/** The names of a tools/list result. */
export function toolNames(response: JsonRpcResponse): string[] {
  if (!("result" in response)) throw new Error(`tools/list failed: ${JSON.stringify(response)}`);
  return (response.result.tools as { name: string }[]).map((t) => t.name).sort();
}

/** A promise and its resolver (a backend tool waits on one while the test looks around). */
export function gate<T = void>(): { promise: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}
