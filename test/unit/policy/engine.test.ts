/**
 * The policy engine: who may see and call which item. Deny overrides allow, the default decides
 * what no rule covers, CEL conditions decide calls with their arguments, and a condition that
 * cannot be evaluated never grants anything.
 */
import { describe, expect, it } from "vitest";
import { decide, globToRegExp, isVisible, readsArgs, validatePolicy, type PolicyItem } from "../../../worker/policy/engine.ts";
import type { Principal } from "../../../worker/policy/principal.ts";
import { PolicySchema, type Policy } from "../../../worker/policy/schema.ts";
import { parseTenant } from "../../../worker/tenant/schema.ts";

const policy = (doc: unknown): Policy => PolicySchema.parse(doc);

const alice: Principal = { sub: "alice@acme.com", roles: ["analyst"], scopes: ["tools:read"] };
const bob: Principal = { sub: "bob@partner.org", roles: ["admin"], scopes: [] };
const nobody: Principal = { sub: "svc-robot", roles: [], scopes: [] };

const forecast: PolicyItem = { kind: "tool", backend: "weather", name: "get_forecast" };
const alerts: PolicyItem = { kind: "tool", backend: "weather", name: "get_alerts" };
const addNote: PolicyItem = { kind: "tool", backend: "notes", name: "add_note" };
const summary: PolicyItem = { kind: "prompt", backend: "weather", name: "forecast_summary" };
const stations: PolicyItem = { kind: "resource", backend: "weather", name: "weather://stations" };

const call = (p: Policy, who: Principal, item: PolicyItem, args: Record<string, unknown> = {}) => decide(p, who, item, { tenant: "acme", args });

describe("decide: effects and precedence", () => {
  it("applies the default effect when no rule matches", () => {
    expect(call(policy({}), alice, forecast)).toEqual({ effect: "allow", rule: null });
    expect(call(policy({ defaultEffect: "deny" }), alice, forecast)).toEqual({ effect: "deny", rule: null });
  });

  it("lets a matching deny win over a matching allow, whatever their order", () => {
    const allowFirst = policy({
      rules: [
        { id: "allow-weather", effect: "allow", items: { backends: ["weather"] } },
        { id: "no-forecast", effect: "deny", items: { names: ["get_forecast"] } },
      ],
    });
    const denyFirst = policy({ rules: [...allowFirst.rules].reverse() });
    expect(call(allowFirst, alice, forecast)).toEqual({ effect: "deny", rule: "no-forecast" });
    expect(call(denyFirst, alice, forecast)).toEqual({ effect: "deny", rule: "no-forecast" });
    // The allow still decides the items the deny does not cover.
    expect(call(allowFirst, alice, alerts)).toEqual({ effect: "allow", rule: "allow-weather" });
  });

  it("lets an allow rule open an item under a deny default, and names the first allow that matched", () => {
    const p = policy({
      defaultEffect: "deny",
      rules: [
        { id: "forecast-only", effect: "allow", items: { names: ["get_forecast"] } },
        { id: "weather", effect: "allow", items: { backends: ["weather"] } },
      ],
    });
    expect(call(p, alice, forecast)).toEqual({ effect: "allow", rule: "forecast-only" });
    expect(call(p, alice, alerts)).toEqual({ effect: "allow", rule: "weather" });
    expect(call(p, alice, addNote)).toEqual({ effect: "deny", rule: null });
  });

  it("lets a deny rule close an item under an allow default", () => {
    const p = policy({ rules: [{ id: "no-notes", effect: "deny", items: { backends: ["notes"] } }] });
    expect(call(p, alice, addNote)).toEqual({ effect: "deny", rule: "no-notes" });
    expect(call(p, alice, forecast)).toEqual({ effect: "allow", rule: null });
  });
});

describe("decide: approval gates", () => {
  const ctx = { tenant: "t", args: { days: 7 } };
  it("asks for the approval of any matching allow that requires one, whatever the order of the rules", () => {
    const gated = { id: "gated", effect: "allow", items: { names: ["get_forecast"] }, requireApproval: { approvers: ["admin"] } };
    const broad = { id: "broad", effect: "allow" };
    for (const rules of [[gated, broad], [broad, gated]]) {
      expect(decide(policy({ rules }), alice, forecast, ctx)).toMatchObject({ effect: "allow", approval: { approvers: ["admin"], ttlSeconds: 900 } });
    }
    // Not matching (another tool, or its condition false): no approval.
    const conditional = { ...gated, when: "args.days > 10" };
    expect(decide(policy({ rules: [conditional, broad] }), alice, forecast, ctx)).toEqual({ effect: "allow", rule: "broad" });
    // A deny still wins over a gated allow.
    expect(decide(policy({ rules: [gated, { id: "no", effect: "deny" }] }), alice, forecast, ctx)).toEqual({ effect: "deny", rule: "no" });
  });
});

describe("decide: principals", () => {
  it("matches subjects by glob", () => {
    const p = policy({ rules: [{ id: "no-partners", effect: "deny", principals: { subjects: ["*@partner.org"] } }] });
    expect(call(p, bob, forecast).effect).toBe("deny");
    expect(call(p, alice, forecast).effect).toBe("allow");
    // The glob is anchored: a subject that merely contains the pattern does not match.
    expect(call(p, { ...alice, sub: "eve@partner.org.evil" }, forecast).effect).toBe("allow");
    // '?' is one character, and regex metacharacters in the glob are literal.
    const q = policy({ rules: [{ id: "r", effect: "deny", principals: { subjects: ["svc-?obot"] } }] });
    expect(call(q, nobody, forecast).effect).toBe("deny");
    expect(call(q, { ...nobody, sub: "svc-robbot" }, forecast).effect).toBe("allow");
  });

  it("matches roles and scopes", () => {
    const p = policy({
      defaultEffect: "deny",
      rules: [
        { id: "analysts", effect: "allow", principals: { roles: ["analyst"] }, items: { backends: ["weather"] } },
        { id: "readers", effect: "allow", principals: { scopes: ["notes:read"] }, items: { backends: ["notes"] } },
      ],
    });
    expect(call(p, alice, forecast)).toEqual({ effect: "allow", rule: "analysts" });
    expect(call(p, bob, forecast)).toEqual({ effect: "deny", rule: null });
    expect(call(p, alice, addNote)).toEqual({ effect: "deny", rule: null });
    expect(call(p, { ...bob, scopes: ["notes:read"] }, addNote)).toEqual({ effect: "allow", rule: "readers" });
  });

  it("matches a principal named by any one of subjects, roles or scopes", () => {
    const p = policy({
      defaultEffect: "deny",
      rules: [{ id: "any", effect: "allow", principals: { subjects: ["alice@*"], roles: ["admin"], scopes: ["ops"] } }],
    });
    expect(call(p, alice, forecast).effect).toBe("allow");
    expect(call(p, bob, forecast).effect).toBe("allow");
    expect(call(p, { ...nobody, scopes: ["ops"] }, forecast).effect).toBe("allow");
    expect(call(p, nobody, forecast).effect).toBe("deny");
  });

  it("applies a rule without principals (or with an empty principals object) to everyone", () => {
    for (const principals of [undefined, {}]) {
      const p = policy({ defaultEffect: "deny", rules: [{ id: "all", effect: "allow", ...(principals ? { principals } : {}) }] });
      expect(call(p, nobody, forecast).effect).toBe("allow");
    }
  });
});

describe("decide: items", () => {
  it("matches kinds, backends and name globs together", () => {
    const p = policy({
      defaultEffect: "deny",
      rules: [{ id: "weather-getters", effect: "allow", items: { kinds: ["tool"], backends: ["weath*"], names: ["get_*"] } }],
    });
    expect(call(p, alice, forecast).effect).toBe("allow");
    expect(call(p, alice, alerts).effect).toBe("allow");
    expect(call(p, alice, { ...forecast, name: "watch_storm" }).effect).toBe("deny");
    expect(call(p, alice, addNote).effect).toBe("deny");
    // A prompt of the same backend is another kind.
    expect(call(p, alice, { ...summary, name: "get_summary" }).effect).toBe("deny");
  });

  it("matches prompts and resources (by URI glob) by kind", () => {
    const p = policy({
      rules: [
        { id: "no-prompts", effect: "deny", items: { kinds: ["prompt"] } },
        { id: "no-stations", effect: "deny", items: { kinds: ["resource"], names: ["weather://stations*"] } },
      ],
    });
    expect(call(p, alice, summary)).toEqual({ effect: "deny", rule: "no-prompts" });
    expect(call(p, alice, stations)).toEqual({ effect: "deny", rule: "no-stations" });
    expect(call(p, alice, { ...stations, name: "weather://stations/ber" })).toEqual({ effect: "deny", rule: "no-stations" });
    expect(call(p, alice, { ...stations, name: "notes://all" })).toEqual({ effect: "allow", rule: null });
    expect(call(p, alice, forecast)).toEqual({ effect: "allow", rule: null });
  });

  it("globToRegExp escapes everything but * and ?", () => {
    expect(globToRegExp("a.b").test("a.b")).toBe(true);
    expect(globToRegExp("a.b").test("axb")).toBe(false);
    expect(globToRegExp("(x)+").test("(x)+")).toBe(true);
    expect(globToRegExp("*").test("")).toBe(true);
    expect(globToRegExp("a?c").test("abc")).toBe(true);
    expect(globToRegExp("a?c").test("ac")).toBe(false);
  });
});

describe("decide: CEL conditions over arguments", () => {
  const tables = policy({
    defaultEffect: "deny",
    rules: [{ id: "public-tables", effect: "allow", items: { names: ["query"] }, when: "args.table in ['orders', 'products']" }],
  });
  const query: PolicyItem = { kind: "tool", backend: "db", name: "query" };

  it("allows only some tables", () => {
    expect(call(tables, alice, query, { table: "orders" })).toEqual({ effect: "allow", rule: "public-tables" });
    expect(call(tables, alice, query, { table: "products" }).effect).toBe("allow");
    expect(call(tables, alice, query, { table: "salaries" })).toEqual({ effect: "deny", rule: null });
  });

  it("bounds a number", () => {
    const p = policy({ defaultEffect: "deny", rules: [{ id: "short", effect: "allow", when: "args.days <= 3" }] });
    expect(call(p, alice, forecast, { days: 1 }).effect).toBe("allow");
    expect(call(p, alice, forecast, { days: 3 }).effect).toBe("allow");
    expect(call(p, alice, forecast, { days: 2.5 }).effect).toBe("allow");
    expect(call(p, alice, forecast, { days: 4 }).effect).toBe("deny");
  });

  it("matches a regular expression", () => {
    const p = policy({ rules: [{ id: "no-b-cities", effect: "deny", when: "args.city.matches('^B[a-z]+$')" }] });
    expect(call(p, alice, forecast, { city: "Berlin" })).toEqual({ effect: "deny", rule: "no-b-cities" });
    expect(call(p, alice, forecast, { city: "Lisbon" })).toEqual({ effect: "allow", rule: null });
  });

  it("sees the principal, tenant, backend and name", () => {
    const p = policy({
      defaultEffect: "deny",
      rules: [
        {
          id: "ctx",
          effect: "allow",
          when: "'analyst' in principal.roles && principal.sub.endsWith('@acme.com') && tenant == 'acme' && backend == 'weather' && name.startsWith('get_')",
        },
      ],
    });
    expect(call(p, alice, forecast).effect).toBe("allow");
    expect(call(p, bob, forecast).effect).toBe("deny");
    expect(call(p, alice, addNote).effect).toBe("deny");
    expect(decide(p, alice, forecast, { tenant: "other", args: {} }).effect).toBe("deny");
  });

  it("never grants through an allow whose condition fails to evaluate", () => {
    const p = policy({ defaultEffect: "deny", rules: [{ id: "short", effect: "allow", when: "args.days <= 3" }] });
    // A missing argument, and an argument of the wrong type, are evaluation errors.
    expect(call(p, alice, forecast, {})).toEqual({ effect: "deny", rule: null });
    expect(call(p, alice, forecast, { days: "2" })).toEqual({ effect: "deny", rule: null });
    expect(call(p, alice, forecast, { days: null })).toEqual({ effect: "deny", rule: null });
  });

  it("applies a deny whose condition fails to evaluate", () => {
    const p = policy({ rules: [{ id: "no-long", effect: "deny", when: "args.days > 3" }] });
    expect(call(p, alice, forecast, { days: 2 })).toEqual({ effect: "allow", rule: null });
    expect(call(p, alice, forecast, { days: 5 })).toEqual({ effect: "deny", rule: "no-long" });
    expect(call(p, alice, forecast, {})).toEqual({ effect: "deny", rule: "no-long" });
    expect(call(p, alice, forecast, { days: ["x"] })).toEqual({ effect: "deny", rule: "no-long" });
    // An invalid regular expression is only found at evaluation: it too counts against the caller.
    const badRegex = policy({ rules: [{ id: "bad", effect: "deny", when: "args.city.matches('(')" }] });
    expect(call(badRegex, alice, forecast, { city: "Berlin" })).toEqual({ effect: "deny", rule: "bad" });
  });

  it("treats a condition that yields no boolean as failed: never grants, always denies", () => {
    const allow = policy({ defaultEffect: "deny", rules: [{ id: "a", effect: "allow", when: "args.flag" }] });
    expect(call(allow, alice, forecast, { flag: true }).effect).toBe("allow");
    expect(call(allow, alice, forecast, { flag: "yes" }).effect).toBe("deny");
    expect(call(allow, alice, forecast, { flag: 1 }).effect).toBe("deny");
    const deny = policy({ rules: [{ id: "d", effect: "deny", when: "args.flag" }] });
    expect(call(deny, alice, forecast, { flag: false })).toEqual({ effect: "allow", rule: null });
    expect(call(deny, alice, forecast, { flag: 5 })).toEqual({ effect: "deny", rule: "d" });
    expect(call(deny, alice, forecast, { flag: "no" })).toEqual({ effect: "deny", rule: "d" });
  });

  it("lets a conditional deny override an unconditional allow only when it holds", () => {
    const p = policy({
      defaultEffect: "deny",
      rules: [
        { id: "weather", effect: "allow", items: { backends: ["weather"] } },
        { id: "no-long", effect: "deny", when: "args.days > 3" },
      ],
    });
    expect(call(p, alice, forecast, { days: 2 })).toEqual({ effect: "allow", rule: "weather" });
    expect(call(p, alice, forecast, { days: 7 })).toEqual({ effect: "deny", rule: "no-long" });
  });
});

describe("decide: requireScopes", () => {
  const p = policy({
    defaultEffect: "deny",
    rules: [
      { id: "write-notes", effect: "allow", items: { backends: ["notes"] }, requireScopes: ["notes:write", "tools:read"] },
      { id: "weather", effect: "allow", items: { backends: ["weather"] } },
    ],
  });

  it("answers insufficient_scope with exactly the missing scopes", () => {
    expect(call(p, alice, addNote)).toEqual({ effect: "insufficient_scope", rule: "write-notes", scopes: ["notes:write"] });
    expect(call(p, nobody, addNote)).toEqual({ effect: "insufficient_scope", rule: "write-notes", scopes: ["notes:write", "tools:read"] });
  });

  it("allows once every required scope is held", () => {
    expect(call(p, { ...alice, scopes: ["tools:read", "notes:write"] }, addNote)).toEqual({ effect: "allow", rule: "write-notes" });
    expect(call(p, nobody, forecast)).toEqual({ effect: "allow", rule: "weather" });
  });

  it("is overridden by a deny: a denied item never reveals which scopes it would need", () => {
    const q = policy({ ...p, rules: [...p.rules, { id: "no-robots", effect: "deny", principals: { subjects: ["svc-*"] } }] });
    expect(call(q, nobody, addNote)).toEqual({ effect: "deny", rule: "no-robots" });
  });
});

describe("isVisible: lists", () => {
  it("follows the unconditional decision", () => {
    const p = policy({
      defaultEffect: "deny",
      rules: [
        { id: "analysts", effect: "allow", principals: { roles: ["analyst"] }, items: { backends: ["weather"] } },
        { id: "no-alerts", effect: "deny", items: { names: ["get_alerts"] } },
      ],
    });
    expect(isVisible(p, alice, forecast)).toBe(true);
    expect(isVisible(p, alice, alerts)).toBe(false);
    expect(isVisible(p, alice, addNote)).toBe(false);
    expect(isVisible(p, bob, forecast)).toBe(false);
    expect(isVisible(policy({}), nobody, addNote)).toBe(true);
  });

  it("shows an item a conditional allow could open, and hides it when no allow could", () => {
    const p = policy({ defaultEffect: "deny", rules: [{ id: "short", effect: "allow", principals: { roles: ["analyst"] }, when: "args.days <= 3" }] });
    expect(isVisible(p, alice, forecast)).toBe(true);
    expect(isVisible(p, bob, forecast)).toBe(false);
  });

  it("keeps an item a conditional deny may close visible (the call decides), but hides it under an unconditional deny", () => {
    const conditional = policy({ rules: [{ id: "no-long", effect: "deny", when: "args.days > 3" }] });
    expect(isVisible(conditional, alice, forecast)).toBe(true);
    const unconditional = policy({ rules: [{ id: "gone", effect: "deny", items: { names: ["get_forecast"] } }] });
    expect(isVisible(unconditional, alice, forecast)).toBe(false);
    expect(isVisible(unconditional, alice, alerts)).toBe(true);
  });

  it("decides a condition that does not read args when listing: hidden exactly when the call is refused", () => {
    const p = policy({ rules: [{ id: "no-auditors", effect: "deny", when: '"auditor" in principal.roles' }] });
    const auditor: Principal = { sub: "ann", roles: ["auditor"], scopes: [] };
    expect(call(p, auditor, forecast).effect).toBe("deny");
    expect(isVisible(p, auditor, forecast, { tenant: "acme" })).toBe(false);
    expect(call(p, alice, forecast).effect).toBe("allow");
    expect(isVisible(p, alice, forecast, { tenant: "acme" })).toBe(true);
  });

  it("opens an item under an allow whose principal condition holds, and only then", () => {
    const p = policy({ defaultEffect: "deny", rules: [{ id: "tenant-analysts", effect: "allow", when: 'tenant == "acme" && "analyst" in principal.roles && backend == "weather"' }] });
    for (const [who, item, tenant] of [[alice, forecast, "acme"], [alice, forecast, "other"], [bob, forecast, "acme"], [alice, addNote, "acme"]] as const) {
      const called = decide(p, who, item, { tenant, args: {} }).effect;
      expect(isVisible(p, who, item, { tenant })).toBe(called === "allow");
    }
  });

  it("keeps today's rule for a condition that mixes the principal and args", () => {
    const p = policy({ rules: [{ id: "auditors-short", effect: "deny", when: '"auditor" in principal.roles && args.days > 3' }] });
    const auditor: Principal = { sub: "ann", roles: ["auditor"], scopes: [] };
    expect(isVisible(p, auditor, forecast, { tenant: "acme" })).toBe(true);
    expect(call(p, auditor, forecast, { days: 5 }).effect).toBe("deny");
    expect(call(p, auditor, forecast, { days: 2 }).effect).toBe("allow");
  });

  it("hides under a principal-only deny that cannot be evaluated (an error never grants)", () => {
    const p = policy({ rules: [{ id: "broken", effect: "deny", when: 'principal.missing == "x"' }] });
    expect(call(p, alice, forecast).effect).toBe("deny");
    expect(isVisible(p, alice, forecast, { tenant: "acme" })).toBe(false);
  });

  it("tells which conditions read args, not counting a macro's own variable named args", () => {
    expect(readsArgs("args.days > 3")).toBe(true);
    expect(readsArgs("has(args.city)")).toBe(true);
    expect(readsArgs('"auditor" in principal.roles')).toBe(false);
    expect(readsArgs('principal.roles.exists(args, args == "x")')).toBe(false);
    expect(readsArgs('tenant == "acme" && name.startsWith("get_")')).toBe(false);
  });

  it("shows an item whose allow needs scopes the principal lacks (the call answers insufficient_scope)", () => {
    const p = policy({ defaultEffect: "deny", rules: [{ id: "w", effect: "allow", items: { backends: ["notes"] }, requireScopes: ["notes:write"] }] });
    expect(isVisible(p, alice, addNote)).toBe(true);
    expect(call(p, alice, addNote).effect).toBe("insufficient_scope");
  });
});

describe("validatePolicy", () => {
  it("accepts a policy with valid conditions and patterns", () => {
    expect(
      validatePolicy(
        policy({
          rules: [
            { id: "a", effect: "allow", when: "args.days <= 3 && args.city.matches('^[A-Z]')" },
            { id: "b", effect: "deny", when: "'admin' in principal.roles" },
            { id: "c", effect: "allow", when: "args.flag" },
          ],
          redact: [{ pattern: "\\d{4}-\\d{4}" }],
        }),
      ),
    ).toBeNull();
  });

  it("names the rule of a condition that does not parse", () => {
    const error = validatePolicy(policy({ rules: [{ id: "ok", effect: "allow" }, { id: "bad", effect: "allow", when: "args.days <=" }] }));
    expect(error).toMatch(/^policy\.rules\.1\.when: /);
  });

  it("names the rule of a condition that does not type-check", () => {
    expect(validatePolicy(policy({ rules: [{ id: "bad", effect: "deny", when: "1 + 'a'" }] }))).toMatch(/^policy\.rules\.0\.when: /);
    // Only the declared variables exist.
    expect(validatePolicy(policy({ rules: [{ id: "bad", effect: "deny", when: "secrets.key == 'x'" }] }))).toMatch(/^policy\.rules\.0\.when: /);
  });

  it("names the rule of a condition that can never be a boolean", () => {
    expect(validatePolicy(policy({ rules: [{ id: "n", effect: "allow", when: "1 + 2" }] }))).toMatch(/^policy\.rules\.0\.when: .*bool/);
    expect(validatePolicy(policy({ rules: [{ id: "s", effect: "deny", when: "name" }] }))).toMatch(/^policy\.rules\.0\.when: .*bool/);
  });

  it("names the redaction of a pattern that is no regular expression", () => {
    expect(validatePolicy(policy({ redact: [{ pattern: "ok" }, { pattern: "(unclosed" }] }))).toBe("policy.redact.1.pattern: not a valid regular expression");
  });

  it("is what parseTenant reports for a bad policy", () => {
    const bad = parseTenant({ id: "acme", policy: { rules: [{ id: "x", effect: "allow", when: "args.days <" }] } });
    expect(bad.ok).toBe(false);
    expect(bad.ok ? "" : bad.error).toMatch(/^policy\.rules\.0\.when: /);
    const badRegex = parseTenant({ id: "acme", policy: { redact: [{ pattern: "[" }] } });
    expect(badRegex).toEqual({ ok: false, error: "policy.redact.0.pattern: not a valid regular expression" });
    const badEffect = parseTenant({ id: "acme", policy: { rules: [{ id: "x", effect: "maybe" }] } });
    expect(badEffect.ok ? "" : badEffect.error).toMatch(/^policy\.rules\.0\.effect: /);
  });
});
