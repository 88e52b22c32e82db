/**
 * ④ Rate limits from the tenant's config, counted exactly by RateLimiter Durable Objects: one
 * object per tenant for tenant-wide limits, one per principal for principal limits, one per
 * principal for tool limits (which name the tool in the counter id).
 */
import type { RateLimit, TenantConfig } from "../tenant/schema.ts";
import { globToRegExp } from "../policy/engine.ts";

/** One limit a RateLimiter object counts a request against. */
export interface LimitCheck {
  /** A name for the limit (e.g. "principal:60s"), so one key can be counted under several. */
  id: string;
  limit: number;
  windowSeconds: number;
}

export type LimitResult = { ok: true } | { ok: false; retryAfterSeconds: number; limit: string };

type Limiters = Env["LIMITERS"];

function checks(limits: RateLimit[], prefix: string): LimitCheck[] {
  return limits.map((l, i) => ({ id: `${prefix}${i}:${l.windowSeconds}s`, limit: l.limit, windowSeconds: l.windowSeconds }));
}

/**
 * Tenant and principal limits, checked by the Worker before a request reaches a home. With
 * `deferPrincipal` the principal's own limits are left to the engine, which counts them with
 * the call's tool limits in one hit on the same object (checkCallLimits): a lone `tools/call`
 * then costs one limiter round trip, not two (docs/benchmarks-fixes.md).
 */
export async function checkRequestLimits(ns: Limiters, tenant: TenantConfig, principal: string, deferPrincipal = false): Promise<LimitResult> {
  const tenantLimits = tenant.limits.rate.filter((l) => l.scope === "tenant");
  const principalLimits = deferPrincipal ? [] : principalChecks(tenant);
  const results = await Promise.all([
    tenantLimits.length ? ns.get(ns.idFromName(`t:${tenant.id}`)).hit(checks(tenantLimits, "tenant")) : ({ ok: true } as const),
    principalLimits.length ? principalObject(ns, tenant, principal).hit(principalLimits) : ({ ok: true } as const),
  ]);
  return results.find((r) => !r.ok) ?? { ok: true };
}

/** Whether the tenant has principal-scope limits (only then is there anything to defer). */
export function hasPrincipalLimits(tenant: TenantConfig): boolean {
  return tenant.limits.rate.some((l) => l.scope === "principal");
}

/**
 * The limits of one call, counted in one hit on the principal's object: the tool limits that
 * apply to `tool` (the exposed name; null when the call is refused before it could leave, so no
 * tool limit counts it), and the principal's own limits when the Worker deferred them.
 */
export async function checkCallLimits(ns: Limiters, tenant: TenantConfig, principal: string, tool: string | null, principalDeferred: boolean): Promise<LimitResult> {
  const list = [...(principalDeferred ? principalChecks(tenant) : []), ...(tool === null ? [] : toolChecks(tenant, tool))];
  if (list.length === 0) return { ok: true };
  return principalObject(ns, tenant, principal).hit(list);
}

/** Tool limits that apply to `tool` (the exposed name), checked by the engine before a call leaves. */
export async function checkToolLimits(ns: Limiters, tenant: TenantConfig, principal: string, tool: string): Promise<LimitResult> {
  return checkCallLimits(ns, tenant, principal, tool, false);
}

function principalChecks(tenant: TenantConfig): LimitCheck[] {
  return checks(tenant.limits.rate.filter((l) => l.scope === "principal"), "principal");
}

function toolChecks(tenant: TenantConfig, tool: string): LimitCheck[] {
  return tenant.limits.rate
    .map((l, i) => ({ l, i }))
    .filter(({ l }) => l.scope === "tool" && (!l.tools || l.tools.some((g) => globToRegExp(g).test(tool))))
    .map(({ l, i }) => ({ id: `tool${i}:${tool}:${l.windowSeconds}s`, limit: l.limit, windowSeconds: l.windowSeconds }));
}

function principalObject(ns: Limiters, tenant: TenantConfig, principal: string) {
  return ns.get(ns.idFromName(`p:${tenant.id}:${principal}`));
}
