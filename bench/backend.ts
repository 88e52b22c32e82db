/**
 * The benchmark backend: a deliberately tiny MCP server (Streamable HTTP, stateful sessions),
 * written on node:http alone so that it costs tens of microseconds per call and never becomes
 * the bottleneck it is meant to measure others against. One process serves several backends,
 * each on its own 127.0.0.1 port, each with its own delays.
 *
 *   node bench/backend.ts '<spec JSON>'
 *   spec: { "backends": [{ "name": "b01", "listDelayMs": 50, "initDelayMs": 0, "tools": 10 }, ...] }
 *
 * Prints one line `ready {"b01": 41234, ...}` on stdout once every port listens; SIGTERM stops it.
 *
 * Tools (on every backend):
 *   echo({ text })                     the text back, as a text block (JSON reply)
 *   stream({ count, size, tag })       `count` notifications/progress when the request has a
 *                                      progressToken, each with a `size`-byte message (an SSE
 *                                      reply, written as fast as the socket takes them), then a
 *                                      text result
 *   work({ ms, size })                 waits `ms` (a tool doing real work: an API call, a query),
 *                                      then answers a `size`-byte text (the agent-loop scenario)
 *   filler_<n>                         inert tools that make the list realistically long (7 by
 *                                      default: 10 tools per backend)
 *
 * Protocol: initialize (after initDelayMs), notifications/* (202), ping, tools/list (after
 * listDelayMs), tools/call; DELETE ends a session; GET answers 405 (no standalone stream). An
 * unknown session id gets 404, a foreign Host header 403.
 *
 * A backend with `modern: true` speaks 2026-07-28 instead: no initialize and no session,
 * `server/discover`, and every request stands alone (basic/transports/streamable-http), each
 * result marked `resultType: "complete"` (2026-07-28 changelog). The same tools, the same work.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface BackendSpec {
  name: string;
  /** tools/list answers after this long (the fan-out scenario). */
  listDelayMs?: number;
  /** initialize answers after this long (the initialize scenario). */
  initDelayMs?: number;
  /** How many filler tools besides echo, stream and work. */
  tools?: number;
  /** Speaks 2026-07-28 (stateless) instead of 2025-11-25. */
  modern?: boolean;
}

const HOST = "127.0.0.1";
const LOCAL_HOSTNAMES = new Set(["127.0.0.1", "localhost"]);
const VERSIONS = new Set(["2025-03-26", "2025-06-18", "2025-11-25"]);
const LATEST = "2025-11-25";
const MODERN = "2026-07-28";
const MAX_BODY_BYTES = 1024 * 1024;

type Json = Record<string, unknown>;

function toolList(spec: BackendSpec): Json[] {
  const tools: Json[] = [
    {
      name: "echo",
      description: "Returns its text argument.",
      inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
      annotations: { readOnlyHint: true },
    },
    {
      name: "stream",
      description: "Sends `count` progress notifications, then a result.",
      inputSchema: { type: "object", properties: { count: { type: "integer", minimum: 0 }, size: { type: "integer", minimum: 0 }, tag: { type: "string" } } },
    },
    {
      name: "work",
      description: "Waits `ms` milliseconds, as a tool doing real work would, then answers a `size`-byte text.",
      inputSchema: { type: "object", properties: { ms: { type: "integer", minimum: 0 }, size: { type: "integer", minimum: 0 } }, required: ["ms"] },
    },
  ];
  for (let i = 1; i <= (spec.tools ?? 7); i++) {
    tools.push({
      name: `filler_${i}`,
      description: `Inert tool number ${i} of backend ${spec.name}; it exists so lists have a realistic size.`,
      inputSchema: { type: "object", properties: { query: { type: "string", description: "Anything" }, limit: { type: "integer" } } },
    });
  }
  return tools;
}

function startBackend(spec: BackendSpec): Promise<{ server: Server; port: number }> {
  const sessions = new Set<string>();
  const tools = toolList(spec);
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, { jsonrpc: "2.0", id: null, error: { code: -32603, message: "Internal error" } });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === "/healthz") return void res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    if (req.url !== "/mcp") return void res.writeHead(404).end();
    const host = (req.headers.host ?? "").split(":")[0] ?? "";
    if (!LOCAL_HOSTNAMES.has(host)) return reply(res, 403, { jsonrpc: "2.0", id: null, error: { code: -32000, message: "Invalid Host" } });
    const sessionId = req.headers["mcp-session-id"];
    if (req.method === "GET") return void res.writeHead(405, { allow: "POST, DELETE" }).end();
    if (req.method === "DELETE") {
      if (typeof sessionId === "string") sessions.delete(sessionId);
      return void res.writeHead(204).end();
    }
    if (req.method !== "POST") return void res.writeHead(405).end();
    const body = await readBody(req);
    let message: Json;
    try {
      message = JSON.parse(body) as Json;
    } catch {
      return reply(res, 400, { jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });
    }
    const id = message.id;
    const params = (message.params ?? {}) as Json;
    if (spec.modern) return modern(res, id, message.method, params);
    if (message.method === "initialize") {
      if (spec.initDelayMs) await sleep(spec.initDelayMs);
      const session = randomUUID();
      sessions.add(session);
      const asked = String(params.protocolVersion ?? "");
      return reply(
        res,
        200,
        {
          jsonrpc: "2.0",
          id,
          result: {
            protocolVersion: VERSIONS.has(asked) ? asked : LATEST,
            capabilities: { tools: { listChanged: false } },
            serverInfo: { name: `bench-${spec.name}`, version: "1.0.0" },
          },
        },
        { "mcp-session-id": session },
      );
    }
    if (typeof sessionId !== "string" || !sessions.has(sessionId)) {
      return reply(res, 404, { jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } });
    }
    if (id === undefined) return void res.writeHead(202).end(); // a notification (or a response)
    switch (message.method) {
      case "ping":
        return reply(res, 200, { jsonrpc: "2.0", id, result: {} });
      case "tools/list":
        if (spec.listDelayMs) await sleep(spec.listDelayMs);
        return reply(res, 200, { jsonrpc: "2.0", id, result: { tools } });
      case "tools/call":
        return call(res, id, params);
      default:
        return reply(res, 200, { jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } });
    }
  }

  /** A 2026-07-28 request: no session to check, everything it needs is in it. */
  async function modern(res: ServerResponse, id: unknown, method: unknown, params: Json): Promise<void> {
    if (id === undefined) return void res.writeHead(202).end();
    if (method === "server/discover") {
      return reply(res, 200, {
        jsonrpc: "2.0",
        id,
        result: { resultType: "complete", supportedVersions: [MODERN], capabilities: { tools: { listChanged: false } }, _meta: { "io.modelcontextprotocol/serverInfo": { name: `bench-${spec.name}`, version: "1.0.0" } } },
      });
    }
    const version = ((params._meta ?? {}) as Json)["io.modelcontextprotocol/protocolVersion"];
    if (version !== MODERN) return reply(res, 400, { jsonrpc: "2.0", id, error: { code: -32022, message: "Unsupported protocol version", data: { supported: [MODERN] } } });
    switch (method) {
      case "ping":
        return reply(res, 200, { jsonrpc: "2.0", id, result: { resultType: "complete" } });
      case "tools/list":
        if (spec.listDelayMs) await sleep(spec.listDelayMs);
        return reply(res, 200, { jsonrpc: "2.0", id, result: { resultType: "complete", tools } });
      case "tools/call":
        return call(res, id, params);
      default:
        return reply(res, 200, { jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } });
    }
  }

  function call(res: ServerResponse, id: unknown, params: Json): void {
    const args = (params.arguments ?? {}) as Json;
    const complete = spec.modern ? { resultType: "complete" } : {};
    if (params.name === "echo") {
      return reply(res, 200, { jsonrpc: "2.0", id, result: { ...complete, content: [{ type: "text", text: String(args.text ?? "") }] } });
    }
    if (params.name === "stream") {
      const count = Math.max(0, Math.min(100_000, Number(args.count ?? 0)));
      const token = ((params._meta ?? {}) as Json).progressToken;
      const filler = "x".repeat(Math.max(0, Math.min(65_536, Number(args.size ?? 0))));
      const done = { jsonrpc: "2.0", id, result: { ...complete, content: [{ type: "text", text: `streamed ${token === undefined ? 0 : count} ${String(args.tag ?? "")}` }] } };
      if (token === undefined) return reply(res, 200, done);
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      let sent = 0;
      const pump = (): void => {
        while (sent < count) {
          sent++;
          const note = { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: token, progress: sent, total: count, message: filler } };
          if (!res.write(`data: ${JSON.stringify(note)}\n\n`)) return void res.once("drain", pump);
        }
        res.end(`data: ${JSON.stringify(done)}\n\n`);
      };
      pump();
      return;
    }
    if (params.name === "work") {
      const ms = Math.max(0, Math.min(10_000, Number(args.ms ?? 0)));
      const text = `done in ${ms} ms `.padEnd(Math.max(0, Math.min(65_536, Number(args.size ?? 0))), ".");
      return void sleep(ms).then(() => reply(res, 200, { jsonrpc: "2.0", id, result: { ...complete, content: [{ type: "text", text }] } }));
    }
    return reply(res, 200, { jsonrpc: "2.0", id, result: { ...complete, content: [{ type: "text", text: "ok" }] } });
  }

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, () => resolve({ server, port: (server.address() as AddressInfo).port }));
  });
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error("body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (import.meta.main) {
  const spec = JSON.parse(process.argv[2] ?? '{"backends":[{"name":"bench"}]}') as { backends: BackendSpec[] };
  const started = await Promise.all(spec.backends.map(startBackend));
  const ports = Object.fromEntries(spec.backends.map((b, i) => [b.name, started[i]!.port]));
  process.stdout.write(`ready ${JSON.stringify(ports)}\n`);
  const stop = (): void => {
    for (const { server } of started) {
      server.close();
      server.closeAllConnections();
    }
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
