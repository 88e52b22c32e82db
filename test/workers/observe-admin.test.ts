/**
 * The operator's admin endpoints (issue 8) inside workerd: the catalog as a hypothetical
 * principal sees it, with the policy's decision and reason per item; the dry-run validation the
 * console's policy editor uses; the tenant list; and the console's shell, served without the
 * token but under a strict Content-Security-Policy and without CORS.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, ORIGIN, backend, createTenant, gateway, putTenant, type Json } from "./helpers.ts";
import type { TenantConfig } from "../../worker/tenant/schema.ts";

let tenant: TenantConfig;

beforeAll(async () => {
  tenant = await createTenant("obs-admin", {
    backends: [backend.weather(), backend.notes(), backend.down()],
    policy: {
      defaultEffect: "deny",
      rules: [
        { id: "weather-for-all", effect: "allow", items: { backends: ["weather"] } },
        { id: "short-forecasts", effect: "deny", items: { names: ["get_forecast"] }, when: "has(args.days) && args.days > 3" },
        { id: "analysts-read-notes", effect: "allow", principals: { roles: ["analyst"] }, items: { backends: ["notes"], names: ["list_notes", "get_note"] } },
        { id: "notes-writes-need-scope", effect: "allow", principals: { roles: ["analyst"] }, items: { names: ["add_note"] }, requireScopes: ["notes:write"] },
      ],
    },
  });
});

async function admin(path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: Json }> {
  const res = await gateway(`${ORIGIN}/admin${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...init.headers } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
}

interface Entry {
  name: string;
  kind: string;
  backend: string;
  visible: boolean;
  decision: string;
  rule: string | null;
  conditional: string[];
  reason: string;
}

async function catalogFor(query: string): Promise<{ items: Entry[]; failed: Json[]; policyVersion: number }> {
  const { status, body } = await admin(`/tenants/${tenant.id}/catalog?${query}`);
  expect(status, JSON.stringify(body)).toBe(200);
  return body as unknown as { items: Entry[]; failed: Json[]; policyVersion: number };
}

describe("GET /admin/tenants/:id/catalog", () => {
  it("shows the merged catalog with each item's decision for a principal without roles, and why", async () => {
    const c = await catalogFor("sub=alice");
    expect(c.policyVersion).toBe(tenant.version);
    expect(c.failed).toEqual([{ backend: "down", error: "unreachable" }]);
    const byName = new Map(c.items.map((i) => [i.name, i]));
    expect(byName.get("weather__get_alerts")).toMatchObject({ kind: "tool", backend: "weather", visible: true, decision: "allow", rule: "weather-for-all", reason: "rule weather-for-all allows" });
    expect(byName.get("weather__get_forecast")).toMatchObject({ visible: true, decision: "allow", conditional: ["short-forecasts"] });
    expect(byName.get("weather__get_forecast")!.reason).toContain("conditional on the call's arguments: short-forecasts");
    expect(byName.get("notes__list_notes")).toMatchObject({ visible: false, decision: "deny", rule: null, reason: "no rule allows; the default is deny" });
    // Prompts and resources are decided too.
    expect(c.items.some((i) => i.kind === "prompt" && i.name === "notes__summarize_notes")).toBe(true);
    expect(c.items.some((i) => i.kind === "resource" && i.name === "notes://all")).toBe(true);
  });

  it("shows what a role grants and which scopes it still lacks", async () => {
    const c = await catalogFor("sub=dana&roles=analyst");
    const byName = new Map(c.items.map((i) => [i.name, i]));
    expect(byName.get("notes__list_notes")).toMatchObject({ visible: true, decision: "allow", rule: "analysts-read-notes" });
    expect(byName.get("notes__add_note")).toMatchObject({ visible: true, decision: "insufficient_scope", rule: "notes-writes-need-scope" });
    expect(byName.get("notes__add_note")!.reason).toContain("notes:write");
    const scoped = await catalogFor("sub=dana&roles=analyst&scopes=notes:write");
    expect(scoped.items.find((i) => i.name === "notes__add_note")).toMatchObject({ decision: "allow" });
  });

  it("needs a subject", async () => {
    expect((await admin(`/tenants/${tenant.id}/catalog`)).body).toEqual({ error: "sub: required (the principal's subject)" });
  });
});

describe("POST /admin/tenants/:id/validate", () => {
  it("refuses an invalid policy with the PUT's own message, and stores nothing", async () => {
    const bad = { ...tenant, policy: { ...tenant.policy, rules: [{ id: "typo", effect: "allow", when: "args.days >" }] } };
    const res = await admin(`/tenants/${tenant.id}/validate`, { method: "POST", body: JSON.stringify(bad) });
    expect(res.status).toBe(400);
    expect(String(res.body.error)).toMatch(/^policy\.rules\.0\.when: /);
    const schemaError = await admin(`/tenants/${tenant.id}/validate`, { method: "POST", body: JSON.stringify({ ...tenant, policy: { defaultEffect: "maybe" } }) });
    expect(schemaError.status).toBe(400);
    expect(String(schemaError.body.error)).toMatch(/^policy\.defaultEffect: /);
    expect((await admin(`/tenants/${tenant.id}`)).body.version).toBe(tenant.version);
  });

  it("accepts a valid document and says which version a PUT would store", async () => {
    const good = { ...tenant, policy: { ...tenant.policy, defaultEffect: "allow" } };
    const res = await admin(`/tenants/${tenant.id}/validate`, { method: "POST", body: JSON.stringify(good) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ valid: true, version: tenant.version + 1 });
    expect((res.body.tenant as Json).policy).toMatchObject({ defaultEffect: "allow" });
    expect((await admin(`/tenants/${tenant.id}`)).body.version).toBe(tenant.version);
  });

  it("refuses a hostname another tenant owns, like PUT", async () => {
    const owner = await createTenant("obs-host", { hostnames: ["owned.example.test"] });
    const res = await admin(`/tenants/${tenant.id}/validate`, { method: "POST", body: JSON.stringify({ ...tenant, hostnames: ["owned.example.test"] }) });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe("hostnames: 'owned.example.test' already belongs to another tenant");
    await putTenant(owner.id, { ...owner, hostnames: [] });
  });
});

describe("GET /admin/tenants", () => {
  it("lists tenant ids", async () => {
    const res = await admin("/tenants");
    expect(res.status).toBe(200);
    expect(res.body.tenants).toContain(tenant.id);
  });
});

describe("the console", () => {
  it("serves its shell, script and stylesheet without the token, under a strict CSP and without CORS", async () => {
    for (const [path, type] of [
      ["/admin/console", "text/html"],
      ["/admin/console/console.js", "text/javascript"],
      ["/admin/console/console.css", "text/css"],
    ] as const) {
      const res = await gateway(`${ORIGIN}${path}`, { headers: { origin: "https://evil.example" } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toContain(type);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).not.toContain("unsafe-eval");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      await res.text();
    }
  });

  it("holds no data: the admin API behind it still needs the token and answers no other origin", async () => {
    const shell = await (await gateway(`${ORIGIN}/admin/console`)).text();
    expect(shell).not.toContain(ADMIN_TOKEN);
    expect(shell).not.toMatch(/<script>|<style>|\son\w+=/); // nothing inline for the CSP to refuse
    expect((await gateway(`${ORIGIN}/admin/tenants`)).status).toBe(401);
    const preflight = await gateway(`${ORIGIN}/admin/tenants`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "GET" } });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    const read = await admin("/tenants", { headers: { origin: "https://evil.example" } });
    expect(read.headers.get("access-control-allow-origin")).toBeNull();
  });
});
