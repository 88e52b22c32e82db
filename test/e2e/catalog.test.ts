/**
 * Context that scales (issue 16, docs/catalog.md), end to end: a real gateway (`wrangler dev`) in
 * front of the demo backends and `@modelcontextprotocol/server-everything`, driven by SDK
 * clients of both eras (v1 `@modelcontextprotocol/sdk` speaking 2025-11-25, v2
 * `@modelcontextprotocol/client` pinned to 2026-07-28): search mode's two tools, policy on every
 * search and inner call (hidden tools never found, the same refusals as a direct call, rate
 * limits, the audit row naming the real tool, progress, elicitation, cancellation), curation
 * (aliases, overrides, allowlist), mode "auto", and list-time decisions.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { startDemoBackend, startServerEverything, type RunningServer } from "../support/processes.ts";
import { startModernBackend } from "../support/modern.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Era = "2025-11-25" | "2026-07-28";
const ERAS: Era[] = ["2025-11-25", "2026-07-28"];

let servers: RunningServer[] = [];
let gateway: RunningGateway;
let signer: TestSigner;
let backends: { name: string; url: string }[];
let modern: RunningServer;

beforeAll(async () => {
  const [weather, notes, everything, modernBackend] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes"), startServerEverything(), startModernBackend()]);
  servers = [weather, notes, everything, modernBackend];
  modern = modernBackend;
  backends = [
    { name: "weather", url: weather.url },
    { name: "notes", url: notes.url },
    { name: "everything", url: everything.url },
  ];
  [gateway, signer] = await Promise.all([startGateway(), testSigner()]);
});

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), ...servers.map((s) => s.stop())]);
});

/** What a test needs of a client, the same for both eras. */
interface Session {
  tools(): Promise<Json[]>;
  call(name: string, args?: Json, options?: { onprogress?: (p: { progress: number }) => void; signal?: AbortSignal }): Promise<Json>;
  /** The error a call is refused with, as `{ code, message }`. */
  refusal(name: string, args?: Json): Promise<{ code: number; message: string }>;
  close(): Promise<void>;
}

async function connect(era: Era, tenant: string, sub: string, roles: string[] = []): Promise<Session> {
  const url = gateway.mcpUrl(tenant);
  const token = await signer.token({ sub, audience: url, roles });
  const headers = { authorization: `Bearer ${token}` };
  const answer = async () => ({ action: "accept" as const, content: { name: "Ada", confirm: true } });
  let session: Omit<Session, "refusal">;
  if (era === "2025-11-25") {
    const client = new LegacyClient({ name: "catalog-legacy", version: "1" }, { capabilities: { elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, answer);
    await client.connect(new LegacyTransport(new URL(url), { requestInit: { headers } }));
    session = {
      tools: async () => (await client.listTools()).tools as Json[],
      call: async (name, args = {}, options = {}) => (await client.callTool({ name, arguments: args }, undefined, options)) as Json,
      close: () => client.close(),
    };
  } else {
    const client = new ModernClient({ name: "catalog-modern", version: "1" }, { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: era } } });
    client.setRequestHandler("elicitation/create", answer);
    await client.connect(new ModernTransport(new URL(url), { requestInit: { headers } }));
    session = {
      tools: async () => (await client.listTools()).tools as Json[],
      call: async (name, args = {}, options = {}) => (await client.callTool({ name, arguments: args }, options)) as Json,
      close: () => client.close(),
    };
  }
  return {
    ...session,
    refusal: async (name, args = {}) => {
      const error = (await session.call(name, args).then(
        (r) => ({ code: 0, message: `not refused: ${JSON.stringify(r)}` }),
        (e: Json) => e,
      )) as Json;
      return { code: error.code, message: String(error.message).replace(/^MCP error -?\d+: /, "") };
    },
  };
}

const text = (result: Json) => (result.content as Json[]).map((c) => c.text ?? "").join("");
const found = (result: Json) => (result.structuredContent as { tools: Json[] }).tools;

async function auditRows(tenant: string): Promise<Json[]> {
  const res = await fetch(`${gateway.origin}/admin/tenants/${tenant}/audit`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: Json[] }).events;
}

describe.each(ERAS)("search mode, a %s client", (era) => {
  const tenant = `cat-search-${era.slice(0, 4)}`;
  beforeAll(async () => {
    await gateway.putTenant({
      id: tenant,
      backends,
      auth: jwtAuth(signer, gateway.mcpUrl(tenant)),
      catalog: { mode: "search" },
      limits: { rate: [{ scope: "tool", tools: ["weather__get_alerts"], limit: 1, windowSeconds: 600 }] },
      policy: {
        rules: [
          // Decided at list time: guests never see the notes backend.
          { id: "no-notes-for-guests", effect: "deny", principals: { roles: ["guest"] }, items: { backends: ["notes"] } },
          // Decided at call time: a long forecast is refused.
          { id: "short-forecasts", effect: "deny", items: { names: ["get_forecast"] }, when: "args.days > 3" },
        ],
      },
    });
  });

  it("lists exactly search_tools and call_tool", async () => {
    const session = await connect(era, tenant, "sam");
    const tools = await session.tools();
    expect(tools.map((t) => t.name)).toEqual(["search_tools", "call_tool"]);
    expect(tools[0]!.inputSchema).toMatchObject({ type: "object", required: ["query"] });
    await session.close();
  });

  it("finds tools of every backend, ranked, with exposed name, description and full input schema", async () => {
    const session = await connect(era, tenant, "sam");
    const forecast = found(await session.call("search_tools", { query: "weather forecast for a city", limit: 3 }));
    expect(forecast.length).toBeLessThanOrEqual(3);
    expect(forecast[0]).toMatchObject({ name: "weather__get_forecast", description: expect.stringContaining("forecast"), inputSchema: { type: "object", properties: { city: { type: "string" }, days: {} } } });
    expect(found(await session.call("search_tools", { query: "echo a message back" }))[0]!.name).toBe("everything__echo");
    expect(found(await session.call("search_tools", { query: "store a note" })).map((t) => t.name)).toContain("notes__add_note");
    // The text content is the same list, for clients that only read text.
    expect(JSON.parse(text(await session.call("search_tools", { query: "alerts" }))).tools[0].name).toBe("weather__get_alerts");
    await session.close();
  });

  it("never finds a hidden tool, whatever the query, and refuses its inner call exactly as a direct call", async () => {
    const guest = await connect(era, tenant, "gus", ["guest"]);
    for (const query of ["note", "notes", "add note", "store a note", "delete note", "ask user", "whoami", "notes__add_note", "list", ""]) {
      const names = found(await guest.call("search_tools", { query, limit: 50 })).map((t) => String(t.name));
      expect(names.filter((n) => n.startsWith("notes__")), query).toEqual([]);
    }
    const direct = await guest.refusal("notes__add_note", { title: "t", body: "b" });
    expect(direct).toEqual({ code: -32602, message: "Unknown tool: notes__add_note" });
    expect(await guest.refusal("call_tool", { name: "notes__add_note", arguments: { title: "t", body: "b" } })).toEqual(direct);
    await guest.close();
  });

  it("runs the inner call under the argument conditions and rate limits of a direct call", async () => {
    const session = await connect(era, tenant, `rita-${era}`);
    expect(text(await session.call("call_tool", { name: "weather__get_forecast", arguments: { city: "Oslo", days: 2 } }))).toContain("Forecast for Oslo");
    const direct = await session.refusal("weather__get_forecast", { city: "Oslo", days: 5 });
    expect(direct.code).toBe(-32602);
    expect(await session.refusal("call_tool", { name: "weather__get_forecast", arguments: { city: "Oslo", days: 5 } })).toEqual(direct);
    // The tool's limit (1 call) counts inner calls as the tool's own.
    expect(text(await session.call("call_tool", { name: "weather__get_alerts", arguments: { region: "Nordland" } }))).toContain("Nordland");
    // Refused as a direct call over the limit is: 429 Too Many Requests (the POST's only request).
    const limited = await session.refusal("call_tool", { name: "weather__get_alerts", arguments: { region: "Nordland" } });
    expect(limited.message).toMatch(/429|Too Many Requests/);
    // The same refusal but for the request id and the seconds left.
    const same = (r: { code: number; message: string }) => ({ ...r, message: r.message.replace(/"id":\d+/, "").replace(/"retryAfterSeconds":\d+/, "") });
    expect(same(await session.refusal("weather__get_alerts", { region: "Nordland" }))).toEqual(same(limited));
    await session.close();
  });

  it("answers bad call_tool and search_tools input as a tool error the model can correct", async () => {
    const session = await connect(era, tenant, "sam");
    expect(await session.call("call_tool", { arguments: {} })).toMatchObject({ isError: true });
    expect(await session.call("search_tools", { query: "x", limit: 500 })).toMatchObject({ isError: true });
    expect(await session.refusal("call_tool", { name: "no_such_tool" })).toEqual({ code: -32602, message: "Unknown tool: no_such_tool" });
    await session.close();
  });

  it("relays progress and elicitation of the inner call, and writes audit rows that name the real tool", async () => {
    const session = await connect(era, tenant, `paula-${era}`);
    const progress: number[] = [];
    const done = await session.call("call_tool", { name: "weather__watch_storm", arguments: { steps: 3, intervalMs: 10 } }, { onprogress: (p) => void progress.push(p.progress) });
    expect(text(done)).toContain("finished after 3 steps");
    expect(progress).toEqual([1, 2, 3]);
    expect(text(await session.call("call_tool", { name: "notes__ask_user", arguments: { question: "Proceed?" } }))).toContain("accept");
    await expect
      .poll(async () => (await auditRows(tenant)).filter((r) => r.principal === `paula-${era}`).map((r) => `${r.backend}/${r.item}/${r.outcome}`).sort(), { timeout: 10_000, interval: 250 })
      .toEqual(["notes/ask_user/ok", "weather/watch_storm/ok"]);
    await session.close();
  });

  it("cancels the inner call when the client cancels call_tool", async () => {
    const session = await connect(era, tenant, `carl-${era}`);
    const controller = new AbortController();
    const running = session.call("call_tool", { name: "weather__watch_storm", arguments: { steps: 1000, intervalMs: 20 } }, { signal: controller.signal, onprogress: () => controller.abort() });
    await expect(running).rejects.toThrow();
    await expect
      .poll(async () => (await auditRows(tenant)).filter((r) => r.principal === `carl-${era}`).map((r) => `${r.item}/${r.outcome}`), { timeout: 10_000, interval: 250 })
      .toEqual(["watch_storm/cancelled"]);
    await session.close();
  });
});

describe.each(ERAS)("search mode under a policy change, a %s client", (era) => {
  it("ends a running inner call whose tool is revoked, answered as the tool it named, gone", async () => {
    const tenant = `cat-revoke-${era.slice(0, 4)}`;
    const doc = { id: tenant, backends, auth: jwtAuth(signer, gateway.mcpUrl(tenant)), catalog: { mode: "search" } };
    await gateway.putTenant(doc);
    const session = await connect(era, tenant, "rex");
    let progressed = 0;
    const call = session.call("call_tool", { name: "weather__watch_storm", arguments: { steps: 100, intervalMs: 100 } }, { onprogress: () => void progressed++ });
    const ended = call.then(
      () => ({ code: 0, message: "finished" }),
      (e: Json) => ({ code: e.code, message: String(e.message).replace(/^MCP error -?\d+: /, "") }),
    );
    await expect.poll(() => progressed, { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(2);
    await gateway.putTenant({ ...doc, policy: { rules: [{ id: "revoke-storm", effect: "deny", items: { names: ["watch_storm"] } }] } });
    expect(await ended).toEqual({ code: -32602, message: "Unknown tool: weather__watch_storm" });
    await session.close();
  });
});

describe.each(ERAS)("curation, a %s client", (era) => {
  const tenant = `cat-curate-${era.slice(0, 4)}`;
  const allow = `cat-allow-${era.slice(0, 4)}`;
  beforeAll(async () => {
    const curate = {
      weather__get_forecast: { alias: "forecast", title: "City forecast", description: "Forecast for a city, up to 7 days.", annotations: { idempotentHint: true } },
      "notes__delete_note": { annotations: { destructiveHint: true } },
      echo: { alias: "say" },
    };
    await gateway.putTenant({ id: tenant, backends, naming: { mode: "on-collision", separator: "__" }, auth: jwtAuth(signer, gateway.mcpUrl(tenant)), catalog: { curate } });
    await gateway.putTenant({ id: allow, backends, auth: jwtAuth(signer, gateway.mcpUrl(allow)), catalog: { allowlist: true, curate: { weather__get_forecast: { alias: "forecast" }, notes__list_notes: {} } } });
  });

  it("lists aliases with their overrides, calls them, and no longer offers the old names", async () => {
    const session = await connect(era, tenant, "cora");
    const tools = await session.tools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect(byName.get("forecast")).toMatchObject({ title: "City forecast", description: "Forecast for a city, up to 7 days.", annotations: { readOnlyHint: true, idempotentHint: true }, inputSchema: { properties: { city: {} } } });
    expect(byName.get("delete_note")?.annotations).toMatchObject({ destructiveHint: true });
    expect(byName.has("say")).toBe(true);
    expect(byName.has("get_forecast")).toBe(false);
    expect(byName.has("echo")).toBe(false);
    expect(text(await session.call("forecast", { city: "Lima", days: 1 }))).toContain("Forecast for Lima");
    expect(text(await session.call("say", { message: "curated" }))).toBe("Echo: curated");
    expect(await session.refusal("get_forecast", { city: "Lima" })).toEqual({ code: -32602, message: "Unknown tool: get_forecast" });
    await session.close();
  });

  it("exposes only curated tools in allowlist mode", async () => {
    const session = await connect(era, allow, "alma");
    expect((await session.tools()).map((t) => t.name).sort()).toEqual(["forecast", "notes__list_notes"]);
    expect(await session.refusal("notes__add_note", { title: "t", body: "b" })).toEqual({ code: -32602, message: "Unknown tool: notes__add_note" });
    expect(text(await session.call("forecast", { city: "Quito", days: 1 }))).toContain("Quito");
    await session.close();
  });
});

describe.each(ERAS)("list-time decisions and mode auto, a %s client", (era) => {
  const tenant = `cat-auto-${era.slice(0, 4)}`;
  beforeAll(async () => {
    await gateway.putTenant({
      id: tenant,
      backends,
      auth: jwtAuth(signer, gateway.mcpUrl(tenant)),
      catalog: { mode: "auto", searchThreshold: 5 },
      policy: {
        rules: [
          { id: "no-auditors", effect: "deny", items: { names: ["get_alerts"] }, when: '"auditor" in principal.roles' },
          { id: "interns-weather-only", effect: "deny", items: { backends: ["notes", "everything"] }, when: '"intern" in principal.roles' },
        ],
      },
    });
  });

  it("hides a tool from a user whose principal condition refuses it, and shows it to others", async () => {
    const auditor = await connect(era, tenant, "aud", ["auditor", "intern"]);
    const listed = (await auditor.tools()).map((t) => t.name);
    expect(listed).toEqual(["weather__get_forecast", "weather__watch_storm"]);
    expect(await auditor.refusal("weather__get_alerts", { region: "x" })).toEqual({ code: -32602, message: "Unknown tool: weather__get_alerts" });
    await auditor.close();
    const intern = await connect(era, tenant, "ivy", ["intern"]);
    expect((await intern.tools()).map((t) => t.name)).toEqual(["weather__get_forecast", "weather__get_alerts", "weather__watch_storm"]);
    await intern.close();
  });

  it("offers search to a principal who sees more tools than the threshold", async () => {
    const session = await connect(era, tenant, "olga");
    expect((await session.tools()).map((t) => t.name)).toEqual(["search_tools", "call_tool"]);
    expect(found(await session.call("search_tools", { query: "alerts" })).map((t) => t.name)).toContain("weather__get_alerts");
    const auditor = await connect(era, tenant, "aud2", ["auditor"]);
    expect(found(await auditor.call("search_tools", { query: "alerts", limit: 50 })).map((t) => t.name)).not.toContain("weather__get_alerts");
    await Promise.all([session.close(), auditor.close()]);
  });
});

describe("search mode in the stateless home (a 2026-07-28 client of an all-modern tenant)", () => {
  const tenant = "cat-stateless";
  beforeAll(async () => {
    await gateway.putTenant({
      id: tenant,
      backends: [{ name: "modern", url: modern.url }],
      auth: jwtAuth(signer, gateway.mcpUrl(tenant)),
      catalog: { mode: "search" },
      policy: {
        rules: [
          { id: "no-count-for-guests", effect: "deny", items: { names: ["count"] }, when: '"guest" in principal.roles' },
          { id: "no-secrets", effect: "deny", items: { names: ["echo"] }, when: 'args.message == "secret"' },
        ],
      },
    });
  });

  it("searches, calls with progress and input rounds, and refuses as a direct call", async () => {
    const session = await connect("2026-07-28", tenant, `stella`);
    expect((await session.tools()).map((t) => t.name)).toEqual(["search_tools", "call_tool"]);
    expect(found(await session.call("search_tools", { query: "count steps" })).map((t) => t.name)).toContain("modern__count");
    expect(text(await session.call("call_tool", { name: "modern__echo", arguments: { message: "stateless" } }))).toBe("Echo: stateless");
    const progress: number[] = [];
    await session.call("call_tool", { name: "modern__count", arguments: { steps: 3, intervalMs: 10 } }, { onprogress: (p) => void progress.push(p.progress) });
    expect(progress).toEqual([1, 2, 3]);
    expect(text(await session.call("call_tool", { name: "modern__ask_name", arguments: {} }))).toBe("Hello, Ada");
    const direct = await session.refusal("modern__echo", { message: "secret" });
    expect(direct).toEqual({ code: -32602, message: "Unknown tool: modern__echo" });
    expect(await session.refusal("call_tool", { name: "modern__echo", arguments: { message: "secret" } })).toEqual(direct);
    await session.close();
    const guest = await connect("2026-07-28", tenant, "gwen", ["guest"]);
    for (const query of ["count", "count steps", "modern__count", "progress", ""]) {
      expect(found(await guest.call("search_tools", { query, limit: 50 })).map((t) => t.name), query).not.toContain("modern__count");
    }
    expect(await guest.refusal("call_tool", { name: "modern__count", arguments: { steps: 1 } })).toEqual({ code: -32602, message: "Unknown tool: modern__count" });
    await guest.close();
  });
});
