/**
 * The Worker's HTTP surface. Routes are thin: each stage of a request is a middleware or module
 * in its own folder, run in this order: ① host allow-list (ingress/host.ts, here for every
 * route) ② tenant and Origin (tenant/) ③ authenticate (auth/) ④ rate limit (limits/; for a POST, once parsed) ⑤ guard
 * and parse (ingress/guard.ts) ⑥ dispatch to a home (dispatch/mcp.ts), then ⑦ the engine and
 * ⑧ its reply (worker/engine/). Every expected failure is a GatewayError mapped to the wire in
 * one place (protocol/errors.ts). Anything else is a bug: a generic 500 for the client, the
 * precise error in the log.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "./env.ts";
import { admin } from "./admin/routes.ts";
import { canonicalResource } from "./auth/authenticate.ts";
import { metadataResponse, oauthRoutes } from "./oauth/routes.ts";
import { approvalRoutes } from "./approvals/routes.ts";
import { connectRoutes, myConnections } from "./connections/routes.ts";
import { issuerFor } from "./oauth/server.ts";
import { hostAllowList } from "./ingress/host.ts";
import { endpoint } from "./dispatch/mcp.ts";
import { GatewayError } from "./protocol/errors.ts";
import { GATEWAY_INFO } from "./protocol/identity.ts";
import { loadTenant } from "./tenant/store.ts";
import { logger } from "./observe/log.ts";
import { tenantForHost } from "./tenant/hosts.ts";
import { tunnelRoutes } from "./tunnels/routes.ts";

export const app = new Hono<AppEnv>();

// ① before anything else: a request under a host the gateway does not serve is refused.
app.use("*", hostAllowList());

app.get("/healthz", (c) => c.json({ ok: true, ...GATEWAY_INFO }));

/** RFC 9728 protected-resource metadata of a tenant's MCP endpoint (MCP 2025-11-25 basic/authorization). */
app.get("/.well-known/oauth-protected-resource/t/:tenant/mcp", (c) => resourceMetadata(c, c.req.param("tenant")));
app.get("/.well-known/oauth-protected-resource/mcp", async (c) => resourceMetadata(c, await tenantForHost(c.env.CONFIG, new URL(c.req.url).hostname)));

async function resourceMetadata(c: Context<AppEnv>, id: string | null): Promise<Response> {
  const tenant = id ? await loadTenant(c.env, id) : null;
  if (!tenant) throw new GatewayError("tenant_not_found");
  // The gateway's own authorization server first (clients take the first they can use), then
  // the external issuer whose tokens the tenant also accepts.
  const servers = [...(tenant.auth.oauth ? [issuerFor(c.req.url, tenant.id)] : []), ...(tenant.auth.jwt ? [tenant.auth.jwt.issuer] : [])];
  return c.json({
    resource: canonicalResource(c.req.url, tenant.id),
    authorization_servers: servers,
    ...(tenant.auth.oauth ? { scopes_supported: tenant.auth.oauth.scopes } : {}),
    bearer_methods_supported: ["header"],
  });
}

/**
 * A tenant's authorization server (worker/oauth/): RFC 8414 metadata at the path-inserted
 * well-known location of its issuer `<origin>/t/<tenant>`, and its endpoints under it.
 */
app.get("/.well-known/oauth-authorization-server/t/:tenant", (c) => metadataResponse(c, c.req.param("tenant")));
app.route("/t/:tenant/oauth", oauthRoutes);
app.route("/t/:tenant/approvals", approvalRoutes);
app.route("/t/:tenant/connect", connectRoutes);
app.route("/t/:tenant/connections", myConnections);
app.route("/t/:tenant/tunnels", tunnelRoutes);

app.route("/t/:tenant/mcp", endpoint);
// A tenant's own hostname (tenant.hostnames) serves its endpoint at /mcp.
app.route("/mcp", endpoint);
app.route("/admin", admin);

app.notFound(() => new GatewayError("tenant_not_found").toResponse());

app.onError((error) => {
  if (error instanceof GatewayError) {
    if (error.status >= 500 || error.detail) logger.info("request_refused", { kind: error.kind, detail: error.detail });
    return error.toResponse();
  }
  logger.error("unhandled_error", { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  return new GatewayError("internal").toResponse();
});
