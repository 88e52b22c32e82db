/**
 * The actor chain on audit rows, and their export to an operator's HTTP sink through the
 * AUDIT_EXPORT queue (worker/audit/export.ts), end to end: the gateway in `wrangler dev` (its
 * local queue and consumer are the real ones), the demo backends, the MCP SDK client, and a sink
 * on 127.0.0.1 standing for a SIEM's HTTP collector.
 *
 * A row names the user (sub), the agent (the token's azp), the actor (its RFC 8693 act.sub), the
 * client's name, the credential mode used upstream (none for weather, static for notes' secret
 * header), the policy version, and the session, request and trace ids.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { freePort, startDemoBackend, type RunningServer } from "../support/processes.ts";

const SIEM_TOKEN = `siem-${Math.random().toString(36).slice(2)}`;
const NOTES_KEY = `notes-${Math.random().toString(36).slice(2)}`;
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

interface Row {
  id: string;
  tenant: string;
  principal: string;
  agent?: string;
  actor?: string;
  clientName?: string;
  credential?: string;
  traceId?: string;
  sessionId?: string;
  requestId?: string;
  method: string;
  backend?: string;
  item?: string;
  decision: string;
  policyVersion?: number;
  outcome: string;
  detail?: Record<string, unknown>;
}

let gateway: RunningGateway;
let signer: TestSigner;
let weather: RunningServer;
let notes: RunningServer;
let sink: Server;
let sinkUrl: string;
/** What the sink received: one entry per POST. */
const received: { headers: IncomingHttpHeaders; body: { tenant: string; events: Row[] } }[] = [];
/** The sink refuses this many POSTs first (503), to show retries. */
let refuseFirst = 0;

beforeAll(async () => {
  signer = await testSigner();
  [weather, notes] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes")]);
  const port = await freePort();
  sinkUrl = `http://127.0.0.1:${port}/collect`;
  sink = createServer((request, response) => {
    let text = "";
    request.on("data", (chunk: Buffer) => (text += chunk.toString()));
    request.on("end", () => {
      if (refuseFirst > 0) {
        refuseFirst--;
        return void response.writeHead(503).end();
      }
      received.push({ headers: request.headers, body: JSON.parse(text) as { tenant: string; events: Row[] } });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => sink.listen(port, "127.0.0.1", resolve));
  gateway = await startGateway({ vars: { SIEM_TOKEN, NOTES_KEY } });
}, 120_000);

afterAll(async () => {
  sink?.closeAllConnections();
  sink?.close();
  await Promise.allSettled([gateway?.stop(), weather?.stop(), notes?.stop()]);
});

function tenantDoc(id: string, audit: Record<string, unknown>) {
  return {
    id,
    backends: [
      { name: "weather", url: weather.url },
      { name: "notes", url: notes.url, secretHeaders: { "x-notes-key": "NOTES_KEY" } },
    ],
    naming: { mode: "always", separator: "__" },
    auth: jwtAuth(signer, gateway.mcpUrl(id)),
    policy: { rules: [{ id: "no-alerts", effect: "deny", items: { names: ["get_alerts"] } }], audit },
  };
}

/** Connects as alice through the agent "claude-desktop" run by the actor "build-bot", on one trace. */
async function connect(tenant: string): Promise<Client> {
  const token = await signer.token({ sub: "alice", audience: gateway.mcpUrl(tenant), claims: { azp: "claude-desktop", act: { sub: "build-bot" } } });
  const client = new Client({ name: "audit-export-e2e", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(tenant)), {
      requestInit: { headers: { authorization: `Bearer ${token}`, traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` } },
    }),
  );
  return client;
}

async function auditRows(tenant: string): Promise<Row[]> {
  const response = await fetch(`${gateway.origin}/admin/tenants/${tenant}/audit?method=tools/call`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { events: Row[] }).events;
}

const exported = (tenant: string) => received.filter((r) => r.body.tenant === tenant).flatMap((r) => r.body.events);

describe("the actor chain", () => {
  it("is on every audit row: user, agent, actor, client, credential mode upstream, policy version, session, request and trace ids", async () => {
    const tenant = "chain";
    const stored = await gateway.putTenant(tenantDoc(tenant, { arguments: true }));
    const client = await connect(tenant);
    await client.callTool({ name: "weather__get_forecast", arguments: { city: "Faro", days: 1 } });
    await client.callTool({ name: "notes__list_notes", arguments: {} });
    await client.callTool({ name: "weather__get_alerts", arguments: { region: "Algarve" } }).catch(() => null);
    await client.close();

    await expect.poll(async () => (await auditRows(tenant)).length, { timeout: 5_000 }).toBe(3);
    const rows = await auditRows(tenant);
    const common = {
      tenant,
      principal: "alice",
      agent: "claude-desktop",
      actor: "build-bot",
      clientName: "audit-export-e2e",
      traceId: TRACE_ID,
      policyVersion: stored.version,
      sessionId: expect.any(String),
      requestId: expect.any(String),
    };
    expect(rows.find((r) => r.item === "get_forecast")).toMatchObject({ ...common, backend: "weather", credential: "none", decision: "allow", outcome: "ok" });
    expect(rows.find((r) => r.item === "list_notes")).toMatchObject({ ...common, backend: "notes", credential: "static", decision: "allow", outcome: "ok" });
    // A denied call never went upstream: no credential was used.
    const denied = rows.find((r) => r.item === "get_alerts")!;
    expect(denied).toMatchObject({ ...common, decision: "deny" });
    expect(denied.credential).toBeUndefined();

    // Filterable by agent, credential and trace.
    const byAgent = await fetch(`${gateway.origin}/admin/tenants/${tenant}/audit?agent=claude-desktop&credential=static&traceId=${TRACE_ID}`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
    expect(((await byAgent.json()) as { events: Row[] }).events.map((r) => r.item)).toEqual(["list_notes"]);
    // No credential of any kind is in a row.
    expect(JSON.stringify(rows)).not.toContain(NOTES_KEY);
    expect(JSON.stringify(rows)).not.toMatch(/Bearer|eyJ/);
  });
});

describe("audit export to an HTTP sink (SIEM) through the queue", () => {
  it("delivers each tenant's rows in batches with the sink's secret header, the same ids as in D1, only what the audit settings allow", async () => {
    const tenant = "export";
    await gateway.putTenant({ ...tenantDoc(tenant, { arguments: false, results: false, export: { url: sinkUrl, secretHeaders: { authorization: "SIEM_TOKEN" } } }) });
    // A tenant that does not export: its rows stay in D1 only.
    await gateway.putTenant(tenantDoc("no-export", { arguments: true }));
    const client = await connect(tenant);
    for (const city of ["Lagos", "Tavira", "Sagres"]) await client.callTool({ name: "weather__get_forecast", arguments: { city, days: 1 } });
    await client.callTool({ name: "notes__list_notes", arguments: {} });
    await client.close();
    const other = await connect("no-export");
    await other.callTool({ name: "weather__get_forecast", arguments: { city: "Elvas", days: 1 } });
    await other.close();

    // The local queue delivers after its batch timeout (5 s).
    await expect.poll(() => exported(tenant).length, { timeout: 30_000, interval: 500 }).toBe(4);
    const posts = received.filter((r) => r.body.tenant === tenant);
    for (const post of posts) expect(post.headers.authorization).toBe(SIEM_TOKEN);
    expect(posts.length).toBeLessThan(4); // batched, not one POST per row
    const events = exported(tenant);
    const d1 = await auditRows(tenant);
    expect(events.map((e) => e.id).sort()).toEqual(d1.map((r) => r.id).sort());
    for (const event of events) {
      expect(event).toMatchObject({ tenant, principal: "alice", agent: "claude-desktop", actor: "build-bot", traceId: TRACE_ID });
      // Arguments and results are off for this tenant: neither leaves.
      expect(event.detail?.arguments).toBeUndefined();
      expect(event.detail?.result).toBeUndefined();
    }
    expect(JSON.stringify(events)).not.toContain("Lagos");
    expect(JSON.stringify(events)).not.toContain(NOTES_KEY);
    expect(await auditRows("no-export")).toHaveLength(1);
    expect(exported("no-export")).toEqual([]);
  }, 60_000);

  it("retries a batch the sink refuses, until it takes it", async () => {
    const tenant = "export-retry";
    await gateway.putTenant(tenantDoc(tenant, { export: { url: sinkUrl, secretHeaders: { authorization: "SIEM_TOKEN" } } }));
    refuseFirst = 1;
    const client = await connect(tenant);
    await client.callTool({ name: "weather__get_forecast", arguments: { city: "Beja", days: 1 } });
    await client.close();
    // Refused once (503), then delivered after the consumer's first backoff (10 s).
    await expect.poll(() => exported(tenant).length, { timeout: 45_000, interval: 500 }).toBe(1);
    expect(refuseFirst).toBe(0);
  }, 60_000);

  it("refuses a sink at a private address on a gateway that refuses private destinations", async () => {
    const production = await startGateway({ vars: { ALLOW_PRIVATE_BACKENDS: "false" } });
    try {
      const response = await fetch(`${production.origin}/admin/tenants/p`, {
        method: "PUT",
        headers: { authorization: `Bearer ${production.adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ id: "p", backends: [], policy: { audit: { export: { url: "http://10.0.0.8/collect" } } } }),
      });
      expect(response.status).toBe(400);
      expect(JSON.stringify(await response.json())).toMatch(/policy\.audit\.export\.url/);
    } finally {
      await production.stop();
    }
  }, 120_000);
});
