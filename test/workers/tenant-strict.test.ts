/**
 * The tenant document is strict (issue 12), through the admin API inside workerd: a key the schema
 * does not know, at any depth, is refused with 400 and the key's path, by PUT and by its dry run
 * alike, and the stored tenant stays as it was. A misspelt security setting used to be dropped,
 * leaving its default in force ("polcy" kept defaultEffect "allow", "falureMode" kept fail-open).
 * What the gateway itself writes keeps working: a document read back with GET is accepted again,
 * and a document already stored with a key this version does not know still loads from KV.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ADMIN_TOKEN, ORIGIN, backend, createTenant, gateway, initializeRequest, mcp, readReply, sleep, token, type Json } from "./helpers.ts";
import type { TenantConfig } from "../../worker/tenant/schema.ts";
import { TENANT_CHECK_INTERVAL_MS, tenantKey } from "../../worker/tenant/store.ts";
import type { TenantObject } from "../../durable-objects/tenant/TenantObject.ts";

let tenant: TenantConfig;

beforeAll(async () => {
  tenant = await createTenant("strict", {
    backends: [backend.weather(), backend.notes()],
    policy: { defaultEffect: "deny", rules: [{ id: "weather-for-all", effect: "allow", items: { backends: ["weather"] } }] },
  });
});

afterEach(() => vi.restoreAllMocks());

async function admin(path: string, init: RequestInit = {}): Promise<{ status: number; body: Json }> {
  const res = await gateway(`${ORIGIN}/admin${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", ...init.headers } });
  return { status: res.status, body: (await res.json()) as Json };
}

const put = (id: string, document: unknown) => admin(`/tenants/${id}`, { method: "PUT", body: JSON.stringify(document) });
const validate = (id: string, document: unknown) => admin(`/tenants/${id}/validate`, { method: "POST", body: JSON.stringify(document) });
const stored = async (id: string) => (await admin(`/tenants/${id}`)).body as unknown as TenantConfig;

describe("PUT /admin/tenants/:id refuses unknown keys with 400 and the key's path", () => {
  it.each<[string, (t: TenantConfig) => unknown, string]>([
    // The two typos of issue 12: each would have left the tenant weaker than the admin asked.
    ["a misspelt `policy` (defaultEffect deny would have been lost)", (t) => ({ ...t, polcy: { defaultEffect: "allow" } }), "polcy: unknown key"],
    ["a misspelt `failureMode` (the tenant would have stayed fail-open)", (t) => ({ ...t, falureMode: "closed" }), "falureMode: unknown key"],
    [
      "a misspelt rule key",
      (t) => ({ ...t, policy: { ...t.policy, rules: [...t.policy.rules, { id: "no-notes", efect: "deny", items: { backends: ["notes"] } }] } }),
      "policy.rules.1.efect: unknown key",
    ],
    ["a misspelt backend key", (t) => ({ ...t, backends: [t.backends[0], { ...t.backends[1], timeout: 1_000 }] }), "backends.1.timeout: unknown key"],
    ["a misspelt JWT key", (t) => ({ ...t, auth: { ...t.auth, jwt: { ...t.auth.jwt, audiance: "https://elsewhere.example" } } }), "auth.jwt.audiance: unknown key"],
  ])("refuses %s, and the stored tenant is unchanged", async (_, edit, error) => {
    const before = await stored(tenant.id);
    const res = await put(tenant.id, edit(before));
    expect(res).toEqual({ status: 400, body: { error } });
    expect(await stored(tenant.id)).toEqual(before);
  });

  it("refuses a new tenant with a misspelt key: nothing is created", async () => {
    const id = `strict-new-${crypto.randomUUID().slice(0, 8)}`;
    expect(await put(id, { falureMode: "closed", auth: { anonymous: true } })).toEqual({ status: 400, body: { error: "falureMode: unknown key" } });
    expect((await admin(`/tenants/${id}`)).status).toBe(404);
  });
});

describe("POST /admin/tenants/:id/validate says the same", () => {
  it.each([
    [{ polcy: { defaultEffect: "deny" } }, "polcy: unknown key"],
    [{ falureMode: "closed" }, "falureMode: unknown key"],
  ])("refuses %j with the PUT's own answer", async (typo, error) => {
    const before = await stored(tenant.id);
    expect(await validate(tenant.id, { ...before, ...typo })).toEqual({ status: 400, body: { error } });
    expect(await put(tenant.id, { ...before, ...typo })).toEqual({ status: 400, body: { error } });
    expect(await stored(tenant.id)).toEqual(before);
  });
});

describe("what the gateway writes itself keeps working", () => {
  it("a document read back with GET (id, version and every default filled in) is accepted by PUT again", async () => {
    const before = await stored(tenant.id);
    expect(before.version).toBeGreaterThanOrEqual(1);
    expect((await validate(tenant.id, before)).status).toBe(200);
    const res = await put(tenant.id, before);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...before, version: before.version + 1 });
  });

  it("a document already in KV with a key this version does not know still loads; the key is logged and ignored", async () => {
    // As another version of the gateway would leave it: a newer version's field before a
    // rollback, or one a later version removed. Written to the tenant's object and KV directly.
    const own = await createTenant("strict-kv", { backends: [backend.weather()] });
    const bearer = await token(own.id);
    expect((await readReply(await mcp(own.id, initializeRequest(), { token: bearer }))).status).toBe(200);
    const newer = { ...own, version: own.version + 1, retiredSetting: true, policy: { ...own.policy, futurePolicyKey: "x" } };
    const tenants = (env as unknown as { TENANTS: DurableObjectNamespace<TenantObject> }).TENANTS;
    expect(await tenants.get(tenants.idFromName(own.id)).put(newer as unknown as TenantConfig)).toBe(true);
    await env.CONFIG.put(tenantKey(own.id), JSON.stringify(newer));

    const lines: string[] = [];
    for (const method of ["log", "warn", "error"] as const) vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    // Past the isolate's trust in its cached copy, the next request sees the new version and reads KV.
    await sleep(TENANT_CHECK_INTERVAL_MS + 200);
    expect((await readReply(await mcp(own.id, initializeRequest(), { token: bearer }))).status).toBe(200);
    const events = lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Json];
      } catch {
        return [];
      }
    });
    expect(events.filter((e) => e.event === "tenant_invalid")).toEqual([]);
    const ignored = events.find((e) => e.event === "tenant_unknown_keys_ignored");
    expect(ignored).toMatchObject({ level: "warn", tenant: own.id });
    expect([...(ignored!.keys as string[])].sort()).toEqual(["policy.futurePolicyKey", "retiredSetting"]);
  });
});
