/**
 * ② Tenant: which tenant a request is for, the `:tenant` of `/t/:tenant/mcp` or else the tenant
 * that owns the request's hostname (`/mcp` on one of its `hostnames`), and its config as
 * `c.var.tenant` (store.ts: KV, checked against the tenant object's version). An unknown tenant
 * is 404. Then the Origin check, which needs the tenant's `allowedOrigins`.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { GatewayError } from "../protocol/errors.ts";
import { tenantForHost } from "./hosts.ts";
import type { TenantConfig } from "./schema.ts";
import { loadTenant } from "./store.ts";

export function tenant(): MiddlewareHandler<AppEnv> {
  return async function tenant(c, next) {
    const id = c.req.param("tenant") ?? (await tenantForHost(c.env.CONFIG, new URL(c.req.url).hostname));
    const config = id ? await loadTenant(c.env, id) : null;
    if (!config) throw new GatewayError("tenant_not_found");
    checkOrigin(c.req.raw, config);
    c.set("tenant", config);
    await next();
  };
}

/**
 * 2025-11-25 basic/transports "Security Warning": an Origin that is present and not allowed is
 * refused with 403 (DNS rebinding). Same-origin requests and the tenant's listed origins pass.
 */
export function checkOrigin(request: Request, tenant: TenantConfig): void {
  const origin = request.headers.get("origin");
  if (origin === null) return;
  if (origin === new URL(request.url).origin || tenant.allowedOrigins.includes(origin)) return;
  throw new GatewayError("forbidden_origin", { detail: `origin ${origin}` });
}
