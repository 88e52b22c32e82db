/**
 * ③ The authenticate stage: the principal a request's credential proves under its tenant's auth
 * settings becomes `c.var.principal`; no acceptable credential is 401 with an RFC 9728 challenge.
 * (API keys are compared with crypto.subtle.timingSafeEqual, which only workerd has: their
 * tests are in test/workers/auth-keys.test.ts.)
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../../worker/env.ts";
import { authenticate } from "../../../worker/auth/middleware.ts";
import { GatewayError } from "../../../worker/protocol/errors.ts";
import { parseTenant, type TenantConfig } from "../../../worker/tenant/schema.ts";

function tenant(auth: Record<string, unknown>): TenantConfig {
  const parsed = parseTenant({ id: "acme", auth });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.tenant;
}

/** ② stands in for tenant(): the config is set, then ③ runs. */
function appFor(config: TenantConfig) {
  const app = new Hono<AppEnv>();
  app.use("*", async (c, next) => {
    c.set("tenant", config);
    await next();
  });
  app.use("*", authenticate());
  app.all("*", (c) => c.json(c.var.principal));
  app.onError((error) => (error instanceof GatewayError ? error.toResponse() : new Response(String(error), { status: 500 })));
  return app;
}

describe("authenticate()", () => {
  it("is a named middleware", () => {
    expect(authenticate().name).toBe("authenticate");
  });

  it("sets the principal anonymous when the tenant allows requests without credentials", async () => {
    const response = await appFor(tenant({ anonymous: true })).request("http://127.0.0.1/t/acme/mcp");
    expect(await response.json()).toMatchObject({ sub: "anonymous" });
  });

  it("answers a request without credentials with 401 and the protected-resource metadata URL", async () => {
    const response = await appFor(tenant({})).request("http://127.0.0.1/t/acme/mcp");
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain('resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/t/acme/mcp"');
  });
});
