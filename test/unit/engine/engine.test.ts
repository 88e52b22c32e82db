/**
 * The engine (worker/engine/) as both homes run it, over the memory store, in Node: lists merged
 * from real MCP backends, calls routed by reversible names, policy, failure semantics, and what
 * the relay maps on the way back (ids, progress tokens, server-to-client requests).
 *
 * The backends are real MCP servers (test/unit/engine/harness.ts) reached through the `service`
 * transport, so every request the engine makes crosses a real Streamable HTTP exchange.
 */
import { inputRequired, inputResponse, type McpServer as ModernMcpServer } from "@modelcontextprotocol/server";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ElicitResultSchema } from "@modelcontextprotocol/sdk/types.js";
import * as z from "zod";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BackendListeners } from "../../../worker/engine/listen.ts";
import type { JsonRpcMessage, JsonRpcResponse } from "../../../worker/protocol/jsonrpc.ts";
import { MODERN_VERSION } from "../../../worker/protocol/modern.ts";
import {
  downBackend,
  gate,
  legacyBackend,
  modernBackend,
  responseOf,
  rpc,
  service,
  tenantConfig,
  testHome,
  toolNames,
  type TestBackend,
  type TestHome,
} from "./harness.ts";

/** What a backend tool saw of one call. */
interface Seen {
  tool: string;
  args: Record<string, unknown>;
  requestId: string | number;
}

const text = (value: string) => ({ content: [{ type: "text" as const, text: value }] });
const textOf = (response: JsonRpcResponse): string => {
  if (!("result" in response)) throw new Error(`call failed: ${JSON.stringify(response)}`);
  return (response.result.content as { text: string }[])[0]!.text;
};

/** alpha: search, echo, delete_all. */
function alphaTools(seen: Seen[]) {
  return (server: McpServer) => {
    server.registerTool("search", { description: "Searches alpha.", inputSchema: { query: z.string() } }, ({ query }, extra) => {
      seen.push({ tool: "search", args: { query }, requestId: extra.requestId });
      return text(`alpha found ${query}`);
    });
    server.registerTool("echo", { description: "Echo from alpha.", inputSchema: { text: z.string() } }, ({ text: value }, extra) => {
      seen.push({ tool: "echo", args: { text: value }, requestId: extra.requestId });
      return text(`alpha: ${value}`);
    });
    server.registerTool("delete_all", { description: "Deletes everything." }, (extra) => {
      seen.push({ tool: "delete_all", args: {}, requestId: extra.requestId });
      return text("deleted");
    });
  };
}

/** beta: echo (shared with alpha), sum. */
function betaTools(seen: Seen[]) {
  return (server: McpServer) => {
    server.registerTool("echo", { description: "Echo from beta.", inputSchema: { text: z.string() } }, ({ text: value }, extra) => {
      seen.push({ tool: "echo", args: { text: value }, requestId: extra.requestId });
      return text(`beta: ${value}`);
    });
    server.registerTool("sum", { description: "Adds.", inputSchema: { a: z.number(), b: z.number() } }, ({ a, b }, extra) => {
      seen.push({ tool: "sum", args: { a, b }, requestId: extra.requestId });
      return text(String(a + b));
    });
  };
}

/** A 2026-07-28 tool that requires input (basic/patterns/mrtr): the caller's name, by elicitation. */
function askName(server: ModernMcpServer) {
  server.registerTool("ask_name", { description: "Greets whoever answers.", inputSchema: z.object({}) }, (_args, ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, "name");
    if (answer.kind === "elicit" && answer.action === "accept") return text(`Hello, ${String(answer.content?.name)}`);
    if (answer.kind === "elicit") return text("No name given");
    return inputRequired({
      inputRequests: {
        name: inputRequired.elicit({ mode: "form", message: "What is your name?", requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] } }),
      },
    });
  });
}

let backends: TestBackend[] = [];
let homes: TestHome[] = [];
/** The gateway's warning log lines (expected ones are asserted; none is printed). */
let warnings: Record<string, unknown>[] = [];

beforeEach(() => {
  warnings = [];
  vi.spyOn(console, "warn").mockImplementation((line: unknown) => {
    try {
      warnings.push(JSON.parse(String(line)) as Record<string, unknown>);
    } catch {
      warnings.push({ raw: String(line) }); // not the gateway's logger
    }
  });
});

function track<T extends TestBackend>(backend: T): T {
  backends.push(backend);
  return backend;
}

function home(...args: Parameters<typeof testHome>): TestHome {
  const created = testHome(...args);
  homes.push(created);
  return created;
}

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(homes.map((h) => h.close()));
  await Promise.all(backends.map((b) => b.close()));
  homes = [];
  backends = [];
});

/** Two backends, alpha and beta, each recording the calls its tools receive. */
function twoBackends() {
  const alphaSeen: Seen[] = [];
  const betaSeen: Seen[] = [];
  const alpha = track(legacyBackend("alpha-server", alphaTools(alphaSeen)));
  const beta = track(legacyBackend("beta-server", betaTools(betaSeen)));
  const bindings = { BACKEND_ALPHA: alpha, BACKEND_BETA: beta };
  const backendEntries = [service("alpha", "BACKEND_ALPHA"), service("beta", "BACKEND_BETA")];
  return { alpha, beta, alphaSeen, betaSeen, bindings, backendEntries };
}

describe("tools/list and tools/call across backends", () => {
  const modes = [
    {
      mode: "always",
      names: ["alpha__delete_all", "alpha__echo", "alpha__search", "beta__echo", "beta__sum"],
      call: "beta__echo",
      reaches: "beta",
    },
    {
      mode: "on-collision",
      names: ["alpha__echo", "beta__echo", "delete_all", "search", "sum"],
      call: "beta__echo",
      reaches: "beta",
    },
    // Collisions are not prefixed: the first backend in config order keeps the name.
    { mode: "never", names: ["delete_all", "echo", "search", "sum"], call: "echo", reaches: "alpha" },
  ] as const;

  for (const { mode, names, call, reaches } of modes) {
    it(`merges both backends' tools under reversible names (naming "${mode}") and routes ${call} to ${reaches}'s echo`, async () => {
      const { alphaSeen, betaSeen, bindings, backendEntries } = twoBackends();
      const gw = home(bindings, tenantConfig({ backends: backendEntries, naming: { mode, separator: "__" } }));

      const list = rpc("tools/list");
      const listed = await gw.serve(list);
      expect(listed).toHaveLength(1);
      expect(toolNames(responseOf(listed, list))).toEqual(names);

      const request = rpc("tools/call", { name: call, arguments: { text: "hello" } }, "client-id-7");
      const answer = await gw.serve(request);
      expect(answer).toHaveLength(1);
      const response = responseOf(answer, request);
      expect(response.id).toBe("client-id-7");
      expect(textOf(response)).toBe(`${reaches}: hello`);

      const seen = reaches === "alpha" ? alphaSeen : betaSeen;
      const other = reaches === "alpha" ? betaSeen : alphaSeen;
      // The backend got its own tool name and the arguments, under an id the gateway minted.
      expect(seen).toEqual([{ tool: "echo", args: { text: "hello" }, requestId: expect.any(Number) }]);
      expect(seen[0]!.requestId).not.toBe("client-id-7");
      expect(other).toEqual([]);
    });
  }

  it("routes a call to a name it has not listed yet (the catalog lists first) and keeps the client's numeric id", async () => {
    const { alphaSeen, bindings, backendEntries } = twoBackends();
    const gw = home(bindings, tenantConfig({ backends: backendEntries }));
    const request = rpc("tools/call", { name: "beta__sum", arguments: { a: 2, b: 40 } }, 99);
    const response = responseOf(await gw.serve(request), request);
    expect(response.id).toBe(99);
    expect(textOf(response)).toBe("42");
    expect(alphaSeen).toEqual([]);
  });

  it("answers a name no backend serves with -32602 Unknown tool", async () => {
    const { bindings, backendEntries } = twoBackends();
    const gw = home(bindings, tenantConfig({ backends: backendEntries }));
    const request = rpc("tools/call", { name: "gamma__echo", arguments: {} });
    expect(await gw.serve(request)).toEqual([{ jsonrpc: "2.0", id: request.id, error: { code: -32602, message: "Unknown tool: gamma__echo" } }]);
  });
});

describe("policy", () => {
  const denyDeleteAll = {
    defaultEffect: "allow" as const,
    rules: [{ id: "no-delete", effect: "deny" as const, items: { kinds: ["tool" as const], backends: ["alpha"], names: ["delete_all"] } }],
  };

  it("a denied tool is left out of tools/list", async () => {
    const { bindings, backendEntries } = twoBackends();
    const gw = home(bindings, tenantConfig({ backends: backendEntries, policy: denyDeleteAll }));
    const list = rpc("tools/list");
    expect(toolNames(responseOf(await gw.serve(list), list))).toEqual(["alpha__echo", "alpha__search", "beta__echo", "beta__sum"]);
  });

  it("a call to a denied tool is answered exactly like an unknown tool, never reaches the backend, and is audited as a denial", async () => {
    const { alphaSeen, bindings, backendEntries } = twoBackends();
    const gw = home(bindings, tenantConfig({ backends: backendEntries, policy: denyDeleteAll }));

    const denied = rpc("tools/call", { name: "alpha__delete_all", arguments: {} }, "d1");
    const unknown = rpc("tools/call", { name: "alpha__no_such_tool", arguments: {} }, "u1");
    const deniedAnswer = await gw.serve(denied);
    const unknownAnswer = await gw.serve(unknown);
    expect(deniedAnswer).toEqual([{ jsonrpc: "2.0", id: "d1", error: { code: -32602, message: "Unknown tool: alpha__delete_all" } }]);
    // Same shape, same code, same message pattern: nothing tells a hidden tool from a missing one.
    expect(unknownAnswer).toEqual([{ jsonrpc: "2.0", id: "u1", error: { code: -32602, message: "Unknown tool: alpha__no_such_tool" } }]);
    expect(alphaSeen).toEqual([]);

    // The audit event of the denial (the unknown name is not an item, so it leaves none).
    expect(gw.observer.calls).toEqual([
      expect.objectContaining({
        tenant: "acme",
        principal: "alice",
        clientName: "unit-client",
        sessionId: "unit-session",
        requestId: "d1",
        method: "tools/call",
        backend: "alpha",
        item: "delete_all",
        decision: "deny",
        outcome: "denied",
        policyVersion: 1,
        detail: expect.objectContaining({ rule: "no-delete" }),
      }),
    ]);
  });

  it("an allowed call is audited with its outcome once its response has gone by", async () => {
    const { bindings, backendEntries } = twoBackends();
    const gw = home(bindings, tenantConfig({ backends: backendEntries, policy: denyDeleteAll }));
    const request = rpc("tools/call", { name: "alpha__search", arguments: { query: "cats" } }, "a1");
    expect(textOf(responseOf(await gw.serve(request), request))).toBe("alpha found cats");
    expect(gw.observer.calls).toEqual([
      expect.objectContaining({ requestId: "a1", backend: "alpha", item: "search", decision: "allow", outcome: "ok", latencyMs: expect.any(Number) }),
    ]);
    expect(gw.observer.backendCalls).toContainEqual({ backend: "alpha", method: "tools/call", outcome: "ok", tool: "search" });
  });

  it("handler.stillAllowed turns false when the host's config changes to deny the running call, and cancelling it stops the backend", async () => {
    const release = gate();
    let backendSawAbort = false;
    const alpha = track(
      legacyBackend("alpha-server", (server) => {
        server.registerTool("long_job", { description: "Runs until released." }, async (extra) => {
          await extra.sendNotification({ method: "notifications/progress", params: { progressToken: extra._meta!.progressToken!, progress: 1 } });
          await Promise.race([release.promise, new Promise<void>((resolve) => extra.signal.addEventListener("abort", () => resolve(), { once: true }))]);
          backendSawAbort = extra.signal.aborted;
          return text("finished");
        });
        server.registerTool("search", { description: "Searches." }, () => text("found"));
      }),
    );
    const v1 = tenantConfig({ backends: [service("alpha", "BACKEND_ALPHA")] });
    const gw = home({ BACKEND_ALPHA: alpha }, v1);

    const request = rpc("tools/call", { name: "alpha__long_job", arguments: {}, _meta: { progressToken: "t" } }, "job-1");
    const produced = await gw.request(request);
    if (!produced.routed) throw new Error(`not routed: ${JSON.stringify(produced.messages)}`);
    const messages = produced.messages[Symbol.asyncIterator]();
    const first = await messages.next();
    expect(first.value).toMatchObject({ method: "notifications/progress", params: { progressToken: "t", progress: 1 } });

    const about = produced.about;
    expect(about.item).toEqual({ kind: "tool", backend: "alpha", name: "long_job" });
    expect(gw.engine.handler.stillAllowed(about)).toBe(true);

    // An admin revokes the tool: the home adopts version 2 (from a request, or its policy watch).
    gw.useConfig(
      tenantConfig({
        version: 2,
        backends: [service("alpha", "BACKEND_ALPHA")],
        policy: { rules: [{ id: "revoked", effect: "deny", items: { names: ["long_job"] } }] },
      }),
    );
    expect(gw.engine.handler.stillAllowed(about)).toBe(false);
    // Decided per item: another tool of the same backend is still allowed.
    expect(gw.engine.handler.stillAllowed({ request: rpc("tools/call"), item: { kind: "tool", backend: "alpha", name: "search" }, args: {} })).toBe(true);

    // What the homes then do: cancel upstream; the call yields nothing more.
    await gw.engine.relay.cancel(request.id, "no longer allowed by policy");
    expect(await messages.next()).toEqual({ done: true, value: undefined });
    expect(backendSawAbort).toBe(true);
    expect(alpha.received).toContainEqual(expect.objectContaining({ method: "notifications/cancelled", params: expect.objectContaining({ reason: "no longer allowed by policy" }) }));
    await expect.poll(() => gw.observer.calls.map((c) => c.outcome)).toEqual(["cancelled"]);
    release.open();
  });
});

describe("failure semantics", () => {
  it("fail-open: a backend that is down is left out of the list, with a warning notification before the response", async () => {
    const alphaSeen: Seen[] = [];
    const alpha = track(legacyBackend("alpha-server", alphaTools(alphaSeen)));
    const gw = home(
      { BACKEND_ALPHA: alpha, BACKEND_DOWN: track(downBackend(503)) },
      tenantConfig({ backends: [service("alpha", "BACKEND_ALPHA"), service("down", "BACKEND_DOWN")] }),
    );
    const list = rpc("tools/list");
    const messages = await gw.serve(list);
    expect(messages).toHaveLength(2);
    expect(messages[0]).toEqual({
      jsonrpc: "2.0",
      method: "notifications/message",
      params: {
        level: "warning",
        logger: "gateway",
        data: { message: "backend down is unavailable; its items are omitted", backend: "down", reason: "http_503" },
      },
    });
    expect(toolNames(responseOf(messages, list))).toEqual(["alpha__delete_all", "alpha__echo", "alpha__search"]);
    // The backend's own words go to the log only.
    expect(warnings).toContainEqual(expect.objectContaining({ event: "backend_list_failed", backend: "down", reason: "http_503", detail: "UpstreamError: down: HTTP 503" }));
  });

  it("fail-open: the warning respects the client's log level (dropped below 'error')", async () => {
    const alpha = track(legacyBackend("alpha-server", alphaTools([])));
    const gw = home(
      { BACKEND_ALPHA: alpha, BACKEND_DOWN: track(downBackend(503)) },
      tenantConfig({ backends: [service("alpha", "BACKEND_ALPHA"), service("down", "BACKEND_DOWN")] }),
      { client: { logLevel: "error" } },
    );
    const list = rpc("tools/list");
    const messages = await gw.serve(list);
    expect(messages).toHaveLength(1);
    expect(toolNames(responseOf(messages, list))).toEqual(["alpha__delete_all", "alpha__echo", "alpha__search"]);
  });

  it('failureMode "closed": one backend down refuses the list with "Backend unavailable"', async () => {
    const alpha = track(legacyBackend("alpha-server", alphaTools([])));
    const gw = home(
      { BACKEND_ALPHA: alpha, BACKEND_DOWN: track(downBackend(503)) },
      tenantConfig({ failureMode: "closed", backends: [service("alpha", "BACKEND_ALPHA"), service("down", "BACKEND_DOWN")] }),
    );
    const list = rpc("tools/list");
    expect(await gw.serve(list)).toEqual([{ jsonrpc: "2.0", id: list.id, error: { code: -32000, message: "Backend unavailable" } }]);
  });

  it('every backend down: the list is refused with "No backend is available" (all_backends_failed)', async () => {
    const gw = home(
      { BACKEND_ONE: track(downBackend(503)), BACKEND_TWO: track(downBackend(502)) },
      tenantConfig({ backends: [service("one", "BACKEND_ONE"), service("two", "BACKEND_TWO")] }),
    );
    const list = rpc("tools/list");
    expect(await gw.serve(list)).toEqual([{ jsonrpc: "2.0", id: list.id, error: { code: -32000, message: "No backend is available" } }]);
    expect(warnings.filter((w) => w.event === "backend_list_failed").map((w) => [w.backend, w.reason])).toEqual([
      ["one", "http_503"],
      ["two", "http_502"],
    ]);
  });

  it("a service binding that is not bound counts as a backend down", async () => {
    const alpha = track(legacyBackend("alpha-server", alphaTools([])));
    const gw = home({ BACKEND_ALPHA: alpha }, tenantConfig({ backends: [service("alpha", "BACKEND_ALPHA"), service("ghost", "BACKEND_GHOST")] }));
    const list = rpc("tools/list");
    const messages = await gw.serve(list);
    expect(messages[0]).toMatchObject({ method: "notifications/message", params: { data: { backend: "ghost", reason: "unreachable" } } });
    expect(toolNames(responseOf(messages, list))).toEqual(["alpha__delete_all", "alpha__echo", "alpha__search"]);
  });
});

describe("the relay", () => {
  for (const clientToken of ["client-token-1", 5]) {
    it(`progress notifications during a call reach the client under the client's own progressToken (${typeof clientToken})`, async () => {
      const tokensSeen: unknown[] = [];
      const alpha = track(
        legacyBackend("alpha-server", (server) => {
          server.registerTool("count", { description: "Counts to three.", inputSchema: { steps: z.number() } }, async ({ steps }, extra) => {
            const token = extra._meta?.progressToken;
            tokensSeen.push(token);
            for (let step = 1; step <= steps; step++) {
              await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token!, progress: step, total: steps } });
            }
            return text(`counted to ${steps}`);
          });
        }),
      );
      const gw = home({ BACKEND_ALPHA: alpha }, tenantConfig({ backends: [service("alpha", "BACKEND_ALPHA")] }));

      const request = rpc("tools/call", { name: "alpha__count", arguments: { steps: 3 }, _meta: { progressToken: clientToken } }, "p1");
      const messages = await gw.serve(request);
      expect(messages.slice(0, 3)).toEqual([1, 2, 3].map((progress) => ({
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: { progressToken: clientToken, progress, total: 3 },
      })));
      expect(textOf(responseOf(messages, request))).toBe("counted to 3");
      expect(messages).toHaveLength(4);
      // The backend saw a token the gateway minted, never the client's.
      expect(tokensSeen).toHaveLength(1);
      expect(tokensSeen[0]).toEqual(expect.any(String));
      expect(tokensSeen[0]).not.toBe(clientToken);
    });
  }

  it("an elicitation a backend sends during a call reaches the client as <backend>:<n>, and relay.answer of the client's response lets the call finish", async () => {
    const alpha = track(
      legacyBackend("alpha-server", (server) => {
        server.registerTool("confirm", { description: "Asks before acting." }, async (extra) => {
          const answer = await extra.sendRequest(
            { method: "elicitation/create", params: { message: "Proceed?", requestedSchema: { type: "object", properties: { ok: { type: "boolean" } } } } },
            ElicitResultSchema,
          );
          return text(`answer: ${answer.action} ${JSON.stringify(answer.content)}`);
        });
      }),
    );
    const config = tenantConfig({ backends: [service("alpha", "BACKEND_ALPHA")] });
    const gw = home({ BACKEND_ALPHA: alpha }, config, { client: { capabilities: { elicitation: {} } } });

    const request = rpc("tools/call", { name: "alpha__confirm", arguments: {} }, "e1");
    const produced = await gw.request(request);
    if (!produced.routed) throw new Error(`not routed: ${JSON.stringify(produced.messages)}`);
    const messages = produced.messages[Symbol.asyncIterator]();
    const asked = (await messages.next()).value as JsonRpcMessage;
    expect(asked).toMatchObject({ jsonrpc: "2.0", method: "elicitation/create", params: { message: "Proceed?" } });
    const gwId = (asked as { id: unknown }).id;
    expect(gwId).toMatch(/^alpha:\d+$/);

    const clientAnswer = { jsonrpc: "2.0" as const, id: gwId as string, result: { action: "accept", content: { ok: true } } };
    expect(await gw.engine.relay.answer(clientAnswer, config.backends)).toBe(true);
    const finished = await messages.next();
    expect(finished.value).toEqual({ jsonrpc: "2.0", id: "e1", result: { content: [{ type: "text", text: 'answer: accept {"ok":true}' }] } });
    expect((await messages.next()).done).toBe(true);

    // The backend got the answer under its own id; a second answer to the same id is refused.
    const relayed = alpha.received.filter((m) => !("method" in m) && "result" in m);
    expect(relayed).toEqual([{ jsonrpc: "2.0", id: expect.any(Number), result: { action: "accept", content: { ok: true } } }]);
    expect(await gw.engine.relay.answer(clientAnswer, config.backends)).toBe(false);
  });

  it("a server-to-client request the client has no capability for is refused to the backend and never reaches the client", async () => {
    const alpha = track(
      legacyBackend("alpha-server", (server) => {
        server.registerTool("confirm", { description: "Asks before acting." }, async (extra) => {
          try {
            await extra.sendRequest({ method: "elicitation/create", params: { message: "Proceed?", requestedSchema: { type: "object", properties: {} } } }, ElicitResultSchema);
            return text("asked");
          } catch (error) {
            return text(`could not ask: ${error instanceof Error ? error.message : String(error)}`);
          }
        });
      }),
    );
    // A backend that asks anyway. This SDK server checks what it was told at initialize, so the
    // upstream session is opened as if the client could elicit, while the client declared nothing:
    // the relay must answer the backend itself and show the client nothing.
    const gw = home({ BACKEND_ALPHA: alpha }, tenantConfig({ backends: [service("alpha", "BACKEND_ALPHA")] }));
    gw.engine.backends.restore(gw.config, { elicitation: {} });
    const request = rpc("tools/call", { name: "alpha__confirm", arguments: {} }, "e2");
    const messages = await gw.serve(request);
    expect(messages).toHaveLength(1);
    // The gateway answered for the client with its own error (client_capability_missing, -32601).
    expect(textOf(responseOf(messages, request))).toBe("could not ask: MCP error -32601: Client does not support this request");
  });
});

describe("a backend's own stream", () => {
  it("a list_changed a backend sends on its own stream reaches the client and drops the cached list", async () => {
    let session: McpServer | undefined;
    const alpha = track(
      legacyBackend("alpha-server", (server) => {
        session = server; // the last one built is the upstream session's (the first may be the era probe's)
        server.registerTool("search", { description: "Searches." }, () => text("found"));
      }),
    );
    const config = tenantConfig({ backends: [service("alpha", "BACKEND_ALPHA")] });
    const gw = home({ BACKEND_ALPHA: alpha }, config);
    const list = rpc("tools/list");
    expect(toolNames(responseOf(await gw.serve(list), list))).toEqual(["alpha__search"]);

    const delivered: JsonRpcMessage[] = [];
    const listeners = new BackendListeners({
      backends: gw.engine.backends,
      relay: gw.engine.relay,
      toClient: (message) => gw.toClient(message, undefined),
      deliver: (message) => void delivered.push(message),
      stream: () => "listen",
      waitUntil: gw.host.waitUntil,
      tenant: () => config.id,
    });
    listeners.start(config.backends);
    try {
      await expect.poll(() => alpha.exchanges).toContain("GET 200");
      // Registering a tool on a connected McpServer announces notifications/tools/list_changed.
      session!.registerTool("summarize", { description: "Summarizes." }, () => text("summary"));
      await expect.poll(() => delivered).toEqual([{ jsonrpc: "2.0", method: "notifications/tools/list_changed" }]);
      // Without the cache being dropped the catalog would answer from memory (no ttl, no change heard).
      const again = rpc("tools/list");
      expect(toolNames(responseOf(await gw.serve(again), again))).toEqual(["alpha__search", "alpha__summarize"]);
    } finally {
      listeners.stop();
    }
  });
});

describe("a 2026-07-28 backend", () => {
  it("is detected, merged beside a legacy backend, and answers a legacy client's call", async () => {
    const next = track(
      modernBackend("modern-server", (server) => {
        server.registerTool("echo", { description: "Echo from a modern backend.", inputSchema: z.object({ message: z.string() }) }, ({ message }) => text(`modern: ${message}`));
      }),
    );
    const alpha = track(legacyBackend("alpha-server", alphaTools([])));
    const config = tenantConfig({ backends: [service("alpha", "BACKEND_ALPHA"), service("next", "BACKEND_NEXT")] });
    const gw = home({ BACKEND_ALPHA: alpha, BACKEND_NEXT: next }, config);

    const list = rpc("tools/list");
    const listed = responseOf(await gw.serve(list), list);
    expect(toolNames(listed)).toEqual(["alpha__delete_all", "alpha__echo", "alpha__search", "next__echo"]);
    // A legacy client never sees 2026-07-28 result fields (ttlMs) on the merged list.
    expect("result" in listed && "ttlMs" in listed.result).toBe(false);
    expect(gw.engine.backends.infos(config).map((i) => [i.backend, i.protocolVersion])).toEqual([
      ["alpha", "2025-11-25"],
      ["next", MODERN_VERSION],
    ]);

    const request = rpc("tools/call", { name: "next__echo", arguments: { message: "hi" } }, "m1");
    const answer = responseOf(await gw.serve(request), request);
    expect(answer).toEqual({ jsonrpc: "2.0", id: "m1", result: { content: [{ type: "text", text: "modern: hi" }] } });
    // The modern backend got the call with its own name and the per-request envelope, no initialize.
    expect(next.received.map((m) => m.method)).not.toContain("initialize");
    expect(next.received).toContainEqual(
      expect.objectContaining({ method: "tools/call", params: expect.objectContaining({ name: "echo", _meta: expect.objectContaining({ "io.modelcontextprotocol/protocolVersion": MODERN_VERSION }) }) }),
    );
  });
  it("asks a legacy client for the input it requires (as elicitation/create) and retries with the answer", async () => {
    const next = track(modernBackend("modern-server", askName));
    const config = tenantConfig({ backends: [service("next", "BACKEND_NEXT")] });
    const gw = home({ BACKEND_NEXT: next }, config, { client: { capabilities: { elicitation: {} } } });

    const request = rpc("tools/call", { name: "next__ask_name", arguments: {} }, "n1");
    const produced = await gw.request(request);
    if (!produced.routed) throw new Error(`not routed: ${JSON.stringify(produced.messages)}`);
    const messages = produced.messages[Symbol.asyncIterator]();
    const asked = (await messages.next()).value as JsonRpcMessage & { id: string };
    expect(asked).toMatchObject({ jsonrpc: "2.0", method: "elicitation/create", params: { message: "What is your name?" } });
    expect(asked.id).toMatch(/^next:\d+$/);

    expect(await gw.engine.relay.answer({ jsonrpc: "2.0", id: asked.id, result: { action: "accept", content: { name: "Ada" } } }, config.backends)).toBe(true);
    // As the legacy client gets it (handler.toClient drops the 2026-07-28 fields).
    const finished = gw.toClient((await messages.next()).value as JsonRpcMessage, "tools/call");
    expect(finished).toEqual({ jsonrpc: "2.0", id: "n1", result: { content: [{ type: "text", text: "Hello, Ada" }] } });
    expect((await messages.next()).done).toBe(true);
    // Two requests reached the backend: the first round, and the retry carrying inputResponses.
    const calls = next.received.filter((m) => m.method === "tools/call");
    expect(calls).toHaveLength(2);
    expect(calls[1]).toMatchObject({ params: { name: "ask_name", inputResponses: { name: { action: "accept", content: { name: "Ada" } } } } });
  });
});

/**
 * KNOWN BUGS: these fail today. Each names the cause; the engine is left as it is.
 */
describe("defects these tests found, fixed (each failed before its fix)", () => {
  // worker/engine/README.md "Failure semantics" and docs/architecture.md: "when every backend
  // fails the client gets 'No backend is available'", and the session object's initialize does
  // that in both modes (SessionObject.ts: "closed" with no backend up is all_backends_failed).
  // Was: catalog.ts #load tested `config.failureMode === "closed"` before
  // `failed.length === config.backends.length`, so under "closed" a list with every backend
  // down said "Backend unavailable" instead.
  it('every backend down under failureMode "closed" is "No backend is available", as at initialize', async () => {
    const gw = home(
      { BACKEND_ONE: track(downBackend(503)), BACKEND_TWO: track(downBackend(502)) },
      tenantConfig({ failureMode: "closed", backends: [service("one", "BACKEND_ONE"), service("two", "BACKEND_TWO")] }),
    );
    const list = rpc("tools/list");
    expect(await gw.serve(list)).toEqual([{ jsonrpc: "2.0", id: list.id, error: { code: -32000, message: "No backend is available" } }]);
  });

  // README "Cancellation: a client that cancels ... aborts the backend request at once".
  // Was: relay.ts #askClient awaited `Promise.all(waits)` for the client's answers without
  // watching the call's AbortSignal; relay.cancel() aborted `flight.controller`, which nothing in
  // that wait observed. The call (and the home's reply stream and policy watch holding it) stayed
  // open until the client answered or INPUT_WAIT_MS (10 minutes) passed.
  it("a call cancelled while it waits for the client's input (a modern backend's input round) ends at once", async () => {
    const next = track(modernBackend("modern-server", askName));
    const config = tenantConfig({ backends: [service("next", "BACKEND_NEXT")] });
    const gw = home({ BACKEND_NEXT: next }, config, { client: { capabilities: { elicitation: {} } } });
    const request = rpc("tools/call", { name: "next__ask_name", arguments: {} }, "n2");
    const produced = await gw.request(request);
    if (!produced.routed) throw new Error(`not routed: ${JSON.stringify(produced.messages)}`);
    const messages = produced.messages[Symbol.asyncIterator]();
    const asked = (await messages.next()).value as JsonRpcMessage & { id: string };
    expect(asked).toMatchObject({ method: "elicitation/create" });

    await gw.engine.relay.cancel(request.id, "user cancelled");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const rest = messages.next();
    try {
      const after = await Promise.race([rest, new Promise<string>((resolve) => (timer = setTimeout(resolve, 1_000, "still waiting for the client")))]);
      expect(after).toEqual({ done: true, value: undefined });
    } finally {
      clearTimeout(timer);
      // Unblock the wait so no 10-minute timer outlives the test, and let the call end here.
      await gw.engine.relay.answer({ jsonrpc: "2.0", id: asked.id, result: { action: "cancel" } }, config.backends);
      await rest;
    }
  });

  // Was: relay.ts #askClient started one INPUT_WAIT_MS timer per input request and registered a
  // waiter, then yielded the request. A consumer that stops iterating there (iterator.return(): a
  // for-await that breaks or returns, as LegacyReplies' pump does after a policy revocation)
  // ended the generator at that yield: nothing cleared the timer or deleted the waiter, and 10
  // minutes later the wait promise rejected with no handler (an unhandled rejection).
  it("a call abandoned while it waits for the client's input leaves no timer and no waiter behind", async () => {
    const next = track(modernBackend("modern-server", askName));
    const config = tenantConfig({ backends: [service("next", "BACKEND_NEXT")] });
    const gw = home({ BACKEND_NEXT: next }, config, { client: { capabilities: { elicitation: {} } } });
    const request = rpc("tools/call", { name: "next__ask_name", arguments: {} }, "n3");
    const produced = await gw.request(request);
    if (!produced.routed) throw new Error(`not routed: ${JSON.stringify(produced.messages)}`);
    const messages = produced.messages[Symbol.asyncIterator]();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const asked = (await messages.next()).value as JsonRpcMessage & { id: string };
      expect(asked).toMatchObject({ method: "elicitation/create" });
      expect(vi.getTimerCount()).toBe(1); // the wait for the client's answer
      await gw.engine.relay.cancel(request.id, "no longer allowed by policy");
      await messages.return?.();
      expect(vi.getTimerCount()).toBe(0);
      // Nobody waits for this answer any more.
      expect(await gw.engine.relay.answer({ jsonrpc: "2.0", id: asked.id, result: { action: "cancel" } }, config.backends)).toBe(false);
    } finally {
      vi.clearAllTimers(); // the leaked timer must not fire later in this worker
      vi.useRealTimers();
    }
  });
});

