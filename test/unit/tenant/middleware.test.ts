/**
 * ② The tenant stage: the tenant named by the path, or owning the hostname, with its config as
 * `c.var.tenant`; an unknown tenant is 404, and only then is the Origin checked against the
 * tenant's allowedOrigins (2025-11-25 basic/transports "Security Warning": a present, invalid
 * Origin is 403).
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../../worker/env.ts";
import { GatewayError } from "../../../worker/protocol/errors.ts";
import { expectKind, failure, req } from "../support/errors.ts";
import { checkOrigin, tenant as tenantStage } from "../../../worker/tenant/middleware.ts";
import { parseTenant, type TenantConfig } from "../../../worker/tenant/schema.ts";

function tenant(extra: Record<string, unknown> = {}): TenantConfig {
  const parsed = parseTenant({ id: "acme", ...extra });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.tenant;
}

describe("checkOrigin (transports 'Security Warning' 1: a present, invalid Origin is 403)", () => {
  const url = "https://mcp.acme.com/mcp";

  it("lets a request without an Origin through (not a browser)", () => {
    expect(() => checkOrigin(req(url), tenant())).not.toThrow();
  });

  it("lets a same-origin request through", () => {
    expect(() => checkOrigin(req(url, { origin: "https://mcp.acme.com" }), tenant())).not.toThrow();
    expect(() => checkOrigin(req("http://localhost:8787/mcp", { origin: "http://localhost:8787" }), tenant())).not.toThrow();
  });

  it("lets an origin the tenant lists through", () => {
    const t = tenant({ allowedOrigins: ["https://app.acme.com", "http://localhost:3000"] });
    expect(() => checkOrigin(req(url, { origin: "https://app.acme.com" }), t)).not.toThrow();
    expect(() => checkOrigin(req(url, { origin: "http://localhost:3000" }), t)).not.toThrow();
  });

  it.each([
    ["another site", "https://evil.example"],
    ["another port", "https://mcp.acme.com:8443"],
    ["another scheme", "http://mcp.acme.com"],
    ["a subdomain", "https://x.mcp.acme.com"],
    ["the opaque origin", "null"],
  ])("refuses %s with forbidden_origin (403)", (_label, origin) => {
    const error = failure(() => checkOrigin(req(url, { origin }), tenant({ allowedOrigins: ["https://app.acme.com"] })));
    expectKind(error, "forbidden_origin", 403);
  });

  it("answers a refused origin with a JSON-RPC error without id", async () => {
    const error = failure(() => checkOrigin(req(url, { origin: "https://evil.example" }), tenant()));
    const body = await error.toResponse().json();
    expect(body).toEqual({ jsonrpc: "2.0", error: { code: -32600, message: "Forbidden: Origin not allowed" } });
  });
});


describe("tenant()", () => {
  // Ids are unique to this file: worker/tenant/store.ts caches configs per isolate for 2 s.
  const configs: Record<string, TenantConfig> = {
    "mw-path": tenant({ id: "mw-path", allowedOrigins: ["https://app.example"] }),
    "mw-host": tenant({ id: "mw-host", hostnames: ["mcp.mw-host.test"] }),
  };
  // The tenant object holds the current version and config; KV holds nothing here, so the
  // object's copy is used (worker/tenant/store.ts).
  const env = {
    TENANTS: {
      idFromName: (id: string) => id,
      get: (id: string) => ({
        version: async () => (configs[id] ? 1 : 0),
        config: async () => configs[id] ?? null,
      }),
    },
    CONFIG: {
      async get(key: string): Promise<string | null> {
        return key === "host:mcp.mw-host.test" ? "mw-host" : null;
      },
    },
  };
  const app = new Hono<AppEnv>();
  const answer = new Hono<AppEnv>();
  answer.use("*", tenantStage());
  answer.all("/", (c) => c.text(c.var.tenant.id));
  app.route("/t/:tenant/mcp", answer);
  app.route("/mcp", answer);
  app.onError((error) => (error instanceof GatewayError ? error.toResponse() : new Response(String(error), { status: 500 })));

  it("is a named middleware", () => {
    expect(tenantStage().name).toBe("tenant");
  });

  it("finds the tenant by path and sets c.var.tenant", async () => {
    expect(await (await app.request("http://127.0.0.1/t/mw-path/mcp", {}, env)).text()).toBe("mw-path");
  });

  it("finds the tenant that owns the hostname at /mcp", async () => {
    expect(await (await app.request("http://mcp.mw-host.test/mcp", {}, env)).text()).toBe("mw-host");
  });

  it("answers an unknown tenant with 404 before looking at the Origin", async () => {
    const response = await app.request("http://127.0.0.1/t/mw-nobody/mcp", { headers: { origin: "https://evil.example" } }, env);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ jsonrpc: "2.0", error: { code: -32600, message: "Not Found" } });
  });

  it("refuses an Origin the tenant does not list with 403, and lets a listed one through", async () => {
    expect((await app.request("http://127.0.0.1/t/mw-path/mcp", { headers: { origin: "https://evil.example" } }, env)).status).toBe(403);
    expect(await (await app.request("http://127.0.0.1/t/mw-path/mcp", { headers: { origin: "https://app.example" } }, env)).text()).toBe("mw-path");
  });
});
