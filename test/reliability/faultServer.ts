/**
 * Fault-injecting MCP backends on 127.0.0.1 (node:http, Node side only: test/reliability's
 * globalSetup for the workerd suites, and the e2e suites and scripts/soak.ts directly).
 *
 * One server hosts any number of independent backends, each under its own key:
 *
 *   POST/GET/DELETE /k/<key>/mcp     a minimal Streamable HTTP MCP server (2025-11-25)
 *   GET  /control/<key>              { mode, slowMs, requests: [...] }: every request it received
 *   PUT  /control/<key>?mode=&slowMs=  switches the backend's behaviour
 *
 * Modes (applied to every MCP request of that key):
 *   ok        answers normally: tools `echo` (returns its arguments as JSON text) and `progress`
 *             (streams `steps` notifications/progress whose message is the `marker` argument,
 *             then a result whose text is the marker)
 *   refuse    resets the connection as soon as a request arrives
 *   hang      accepts the request and never answers
 *   error500  HTTP 500 with a body full of internals (stack trace, file paths, a password)
 *   garbage   HTTP 200 with bodies that are not JSON-RPC (rotating: broken JSON, HTML, SSE junk)
 *   drop      starts an SSE reply, sends one event, then drops the connection (and any resume)
 *   slow      waits `slowMs`, then answers like ok
 *
 * Switching a backend to refuse or drop also cuts its replies in flight; switching it to hang
 * freezes them (a `progress` stream stops sending and never ends).
 *
 * Every request is logged (HTTP method, JSON-RPC method, headers, body) so tests can prove what
 * reached a backend and what did not.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { FaultMode, LoggedRequest } from "./faults.ts";
import { UPSTREAM_INTERNALS_TEXT as INTERNALS } from "./internals.ts";

interface Backend {
  mode: FaultMode;
  slowMs: number;
  requests: LoggedRequest[];
  sessions: Set<string>;
  garbageTurn: number;
  /** Replies still being written (progress streams). */
  live: Set<ServerResponse>;
}

/** A log entry this many requests old is dropped (a soak sends many). */
const MAX_LOGGED = 20_000;
const MAX_BODY_BYTES = 1024 * 1024;
const VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"];

export interface FaultServer {
  origin: string;
  close(): Promise<void>;
}

export async function startFaultServer(port = 0): Promise<FaultServer> {
  const backends = new Map<string, Backend>();
  const sockets = new Set<Socket>();
  const backendOf = (key: string): Backend => {
    let backend = backends.get(key);
    if (!backend) backends.set(key, (backend = { mode: "ok", slowMs: 0, requests: [], sessions: new Set(), garbageTurn: 0, live: new Set() }));
    return backend;
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  // workerd reuses pooled connections; Node's default 5 s idle close races that reuse and fails a
  // request now and then with "Network connection lost" (docs/reliability.md, "Findings").
  server.keepAliveTimeout = 0;
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const control = /^\/control\/([\w.-]+)$/.exec(url.pathname);
    if (control) {
      const backend = backendOf(control[1]!);
      if (req.method === "PUT") {
        const mode = url.searchParams.get("mode") as FaultMode | null;
        if (mode) backend.mode = mode;
        if (mode === "refuse" || mode === "drop") for (const live of backend.live) live.destroy();
        backend.slowMs = Number(url.searchParams.get("slowMs") ?? backend.slowMs);
        if (url.searchParams.has("clear")) backend.requests = [];
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ mode: backend.mode, slowMs: backend.slowMs, requests: backend.requests }));
      return;
    }
    const mcp = /^\/k\/([\w.-]+)\/mcp$/.exec(url.pathname);
    if (!mcp) {
      res.writeHead(404).end();
      return;
    }
    const backend = backendOf(mcp[1]!);
    const body = await readBody(req);
    let rpc: Record<string, unknown> | null = null;
    try {
      const parsed = JSON.parse(body) as unknown;
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) rpc = parsed as Record<string, unknown>;
    } catch {
      rpc = null;
    }
    backend.requests.push({
      at: Date.now(),
      httpMethod: req.method ?? "",
      rpcMethod: typeof rpc?.method === "string" ? rpc.method : null,
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")])),
      body,
    });
    if (backend.requests.length > MAX_LOGGED) backend.requests.splice(0, backend.requests.length - MAX_LOGGED);

    switch (backend.mode) {
      case "refuse":
        req.socket.destroy();
        return;
      case "hang":
        return; // never answered; the socket is destroyed when the server closes
      case "error500":
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`${INTERNALS[0]}:\n  File "${INTERNALS[1]}", line 42, in handle\n${INTERNALS[2]}: password authentication failed (${INTERNALS[3]})\n`);
        return;
      case "garbage":
        garbage(res, backend.garbageTurn++);
        return;
      case "drop":
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        res.write(`id: drop-1\ndata: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "about to drop" } })}\n\n`);
        setTimeout(() => res.destroy(), 20);
        return;
      case "slow":
        await new Promise((resolve) => setTimeout(resolve, backend.slowMs));
        break;
      default:
        break;
    }
    await answer(backend, mcp[1]!, req, res, rpc);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${address.port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The ok behaviour: a small, correct MCP server. */
async function answer(backend: Backend, key: string, req: IncomingMessage, res: ServerResponse, rpc: Record<string, unknown> | null): Promise<void> {
  const sessionId = header(req, "mcp-session-id");
  if (req.method === "GET") {
    res.writeHead(405, { allow: "POST, DELETE" }).end();
    return;
  }
  if (req.method === "DELETE") {
    if (sessionId) backend.sessions.delete(sessionId);
    res.writeHead(200).end();
    return;
  }
  if (req.method !== "POST" || rpc === null) {
    json(res, 400, { jsonrpc: "2.0", error: { code: -32700, message: "Parse error" } });
    return;
  }
  const method = rpc.method;
  const id = rpc.id;
  const params = (rpc.params ?? {}) as Record<string, unknown>;
  if (method === "initialize") {
    const session = randomUUID();
    backend.sessions.add(session);
    const requested = params.protocolVersion;
    json(
      res,
      200,
      {
        jsonrpc: "2.0",
        id,
        result: {
          protocolVersion: typeof requested === "string" && VERSIONS.includes(requested) ? requested : VERSIONS[0],
          capabilities: { tools: { listChanged: false } },
          serverInfo: { name: `fault-${key}`, version: "1.0.0" },
        },
      },
      { "mcp-session-id": session },
    );
    return;
  }
  if (!sessionId) {
    json(res, 400, { jsonrpc: "2.0", error: { code: -32000, message: "Bad Request: no session" } });
    return;
  }
  if (!backend.sessions.has(sessionId)) {
    json(res, 404, { jsonrpc: "2.0", error: { code: -32001, message: "Session not found" } });
    return;
  }
  if (id === undefined) {
    res.writeHead(202).end(); // a notification or a response
    return;
  }
  switch (method) {
    case "ping":
      json(res, 200, { jsonrpc: "2.0", id, result: {} });
      return;
    case "tools/list":
      json(res, 200, {
        jsonrpc: "2.0",
        id,
        result: {
          tools: [
            { name: "echo", description: "Returns its arguments as JSON text.", inputSchema: { type: "object" } },
            {
              name: "progress",
              description: "Streams `steps` progress notifications carrying `marker`, then returns `marker`.",
              inputSchema: { type: "object", properties: { marker: { type: "string" }, steps: { type: "integer" }, intervalMs: { type: "integer" } } },
            },
          ],
        },
      });
      return;
    case "tools/call": {
      const name = params.name;
      const args = (params.arguments ?? {}) as Record<string, unknown>;
      if (name === "echo") {
        json(res, 200, { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: JSON.stringify(args) }] } });
        return;
      }
      if (name === "progress") {
        const marker = String(args.marker ?? "");
        const steps = Math.min(Math.max(Number(args.steps ?? 3), 0), 1000);
        const intervalMs = Math.min(Math.max(Number(args.intervalMs ?? 5), 0), 5000);
        const token = ((params._meta ?? {}) as Record<string, unknown>).progressToken;
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        backend.live.add(res);
        res.on("close", () => backend.live.delete(res));
        let seq = 0;
        const event = (message: unknown) => res.write(`id: ${++seq}\ndata: ${JSON.stringify(message)}\n\n`);
        for (let step = 1; step <= steps; step++) {
          await new Promise((resolve) => setTimeout(resolve, intervalMs));
          if (res.destroyed) return;
          if (backend.mode === "hang") return; // frozen: nothing more is sent, the reply never ends
          if (token !== undefined) event({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: token, progress: step, total: steps, message: marker } });
        }
        event({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text: marker }] } });
        res.end();
        return;
      }
      json(res, 200, { jsonrpc: "2.0", id, error: { code: -32602, message: `Unknown tool: ${String(name)}` } });
      return;
    }
    default:
      json(res, 200, { jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } });
  }
}

function garbage(res: ServerResponse, turn: number): void {
  switch (turn % 3) {
    case 0:
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"jsonrpc": "2.0", "id": 1, "result": {"tools": [ \u0000\u0001 <<<');
      return;
    case 1:
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html><body>502 Bad Gateway (nginx internal page)</body></html>");
      return;
    default:
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end("id: 1\ndata: this is not json {{{\n\n");
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
