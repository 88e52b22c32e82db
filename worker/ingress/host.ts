/**
 * ① Host allow-list, before anything else (the admin API and /healthz included): a request under
 * a host the gateway does not serve is refused with 403 `forbidden_host`.
 *
 * DNS rebinding defence (2025-11-25 basic/security_best_practices "Local MCP Server Compromise"):
 * a page on evil.example whose name resolves to the gateway's address sends requests with
 * `Host: evil.example` and a matching Origin, so a same-origin check alone lets it in. Only
 * hosts the gateway is meant to be reached under pass: loopback names, *.workers.dev, the custom
 * domains listed in the ALLOWED_HOSTS variable (comma-separated), and a tenant's own hostnames.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { GatewayError } from "../protocol/errors.ts";
import { tenantForHost } from "../tenant/hosts.ts";

/** Hosts always served: loopback for local runs, workers.dev for a fresh `wrangler deploy`. */
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
const WORKERS_DEV_SUFFIX = ".workers.dev";

export function hostAllowList(): MiddlewareHandler<AppEnv> {
  return async function hostAllowList(c, next) {
    try {
      checkHost(c.req.raw, typeof c.env.ALLOWED_HOSTS === "string" ? c.env.ALLOWED_HOSTS : undefined);
    } catch (error) {
      // A tenant's own hostname (tenant.hostnames) is served too; anything else is refused.
      if (!(await tenantForHost(c.env.CONFIG, new URL(c.req.url).hostname))) throw error;
    }
    await next();
  };
}

/** Loopback, *.workers.dev and the listed hosts pass; anything else is `forbidden_host`. */
export function checkHost(request: Request, allowedHosts: string | undefined): void {
  const host = new URL(request.url).hostname.toLowerCase();
  if (LOOPBACK_HOSTS.has(host) || host.endsWith(WORKERS_DEV_SUFFIX)) return;
  const listed = (allowedHosts ?? "").split(",").map((h) => h.trim().toLowerCase()).filter(Boolean);
  if (listed.includes(host)) return;
  throw new GatewayError("forbidden_host", { detail: `host ${host}` });
}
