/**
 * Approval gates end to end (docs/approvals.md): the gateway in `wrangler dev`, the demo weather
 * backend, the real OpenID provider (oidc-provider) the approvers sign in at, and the MCP SDK
 * clients of both eras as callers.
 *
 * bob (role user, a JWT from the test signer) calls get_alerts, which the policy lets through only
 * with the approval of an admin; alice (role admin at the IdP) approves or denies at the URL bob's
 * client was given (error -32042, URL elicitation required). get_forecast for more than 5 days
 * needs bob's own confirmation.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import * as v2 from "@modelcontextprotocol/client";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { DEMO_USERS, startDemoIdp, type DemoIdp } from "../support/idp.ts";
import { CookieJar, loginWithFetch } from "../support/oauthLogin.ts";
import { startDemoBackend, type RunningServer } from "../support/processes.ts";

const TENANT = "approvals";
const IDP_SECRET = `idp-${randomBytes(8).toString("hex")}`;

let gateway: RunningGateway;
let idp: DemoIdp;
let weather: RunningServer;
let signer: TestSigner;
let issuer: string;
let policyVersion: number;

beforeAll(async () => {
  signer = await testSigner();
  weather = await startDemoBackend("weather");
  gateway = await startGateway({ vars: { IDP_SECRET } });
  issuer = `${gateway.origin}/t/${TENANT}`;
  idp = await startDemoIdp({ clients: [{ clientId: "gateway", clientSecret: IDP_SECRET, redirectUris: [`${issuer}/oauth/callback`] }] });
  const stored = await gateway.putTenant({
    id: TENANT,
    backends: [{ name: "weather", url: weather.url }],
    naming: { mode: "always", separator: "__" },
    auth: {
      ...jwtAuth(signer, gateway.mcpUrl(TENANT)),
      oauth: { idp: { issuer: idp.issuer, clientId: "gateway", clientSecret: "IDP_SECRET", scopes: ["openid", "profile"], rolesClaim: "roles" } },
    },
    policy: {
      rules: [
        { id: "alerts-need-an-admin", effect: "allow", items: { names: ["get_alerts"] }, requireApproval: { approvers: ["admin"], ttlSeconds: 600 } },
        { id: "very-long-forecasts-at-the-page", effect: "allow", items: { names: ["get_forecast"] }, when: "args.days > 10", requireApproval: { confirmWith: "page" } },
        { id: "long-forecasts-confirmed", effect: "allow", items: { names: ["get_forecast"] }, when: "args.days > 5", requireApproval: {} },
        { id: "everything-else", effect: "allow" },
      ],
      audit: { arguments: true },
    },
  });
  policyVersion = stored.version as number;
  // The same rules behind search mode: call_tool's inner call is gated exactly as a direct call.
  await gateway.putTenant({
    id: `${TENANT}-search`,
    backends: [{ name: "weather", url: weather.url }],
    catalog: { mode: "search" },
    auth: {
      ...jwtAuth(signer, gateway.mcpUrl(`${TENANT}-search`)),
      oauth: { idp: { issuer: idp.issuer, clientId: "gateway", clientSecret: "IDP_SECRET", scopes: ["openid", "profile"], rolesClaim: "roles" } },
    },
    policy: { rules: [{ id: "long-forecasts-confirmed", effect: "allow", items: { names: ["get_forecast"] }, when: "args.days > 5", requireApproval: {} }, { id: "everything-else", effect: "allow" }] },
  });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), idp?.stop(), weather?.stop()]);
});

async function bob(capabilities: Record<string, unknown> = {}): Promise<Client> {
  const token = await signer.token({ sub: "bob", audience: gateway.mcpUrl(TENANT), roles: ["user"] });
  const client = new Client({ name: "bob-agent", version: "1.0.0" }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

interface Refusal {
  code: number;
  url: string;
  elicitationId: string;
}

/** Calls a tool and expects the -32042 answer; returns the approval URL it names. */
async function needsApproval(call: Promise<unknown>): Promise<Refusal> {
  const error = (await call.then(
    (result) => {
      throw new Error(`expected -32042, got ${JSON.stringify(result)}`);
    },
    (e: unknown) => e,
  )) as { code?: number; data?: { elicitations?: { mode: string; url: string; elicitationId: string; message: string }[] } };
  expect(error.code).toBe(-32042);
  const [elicitation] = error.data?.elicitations ?? [];
  expect(elicitation).toMatchObject({ mode: "url", url: expect.stringMatching(new RegExp(`^${issuer}/approvals/ap-`)), message: expect.stringMatching(/approval/) });
  return { code: error.code!, url: elicitation!.url, elicitationId: elicitation!.elicitationId };
}

/**
 * Opens the approval URL as `user`: through the IdP's login (driven by loginWithFetch, which stops
 * before the gateway's callback), then the callback by hand, which shows the approval form.
 */
async function openApproval(url: string, user: keyof typeof DEMO_USERS): Promise<{ status: number; body: string; jar: CookieJar; token?: string; action?: string }> {
  const login = await loginWithFetch(url, { user: DEMO_USERS[user].login, password: DEMO_USERS[user].password, isDone: (u) => u.startsWith(`${issuer}/oauth/callback`) });
  const callback = await fetch(login.finalUrl, { headers: { cookie: login.jar.header(login.finalUrl) ?? "" }, redirect: "manual" });
  const body = await callback.text();
  const token = /name="consent" value="([^"]+)"/.exec(body)?.[1];
  const action = /<form method="post" action="([^"]+)"/.exec(body)?.[1];
  return { status: callback.status, body, jar: login.jar, ...(token ? { token } : {}), ...(action ? { action } : {}) };
}

async function decide(page: { jar: CookieJar; token?: string; action?: string }, decision: "approve" | "deny"): Promise<Response> {
  return fetch(page.action!, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: page.jar.header(page.action!) ?? "" },
    body: new URLSearchParams({ consent: page.token ?? "", decision }).toString(),
    redirect: "manual",
  });
}

const text = (result: unknown) => JSON.stringify((result as { content?: unknown }).content);

async function auditRows(query: string): Promise<{ outcome: string; item?: string; detail?: { approval?: Record<string, unknown>; arguments?: Record<string, unknown> } }[]> {
  const response = await fetch(`${gateway.origin}/admin/tenants/${TENANT}/audit?${query}`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
  return ((await response.json()) as { events: [] }).events;
}

describe("a call that needs an admin's approval", () => {
  it("is answered with the approval URL; once alice approves, exactly one identical call goes through", async () => {
    const client = await bob();
    const asked = await needsApproval(client.callTool({ name: "weather__get_alerts", arguments: { region: "Alentejo" } }));
    // Asking again before a decision names the same request.
    expect((await needsApproval(client.callTool({ name: "weather__get_alerts", arguments: { region: "Alentejo" } }))).elicitationId).toBe(asked.elicitationId);

    const page = await openApproval(asked.url, "alice");
    expect(page.status).toBe(200);
    expect(page.body).toContain("weather__get_alerts");
    expect(page.body).toContain("Alentejo");
    expect(page.body).toContain("bob");
    const approved = await decide(page, "approve");
    expect(approved.status).toBe(200);
    expect(await approved.text()).toMatch(/Approved/);

    const result = await client.callTool({ name: "weather__get_alerts", arguments: { region: "Alentejo" } });
    expect(result.isError).toBeFalsy();
    expect(text(result)).toMatch(/Alentejo/);
    // Spent: the same call asks again, as a new request.
    const again = await needsApproval(client.callTool({ name: "weather__get_alerts", arguments: { region: "Alentejo" } }));
    expect(again.elicitationId).not.toBe(asked.elicitationId);
    await client.close();

    // Rows are written after each response (waitUntil): polled until the last of them is in.
    const settled = async () => {
      const outcomes = (await auditRows("item=get_alerts")).map((r) => r.outcome);
      return outcomes.includes("ok") && outcomes.filter((o) => o === "approval_required").length >= 3;
    };
    await expect.poll(settled, { timeout: 10_000 }).toBe(true);
    const rows = await auditRows("item=get_alerts");
    expect(rows.find((r) => r.outcome === "ok")?.detail?.approval).toMatchObject({ id: asked.elicitationId, state: "approved", decidedBy: "alice" });
  }, 60_000);

  it("is bound to its arguments: an approval of one region does not let another through", async () => {
    const client = await bob();
    const asked = await needsApproval(client.callTool({ name: "weather__get_alerts", arguments: { region: "Minho" } }));
    expect((await decide(await openApproval(asked.url, "alice"), "approve")).status).toBe(200);
    const other = await needsApproval(client.callTool({ name: "weather__get_alerts", arguments: { region: "Douro" } }));
    expect(other.elicitationId).not.toBe(asked.elicitationId);
    expect(text(await client.callTool({ name: "weather__get_alerts", arguments: { region: "Minho" } }))).toMatch(/Minho/);
    await client.close();
  }, 60_000);

  it("is refused as a tool error when alice denies it", async () => {
    const client = await bob();
    const asked = await needsApproval(client.callTool({ name: "weather__get_alerts", arguments: { region: "Beiras" } }));
    const denied = await decide(await openApproval(asked.url, "alice"), "deny");
    expect(await denied.text()).toMatch(/Denied/);
    const result = await client.callTool({ name: "weather__get_alerts", arguments: { region: "Beiras" } });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/denied by alice/);
    await client.close();
  }, 60_000);

  it("cannot be approved by bob himself, nor decided twice, nor by a replayed form", async () => {
    const client = await bob();
    const asked = await needsApproval(client.callTool({ name: "weather__get_alerts", arguments: { region: "Lisboa" } }));
    await client.close();
    // bob signs in at the IdP (role user) and opens his own request: no form, a 403.
    const own = await openApproval(asked.url, "bob");
    expect(own.status).toBe(403);
    expect(own.token).toBeUndefined();

    const page = await openApproval(asked.url, "alice");
    expect((await decide(page, "approve")).status).toBe(200);
    // The same form again: its login transaction was spent.
    const replay = await decide(page, "deny");
    expect(replay.status).toBe(400);
    // A fresh login finds the request decided.
    const late = await fetch(asked.url, { redirect: "manual" });
    expect(late.status).toBe(409);
    expect(await late.text()).toMatch(/already approved by alice/);
  }, 60_000);

  it("reaches a 2026-07-28 client that takes URL elicitations as an input request; its retry goes through once approved", async () => {
    const token = await signer.token({ sub: "bob", audience: gateway.mcpUrl(TENANT), roles: ["user"] });
    const client = new v2.Client({ name: "bob-modern-url", version: "2.0.0" }, { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: { pin: "2026-07-28" } } });
    const asked: string[] = [];
    client.setRequestHandler("elicitation/create", async (request) => {
      const url = (request.params as { url: string }).url;
      asked.push(url);
      // The approver approves while the client waits (2026-07-28 basic/patterns/mrtr).
      expect((await decide(await openApproval(url, "alice"), "approve")).status).toBe(200);
      return { action: "accept" };
    });
    await client.connect(new v2.StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    expect(text(await client.callTool({ name: "weather__get_alerts", arguments: { region: "Porto Santo" } }))).toMatch(/Porto Santo/);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatch(new RegExp(`^${issuer}/approvals/ap-`));
    await client.close();
  }, 60_000);

  it("reaches a 2026-07-28 client (SDK v2) the same way", async () => {
    const token = await signer.token({ sub: "bob", audience: gateway.mcpUrl(TENANT), roles: ["user"] });
    const client = new v2.Client({ name: "bob-modern", version: "2.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(new v2.StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const asked = await needsApproval(client.callTool({ name: "weather__get_alerts", arguments: { region: "Madeira" } }));
    expect((await decide(await openApproval(asked.url, "alice"), "approve")).status).toBe(200);
    expect(text(await client.callTool({ name: "weather__get_alerts", arguments: { region: "Madeira" } }))).toMatch(/Madeira/);
    await client.close();
  }, 60_000);
});

describe("a call that needs the caller's own confirmation", () => {
  it("is confirmed by bob at the IdP, not by alice; short forecasts need nothing", async () => {
    const client = await bob();
    expect(text(await client.callTool({ name: "weather__get_forecast", arguments: { city: "Evora", days: 2 } }))).toMatch(/Evora/);
    const asked = await needsApproval(client.callTool({ name: "weather__get_forecast", arguments: { city: "Evora", days: 7 } }));
    expect((await openApproval(asked.url, "alice")).status).toBe(403);
    const page = await openApproval(asked.url, "bob");
    expect(page.body).toMatch(/Confirm your call/);
    expect((await decide(page, "approve")).status).toBe(200);
    expect(text(await client.callTool({ name: "weather__get_forecast", arguments: { city: "Evora", days: 7 } }))).toMatch(/Evora/);
    await client.close();
  }, 60_000);
});

/** What a client's elicitation handler was asked (form-mode confirmations). */
interface Asked {
  mode?: string;
  message: string;
  requestedSchema?: { properties?: Record<string, { type?: string }>; required?: string[] };
}

describe("a caller's confirmation asked in the client (form-mode elicitation)", () => {
  it("asks a 2025-11-25 client in the call's stream; yes runs the call once, no ends it as a tool error, both audited as bob's decision", async () => {
    const client = await bob({ elicitation: { form: {} } });
    const asked: Asked[] = [];
    let answer: Record<string, unknown> = { action: "accept", content: { confirm: true } };
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params as Asked);
      return answer as never;
    });
    expect(text(await client.callTool({ name: "weather__get_forecast", arguments: { city: "Faro", days: 6 } }))).toMatch(/Faro/);
    expect(asked).toHaveLength(1);
    expect(asked[0]!.message).toMatch(/weather__get_forecast.*"city":"Faro"/);
    expect(asked[0]!.requestedSchema).toMatchObject({ properties: { confirm: { type: "boolean" } }, required: ["confirm"] });
    // The yes was for that call only: the next identical call asks again.
    answer = { action: "decline" };
    const declined = await client.callTool({ name: "weather__get_forecast", arguments: { city: "Faro", days: 6 } });
    expect(asked).toHaveLength(2);
    expect(declined.isError).toBe(true);
    expect(text(declined)).toMatch(/declined/);
    // Dismissing the form (cancel) decides nothing: the call does not run.
    answer = { action: "cancel" };
    const dismissed = await client.callTool({ name: "weather__get_forecast", arguments: { city: "Faro", days: 6 } });
    expect(dismissed.isError).toBe(true);
    expect(text(dismissed)).toMatch(/did not confirm/);
    // Saying yes with the box unticked is a no.
    answer = { action: "accept", content: { confirm: false } };
    expect((await client.callTool({ name: "weather__get_forecast", arguments: { city: "Faro", days: 6 } })).isError).toBe(true);
    await client.close();
    // Audit rows are written after the response (waitUntil): polled until all four are in.
    const outcomes = async () => {
      const rows = (await auditRows("principal=bob&item=get_forecast&limit=50")).filter((r) => r.detail?.arguments?.city === "Faro");
      const byBob = (outcome: string) => rows.filter((r) => r.outcome === outcome && r.detail?.approval?.decidedBy === "bob").length;
      return { approved: byBob("ok"), denied: byBob("denied"), dismissed: rows.filter((r) => r.outcome === "approval_required" && r.detail?.approval?.state === "pending").length };
    };
    await expect.poll(outcomes, { timeout: 10_000 }).toEqual({ approved: 1, denied: 2, dismissed: 1 });
  }, 60_000);

  it("sends a client that answers the form with an error to the approval page instead", async () => {
    const client = await bob({ elicitation: {} });
    client.setRequestHandler(ElicitRequestSchema, async () => {
      throw new Error("this client cannot show forms right now");
    });
    const asked = await needsApproval(client.callTool({ name: "weather__get_forecast", arguments: { city: "Braga", days: 8 } }));
    const page = await openApproval(asked.url, "bob");
    expect(page.body).toMatch(/Confirm your call/);
    await client.close();
  }, 60_000);

  it("keeps a rule with confirmWith page at the approval page, even for a client that takes forms", async () => {
    const client = await bob({ elicitation: { form: {} } });
    let asked = 0;
    client.setRequestHandler(ElicitRequestSchema, async () => {
      asked += 1;
      return { action: "accept", content: { confirm: true } };
    });
    await needsApproval(client.callTool({ name: "weather__get_forecast", arguments: { city: "Tavira", days: 12 } }));
    expect(asked).toBe(0);
    await client.close();
  }, 60_000);

  it("asks a 2026-07-28 client (SDK v2) with an InputRequiredResult; the retry carries the answer, and a changed call is not confirmed by it", async () => {
    const token = await signer.token({ sub: "bob", audience: gateway.mcpUrl(TENANT), roles: ["user"] });
    const client = new v2.Client({ name: "bob-modern-form", version: "2.0.0" }, { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: "2026-07-28" } } });
    const asked: Asked[] = [];
    let action: "accept" | "decline" = "accept";
    client.setRequestHandler("elicitation/create", async (request) => {
      asked.push(request.params as Asked);
      return action === "accept" ? { action, content: { confirm: true } } : { action };
    });
    await client.connect(new v2.StreamableHTTPClientTransport(new URL(gateway.mcpUrl(TENANT)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    expect(text(await client.callTool({ name: "weather__get_forecast", arguments: { city: "Lagos", days: 7 } }))).toMatch(/Lagos/);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ mode: "form", message: expect.stringMatching(/"city":"Lagos"/) });
    action = "decline";
    const declined = await client.callTool({ name: "weather__get_forecast", arguments: { city: "Lagos", days: 7 } });
    expect(declined.isError).toBe(true);
    expect(text(declined)).toMatch(/denied by you/);
    await client.close();

    // The retry's state is bound to the call: the answer to Sines's form cannot confirm a call for Sagres.
    const raw = (body: unknown) =>
      fetch(gateway.mcpUrl(TENANT), {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "weather__get_forecast" },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ result?: { resultType?: string; requestState?: string; inputRequests?: Record<string, unknown>; content?: unknown; isError?: boolean }; error?: { code: number } }>);
    const meta = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": { elicitation: { form: {} } }, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" } };
    const first = await raw({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "weather__get_forecast", arguments: { city: "Sines", days: 7 }, _meta: meta } });
    expect(first.result?.resultType).toBe("input_required");
    const [key] = Object.keys(first.result?.inputRequests ?? {});
    const yes = { [key!]: { action: "accept", content: { confirm: true } } };
    const swapped = await raw({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "weather__get_forecast", arguments: { city: "Sagres", days: 7 }, requestState: first.result?.requestState, inputResponses: yes, _meta: meta } });
    expect(swapped.result?.resultType).toBe("input_required");
    expect(JSON.stringify(swapped.result?.inputRequests)).toMatch(/Sagres/);
  }, 60_000);
});

describe("a confirmation through search mode's call_tool", () => {
  it("asks a 2026-07-28 client for the inner call, and the retry through call_tool runs it once", async () => {
    const tenant = `${TENANT}-search`;
    const token = await signer.token({ sub: "bob", audience: gateway.mcpUrl(tenant), roles: ["user"] });
    const client = new v2.Client({ name: "bob-modern-search", version: "2.0.0" }, { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: "2026-07-28" } } });
    const asked: Asked[] = [];
    client.setRequestHandler("elicitation/create", async (request) => {
      asked.push(request.params as Asked);
      return { action: "accept", content: { confirm: true } };
    });
    await client.connect(new v2.StreamableHTTPClientTransport(new URL(gateway.mcpUrl(tenant)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(["call_tool", "search_tools"]);
    const called = await client.callTool({ name: "call_tool", arguments: { name: "weather__get_forecast", arguments: { city: "Viseu", days: 7 } } });
    expect(text(called)).toMatch(/Viseu/);
    expect(asked).toHaveLength(1);
    expect(asked[0]!.message).toMatch(/weather__get_forecast.*"city":"Viseu"/);
    await client.close();
  }, 60_000);
});

describe("operators", () => {
  it("list pending approvals and decide them through the admin API", async () => {
    const client = await bob();
    const asked = await needsApproval(client.callTool({ name: "weather__get_alerts", arguments: { region: "Azores" } }));
    const admin = (path: string, init: RequestInit = {}) => fetch(`${gateway.origin}/admin/tenants/${TENANT}${path}`, { ...init, headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" } });
    const listed = (await (await admin("/approvals")).json()) as { approvals: { id: string; state: string; principal: string; args: unknown; policyVersion: number }[] };
    expect(listed.approvals.find((a) => a.id === asked.elicitationId)).toMatchObject({ state: "pending", principal: "bob", args: { region: "Azores" }, policyVersion });
    expect((await admin(`/approvals/${asked.elicitationId}`, { method: "POST", body: JSON.stringify({ decision: "maybe" }) })).status).toBe(400);
    const decided = await admin(`/approvals/${asked.elicitationId}`, { method: "POST", body: JSON.stringify({ decision: "approve" }) });
    expect(decided.status).toBe(200);
    expect(await decided.json()).toMatchObject({ approval: { state: "approved", decidedBy: "operator:admin" } });
    expect((await admin(`/approvals/${asked.elicitationId}`, { method: "POST", body: JSON.stringify({ decision: "deny" }) })).status).toBe(409);
    expect(text(await client.callTool({ name: "weather__get_alerts", arguments: { region: "Azores" } }))).toMatch(/Azores/);
    await client.close();
  }, 60_000);

  it("cannot save a rule that needs approval in a tenant without an authorization server", async () => {
    const response = await fetch(`${gateway.origin}/admin/tenants/no-idp`, {
      method: "PUT",
      headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ id: "no-idp", policy: { rules: [{ id: "r", effect: "allow", requireApproval: {} }] } }),
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toMatch(/requireApproval.*auth\.oauth|auth\.oauth/);
  });
});
