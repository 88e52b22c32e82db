/**
 * The authorization decision: who may see and call which tool, prompt or resource.
 *
 * Rules match a principal and an item, optionally under a CEL condition over the call's
 * arguments. Any matching deny wins; else any matching allow allows; else the policy's default.
 * In lists, a condition that does not read `args` (say `"auditor" in principal.roles`) is decided
 * as the call would decide it; one that reads `args` cannot be known yet, so an item is shown when
 * an allow could apply and no deny certainly does, and the call itself is then decided with its
 * arguments (docs/catalog.md "List-time decisions").
 *
 * Why CEL (Common Expression Language, via @marcbachmann/cel-js): it is the policy language of
 * Kubernetes admission, Envoy RBAC and Google IAM conditions, so operators already know it; it is
 * not Turing-complete, always terminates and has no side effects; the implementation has no
 * dependencies, never generates code from strings (workerd forbids that), and adds about 36 KB
 * gzipped. Cedar was the alternative: a stronger model, but its WASM build alone is several MB,
 * eight times the whole bundle budget (512 KiB gzipped: docs/benchmarks.md).
 */
import { Environment } from "@marcbachmann/cel-js";
import type { Policy, PolicyRule } from "./schema.ts";
import type { Principal } from "./principal.ts";

/** Parse-time bounds on a condition, so a policy cannot make evaluation expensive. */
const CEL_LIMITS = { maxAstNodes: 500, maxDepth: 32, maxListElements: 200, maxMapEntries: 200, maxCallArguments: 8 };

const env = new Environment({ unlistedVariablesAreDyn: false, limits: CEL_LIMITS })
  .registerVariable("args", "map")
  .registerVariable("principal", "map")
  .registerVariable("tenant", "string")
  .registerVariable("backend", "string")
  .registerVariable("name", "string");

/** The same variables less `args`: a condition that type-checks here is decided without the call. */
const listEnv = new Environment({ unlistedVariablesAreDyn: false, limits: CEL_LIMITS })
  .registerVariable("principal", "map")
  .registerVariable("tenant", "string")
  .registerVariable("backend", "string")
  .registerVariable("name", "string");

export type ItemKind = "tool" | "prompt" | "resource";

export interface PolicyItem {
  kind: ItemKind;
  backend: string;
  /** The backend's own name (tools, prompts) or the URI (resources). */
  name: string;
}

/** What a rule with `requireApproval` asks for (policy/schema.ts). */
export interface ApprovalRequirement {
  approvers: string[];
  ttlSeconds: number;
  /** How a caller confirms their own call (no approvers): in the client, or at the approval page. */
  confirmWith: "elicitation" | "page";
}

export type Decision =
  | { effect: "allow"; rule: string | null; approval?: ApprovalRequirement }
  | { effect: "deny"; rule: string | null }
  | { effect: "insufficient_scope"; rule: string; scopes: string[] };

interface CompiledRule {
  rule: PolicyRule;
  subjects: RegExp[] | null;
  backends: RegExp[] | null;
  names: RegExp[] | null;
  when: ((context: Record<string, unknown>) => unknown) | null;
  /** Whether `when` reads the call's arguments (only then is it left to the call). */
  readsArgs: boolean;
}

const compiled = new WeakMap<Policy, CompiledRule[]>();

function compile(policy: Policy): CompiledRule[] {
  let rules = compiled.get(policy);
  if (!rules) {
    rules = policy.rules.map((rule) => ({
      rule,
      subjects: rule.principals?.subjects ? rule.principals.subjects.map(globToRegExp) : null,
      backends: rule.items?.backends ? rule.items.backends.map(globToRegExp) : null,
      names: rule.items?.names ? rule.items.names.map(globToRegExp) : null,
      when: rule.when ? env.parse(rule.when) : null,
      readsArgs: rule.when !== undefined && readsArgs(rule.when),
    }));
    compiled.set(policy, rules);
  }
  return rules;
}

/** Checks a policy before it is stored: every condition parses and type-checks. Returns `path: problem`. */
export function validatePolicy(policy: Policy): string | null {
  for (const [i, rule] of policy.rules.entries()) {
    if (rule.when === undefined) continue;
    try {
      const parsed = env.parse(rule.when);
      const checked = parsed.check();
      if (!checked.valid) return `policy.rules.${i}.when: ${firstLine(checked.error?.message)}`;
      // A condition is a yes or no; `dyn` (an argument, say) can only be told when it runs.
      if (checked.type !== "bool" && checked.type !== "dyn") return `policy.rules.${i}.when: must be a bool expression, not ${checked.type}`;
    } catch (error) {
      return `policy.rules.${i}.when: ${firstLine(error instanceof Error ? error.message : String(error))}`;
    }
  }
  for (const [i, redaction] of policy.redact.entries()) {
    try {
      new RegExp(redaction.pattern, "g");
    } catch {
      return `policy.redact.${i}.pattern: not a valid regular expression`;
    }
  }
  return null;
}

/** The rules that match a principal and an item, conditions not yet evaluated (the admin API's "why"). */
export function matchingRules(policy: Policy, principal: Principal, item: PolicyItem): PolicyRule[] {
  return compile(policy).filter((c) => matches(c, principal, item)).map((c) => c.rule);
}

/** Whether a condition reads `args`: a free `args` fails to type-check without it (a macro's own `args` does not). */
export function readsArgs(when: string): boolean {
  try {
    return !listEnv.parse(when).check().valid;
  } catch {
    return true;
  }
}

/**
 * Whether an item appears in lists for this principal: hidden exactly when the call would be
 * denied whatever its arguments. Conditions without `args` are evaluated now, as `decide` would;
 * a deny over `args` may not apply and an allow over `args` may, so those leave the item shown.
 */
export function isVisible(policy: Policy, principal: Principal, item: PolicyItem, context: { tenant: string } = { tenant: "" }): boolean {
  const vars = { args: {}, principal, tenant: context.tenant, backend: item.backend, name: item.name };
  let allowed = false;
  for (const c of compile(policy)) {
    if (!matches(c, principal, item)) continue;
    const known = c.when === null || !c.readsArgs;
    if (known && c.when !== null && !condition(c, vars)) continue;
    if (c.rule.effect === "deny" && known) return false;
    if (c.rule.effect === "allow") allowed = true;
  }
  return allowed || policy.defaultEffect === "allow";
}

/** The decision on one call, with its arguments. */
export function decide(
  policy: Policy,
  principal: Principal,
  item: PolicyItem,
  context: { tenant: string; args: Record<string, unknown> },
): Decision {
  const vars = { args: context.args, principal, tenant: context.tenant, backend: item.backend, name: item.name };
  let allow: CompiledRule | null = null;
  // Any matching allow that requires approval gates the call, wherever it stands among the
  // rules: a broader allow listed first must not bypass the gate.
  let approval: ApprovalRequirement | undefined;
  for (const c of compile(policy)) {
    if (!matches(c, principal, item)) continue;
    const applies = c.when === null ? true : condition(c, vars);
    if (!applies) continue;
    if (c.rule.effect === "deny") return { effect: "deny", rule: c.rule.id };
    allow ??= c;
    approval ??= c.rule.requireApproval;
  }
  if (allow) {
    const missing = (allow.rule.requireScopes ?? []).filter((s) => !principal.scopes.includes(s));
    if (missing.length > 0) return { effect: "insufficient_scope", rule: allow.rule.id, scopes: missing };
    return approval ? { effect: "allow", rule: allow.rule.id, approval } : { effect: "allow", rule: allow.rule.id };
  }
  return { effect: policy.defaultEffect, rule: null };
}

/**
 * A condition that cannot be evaluated (a missing argument, a type error, a result that is not
 * a boolean) counts as true for a deny and false for an allow: an error never grants access.
 */
function condition(c: CompiledRule, vars: Record<string, unknown>): boolean {
  try {
    const value = c.when!(vars);
    return typeof value === "boolean" ? value : c.rule.effect === "deny";
  } catch {
    return c.rule.effect === "deny";
  }
}

function matches(c: CompiledRule, principal: Principal, item: PolicyItem): boolean {
  const who = c.rule.principals;
  if (who) {
    const named = [who.subjects, who.roles, who.scopes].some((list) => list !== undefined);
    if (named) {
      const bySubject = c.subjects?.some((re) => re.test(principal.sub)) ?? false;
      const byRole = who.roles?.some((r) => principal.roles.includes(r)) ?? false;
      const byScope = who.scopes?.some((s) => principal.scopes.includes(s)) ?? false;
      if (!bySubject && !byRole && !byScope) return false;
    }
  }
  const what = c.rule.items;
  if (what?.kinds && !what.kinds.includes(item.kind)) return false;
  if (c.backends && !c.backends.some((re) => re.test(item.backend))) return false;
  if (c.names && !c.names.some((re) => re.test(item.name))) return false;
  return true;
}

/** `*` matches any run of characters, `?` one; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".");
  return new RegExp(`^${body}$`);
}

function firstLine(text: string | undefined): string {
  return (text ?? "invalid expression").split("\n")[0]!.slice(0, 200);
}
