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

/** Tenant and principal limits, checked by the Worker before a request reaches a session. */
export async function checkRequestLimits(ns: Limiters, tenant: TenantConfig, principal: string): Promise<LimitResult> {
  const tenantLimits = tenant.limits.rate.filter((l) => l.scope === "tenant");
  const principalLimits = tenant.limits.rate.filter((l) => l.scope === "principal");
  const results = await Promise.all([
    tenantLimits.length ? ns.get(ns.idFromName(`t:${tenant.id}`)).hit(checks(tenantLimits, "tenant")) : ({ ok: true } as const),
    principalLimits.length ? ns.get(ns.idFromName(`p:${tenant.id}:${principal}`)).hit(checks(principalLimits, "principal")) : ({ ok: true } as const),
  ]);
  return results.find((r) => !r.ok) ?? { ok: true };
}

/** Tool limits that apply to `tool` (the exposed name), checked by the session before a call leaves. */
export async function checkToolLimits(ns: Limiters, tenant: TenantConfig, principal: string, tool: string): Promise<LimitResult> {
  const applicable = tenant.limits.rate
    .map((l, i) => ({ l, i }))
    .filter(({ l }) => l.scope === "tool" && (!l.tools || l.tools.some((g) => globToRegExp(g).test(tool))));
  if (applicable.length === 0) return { ok: true };
  const list = applicable.map(({ l, i }) => ({ id: `tool${i}:${tool}:${l.windowSeconds}s`, limit: l.limit, windowSeconds: l.windowSeconds }));
  return ns.get(ns.idFromName(`p:${tenant.id}:${principal}`)).hit(list);
}
