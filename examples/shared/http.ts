// Shared plumbing for the demo MCP backends: a plain node:http server that
// speaks Streamable HTTP on /mcp with one McpServer + transport per session.
// The demo servers only declare tools/resources/prompts; everything about
// sockets, sessions, readiness and shutdown lives here.

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";

export interface BackendOptions {
  /** Used in log lines (stderr) only. */
  name: string;
  /** Called once per new session; each session gets its own McpServer. */
  createServer: () => McpServer;
  /** 0 picks a free port. */
  port: number;
  /**
   * Optional: answers paths other than /mcp (e.g. metadata); return false to let it 404.
   * Called after the Host check.
   */
  route?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
  /**
   * Optional: runs before every /mcp request. Return the caller's AuthInfo (the SDK hands it to
   * tool handlers as `extra.authInfo`), or undefined after answering the request itself (401).
   */
  authenticate?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<AuthInfo | undefined>;
}

export interface HttpBackend {
  url: string;
  port: number;
  /** Number of live sessions, handy for tests asserting DELETE worked. */
  sessionCount(): number;
  close(): Promise<void>;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
}

// Loopback-only service: the demo backends must never be reachable from the
// network, so we bind 127.0.0.1 and also refuse foreign Host headers (a browser
// page on another origin could otherwise reach us via DNS rebinding).
const HOST = "127.0.0.1";
const LOCAL_HOSTNAMES = new Set(["127.0.0.1", "localhost", "[::1]"]);
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export async function startHttpBackend(opts: BackendOptions): Promise<HttpBackend> {
  const sessions = new Map<string, Session>();

  const httpServer = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(opts.name, `request failed: ${describe(err)}`);
      if (!res.headersSent) jsonRpcError(res, 500, -32603, "Internal server error");
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `http://${HOST}`);
    if (url.pathname !== "/mcp") {
      if (opts.route && isLocalHost(req.headers.host) && (await opts.route(req, res, url))) return;
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    if (!isLocalHost(req.headers.host)) {
      jsonRpcError(res, 403, -32000, `Invalid Host header: ${req.headers.host ?? ""}`);
      return;
    }
    if (opts.authenticate) {
      const auth = await opts.authenticate(req, res, url);
      if (auth === undefined) return;
      (req as IncomingMessage & { auth?: AuthInfo }).auth = auth;
    }

    const sessionId = header(req, "mcp-session-id");
    if (sessionId !== undefined) {
      const session = sessions.get(sessionId);
      // 404 tells a spec-compliant client its session is gone and it must re-initialize.
      if (!session) return jsonRpcError(res, 404, -32001, "Session not found");
      const body = req.method === "POST" ? await readJson(req, res) : undefined;
      if (body === INVALID) return;
      await session.transport.handleRequest(req, res, body);
      return;
    }

    if (req.method !== "POST") {
      return jsonRpcError(res, 400, -32000, "Bad Request: missing mcp-session-id header");
    }
    const body = await readJson(req, res);
    if (body === INVALID) return;
    if (!isInitializeRequest(body)) {
      return jsonRpcError(res, 400, -32000, "Bad Request: no session and not an initialize request");
    }

    const server = opts.createServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      // Register only once the id exists, so a follow-up request can never race the map.
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server });
        log(opts.name, `session ${id} opened`);
      },
    });
    // Fires on DELETE, on server.close() and at shutdown; the SDK chains this
    // with its own handler when connect() runs.
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id !== undefined && sessions.delete(id)) log(opts.name, `session ${id} closed`);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  // Keep idle connections until the client closes them: workerd (the gateway) pools and reuses
  // them, and Node's default 5 s idle close races that reuse, failing a request now and then
  // with "Network connection lost" (docs/reliability.md, "Findings").
  httpServer.keepAliveTimeout = 0;

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(opts.port, HOST, () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const port = (httpServer.address() as AddressInfo).port;

  return {
    url: `http://${HOST}:${port}/mcp`,
    port,
    sessionCount: () => sessions.size,
    close: async () => {
      // Closing each McpServer closes its transport, which ends open SSE streams.
      await Promise.allSettled([...sessions.values()].map((s) => s.server.close()));
      sessions.clear();
      await closeHttp(httpServer);
    },
  };
}

/**
 * Entry point used by the demo servers when run as a script: listen on
 * 127.0.0.1:$PORT, print exactly one `ready <url>` line on stdout (the test
 * helpers wait for it), and exit 0 on SIGTERM/SIGINT.
 */
export async function runBackend(opts: Omit<BackendOptions, "port"> & { defaultPort: number }): Promise<void> {
  const port = parsePort(process.env["PORT"], opts.defaultPort);
  const backend = await startHttpBackend({ ...opts, port });
  process.stdout.write(`ready ${backend.url}\n`);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(opts.name, `${signal}: shutting down`);
    // Don't let a stuck client connection keep the process alive forever.
    const force = setTimeout(() => process.exit(1), 3000);
    force.unref();
    backend.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log(opts.name, `shutdown error: ${describe(err)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

/** True when the module with this import.meta.url is the script Node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    // Node reports import.meta.url for the real path, argv[1] as typed (maybe via a symlink).
    return pathToFileURL(realpathSync(entry)).href === moduleUrl;
  } catch {
    return false;
  }
}

export function log(name: string, message: string): void {
  // stderr only: stdout is reserved for the single ready line.
  process.stderr.write(`[${name}] ${message}\n`);
}

const INVALID = Symbol("invalid body");

/** Reads and parses a JSON body; on failure answers the request itself and returns INVALID. */
async function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      jsonRpcError(res, 413, -32000, "Request body too large");
      return INVALID;
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    jsonRpcError(res, 400, -32700, "Parse error");
    return INVALID;
  }
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function isLocalHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  // Strip the port; "[::1]:3101" keeps its brackets.
  const hostname = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return hostname !== undefined && LOCAL_HOSTNAMES.has(hostname.toLowerCase());
}

function parsePort(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid PORT: ${raw}`);
  return port;
}

function closeHttp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive sockets would otherwise hold close() open.
    server.closeAllConnections();
  });
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
