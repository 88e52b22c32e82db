/**
 * ④ The rate-limit stage: the tenant's tenant-wide and per-principal limits, counted by
 * RateLimiter objects (here a stand-in), refuse a request over a limit with 429 and Retry-After
 * (RFC 6585 §4); tool limits are left to the engine.
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../../worker/env.ts";
import { rateLimit } from "../../../worker/limits/middleware.ts";
import { GatewayError } from "../../../worker/protocol/errors.ts";
import { parseTenant, type TenantConfig } from "../../../worker/tenant/schema.ts";

function tenant(rate: unknown[]): TenantConfig {
  const parsed = parseTenant({ id: "acme", limits: { rate } });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.tenant;
}

/** Counters keyed by object name; "p:acme:bob" is over its limit. */
function limiters(asked: string[]) {
  return {
    idFromName: (name: string) => name,
    get: (name: string) => ({
      async hit() {
        asked.push(name);
        return name === "p:acme:bob" ? { ok: false, retryAfterSeconds: 7, limit: "principal0:60s" } : { ok: true };
      },
    }),
  };
}

/** ② and ③ stand in for tenant() and authenticate(); then ④ runs. */
function appFor(config: TenantConfig, sub: string) {
  const app = new Hono<AppEnv>();
  app.use("*", async (c, next) => {
    c.set("tenant", config);
    c.set("principal", { sub, roles: [], scopes: [] });
    await next();
  });
  app.use("*", rateLimit());
  app.all("*", (c) => c.text("served"));
  app.onError((error) => (error instanceof GatewayError ? error.toResponse() : new Response(String(error), { status: 500 })));
  return app;
}

describe("rateLimit()", () => {
  const limited = tenant([
    { scope: "principal", limit: 10, windowSeconds: 60 },
    { scope: "tool", limit: 1, windowSeconds: 60 },
  ]);

  it("is a named middleware", () => {
    expect(rateLimit().name).toBe("rateLimit");
  });

  it("lets a principal under its limits through", async () => {
    const asked: string[] = [];
    expect(await (await appFor(limited, "ada").request("http://127.0.0.1/t/acme/mcp", {}, { LIMITERS: limiters(asked) })).text()).toBe("served");
    expect(asked).toEqual(["p:acme:ada"]);
  });

  it("refuses a principal over a limit with 429, Retry-After and the same in the JSON-RPC error", async () => {
    const response = await appFor(limited, "bob").request("http://127.0.0.1/t/acme/mcp", {}, { LIMITERS: limiters([]) });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("7");
    expect(await response.json()).toEqual({ jsonrpc: "2.0", error: { code: -32000, message: "Too Many Requests", data: { retryAfterSeconds: 7 } } });
  });

  it("asks no counter when the tenant sets no request limits (tool limits are the engine's)", async () => {
    const asked: string[] = [];
    const toolOnly = tenant([{ scope: "tool", limit: 1, windowSeconds: 60 }]);
    expect(await (await appFor(toolOnly, "bob").request("http://127.0.0.1/t/acme/mcp", {}, { LIMITERS: limiters(asked) })).text()).toBe("served");
    expect(asked).toEqual([]);
  });
});
