/**
 * Tenant configs: KV holds the document (replicated worldwide, read-mostly), the tenant's
 * Durable Object holds the current version (strongly consistent). An isolate trusts its cached
 * copy for TENANT_CHECK_INTERVAL_MS, then asks the object for the version: unchanged, the copy
 * stays; changed, the document is read from KV, or from the object itself while KV still
 * serves an older one (KV takes a minute or more to propagate). So an admin change reaches every
 * live session within seconds, at the cost of one small RPC per tenant per isolate per interval.
 */
import { parseStoredTenant, TenantSchema, type TenantConfig } from "./schema.ts";
import { logger } from "../observe/log.ts";
import { GatewayError } from "../protocol/errors.ts";

/** How long an isolate trusts its copy before checking the version again. */
export const TENANT_CHECK_INTERVAL_MS = 2_000;

export const tenantKey = (id: string): string => `tenant:${id}`;

/** The bindings tenant configs live in. */
export type TenantStores = Pick<Env, "CONFIG" | "TENANTS">;

interface Entry {
  tenant: TenantConfig | null;
  checkedAt: number;
}

const cache = new Map<string, Entry>();

export function tenantObject(env: TenantStores, id: string) {
  return env.TENANTS.get(env.TENANTS.idFromName(id));
}

export async function loadTenant(env: TenantStores, id: string, now = Date.now()): Promise<TenantConfig | null> {
  const hit = cache.get(id);
  if (hit && now - hit.checkedAt < TENANT_CHECK_INTERVAL_MS) return hit.tenant;
  const authority = tenantObject(env, id);
  const version = await authority.version();
  let tenant: TenantConfig | null = null;
  if (version > 0) {
    if (hit?.tenant?.version === version) {
      tenant = hit.tenant;
    } else {
      tenant = await readKv(env.CONFIG, id);
      if (tenant?.version !== version) tenant = await authority.config();
    }
  }
  cache.set(id, { tenant, checkedAt: now });
  return tenant;
}

async function readKv(kv: KVNamespace, id: string): Promise<TenantConfig | null> {
  const raw = await kv.get(tenantKey(id), "json");
  if (raw === null) return null;
  // Tolerant of unknown keys, unlike admin writes: a document stored by another version of the
  // gateway must not take the tenant down (parseStoredTenant says why); the keys are logged.
  const parsed = parseStoredTenant(raw);
  // A stored document that no longer parses is treated as absent rather than half-trusted.
  if (!parsed.ok) logger.error("tenant_invalid", { tenant: id, error: parsed.error });
  else if (parsed.ignored.length > 0) logger.warn("tenant_unknown_keys_ignored", { tenant: id, keys: parsed.ignored });
  return parsed.ok ? parsed.tenant : null;
}

/** The authoritative current config (admin reads and writes go here, never to a cache). */
export async function currentTenant(env: TenantStores, id: string): Promise<TenantConfig | null> {
  return tenantObject(env, id).config();
}

/** The tenant's current config, or the 404 every admin route answers for an unknown tenant. */
export async function requireTenant(env: TenantStores, id: string): Promise<TenantConfig> {
  const tenant = await currentTenant(env, id);
  if (!tenant) throw new GatewayError("tenant_not_found");
  return tenant;
}

/** Stores a new version: the object first (it decides which version is current), then KV. */
export async function saveTenant(env: TenantStores, tenant: TenantConfig): Promise<boolean> {
  const accepted = await tenantObject(env, tenant.id).put(tenant);
  if (!accepted) return false;
  await env.CONFIG.put(tenantKey(tenant.id), JSON.stringify(tenant));
  cache.set(tenant.id, { tenant, checkedAt: Date.now() });
  return true;
}

export async function deleteTenant(env: TenantStores, id: string): Promise<void> {
  await tenantObject(env, id).remove();
  // An id no tenant can have has no document, and KV refuses keys past 512 bytes (a 500).
  if (TenantSchema.shape.id.safeParse(id).success) await env.CONFIG.delete(tenantKey(id));
  cache.set(id, { tenant: null, checkedAt: Date.now() });
}
