/**
 * ① The host allow-list, first for every route: loopback, *.workers.dev, ALLOWED_HOSTS and a
 * tenant's own hostnames pass; any other Host is refused before anything else runs (DNS
 * rebinding defence). The middleware is tested the way hono tests its own: a tiny app and
 * `app.request()`.
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../../worker/env.ts";
import { checkHost, hostAllowList } from "../../../worker/ingress/host.ts";
import { GatewayError } from "../../../worker/protocol/errors.ts";
import { expectKind, failure, req } from "../support/errors.ts";

describe("checkHost (DNS rebinding defence)", () => {
  it.each(["http://localhost:8787/mcp", "http://127.0.0.1:8787/mcp", "http://[::1]:8787/mcp", "http://LOCALHOST/mcp"])(
    "serves the loopback host of %s",
    (url) => {
      expect(() => checkHost(req(url), undefined)).not.toThrow();
    },
  );

  it("serves any *.workers.dev host", () => {
    expect(() => checkHost(req("https://gateway.acme.workers.dev/mcp"), undefined)).not.toThrow();
  });

  it("serves hosts listed in ALLOWED_HOSTS, ignoring case, spaces and empty entries", () => {
    const allowed = " mcp.acme.com, ,Gateway.Example.org,,";
    expect(() => checkHost(req("https://mcp.acme.com/mcp"), allowed)).not.toThrow();
    expect(() => checkHost(req("https://gateway.example.org:8443/t/acme/mcp"), allowed)).not.toThrow();
  });

  it("refuses any other host with forbidden_host (403)", () => {
    const error = failure(() => checkHost(req("https://evil.example/mcp"), "mcp.acme.com"));
    expectKind(error, "forbidden_host", 403);
    expect(error.detail).toBe("host evil.example");
  });

  it.each([
    "https://workers.dev/mcp",
    "https://evilworkers.dev/mcp",
    "https://workers.dev.evil.example/mcp",
    "https://localhost.evil.example/mcp",
    "https://sub.mcp.acme.com/mcp",
    "https://acme.com/mcp",
    "http://127.0.0.2/mcp",
    "http://0.0.0.0/mcp",
  ])("refuses the look-alike host of %s", (url) => {
    expectKind(failure(() => checkHost(req(url), "mcp.acme.com")), "forbidden_host", 403);
  });

  it("refuses everything but loopback and workers.dev when ALLOWED_HOSTS is unset or empty", () => {
    expectKind(failure(() => checkHost(req("https://mcp.acme.com/mcp"), undefined)), "forbidden_host", 403);
    expectKind(failure(() => checkHost(req("https://mcp.acme.com/mcp"), "")), "forbidden_host", 403);
  });
});


describe("hostAllowList()", () => {
  const lookups: string[] = [];
  const env = {
    ALLOWED_HOSTS: "mcp.acme.com",
    // host:<hostname> → tenant id, as the admin API writes it (worker/tenant/hosts.ts).
    CONFIG: {
      async get(key: string): Promise<string | null> {
        lookups.push(key);
        return key === "host:mcp.owned.test" ? "owned" : null;
      },
    },
  };
  const app = new Hono<AppEnv>();
  app.use("*", hostAllowList());
  app.get("*", (c) => c.text("served"));
  app.onError((error) => (error instanceof GatewayError ? error.toResponse() : new Response("bug", { status: 500 })));

  it("is a named middleware (hono style: the factory returns a named async function)", () => {
    expect(hostAllowList().name).toBe("hostAllowList");
  });

  it("serves loopback and listed hosts without looking anything up", async () => {
    for (const url of ["http://127.0.0.1/healthz", "https://mcp.acme.com/t/acme/mcp"]) {
      expect(await (await app.request(url, {}, env)).text()).toBe("served");
    }
    expect(lookups).toEqual([]);
  });

  it("serves a hostname a tenant owns", async () => {
    expect(await (await app.request("https://mcp.owned.test/mcp", {}, env)).text()).toBe("served");
  });

  it("refuses any other host with 403 forbidden_host, before the route runs", async () => {
    const response = await app.request("https://rebound.evil.example/admin/tenants", {}, env);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ jsonrpc: "2.0", error: { code: -32600, message: "Forbidden: Host not allowed" } });
    expect(lookups).toContain("host:rebound.evil.example");
  });
});
