/**
 * The audit trail read back through the admin API (`GET /admin/tenants/:id/audit`): events written
 * with recordAudit into the AUDIT D1 database (schema applied by test/workers/setup.ts), every
 * filter, keyset paging with the cursor (ties on `at` included), limit bounds, 400s that name the
 * parameter, the admin token, and rows handed out exactly as they were written.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { AUDIT_BATCH_ROWS, flushAudit, queueAudit, recordAudit, type AuditEvent } from "../../worker/audit/audit.ts";
import type { AuditRecord } from "../../worker/audit/query.ts";
import { ADMIN_TOKEN, expectClean, gateway, ORIGIN, uniqueTenantId } from "./helpers.ts";

interface Page {
  events: AuditRecord[];
  nextCursor: string | null;
}

const BASE = 1_767_225_600_000; // 2026-01-01T00:00:00Z

function auditUrl(tenant: string, params: Record<string, string> | string = {}): string {
  const query = typeof params === "string" ? params : new URLSearchParams(params).toString();
  return `${ORIGIN}/admin/tenants/${tenant}/audit${query ? `?${query}` : ""}`;
}

async function getAudit(tenant: string, params: Record<string, string> | string = {}, token: string | null = ADMIN_TOKEN): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await gateway(auditUrl(tenant, params), { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const text = await res.text();
  expectClean(res.status, text);
  return { status: res.status, text, headers: res.headers };
}

async function page(tenant: string, params: Record<string, string> = {}): Promise<Page> {
  const { status, text } = await getAudit(tenant, params);
  expect(status, text).toBe(200);
  return JSON.parse(text) as Page;
}

/** Every page from the first on, following nextCursor. */
async function allPages(tenant: string, params: Record<string, string>): Promise<Page[]> {
  const pages: Page[] = [];
  let cursor: string | null = null;
  do {
    const next: Page = await page(tenant, cursor ? { ...params, cursor } : params);
    pages.push(next);
    cursor = next.nextCursor;
    expect(pages.length).toBeLessThan(100);
  } while (cursor);
  return pages;
}

/** Each fixture event carries its label as `requestId`, so results read as label lists. */
const labels = (events: AuditRecord[]): string[] => events.map((e) => e.requestId ?? "?");

async function expectBadParam(tenant: string, params: Record<string, string> | string, name: string): Promise<void> {
  const { status, text } = await getAudit(tenant, params);
  expect(status, text).toBe(400);
  const body = JSON.parse(text) as { error: string };
  expect(body.error, text).toMatch(new RegExp(`^${name}: \\S`));
}

// --- fixture ---------------------------------------------------------------------------------

let tenant: string;
let other: string;
const recorded = new Map<string, AuditEvent>();

function event(label: string, at: number, fields: Partial<AuditEvent>): AuditEvent {
  return {
    at,
    tenant,
    principal: "alice",
    requestId: label,
    method: "tools/call",
    decision: "allow",
    policyVersion: 3,
    outcome: "ok",
    ...fields,
  };
}

/** Newest first; e3 and e4 share `at`, so their order comes from the id tie-break. */
const ALL_NEWEST_FIRST_BY_AT = ["e7", "e6", "e5", "e3|e4", "e2", "e1", "e0"];

beforeAll(async () => {
  tenant = uniqueTenantId("audit");
  other = uniqueTenantId("audit-other");
  const events = [
    event("e0", BASE, { sessionId: "s1", clientName: "inspector", backend: "weather", item: "get_forecast", latencyMs: 12, detail: { rule: "allow-weather" } }),
    event("e1", BASE + 1000, { principal: "bob", sessionId: "s2", backend: "notes", item: "add_note", decision: "deny", outcome: "denied", detail: { rule: "no-notes-for-bob" } }),
    event("e2", BASE + 2000, { sessionId: "s1", method: "resources/read", backend: "notes", item: "notes://1", latencyMs: 4 }),
    event("e3", BASE + 3000, { sessionId: "s1", backend: "weather", item: "get_forecast", outcome: "timeout", latencyMs: 10_000 }),
    event("e4", BASE + 3000, { principal: "bob", sessionId: "s2", method: "prompts/get", backend: "weather", item: "forecast_prompt", outcome: "error" }),
    event("e5", BASE + 4000, { principal: "carol", sessionId: "s3", backend: "weather", item: "get_alerts", outcome: "rate_limited" }),
    event("e6", BASE + 5000, { method: "tools/list" }),
    event("e7", BASE + 6000, {
      principal: "carol",
      sessionId: "s3",
      backend: "notes",
      item: "search",
      outcome: "cancelled",
      detail: { rule: "allow-all", arguments: { query: "q", nested: { list: [1, "two", null] } } },
    }),
  ];
  for (const e of events) {
    await recordAudit(env.AUDIT, e);
    recorded.set(e.requestId!, e);
  }
  // Same principal, session, method and time, another tenant: must never show up.
  await recordAudit(env.AUDIT, { ...events[0]!, tenant: other, requestId: "other-0" });
  await recordAudit(env.AUDIT, { ...events[6]!, tenant: other, requestId: "other-6" });
});

// --- reading ---------------------------------------------------------------------------------

describe("GET /admin/tenants/:id/audit", () => {
  it("returns the tenant's events newest first, exactly as recorded, with no next page", async () => {
    const { events, nextCursor } = await page(tenant);
    expect(nextCursor).toBeNull();
    expect(events).toHaveLength(8);
    expect(events.map((e) => e.at)).toEqual([...events.map((e) => e.at)].sort((a, b) => b - a));
    expect(labels(events).map((l) => (l === "e3" || l === "e4" ? "e3|e4" : l))).toEqual(
      ALL_NEWEST_FIRST_BY_AT.flatMap((l) => (l === "e3|e4" ? [l, l] : [l])),
    );
    // The tie on `at` is broken by id, descending.
    const tied = events.filter((e) => e.at === BASE + 3000);
    expect(tied.map((e) => e.id)).toEqual([...tied.map((e) => e.id)].sort().reverse());
    for (const e of events) {
      const { id, ...rest } = e;
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(rest).toStrictEqual(JSON.parse(JSON.stringify(recorded.get(e.requestId!))));
    }
  });

  it("keeps tenants apart, and an unknown tenant has an empty trail", async () => {
    expect(labels((await page(other)).events)).toEqual(["other-6", "other-0"]);
    expect(await page(uniqueTenantId("audit-none"))).toEqual({ events: [], nextCursor: null });
  });

  it.each([
    [{ principal: "alice" }, ["e6", "e3", "e2", "e0"]],
    [{ principal: "bob" }, ["e4", "e1"]],
    [{ sessionId: "s1" }, ["e3", "e2", "e0"]],
    [{ sessionId: "s3" }, ["e7", "e5"]],
    [{ method: "tools/call" }, ["e7", "e5", "e3", "e1", "e0"]],
    [{ method: "resources/read" }, ["e2"]],
    [{ decision: "deny" }, ["e1"]],
    [{ decision: "allow" }, ["e7", "e6", "e5", "e3|e4", "e2", "e0"]],
    [{ outcome: "ok" }, ["e6", "e2", "e0"]],
    [{ outcome: "timeout" }, ["e3"]],
    [{ outcome: "rate_limited" }, ["e5"]],
    [{ outcome: "cancelled" }, ["e7"]],
    [{ backend: "notes" }, ["e7", "e2", "e1"]],
    [{ item: "get_forecast" }, ["e3", "e0"]],
    [{ since: String(BASE + 3000) }, ["e7", "e6", "e5", "e3|e4"]],
    [{ until: String(BASE + 2000) }, ["e1", "e0"]],
    [{ since: String(BASE + 1000), until: String(BASE + 3000) }, ["e2", "e1"]],
    [{ principal: "alice", method: "tools/call", backend: "weather" }, ["e3", "e0"]],
    [{ principal: "bob", decision: "deny", outcome: "denied", sessionId: "s2", item: "add_note" }, ["e1"]],
    [{ principal: "nobody" }, []],
    [{ principal: "alice' OR '1'='1" }, []],
    [{ item: "%" }, []],
  ])("filters by %o", async (params, expected) => {
    const { events, nextCursor } = await page(tenant, params);
    expect(nextCursor).toBeNull();
    const got = labels(events).map((l) => (expected.includes("e3|e4") && (l === "e3" || l === "e4") ? "e3|e4" : l));
    expect(got).toEqual(expected.flatMap((l) => (l === "e3|e4" ? [l, l] : [l])));
  });
});

describe("paging", () => {
  it.each([1, 2, 3, 7])("walks every event once with limit=%i, across the tie on `at`", async (limit) => {
    const whole = (await page(tenant)).events;
    const pages = await allPages(tenant, { limit: String(limit) });
    expect(pages).toHaveLength(Math.ceil(whole.length / limit));
    for (const p of pages.slice(0, -1)) {
      expect(p.events).toHaveLength(limit);
      expect(p.nextCursor).toEqual(expect.any(String));
    }
    expect(pages.at(-1)!.nextCursor).toBeNull();
    expect(pages.flatMap((p) => p.events)).toEqual(whole);
  });

  it("gives no cursor when the last page is exactly full", async () => {
    const first = await page(tenant, { limit: "4" });
    expect(first.nextCursor).not.toBeNull();
    const second = await page(tenant, { limit: "4", cursor: first.nextCursor! });
    expect(second.events).toHaveLength(4);
    expect(second.nextCursor).toBeNull();
  });

  it("pages within filters", async () => {
    const pages = await allPages(tenant, { principal: "alice", limit: "1" });
    expect(pages.map((p) => labels(p.events))).toEqual([["e6"], ["e3"], ["e2"], ["e0"]]);
    const ranged = await allPages(tenant, { since: String(BASE + 1000), until: String(BASE + 5000), limit: "2" });
    expect(ranged.flatMap((p) => labels(p.events)).sort()).toEqual(["e1", "e2", "e3", "e4", "e5"]);
  });
});

describe("limit", () => {
  let busy: string;
  beforeAll(async () => {
    busy = uniqueTenantId("audit-busy");
    await env.AUDIT.batch(
      Array.from({ length: 1005 }, (_, i) =>
        env.AUDIT.prepare(
          "INSERT INTO audit_events (id, at, tenant, principal, method, decision, policy_version, outcome) VALUES (?, ?, ?, 'p', 'tools/call', 'allow', 1, 'ok')",
        ).bind(crypto.randomUUID(), BASE + i, busy),
      ),
    );
  });

  it("defaults to 100", async () => {
    const first = await page(busy);
    expect(first.events).toHaveLength(100);
    expect(first.events[0]!.at).toBe(BASE + 1004);
    expect(first.nextCursor).not.toBeNull();
  });

  it("accepts 1 to 1000", async () => {
    expect((await page(busy, { limit: "1" })).events).toHaveLength(1);
    const max = await page(busy, { limit: "1000" });
    expect(max.events).toHaveLength(1000);
    const rest = await page(busy, { limit: "1000", cursor: max.nextCursor! });
    expect(rest.events.map((e) => e.at)).toEqual([BASE + 4, BASE + 3, BASE + 2, BASE + 1, BASE]);
    expect(rest.nextCursor).toBeNull();
  });

  it.each(["0", "1001", "5000", "-1", "1.5", "ten", "", "00000000001"])("refuses limit=%j", async (limit) => {
    await expectBadParam(busy, { limit }, "limit");
  });
});

describe("bad parameters are a 400 naming the parameter", () => {
  it.each([
    [{ principal: "" }, "principal"],
    [{ sessionId: "" }, "sessionId"],
    [{ method: "x".repeat(513) }, "method"],
    [{ decision: "maybe" }, "decision"],
    [{ outcome: "fine" }, "outcome"],
    [{ since: "yesterday" }, "since"],
    [{ since: "2026-01-01T00:00:00Z" }, "since"],
    [{ until: "-5" }, "until"],
    [{ until: "99999999999999999" }, "until"],
    [{ since: String(BASE + 10), until: String(BASE + 10) }, "until"],
    [{ cursor: "not a cursor!" }, "cursor"],
    [{ cursor: btoa("no-dot-here") }, "cursor"],
    [{ cursor: "" }, "cursor"],
    [{ princpal: "alice" }, "princpal"],
    [{ tenant: "someone-else" }, "tenant"],
  ])("%o", async (params, name) => {
    await expectBadParam(tenant, params, name);
  });

  it("a parameter given twice", async () => {
    await expectBadParam(tenant, "principal=alice&principal=bob", "principal");
  });
});

describe("admin token", () => {
  it.each([
    ["no token", null],
    ["a wrong token", "not-the-admin-token"],
    ["an empty token", ""],
  ])("401 with %s", async (_, token) => {
    const { status, headers, text } = await getAudit(tenant, {}, token);
    expect(status).toBe(401);
    expect(headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(text).not.toContain("e0");
    expect(text).not.toContain("alice");
  });

  it("401 before parameters are looked at", async () => {
    const { status } = await getAudit(tenant, { limit: "bogus" }, null);
    expect(status).toBe(401);
  });
});

describe("detail", () => {
  it("holds exactly what was put there, and is absent when nothing was", async () => {
    const { events, nextCursor } = await page(tenant);
    expect(nextCursor).toBeNull();
    const byLabel = new Map(events.map((e) => [e.requestId!, e]));
    expect(byLabel.get("e0")!.detail).toStrictEqual({ rule: "allow-weather" });
    expect(byLabel.get("e1")!.detail).toStrictEqual({ rule: "no-notes-for-bob" });
    expect(byLabel.get("e7")!.detail).toStrictEqual({ rule: "allow-all", arguments: { query: "q", nested: { list: [1, "two", null] } } });
    for (const label of ["e2", "e3", "e4", "e5", "e6"]) expect(byLabel.get(label)).not.toHaveProperty("detail");
    // Nothing of the request that read the trail (the admin token) ends up in it.
    expect(JSON.stringify(events)).not.toContain(ADMIN_TOKEN);
  });

  it("a detail that is not a JSON object is not handed out", async () => {
    const odd = uniqueTenantId("audit-odd");
    for (const [i, detail] of ["not json", "[1,2]", '"text"', "null", "42"].entries()) {
      await env.AUDIT.prepare(
        "INSERT INTO audit_events (id, at, tenant, principal, method, decision, policy_version, outcome, detail) VALUES (?, ?, ?, 'p', 'tools/call', 'allow', 1, 'ok', ?)",
      )
        .bind(crypto.randomUUID(), BASE + i, odd, detail)
        .run();
    }
    const { events } = await page(odd);
    expect(events).toHaveLength(5);
    for (const e of events) expect(e).not.toHaveProperty("detail");
  });
});

describe("batched writes (queueAudit)", () => {
  /** Queues events as the engine does, keeping what it hands to waitUntil. */
  function queue(events: AuditEvent[]): Promise<unknown>[] {
    const held: Promise<unknown>[] = [];
    for (const e of events) queueAudit(env.AUDIT, (p) => held.push(p), e);
    return held;
  }

  it("writes queued rows as one batch, kept alive by the waitUntil of the request that started it", async () => {
    const batched = uniqueTenantId("audit-batch");
    const events = ["b0", "b1", "b2"].map((label, i) => ({ ...event(label, BASE + i, {}), tenant: batched }));
    const held = queue(events);
    expect(held).toHaveLength(1); // one flush per batch, not one write per row
    await Promise.all(held);
    expect(labels((await page(batched)).events)).toStrictEqual(["b2", "b1", "b0"]);
  });

  it(`starts a new batch once one holds ${AUDIT_BATCH_ROWS} rows, and loses none`, async () => {
    const full = uniqueTenantId("audit-full");
    const events = Array.from({ length: AUDIT_BATCH_ROWS + 3 }, (_, i) => ({ ...event(`f${i}`, BASE + i, {}), tenant: full }));
    const held = queue(events);
    expect(held).toHaveLength(2);
    await Promise.all(held);
    const rows = (await allPages(full, { limit: "100" })).flatMap((p) => p.events);
    expect(rows).toHaveLength(events.length);
  });

  it("a row D1 refuses is logged and dropped alone: the rest of its batch is written", async () => {
    const mixed = uniqueTenantId("audit-mixed");
    const refused = { ...event("bad", BASE + 1, {}), tenant: mixed, principal: null as unknown as string }; // NOT NULL
    const held = queue([{ ...event("ok0", BASE, {}), tenant: mixed }, refused, { ...event("ok2", BASE + 2, {}), tenant: mixed }]);
    await Promise.all(held);
    expect(labels((await page(mixed)).events)).toStrictEqual(["ok2", "ok0"]);
  });

  it("flushAudit writes a pending batch at once", async () => {
    const now = uniqueTenantId("audit-now");
    queue([{ ...event("n0", BASE, {}), tenant: now }]);
    await flushAudit(env.AUDIT);
    expect(labels((await page(now)).events)).toStrictEqual(["n0"]);
  });
});
