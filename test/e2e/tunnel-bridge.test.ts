/**
 * The connector's stdio side (scripts/tunnel/stdioBridge.ts) against a real stdio server process
 * (test/fixtures/stdio-server.ts), without a gateway: how it answers the gateway's Streamable HTTP
 * (MCP 2025-11-25 basic/transports) and where each message of the server goes.
 */
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { StdioBridge } from "../../scripts/tunnel/stdioBridge.ts";
import type { Reply } from "../../scripts/tunnel/handler.ts";

const fixture = fileURLToPath(new URL("../fixtures/stdio-server.ts", import.meta.url));
const bridges: StdioBridge[] = [];

afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.close()));
});

/** A Reply that records what the bridge answers. */
class Recorded implements Reply {
  status = 0;
  headers: Record<string, string> = {};
  chunks: string[] = [];
  ended = false;
  head(status: number, headers: Record<string, string>): void {
    this.status = status;
    this.headers = headers;
  }
  data(text: string): void {
    this.chunks.push(text);
  }
  end(): void {
    this.ended = true;
  }
  /** The JSON-RPC messages of the SSE events (or of the JSON body) so far. */
  messages(): Record<string, unknown>[] {
    const body = this.chunks.join("");
    if (this.headers["content-type"] === "application/json") return [JSON.parse(body) as Record<string, unknown>];
    return [...body.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function bridge(command = process.execPath, args = [fixture]): { bridge: StdioBridge; log: string[] } {
  const log: string[] = [];
  const b = new StdioBridge(command, args, { maxSessions: 2, log: (line) => log.push(line) });
  bridges.push(b);
  return { bridge: b, log };
}

async function post(b: StdioBridge, message: unknown, session?: string): Promise<Recorded> {
  const reply = new Recorded();
  await b.handle({ method: "POST", headers: session ? { "mcp-session-id": session } : {}, body: JSON.stringify(message) }, reply, new AbortController().signal);
  return reply;
}

async function initialized(b: StdioBridge): Promise<string> {
  const reply = await post(b, { jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } } });
  await expect.poll(() => reply.ended).toBe(true);
  expect(reply.messages()).toEqual([expect.objectContaining({ id: 0, result: expect.objectContaining({ serverInfo: { name: "stdio-fixture", version: "1.0.0" } }) })]);
  return reply.headers["mcp-session-id"]!;
}

describe("the stdio bridge", () => {
  it("starts a server per session on initialize, and refuses requests outside a session", async () => {
    const { bridge: b, log } = bridge();
    const one = await initialized(b);
    const two = await initialized(b);
    expect(one).not.toBe(two);
    expect(b.pids).toHaveLength(2);
    // --max-sessions 2: a third session is refused.
    const third = await post(b, { jsonrpc: "2.0", id: 0, method: "initialize", params: {} });
    expect(third.status).toBe(503);
    expect((await post(b, { jsonrpc: "2.0", id: 1, method: "tools/list" })).status).toBe(400);
    expect((await post(b, { jsonrpc: "2.0", id: 1, method: "tools/list" }, "no-such-session")).status).toBe(404);
    expect((await post(b, [{ jsonrpc: "2.0", id: 1, method: "tools/list" }], one)).status).toBe(400);
    // The banner the server printed on stdout is not MCP: it is logged, not relayed.
    expect(log.some((l) => l.includes("not JSON-RPC on stdout: stdio-server starting"))).toBe(true);
  });

  it("routes a call's progress and its server-to-client request to the call's stream, and the answer back to the server", async () => {
    const { bridge: b } = bridge();
    const session = await initialized(b);
    const listen = new Recorded();
    await b.handle({ method: "GET", headers: { "mcp-session-id": session }, body: null }, listen, new AbortController().signal);
    expect(listen.status).toBe(200);
    const ack = await post(b, { jsonrpc: "2.0", method: "notifications/initialized" }, session);
    expect(ack.status).toBe(202);
    // A notification that belongs to no request goes on the GET stream.
    await expect.poll(() => listen.messages()).toEqual([expect.objectContaining({ method: "notifications/message" })]);

    const call = await post(b, { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "x", arguments: {}, _meta: { progressToken: "p-7" } } }, session);
    expect(call.status).toBe(200);
    expect(call.headers["content-type"]).toBe("text/event-stream");
    await expect.poll(() => call.messages().map((m) => m.method)).toEqual(["notifications/progress", "elicitation/create"]);
    const ask = call.messages()[1]!;
    expect((await post(b, { jsonrpc: "2.0", id: ask.id, result: { action: "decline" } }, session)).status).toBe(202);
    await expect.poll(() => call.ended).toBe(true);
    expect(call.messages().at(-1)).toEqual({ jsonrpc: "2.0", id: 7, result: { content: [{ type: "text", text: "action: decline" }] } });
    expect(listen.messages()).toHaveLength(1);
  });

  it("a server that exits mid-call ends the call's stream at once, and its session is gone", async () => {
    const { bridge: b, log } = bridge();
    const session = await initialized(b);
    const call = await post(b, { jsonrpc: "2.0", id: 9, method: "crash" }, session);
    await expect.poll(() => call.ended).toBe(true);
    expect(call.messages()).toEqual([]);
    expect(log.some((l) => l.includes("exited (code 3)"))).toBe(true);
    expect((await post(b, { jsonrpc: "2.0", id: 10, method: "tools/list" }, session)).status).toBe(404);
    // The next session gets a new server.
    await initialized(b);
  });

  it("DELETE ends the session's server; a server that cannot start ends the initialize stream", async () => {
    const { bridge: b } = bridge();
    const session = await initialized(b);
    const [pid] = b.pids;
    const del = new Recorded();
    await b.handle({ method: "DELETE", headers: { "mcp-session-id": session }, body: null }, del, new AbortController().signal);
    expect(del.status).toBe(200);
    await expect.poll(() => alive(pid!)).toBe(false);

    const { bridge: broken, log } = bridge("/nonexistent/stdio-server", []);
    const reply = await post(broken, { jsonrpc: "2.0", id: 0, method: "initialize", params: {} });
    await expect.poll(() => reply.ended).toBe(true);
    expect(reply.messages()).toEqual([]);
    expect(log.some((l) => l.includes("cannot start /nonexistent/stdio-server"))).toBe(true);
  });
});
