/**
 * A stdio MCP server behind the tunnel: the connector answers the gateway's Streamable HTTP
 * (MCP 2025-11-25 basic/transports) and runs one child process per gateway session, because a
 * stdio server serves exactly one client (basic/transports "stdio"): its request ids, its
 * server-to-client requests and its subscriptions then never mix between sessions.
 *
 * - POST `initialize` without a session starts a child and mints the session id;
 * - POST of a request answers an SSE stream carrying the child's messages for it (progress by
 *   progress token, then the response); server-to-client requests the child sends while a call is
 *   open go on that call's stream (they are made while handling it), otherwise on the GET stream;
 * - POST of a notification or a response is written to the child and answered 202;
 * - GET opens the session's stream of unsolicited messages; DELETE ends the child.
 *
 * A child that exits ends its session: open streams end at once (the call fails fast), and the
 * gateway's next request gets 404, starts a new session and so a new child. Children that keep
 * crashing are restarted with backoff. Stopping the connector kills every child.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { backoffDelay, RESTART } from "./backoff.ts";
import { LineSplitter } from "./lines.ts";
import { refuse, SSE_HEADERS, sseEvent, type Handler, type Reply, type TunnelRequest } from "./handler.ts";

/** A session unused for this long (and with no stream open) has its child ended. */
export const SESSION_IDLE_MS = 30 * 60_000;
/** A child that exits sooner than this after starting counts as a crash for the restart backoff. */
const CRASH_WINDOW_MS = 10_000;
/** An initialize waits at most this long for the restart backoff; beyond, it is refused (503). */
const MAX_RESTART_WAIT_MS = 5_000;
/** Grace between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2_000;

type Log = (line: string) => void;

interface Stream {
  reply: Reply;
  /** JSON of the request id, or null for the GET stream. */
  requestId: string | null;
  progressToken: string | null;
}

interface Session {
  id: string;
  child: ChildProcess;
  startedAt: number;
  lastUsed: number;
  /** Open request streams in the order they were opened. */
  streams: Stream[];
  listen: Stream | null;
  ended: boolean;
}

export class StdioBridge implements Handler {
  readonly #command: string;
  readonly #args: string[];
  readonly #max: number;
  readonly #log: Log;
  readonly #sessions = new Map<string, Session>();
  #crashes = 0;
  #nextStart = 0;
  readonly #sweeper: ReturnType<typeof setInterval>;

  /** Told of each server process started (true) and ended (false): the connector's watchdog. */
  readonly #watch: (pid: number, alive: boolean) => void;

  constructor(command: string, args: string[], options: { maxSessions: number; log: Log; watch?: (pid: number, alive: boolean) => void }) {
    this.#command = command;
    this.#watch = options.watch ?? (() => {});
    this.#args = args;
    this.#max = options.maxSessions;
    this.#log = options.log;
    this.#sweeper = setInterval(() => this.#sweep(), 60_000);
    this.#sweeper.unref();
  }

  /** Live children (for tests and the connector's status line). */
  get pids(): number[] {
    return [...this.#sessions.values()].map((s) => s.child.pid ?? -1);
  }

  async handle(request: TunnelRequest, reply: Reply, cancelled: AbortSignal): Promise<void> {
    const sessionId = request.headers["mcp-session-id"];
    const session = sessionId === undefined ? undefined : this.#sessions.get(sessionId);
    if (sessionId !== undefined && !session) return refuse(reply, 404, "Session not found");
    if (session) session.lastUsed = Date.now();
    if (request.method === "DELETE") {
      if (!session) return refuse(reply, 400, "Bad Request: Mcp-Session-Id header is required");
      this.#end(session, "ended by the gateway");
      reply.head(200, {});
      return reply.end();
    }
    if (request.method === "GET") {
      if (!session) return refuse(reply, 400, "Bad Request: Mcp-Session-Id header is required");
      if (session.listen) return refuse(reply, 409, "Conflict: a stream is already open for this session");
      const stream: Stream = { reply, requestId: null, progressToken: null };
      session.listen = stream;
      reply.head(200, SSE_HEADERS);
      cancelled.addEventListener("abort", () => {
        if (session.listen === stream) session.listen = null;
      });
      return;
    }
    if (request.method !== "POST") return refuse(reply, 405, "Method Not Allowed");
    let message: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(request.body ?? "");
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not one message");
      message = parsed as Record<string, unknown>;
    } catch {
      return refuse(reply, 400, "Bad Request: the body must be one JSON-RPC message");
    }
    const isRequest = typeof message.method === "string" && message.id !== undefined && message.id !== null;
    let target = session;
    let headers: Record<string, string> = SSE_HEADERS;
    if (!target) {
      // 2025-11-25 basic/transports "Session Management": a session starts with initialize.
      if (message.method !== "initialize" || !isRequest) return refuse(reply, 400, "Bad Request: Mcp-Session-Id header is required");
      const started = await this.#start();
      if (typeof started === "string") return refuse(reply, 503, started);
      target = started;
      headers = { ...SSE_HEADERS, "mcp-session-id": target.id };
    }
    if (!isRequest) {
      this.#write(target, message);
      reply.head(202, {});
      return reply.end();
    }
    const params = typeof message.params === "object" && message.params !== null ? (message.params as Record<string, unknown>) : {};
    const meta = typeof params._meta === "object" && params._meta !== null ? (params._meta as Record<string, unknown>) : {};
    const stream: Stream = {
      reply,
      requestId: JSON.stringify(message.id),
      progressToken: meta.progressToken === undefined ? null : JSON.stringify(meta.progressToken),
    };
    target.streams.push(stream);
    const owner = target;
    cancelled.addEventListener("abort", () => this.#close(owner, stream, false));
    reply.head(200, headers);
    this.#write(target, message);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    const all = [...this.#sessions.values()];
    await Promise.all(all.map((s) => this.#end(s, "connector stopping")));
  }

  /** Kills every child at once, synchronously (the process is exiting). */
  killAll(): void {
    for (const session of this.#sessions.values()) session.child.kill("SIGKILL");
  }

  async #start(): Promise<Session | string> {
    if (this.#sessions.size >= this.#max) return `this connector runs at most ${this.#max} sessions (--max-sessions)`;
    const wait = this.#nextStart - Date.now();
    if (wait > MAX_RESTART_WAIT_MS) return "the server keeps crashing; restarting it with backoff";
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const child = spawn(this.#command, this.#args, { stdio: ["pipe", "pipe", "pipe"] });
    const session: Session = { id: randomUUID(), child, startedAt: Date.now(), lastUsed: Date.now(), streams: [], listen: null, ended: false };
    this.#sessions.set(session.id, session);
    if (child.pid !== undefined) this.#watch(child.pid, true);
    const splitter = new LineSplitter();
    child.stdout!.on("data", (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (error) {
        this.#log(`session ${session.id}: ${error instanceof Error ? error.message : String(error)}; ending the server`);
        return void this.#end(session, "line too long");
      }
      for (const line of lines) this.#fromChild(session, line);
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") this.#log(`[server ${child.pid}] ${line}`);
    });
    // A child that is gone makes writes fail with EPIPE; its exit ends the session below.
    child.stdin!.on("error", () => {});
    child.on("error", (error) => {
      this.#log(`cannot start ${this.#command}: ${error.message}`);
      this.#exited(session);
    });
    child.on("exit", (code, signal) => {
      if (child.pid !== undefined) this.#watch(child.pid, false);
      if (!session.ended) this.#log(`server ${child.pid} exited (${signal ?? `code ${code}`}); its session ends, the next one starts a new server`);
      this.#exited(session);
    });
    return session;
  }

  #exited(session: Session): void {
    if (!session.ended) {
      // An exit nobody asked for: a crash when soon after starting, so starts back off.
      if (Date.now() - session.startedAt < CRASH_WINDOW_MS) this.#crashes++;
      else this.#crashes = 0;
      this.#nextStart = this.#crashes === 0 ? 0 : Date.now() + backoffDelay(this.#crashes - 1, RESTART);
    }
    session.ended = true;
    this.#sessions.delete(session.id);
    // Every open stream ends now: a call in flight fails at once instead of waiting.
    for (const stream of [...session.streams]) this.#close(session, stream, true);
    if (session.listen) {
      session.listen.reply.end();
      session.listen = null;
    }
  }

  /** Ends a session on purpose: SIGTERM, then SIGKILL after a grace period. */
  #end(session: Session, why: string): Promise<void> {
    session.ended = true;
    this.#sessions.delete(session.id);
    const child = session.child;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    this.#log(`ending server ${child.pid}: ${why}`);
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin?.end();
      child.kill("SIGTERM");
    });
  }

  #write(session: Session, message: unknown): void {
    session.child.stdin?.write(`${JSON.stringify(message)}\n`);
  }

  #close(session: Session, stream: Stream, end: boolean): void {
    const at = session.streams.indexOf(stream);
    if (at === -1) return;
    session.streams.splice(at, 1);
    if (end) stream.reply.end();
  }

  #fromChild(session: Session, line: string): void {
    let message: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      message = parsed as Record<string, unknown>;
    } catch {
      // Servers sometimes print to stdout by mistake; such lines are not MCP and go to the log.
      return this.#log(`[server ${session.child.pid}] not JSON-RPC on stdout: ${line.slice(0, 200)}`);
    }
    session.lastUsed = Date.now();
    const method = typeof message.method === "string" ? message.method : null;
    const hasId = message.id !== undefined && message.id !== null;
    if (!method && hasId) {
      const id = JSON.stringify(message.id);
      const stream = session.streams.find((s) => s.requestId === id);
      if (!stream) return;
      stream.reply.data(sseEvent(message));
      return this.#close(session, stream, true);
    }
    if (method === "notifications/progress") {
      const params = (message.params ?? {}) as Record<string, unknown>;
      const token = params.progressToken === undefined ? null : JSON.stringify(params.progressToken);
      const stream = session.streams.find((s) => s.progressToken !== null && s.progressToken === token);
      if (stream) return stream.reply.data(sseEvent(message));
    }
    const newest = session.streams.at(-1);
    // A server-to-client request is made while handling a call: it goes with that call.
    const target = method && hasId ? (newest ?? session.listen) : (session.listen ?? newest);
    if (target) return target.reply.data(sseEvent(message));
    // Nowhere to send a request: the child is told at once rather than left waiting.
    if (method && hasId) this.#write(session, { jsonrpc: "2.0", id: message.id, error: { code: -32603, message: "no client stream is open to carry this request" } });
  }

  #sweep(): void {
    const now = Date.now();
    for (const session of [...this.#sessions.values()]) {
      if (session.streams.length === 0 && !session.listen && now - session.lastUsed > SESSION_IDLE_MS) void this.#end(session, "idle");
    }
  }
}
