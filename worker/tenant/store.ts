/**
 * Tenant configs from KV, cached in the isolate.
 *
 * KV is eventually consistent (changes reach other locations in 60 s or more), so the cache here
 * is short and the admin API also primes it where it writes; live sessions get the config with
 * every request, so a change reaches them as soon as this isolate sees it.
 */
import { parseTenant, type TenantConfig } from "./schema.ts";

/** How long an isolate trusts its copy: short, so admin changes show within seconds. */
export const TENANT_CACHE_TTL_MS = 2_000;
/** How long a missing tenant is remembered, so unknown-tenant floods do not each read KV. */
export const TENANT_NEGATIVE_CACHE_TTL_MS = 2_000;

export const tenantKey = (id: string): string => `tenant:${id}`;

interface Entry {
  tenant: TenantConfig | null;
  expires: number;
}

const cache = new Map<string, Entry>();

export async function loadTenant(kv: KVNamespace, id: string, now = Date.now()): Promise<TenantConfig | null> {
  const hit = cache.get(id);
  if (hit && hit.expires > now) return hit.tenant;
  const raw = await kv.get(tenantKey(id), "json");
  let tenant: TenantConfig | null = null;
  if (raw !== null) {
    const parsed = parseTenant(raw);
    // A stored document that no longer parses is treated as absent rather than half-trusted;
    // the admin API refuses such documents, so this only happens after a schema change.
    tenant = parsed.ok ? parsed.tenant : null;
    if (!parsed.ok) console.error(JSON.stringify({ event: "tenant_invalid", tenant: id, error: parsed.error }));
  }
  cache.set(id, { tenant, expires: now + (tenant ? TENANT_CACHE_TTL_MS : TENANT_NEGATIVE_CACHE_TTL_MS) });
  return tenant;
}

export async function saveTenant(kv: KVNamespace, tenant: TenantConfig): Promise<void> {
  await kv.put(tenantKey(tenant.id), JSON.stringify(tenant));
  cache.set(tenant.id, { tenant, expires: Date.now() + TENANT_CACHE_TTL_MS });
}

export async function deleteTenant(kv: KVNamespace, id: string): Promise<void> {
  await kv.delete(tenantKey(id));
  cache.set(id, { tenant: null, expires: Date.now() + TENANT_NEGATIVE_CACHE_TTL_MS });
}

/** For tests: forget every cached tenant. */
export function clearTenantCache(): void {
  cache.clear();
}
