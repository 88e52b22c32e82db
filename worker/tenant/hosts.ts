/**
 * Hostname → tenant: a tenant may be reached at `https://<its hostname>/mcp` as well as at
 * `/t/<id>/mcp`. The map lives in KV (`host:<hostname>` → tenant id), written by the admin API;
 * hostnames change rarely, so a slower cache than the config's is fine.
 */

/** How long an isolate trusts a hostname lookup (including a miss). */
export const HOST_CACHE_TTL_MS = 30_000;

export const hostKey = (hostname: string): string => `host:${hostname}`;

const cache = new Map<string, { tenant: string | null; expires: number }>();

export async function tenantForHost(kv: KVNamespace, hostname: string, now = Date.now()): Promise<string | null> {
  const hit = cache.get(hostname);
  if (hit && hit.expires > now) return hit.tenant;
  const tenant = await kv.get(hostKey(hostname));
  cache.set(hostname, { tenant, expires: now + HOST_CACHE_TTL_MS });
  return tenant;
}

/**
 * Points `next` hostnames at `tenant` and releases the ones it no longer lists. Returns the
 * first hostname already owned by another tenant (nothing is changed then), or null.
 */
export async function assignHosts(kv: KVNamespace, tenant: string, previous: readonly string[], next: readonly string[]): Promise<string | null> {
  for (const hostname of next) {
    const owner = await kv.get(hostKey(hostname));
    if (owner !== null && owner !== tenant) return hostname;
  }
  await Promise.all(next.map((hostname) => kv.put(hostKey(hostname), tenant)));
  await Promise.all(previous.filter((h) => !next.includes(h)).map((hostname) => kv.delete(hostKey(hostname))));
  for (const hostname of new Set([...previous, ...next])) cache.delete(hostname);
  return null;
}
