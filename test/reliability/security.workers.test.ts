/**
 * Security (issue 7), in workerd:
 *   - Host (DNS rebinding) and Origin checks: 403 on every route;
 *   - no credentialed wildcard CORS on any route, and no foreign origin reflected;
 *   - backend, token, JWKS and OpenAPI spec URLs at loopback, private and link-local addresses
 *     refused by the admin API unless ALLOW_PRIVATE_BACKENDS is "true" (worker/admin/destinations.ts);
 *   - session ids unguessable and bound to the tenant and principal that created them;
 *   - the client's bearer token and API key never reach a backend;
 *   - no credential or secret in anything logged (console captured through whole flows);
 *   - error bodies free of upstream internals;
 *   - sealed requestState (worker/broker/sealed.ts) that cannot be forged, tampered with,
 *     used by another principal or tenant, or used after it expired.
 */
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import fc from "fast-check";
import { app } from "../../worker/app.ts";
import { privateAddress } from "../../worker/admin/destinations.ts";
import { StateSealer } from "../../worker/broker/sealed.ts";
import { ADMIN_TOKEN, connect, createTenant, endpoint, gateway, initializeRequest, mcp, ORIGIN, readReply, signingKey, ISSUER, token, type Json, type Session } from "../workers/helpers.ts";
import { faultBackend, type FaultBackend } from "./faults.ts";
import { leakedInternals } from "./support.ts";

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
/** NOTES_BACKEND_KEY in vitest.config.ts. */
const BACKEND_KEY = "workers-test-notes-key";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("Host and Origin (DNS rebinding)", () => {
  let tenant: string;
  beforeAll(async () => {
    tenant = (await createTenant("sec-host", { allowedOrigins: ["https://app.example"] })).id;
  });

  it("a Host the gateway does not serve is 403 on every route, before anything else", async () => {
    for (const path of ["/healthz", `/t/${tenant}/mcp`, "/mcp", `/admin/tenants/${tenant}`, "/admin/console/", `/.well-known/oauth-protected-resource/t/${tenant}/mcp`, "/nothing"]) {
      for (const method of ["GET", "POST", "DELETE", "OPTIONS"]) {
        const res = await gateway(`http://rebound.evil.example${path}`, { method, headers: { ...admin, origin: "http://rebound.evil.example" } });
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(((await res.json()) as { error: { code: number } }).error.code).toBe(-32600);
      }
    }
  });

  it("a foreign Origin is 403 on the MCP endpoint for every method, even with valid credentials", async () => {
    const credentials = await token(tenant);
    for (const origin of ["https://evil.example", "null", "http://127.0.0.1:9999", "https://app.example.evil.example"]) {
      for (const method of ["POST", "GET", "DELETE"]) {
        const res = await mcp(tenant, method === "POST" ? initializeRequest() : undefined, { method, token: credentials, headers: { origin } });
        expect(res.status, `${method} from ${origin}`).toBe(403);
        await res.body?.cancel();
      }
    }
    const listed = await mcp(tenant, initializeRequest(), { token: credentials, headers: { origin: "https://app.example" } });
    expect(listed.status).toBe(200);
  });
});

describe("CORS", () => {
  it("no route answers a credentialed wildcard, or reflects a foreign origin, for any method or preflight", async () => {
    const tenant = (await createTenant("sec-cors", { allowedOrigins: ["https://app.example"] })).id;
    const credentials = await token(tenant);
    const paths = ["/healthz", `/t/${tenant}/mcp`, "/mcp", `/admin/tenants/${tenant}`, "/admin/console/", `/admin/tenants/${tenant}/audit`, `/.well-known/oauth-protected-resource/t/${tenant}/mcp`, "/nothing"];
    let answers = 0;
    for (const path of paths) {
      for (const method of ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]) {
        for (const origin of ["https://evil.example", "https://app.example", "null"]) {
          for (const auth of [`Bearer ${credentials}`, `Bearer ${ADMIN_TOKEN}`]) {
            const headers: Record<string, string> = { origin, authorization: auth, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, mcp-session-id" };
            if (method !== "GET" && method !== "OPTIONS") headers["content-type"] = "application/json";
            const res = await gateway(`${ORIGIN}${path}`, { method, headers, ...(method === "GET" || method === "OPTIONS" ? {} : { body: "{}" }) });
            await res.body?.cancel();
            answers++;
            const allowOrigin = res.headers.get("access-control-allow-origin");
            const allowCredentials = res.headers.get("access-control-allow-credentials");
            expect(allowOrigin === "*" && allowCredentials === "true", `${method} ${path}`).toBe(false);
            expect(allowOrigin, `${method} ${path} from ${origin}`).not.toBe("https://evil.example");
            expect(allowOrigin, `${method} ${path} from ${origin}`).not.toBe("null");
            expect(res.status).not.toBe(500);
          }
        }
      }
    }
    expect(answers).toBe(paths.length * 6 * 3 * 2);
  });
});

describe("a deleted tenant (regression: found by the CORS sweep)", () => {
  it("answers 404 afterwards on every route, and can be created again, never a 500", async () => {
    const tenant = await createTenant("sec-deleted");
    const del = await gateway(`${ORIGIN}/admin/tenants/${tenant.id}`, { method: "DELETE", headers: admin });
    expect(del.status).toBe(204);
    // The tenant's object dropped its tables with deleteAll() and then failed every call with
    // "no such table" until it was evicted.
    expect((await gateway(`${ORIGIN}/admin/tenants/${tenant.id}`, { headers: admin })).status).toBe(404);
    const initialize = await mcp(tenant.id, initializeRequest(), { token: await token(tenant.id) });
    expect(initialize.status).toBe(404);
    await initialize.body?.cancel();
    expect((await gateway(`${ORIGIN}/admin/tenants/${tenant.id}`, { method: "DELETE", headers: admin })).status).toBe(204);
    const { id: _id, version: _version, ...document } = tenant;
    const again = await gateway(`${ORIGIN}/admin/tenants/${tenant.id}`, { method: "PUT", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify(document) });
    expect(again.status).toBe(201);
    expect(((await again.json()) as { version: number }).version).toBe(1);
    const session = await connect(tenant.id);
    expect(await session.result("ping")).toEqual({});
  });
});

describe("backend URLs only at public addresses (unless ALLOW_PRIVATE_BACKENDS)", () => {
  it.each([
    ["http://10.0.0.8/mcp", "private (10.0.0.0/8)"],
    ["http://172.16.0.1/mcp", "private (172.16.0.0/12)"],
    ["http://172.31.255.255/mcp", "private (172.16.0.0/12)"],
    ["http://192.168.1.20:8080/mcp", "private (192.168.0.0/16)"],
    ["http://169.254.169.254/latest/meta-data", "link-local (169.254.0.0/16)"],
    ["http://127.0.0.1:8787/mcp", "loopback (127.0.0.0/8)"],
    ["http://127.1/mcp", "loopback (127.0.0.0/8)"],
    ["http://2130706433/mcp", "loopback (127.0.0.0/8)"],
    ["http://0x7f.0.0.1/mcp", "loopback (127.0.0.0/8)"],
    ["http://0.0.0.0:8080/mcp", "this-network (0.0.0.0/8)"],
    ["http://localhost:3000/mcp", "loopback (localhost)"],
    ["http://api.localhost/mcp", "loopback (localhost)"],
    ["http://LOCALHOST./mcp", "loopback (localhost)"],
    ["http://[::1]/mcp", "loopback (::1)"],
    ["http://[::]/mcp", "unspecified (::)"],
    ["http://[fc00::1]/mcp", "unique local (fc00::/7)"],
    ["http://[fd12:3456::1]/mcp", "unique local (fc00::/7)"],
    ["http://[fe80::1]/mcp", "link-local (fe80::/10)"],
    ["http://[febf:ffff::1]/mcp", "link-local (fe80::/10)"],
    ["http://[::ffff:10.1.2.3]/mcp", "private (10.0.0.0/8)"],
    ["http://[::ffff:127.0.0.1]/mcp", "loopback (127.0.0.0/8)"],
    ["http://[::127.0.0.1]/mcp", "loopback (127.0.0.0/8)"],
    ["http://[64:ff9b::a9fe:a9fe]/mcp", "link-local (169.254.0.0/16)"],
  ])("%s is refused as %s", (url, why) => {
    expect(privateAddress(url)).toBe(why);
  });

  it.each(["https://mcp.example.com/mcp", "http://8.8.8.8/mcp", "http://172.32.0.1/mcp", "http://192.169.0.1/mcp", "http://11.0.0.1/mcp", "http://169.255.0.1/mcp", "http://[2606:4700::1111]/mcp", "http://[fec0::1]/mcp", "http://[::ffff:8.8.8.8]/mcp", "https://localhost.example.com/mcp"])("%s is public", (url) => {
    expect(privateAddress(url)).toBeNull();
  });

  /** The admin API with the Worker's real bindings, ALLOW_PRIVATE_BACKENDS as given. */
  async function adminWith(allow: string | undefined, method: string, path: string, body: unknown): Promise<{ status: number; body: Json }> {
    const bindings: Env = { ...env, ALLOW_PRIVATE_BACKENDS: allow };
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`${ORIGIN}/admin${path}`, { method, headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify(body) }), bindings, ctx);
    await waitOnExecutionContext(ctx);
    return { status: res.status, body: (await res.json()) as Json };
  }

  it("the admin API refuses such a tenant in production config, names the field, and stores nothing", async () => {
    const id = `sec-private-${crypto.randomUUID().slice(0, 8)}`;
    const { publicJwk } = await signingKey();
    const jwt = { issuer: ISSUER, jwks: { keys: [publicJwk as Json] }, algorithms: ["ES256"] };
    const cases: [Json, string][] = [
      [{ backends: [{ name: "ok", url: "https://mcp.example.com/mcp" }, { name: "meta", url: "http://169.254.169.254/mcp" }], auth: { jwt } }, "backends.1.url"],
      [{ backends: [{ name: "b", url: "https://mcp.example.com/mcp", auth: { type: "client_credentials", tokenUrl: "http://10.1.2.3/token", clientId: "gw", clientSecret: "B_SECRET" } }], auth: { jwt } }, "backends.0.auth.tokenUrl"],
      [{ backends: [], auth: { jwt: { ...jwt, jwksUrl: "http://[fd00::5]/jwks.json" } } }, "auth.jwt.jwksUrl"],
      // OpenAPI backends (docs/openapi.md): the spec URL and the API's base URL alike.
      [{ backends: [{ name: "api", transport: "openapi", spec: "http://169.254.169.254/openapi.json" }], auth: { jwt } }, "backends.0.spec"],
      [{ backends: [{ name: "api", transport: "openapi", spec: "https://api.example.com/openapi.json", baseUrl: "http://127.0.0.1:9000" }], auth: { jwt } }, "backends.0.baseUrl"],
    ];
    for (const allow of [undefined, "false", "TRUE", "1"]) {
      for (const [document, field] of cases) {
        for (const [method, path] of [["PUT", `/tenants/${id}`], ["POST", `/tenants/${id}/validate`]] as const) {
          const answer = await adminWith(allow, method, path, document);
          expect(answer.status, `${method} ${path} with ALLOW_PRIVATE_BACKENDS=${String(allow)}`).toBe(400);
          expect(String(answer.body.error)).toMatch(new RegExp(`^${field.replaceAll(".", "\\.")}: `));
        }
      }
    }
    expect((await adminWith(undefined, "GET", `/tenants/${id}`, undefined).catch(() => ({ status: 404, body: {} }))).status).toBe(404);
    // Public backends are fine in production config, and private ones when the variable says so.
    expect((await adminWith(undefined, "PUT", `/tenants/${id}`, { backends: [{ name: "ok", url: "https://mcp.example.com/mcp" }], auth: { jwt } })).status).toBe(201);
    expect((await adminWith("true", "PUT", `/tenants/${id}`, cases[0]![0])).status).toBe(200);
  });

  it("a service binding's placeholder URL is no destination", async () => {
    const answer = await adminWith(undefined, "POST", `/tenants/sec-service-${crypto.randomUUID().slice(0, 8)}/validate`, { backends: [{ name: "inv", transport: "service", service: "BACKEND_INVENTORY" }] });
    expect(answer.status).toBe(200);
  });
});

describe("session ids", () => {
  let tenant: string;
  beforeAll(async () => {
    tenant = (await createTenant("sec-sessions")).id;
  });

  it("are 256 random bits: 100 of them all distinct, base64url, with balanced bits", { timeout: 60_000 }, async () => {
    const credentials = await token(tenant);
    const ids = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const res = await mcp(tenant, initializeRequest(), { token: credentials });
        await res.body?.cancel();
        return res.headers.get("mcp-session-id")!;
      }),
    );
    expect(new Set(ids).size).toBe(100);
    let ones = 0;
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const bytes = Uint8Array.from(atob(id.replaceAll("-", "+").replaceAll("_", "/") + "="), (c) => c.charCodeAt(0));
      expect(bytes).toHaveLength(32);
      for (const b of bytes) for (let bit = 0; bit < 8; bit++) ones += (b >> bit) & 1;
    }
    // 25,600 fair coin flips: the share of ones is within 0.47..0.53 (over nine standard deviations).
    expect(ones / (100 * 256)).toBeGreaterThan(0.47);
    expect(ones / (100 * 256)).toBeLessThan(0.53);
  });

  it("are bound to their principal and tenant: anyone else gets the same 404 as for an id that never existed", async () => {
    const session = await connect(tenant);
    const other = (await createTenant("sec-sessions-other")).id;
    const bob = await token(tenant, { sub: "bob" });
    const aliceElsewhere = await token(other);
    const unknown = "A".repeat(43);
    const bodies = new Set<string>();
    for (const method of ["POST", "GET", "DELETE"]) {
      const body = method === "POST" ? { jsonrpc: "2.0", id: 1, method: "ping" } : undefined;
      for (const [who, t, at, id] of [["bob", bob, tenant, session.id], ["alice at another tenant", aliceElsewhere, other, session.id], ["alice, unknown id", session.token!, tenant, unknown]] as const) {
        const res = await mcp(at, body, { method, token: t, session: id, version: session.version });
        expect(res.status, `${method} by ${who}`).toBe(404);
        bodies.add(await res.text());
      }
    }
    expect(bodies.size).toBe(1);
    // None of it touched the session: it still answers its owner.
    expect(await session.result("ping")).toEqual({});
  });
});

describe("credentials and internals", () => {
  let spy: FaultBackend;
  let broken: FaultBackend;
  let tenant: string;
  const secrets: Record<string, string> = {};
  const logged: string[] = [];
  const replies: string[] = [];

  beforeAll(async () => {
    const origin = inject("faultOrigin");
    spy = faultBackend(origin);
    broken = faultBackend(origin);
    tenant = (
      await createTenant("sec-creds", {
        backends: [
          spy.entry("spy", { timeoutMs: 5_000, secretHeaders: { "x-backend-key": "NOTES_BACKEND_KEY", "x-admin-token": "ADMIN_TOKEN" }, inject: { headers: true, meta: true } }),
          broken.entry("broken", { timeoutMs: 1_000 }),
        ],
      })
    ).id;
    secrets.alice = await token(tenant);
    secrets.expired = await token(tenant, { exp: Math.floor(Date.now() / 1000) - 600 });
    secrets.otherTenant = await token("sec-creds-elsewhere");
    const created = await gateway(`${ORIGIN}/admin/tenants/${tenant}/api-keys`, { method: "POST", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify({ id: "robot", sub: "robot" }) });
    expect(created.status).toBe(201);
    secrets.apiKey = ((await created.json()) as { key: string }).key;
    secrets.admin = ADMIN_TOKEN;
    // The backend credential the tenant names (a Worker secret, vitest.config.ts): sent to its backend, never logged.
    secrets.backendKey = BACKEND_KEY;
  });

  /** Runs `flow` with all console output captured into `logged`. */
  async function captured(flow: () => Promise<void>): Promise<void> {
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        logged.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
      });
    }
    try {
      await flow();
    } finally {
      vi.restoreAllMocks();
    }
  }

  async function keep(res: Response): Promise<void> {
    replies.push(JSON.stringify(await readReply(res).then((r) => ({ body: r.body, messages: r.messages }))));
  }

  it("whole sessions (JWT and API key, calls, streams, failures, refusals) leave no credential in the log and none at a backend", async () => {
    const sessions: Session[] = [];
    await captured(async () => {
      await broken.setMode("ok");
      const byJwt = await connect(tenant, { token: secrets.alice! });
      sessions.push(byJwt);
      await keep(await byJwt.post({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
      await keep(await byJwt.post({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "spy__echo", arguments: { hello: "world" } } }));
      await keep(await byJwt.post({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "spy__progress", arguments: { marker: "m", steps: 3 }, _meta: { progressToken: "p" } } }));
      await broken.setMode("error500");
      for (let i = 0; i < 4; i++) await keep(await byJwt.post({ jsonrpc: "2.0", id: 10 + i, method: "tools/call", params: { name: "broken__echo", arguments: {} } }));
      const listen = await byJwt.listen();
      await listen.body?.cancel();

      // The same through an API key (with a bearer token alongside, which must not travel either).
      const res = await mcp(tenant, initializeRequest(), { headers: { "x-api-key": secrets.apiKey!, authorization: `Bearer ${secrets.alice}` } });
      const keySession = res.headers.get("mcp-session-id")!;
      await keep(res);
      await keep(await mcp(tenant, { jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "spy__echo", arguments: { via: "key" } } }, { session: keySession, headers: { "x-api-key": secrets.apiKey! } }));

      // Refusals: expired and foreign tokens, a wrong API key, a wrong admin token.
      for (const t of [secrets.expired!, secrets.otherTenant!, `${secrets.alice}x`]) await keep(await mcp(tenant, initializeRequest(), { token: t }));
      await keep(await mcp(tenant, initializeRequest(), { headers: { "x-api-key": `${secrets.apiKey}0` } }));
      await (await gateway(`${ORIGIN}/admin/tenants/${tenant}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}-wrong` } })).body?.cancel();
      await (await byJwt.delete()).body?.cancel();
    });
    await broken.setMode("ok");

    // 1. Nothing logged holds a credential, a secret or a raw session id.
    const log = logged.join("\n");
    expect(logged.length).toBeGreaterThan(10);
    for (const [name, secret] of Object.entries(secrets)) expect(log.includes(secret), `${name} in the log`).toBe(false);
    for (const session of sessions) expect(log.includes(session.id), "a raw session id in the log").toBe(false);

    // 2. The backend saw its configured secret header and context, never the client's credentials.
    const seen = await spy.requests();
    expect(seen.length).toBeGreaterThan(5);
    for (const request of seen) {
      const everything = JSON.stringify(request);
      expect(everything.includes(secrets.alice!), "the client's JWT at a backend").toBe(false);
      expect(everything.includes(secrets.apiKey!), "the client's API key at a backend").toBe(false);
      expect(request.headers.authorization).toBeUndefined();
      expect(request.headers["x-api-key"]).toBeUndefined();
      expect(request.headers["x-backend-key"]).toBe(BACKEND_KEY);
      // The gateway's own secrets never leave, even when a tenant names one (worker/env.ts).
      expect(request.headers["x-admin-token"]).toBeUndefined();
      expect(everything.includes(ADMIN_TOKEN), "the admin token at a backend").toBe(false);
    }
    const calls = seen.filter((r) => r.rpcMethod === "tools/call");
    expect(calls.map((r) => r.headers["x-mcp-principal"])).toEqual(["alice", "alice", "robot"]);

    // 3. What the client got: no backend internals, no backend address.
    const client = replies.join("\n");
    expect(leakedInternals(client)).toEqual([]);
    expect(client).not.toContain(inject("faultOrigin"));
    expect(client).not.toContain(broken.key);
    expect(client).toContain("Backend unavailable");
  });
});

describe("sealed requestState (worker/broker/sealed.ts)", () => {
  const bound = "tenant-a\u0000alice";
  const state = { park: "park-1", exp: Date.now() + 60_000, m: "tools/call", n: "notes__ask" };

  it("opens for the tenant and principal it was sealed for, and for nobody else", async () => {
    const sealer = new StateSealer();
    const sealed = await sealer.seal(state, bound);
    expect(await sealer.open(sealed, bound)).toEqual(state);
    for (const other of ["tenant-a\u0000bob", "tenant-b\u0000alice", "tenant-a\u0000alice ", "", "tenant-a"]) expect(await sealer.open(sealed, other)).toBeNull();
  });

  it("another session object's key opens nothing, and an expired state is refused", async () => {
    const sealed = await new StateSealer().seal(state, bound);
    expect(await new StateSealer().open(sealed, bound)).toBeNull();
    const sealer = new StateSealer();
    const short = await sealer.seal({ ...state, exp: Date.now() + 1_000 }, bound);
    expect(await sealer.open(short, bound, Date.now() + 2_000)).toBeNull();
  });

  it("no tampering opens: any change to any character of a sealed state, and any forged string, is refused", async () => {
    const sealer = new StateSealer();
    const sealed = await sealer.seal(state, bound);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: sealed.length - 1 }), fc.constantFrom(...alphabet), async (at, ch) => {
        fc.pre(sealed[at] !== ch);
        const tampered = `${sealed.slice(0, at)}${ch}${sealed.slice(at + 1)}`;
        // The last character carries spare bits base64url does not use; a change there alone may decode the same.
        if (at === sealed.length - 1 && (await sealer.open(tampered, bound)) !== null) return;
        expect(await sealer.open(tampered, bound)).toBeNull();
      }),
      { numRuns: 500 },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.base64String(), fc.stringMatching(/^[A-Za-z0-9_-]{20,200}$/)), async (forged) => {
        expect(await sealer.open(forged, bound)).toBeNull();
      }),
      { numRuns: 500 },
    );
    for (const cut of [sealed.slice(0, -1), sealed.slice(1), `${sealed}AA`, sealed + sealed, "x".repeat(7000)]) expect(await sealer.open(cut, bound)).toBeNull();
  });
});
