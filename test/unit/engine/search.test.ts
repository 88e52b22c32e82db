/**
 * Search mode in the engine (worker/engine/search.ts), over the memory store and real MCP
 * backends served in-process (harness.ts): the two tools, the "auto" threshold at its boundary,
 * quarantined definitions kept out of results and refused as direct calls are, the inner call's
 * audit event naming the real tool, curation seen through search, and a revoked inner call.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import * as z from "zod";
import { afterEach, describe, expect, it } from "vitest";
import type { JsonRpcResponse } from "../../../worker/protocol/jsonrpc.ts";
import { legacyBackend, responseOf, rpc, service, tenantConfig, testHome, toolNames, type TestBackend, type TestHome } from "./harness.ts";

const text = (value: string) => ({ content: [{ type: "text" as const, text: value }] });
const resultOf = (response: JsonRpcResponse): Record<string, any> => {
  if (!("result" in response)) throw new Error(`call failed: ${JSON.stringify(response)}`);
  return response.result;
};
const foundNames = (response: JsonRpcResponse) => (resultOf(response).structuredContent.tools as { name: string }[]).map((t) => t.name);

let backends: TestBackend[] = [];
let homes: TestHome[] = [];
afterEach(async () => {
  await Promise.all(homes.map((h) => h.close()));
  await Promise.all(backends.map((b) => b.close()));
  homes = [];
  backends = [];
});

/** One backend, "ops", with five tools; `calls` records what reached it. */
function opsBackend(calls: string[]) {
  const backend = legacyBackend("ops-server", (server: McpServer) => {
    const tool = (name: string, description: string) =>
      server.registerTool(name, { description, inputSchema: { target: z.string() } }, ({ target }) => {
        calls.push(`${name}(${target})`);
        return text(`${name} ${target}`);
      });
    tool("restart_service", "Restarts a service.");
    tool("deploy_release", "Deploys a release to production.");
    tool("rollback_release", "Rolls a release back.");
    tool("tail_logs", "Shows the last log lines of a service.");
    tool("page_oncall", "Pages the on-call engineer.");
  });
  backends.push(backend);
  return { BACKEND_OPS: backend };
}

function home(catalog: Record<string, unknown>, extra: Record<string, unknown> = {}, principal?: { sub: string; roles: string[]; scopes: string[] }) {
  const calls: string[] = [];
  const created = testHome(opsBackend(calls), tenantConfig({ backends: [service("ops", "BACKEND_OPS")], catalog, ...extra }), principal ? { principal } : {});
  homes.push(created);
  return { gw: created, calls };
}

async function served(gw: TestHome, method: string, params?: Record<string, unknown>) {
  const request = rpc(method, params);
  return responseOf(await gw.serve(request), request);
}

describe("search mode in the engine", () => {
  it("switches at the threshold in mode auto: full at exactly searchThreshold visible tools, search above", async () => {
    const at = home({ mode: "auto", searchThreshold: 5 }).gw;
    expect(toolNames(await served(at, "tools/list"))).toHaveLength(5);
    const above = home({ mode: "auto", searchThreshold: 4 }).gw;
    expect(toolNames(await served(above, "tools/list"))).toEqual(["call_tool", "search_tools"]);
    // Policy counts: with one tool denied, four remain, and four is not above four.
    const fewer = home({ mode: "auto", searchThreshold: 4 }, { policy: { rules: [{ id: "no-paging", effect: "deny", items: { names: ["page_oncall"] } }] } }).gw;
    expect(toolNames(await served(fewer, "tools/list"))).toHaveLength(4);
    // In full mode the two names are not the gateway's: a call to them is an unknown tool.
    expect(await served(at, "tools/call", { name: "search_tools", arguments: { query: "x" } })).toMatchObject({ error: { code: -32602, message: "Unknown tool: search_tools" } });
  });

  it("keeps a quarantined definition out of results and refuses its inner call as a direct call, audited under the real tool", async () => {
    const { gw, calls } = home({ mode: "search" }, { policy: { pinning: "quarantine" } });
    expect(foundNames(await served(gw, "tools/call", { name: "search_tools", arguments: { query: "deploy release" } }))).toContain("ops__deploy_release");
    // The tenant's pin store says the definition changed since it was approved.
    gw.engine.catalog.notePin("ops", "deploy_release", "changed");
    for (const query of ["deploy release", "ops__deploy_release", "release", ""]) {
      expect(foundNames(await served(gw, "tools/call", { name: "search_tools", arguments: { query, limit: 50 } }))).not.toContain("ops__deploy_release");
    }
    const direct = await served(gw, "tools/call", { name: "ops__deploy_release", arguments: { target: "v2" } });
    const inner = await served(gw, "tools/call", { name: "call_tool", arguments: { name: "ops__deploy_release", arguments: { target: "v2" } } });
    expect(inner).toEqual({ ...direct, id: inner.id });
    expect(inner).toMatchObject({ error: { code: -32602, message: "Unknown tool: ops__deploy_release" } });
    expect(calls).toEqual([]);
    await gw.close();
    const denials = gw.observer.calls.filter((e) => e.outcome === "denied");
    expect(denials.map((e) => [e.method, e.backend, e.item, e.detail?.rule])).toEqual([
      ["tools/call", "ops", "deploy_release", "pinning:quarantine"],
      ["tools/call", "ops", "deploy_release", "pinning:quarantine"],
    ]);
  });

  it("runs call_tool as the real tool: same id, backend's own name, audit event for the real tool", async () => {
    const { gw, calls } = home({ mode: "search" });
    const request = rpc("tools/call", { name: "call_tool", arguments: { name: "ops__restart_service", arguments: { target: "api" } } }, "outer-7");
    const response = responseOf(await gw.serve(request), request);
    expect(response.id).toBe("outer-7");
    expect(resultOf(response).content[0].text).toBe("restart_service api");
    expect(calls).toEqual(["restart_service(api)"]);
    await gw.close();
    expect(gw.observer.calls.map((e) => [e.method, e.backend, e.item, e.outcome, e.requestId])).toEqual([["tools/call", "ops", "restart_service", "ok", "outer-7"]]);
  });

  it("searches and calls curated tools by their aliases, with their overrides", async () => {
    const { gw, calls } = home({ mode: "search", curate: { ops__page_oncall: { alias: "wake_someone", description: "Wakes up whoever is on duty tonight." } } });
    const found = resultOf(await served(gw, "tools/call", { name: "search_tools", arguments: { query: "wake whoever is on duty" } })).structuredContent.tools;
    expect(found[0]).toMatchObject({ name: "wake_someone", description: "Wakes up whoever is on duty tonight.", inputSchema: { properties: { target: {} } } });
    expect(foundNames(await served(gw, "tools/call", { name: "search_tools", arguments: { query: "page oncall", limit: 50 } }))).not.toContain("ops__page_oncall");
    expect(resultOf(await served(gw, "tools/call", { name: "call_tool", arguments: { name: "wake_someone", arguments: { target: "sre" } } })).content[0].text).toBe("page_oncall sre");
    expect(await served(gw, "tools/call", { name: "call_tool", arguments: { name: "ops__page_oncall", arguments: { target: "sre" } } })).toMatchObject({ error: { message: "Unknown tool: ops__page_oncall" } });
    expect(calls).toEqual(["page_oncall(sre)"]);
  });

  it("stops a running inner call when policy revokes its real tool (stillAllowed sees the inner item)", async () => {
    const { gw } = home({ mode: "search" });
    const produced = await gw.request(rpc("tools/call", { name: "call_tool", arguments: { name: "ops__tail_logs", arguments: { target: "api" } } }));
    expect(produced.routed).toBe(true);
    if (!produced.routed) return;
    expect(produced.about.item).toEqual({ kind: "tool", backend: "ops", name: "tail_logs" });
    expect(gw.engine.handler.stillAllowed(produced.about)).toBe(true);
    gw.useConfig(tenantConfig({ version: 2, backends: [service("ops", "BACKEND_OPS")], catalog: { mode: "search" }, policy: { rules: [{ id: "no-logs", effect: "deny", items: { names: ["tail_logs"] } }] } }));
    expect(gw.engine.handler.stillAllowed(produced.about)).toBe(false);
    for await (const _ of produced.messages) break;
  });
});
