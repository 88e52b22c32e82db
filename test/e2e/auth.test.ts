/**
 * A tenant's `jwksUrl` against a running gateway (`wrangler dev`, workerd): a key server on
 * 127.0.0.1, started and stopped here, that counts every fetch and can rotate keys, fail,
 * answer too much, or never answer. What is checked is the contract of worker/auth/jwks.ts:
 *
 * - tokens verify against the URL, and many requests cost one fetch (the cache);
 * - a token with a new kid after rotation refetches once and is accepted;
 * - a flood of unknown kids refetches at most once per cooldown (JWKS_REFETCH_COOLDOWN_MS);
 * - a failing key server leaves the cached set in use;
 * - an answer over JWKS_MAX_BYTES, declared or streamed, is refused: 401, not 500;
 * - a key server that never answers costs one JWKS_FETCH_TIMEOUT_MS, then 401, not a hang.
 *
 * The fetch counts assume one isolate that lives through the test. `wrangler dev` rebuilds and
 * reloads the Worker whenever a source file changes, and a new isolate starts with an empty
 * cache; so a test that fails while the tree changed under it runs again (`quietly`), with a
 * fresh key URL. In a quiet tree (CI) nothing is ever retried.
 */
import { watch, type FSWatcher } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { startDemoBackend, type RunningServer } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES, JWKS_REFETCH_COOLDOWN_MS } from "../../worker/auth/jwks.ts";

const ISSUER = "https://issuer.e2e.test";
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// --- the key server -------------------------------------------------------------------------

type Route =
  | { mode: "keys"; keys: JWK[]; pad?: number }
  | { mode: "fail" }
  /** A valid key set (these keys, then padding) past the cap, with its Content-Length. */
  | { mode: "oversized-declared"; keys: JWK[] }
  /** The same without Content-Length (chunked), so only a streaming cap catches it. */
  | { mode: "oversized-chunked"; keys: JWK[] }
  /** These keys, then padding keys for as long as anyone reads. */
  | { mode: "endless"; keys: JWK[] }
  /** Accepts the request and never answers. */
  | { mode: "hang" }
  /** Sends the headers and the start of a body, then nothing. */
  | { mode: "hang-body" };

class KeyServer {
  readonly routes = new Map<string, Route>();
  readonly #fetches = new Map<string, number>();
  readonly #sockets = new Set<Socket>();
  #server!: Server;
  origin = "";

  async start(): Promise<void> {
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on("connection", (socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.origin = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  fetches(path: string): number {
    return this.#fetches.get(path) ?? 0;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? "/";
    this.#fetches.set(path, this.fetches(path) + 1);
    const route = this.routes.get(path);
    if (!route) return void res.writeHead(404).end();
    switch (route.mode) {
      case "keys": {
        const body = JSON.stringify({ keys: [...route.keys, ...padding(route.pad ?? 0)] });
        res.writeHead(200, { "content-type": "application/jwk-set+json", "content-length": Buffer.byteLength(body) }).end(body);
        return;
      }
      case "fail":
        res.writeHead(500, { "content-type": "text/plain" }).end("key server down");
        return;
      case "oversized-declared": {
        const body = JSON.stringify({ keys: [...route.keys, ...padding(JWKS_MAX_BYTES + 4096)] });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
        return;
      }
      case "oversized-chunked": {
        const body = JSON.stringify({ keys: [...route.keys, ...padding(JWKS_MAX_BYTES + 4096)] });
        res.writeHead(200, { "content-type": "application/json" });
        for (let i = 0; i < body.length; i += 4096) res.write(body.slice(i, i + 4096));
        res.end();
        return;
      }
      case "endless": {
        res.writeHead(200, { "content-type": "application/json" });
        res.write(`{"keys":[${route.keys.map((k) => `${JSON.stringify(k)},`).join("")}`);
        const chunk = `${JSON.stringify(padding(8192).at(0))},`.repeat(4);
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once("drain", pump);
        };
        pump();
        return;
      }
      case "hang":
        return;
      case "hang-body":
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"keys":[');
        return;
    }
  }
}

/** Harmless extra keys (never selected: their kids are never asked for) adding up to about `bytes`. */
function padding(bytes: number): JWK[] {
  const keys: JWK[] = [];
  for (let size = 0, i = 0; size < bytes; i++) {
    const key = { kty: "RSA", kid: `padding-${i}`, e: "AQAB", n: "x".repeat(2000) };
    keys.push(key);
    size += JSON.stringify(key).length + 1;
  }
  return keys;
}

// --- keys and tokens ------------------------------------------------------------------------

interface Signer {
  kid: string;
  publicJwk: JWK;
  privateKey: CryptoKey;
}

async function signer(kid: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
}

function token(key: Signer, tenant: string, sub = "alice", kid = key.kid): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid })
    .setIssuer(ISSUER)
    .setAudience(gateway.mcpUrl(tenant))
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(key.privateKey);
}

// --- the gateway ----------------------------------------------------------------------------

let weather: RunningServer;
let gateway: RunningGateway;
const keyServer = new KeyServer();
let k1: Signer;
let k2: Signer;
let stranger: Signer;
/** When files the gateway is built from changed (each change reloads `wrangler dev`'s Worker). */
const sourceChanges: number[] = [];
const watchers: FSWatcher[] = [];

beforeAll(async () => {
  for (const dir of ["worker", "durable-objects"]) {
    watchers.push(watch(new URL(`../../${dir}`, import.meta.url), { recursive: true }, () => void sourceChanges.push(Date.now())));
  }
  [weather, gateway] = await Promise.all([startDemoBackend("weather"), startGateway(), keyServer.start()]);
  [k1, k2, stranger] = await Promise.all([signer("k1"), signer("k2"), signer("stranger")]);
});

afterAll(async () => {
  for (const watcher of watchers) watcher.close();
  await Promise.allSettled([gateway?.stop(), weather?.stop(), keyServer.stop()]);
});

/** A rebuild and reload takes a few seconds after the change that caused it. */
const RELOAD_LAG_MS = 10_000;

/**
 * Runs `body`, and once more (up to three times) only if it failed while the gateway's sources
 * changed: then the failure may be a reloaded isolate, not the code under test.
 */
async function quietly(body: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    try {
      await body();
      return;
    } catch (error) {
      const disturbed = sourceChanges.some((t) => t >= started - RELOAD_LAG_MS);
      if (!disturbed || attempt === 3) throw error;
      console.warn(`attempt ${attempt} failed while the gateway's sources changed (a Worker reload); running again`);
      await sleep(RELOAD_LAG_MS);
    }
  }
}

/** A tenant trusting the keys at a new URL on the key server, serving `route`. */
async function tenantWithKeyUrl(id: string, route: Route): Promise<string> {
  // A new URL each time: a fresh entry in the gateway's cache, whatever ran before.
  const path = `/${id}/${Math.random().toString(36).slice(2, 10)}/jwks.json`;
  keyServer.routes.set(path, route);
  await gateway.putTenant({
    id,
    backends: [{ name: "weather", url: weather.url }],
    auth: { jwt: { issuer: ISSUER, audience: gateway.mcpUrl(id), jwksUrl: keyServer.url(path), algorithms: ["ES256"] } },
  });
  return path;
}

/** initialize with a bearer token: the status and, when refused, the challenge. */
async function initialize(tenant: string, bearer: string): Promise<{ status: number; challenge: string | null; body: string }> {
  const res = await fetch(gateway.mcpUrl(tenant), {
    method: "POST",
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "e2e-auth", version: "1" } } }),
  });
  const body = await res.text();
  return { status: res.status, challenge: res.headers.get("www-authenticate"), body };
}

async function expectAccepted(tenant: string, bearer: string): Promise<void> {
  const { status, body } = await initialize(tenant, bearer);
  expect(status, body).toBe(200);
}

async function expectRefused(tenant: string, bearer: string): Promise<void> {
  const { status, challenge, body } = await initialize(tenant, bearer);
  expect(status, body).toBe(401);
  expect(body).not.toMatch(/Error:|\n\s+at\s/);
  expect(challenge).toContain('error="invalid_token"');
  expect(challenge).toContain(`resource_metadata="${gateway.origin}/.well-known/oauth-protected-resource/t/${tenant}/mcp"`);
}

// --- the contract -----------------------------------------------------------------------------

describe("tokens verified against a tenant's jwksUrl", () => {
  it("a real MCP client works through it, and many requests cost one fetch", () => quietly(async () => {
    const path = await tenantWithKeyUrl("jwks-cache", { mode: "keys", keys: [k1.publicJwk] });
    const transport = new StreamableHTTPClientTransport(new URL(gateway.mcpUrl("jwks-cache")), {
      requestInit: { headers: { authorization: `Bearer ${await token(k1, "jwks-cache")}` } },
    });
    const client = new Client({ name: "e2e-auth", version: "1.0.0" });
    await client.connect(transport);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain("weather__get_forecast");
    const result = (await client.callTool({ name: "weather__get_forecast", arguments: { city: "Oslo", days: 1 } })) as CallToolResult;
    expect(result.isError).not.toBe(true);
    await client.close();

    const bearers = await Promise.all(Array.from({ length: 20 }, (_, i) => token(k1, "jwks-cache", `user-${i}`)));
    const statuses = await Promise.all(bearers.map(async (b) => (await initialize("jwks-cache", b)).status));
    expect(statuses).toEqual(bearers.map(() => 200));
    for (const b of bearers.slice(0, 5)) await expectAccepted("jwks-cache", b);
    expect(keyServer.fetches(path)).toBe(1);
    // A token the set cannot verify is still refused: the cache is not a bypass.
    await expectRefused("jwks-cache", await token(stranger, "jwks-cache", "mallory", "k1"));
  }));

  it("a token with a new kid after key rotation triggers one refetch and is accepted", () => quietly(async () => {
    const path = await tenantWithKeyUrl("jwks-rotate", { mode: "keys", keys: [k1.publicJwk] });
    await expectAccepted("jwks-rotate", await token(k1, "jwks-rotate"));
    expect(keyServer.fetches(path)).toBe(1);
    keyServer.routes.set(path, { mode: "keys", keys: [k1.publicJwk, k2.publicJwk] });
    await expectAccepted("jwks-rotate", await token(k2, "jwks-rotate"));
    expect(keyServer.fetches(path)).toBe(2);
    // Both keys now verify without further fetches.
    await expectAccepted("jwks-rotate", await token(k1, "jwks-rotate"));
    await expectAccepted("jwks-rotate", await token(k2, "jwks-rotate", "bob"));
    expect(keyServer.fetches(path)).toBe(2);
  }));

  it(
    "a flood of unknown kids triggers at most one refetch per cooldown",
    () => quietly(async () => {
      const path = await tenantWithKeyUrl("jwks-flood", { mode: "keys", keys: [k1.publicJwk] });
      await expectAccepted("jwks-flood", await token(k1, "jwks-flood"));
      expect(keyServer.fetches(path)).toBe(1);

      const floodStarted = Date.now();
      const forged = await Promise.all(Array.from({ length: 40 }, (_, i) => token(stranger, "jwks-flood", "mallory", `random-${i}-${Math.random()}`)));
      const statuses = await Promise.all(forged.map(async (t) => (await initialize("jwks-flood", t)).status));
      expect(statuses).toEqual(forged.map(() => 401));
      for (const t of forged.slice(0, 10)) await expectRefused("jwks-flood", t);
      expect(keyServer.fetches(path)).toBe(2);

      // The trade-off: a genuinely new key inside the cooldown waits for it too...
      keyServer.routes.set(path, { mode: "keys", keys: [k1.publicJwk, k2.publicJwk] });
      await expectRefused("jwks-flood", await token(k2, "jwks-flood"));
      expect(keyServer.fetches(path)).toBe(2);
      // ...while known keys keep working throughout.
      await expectAccepted("jwks-flood", await token(k1, "jwks-flood", "carol"));

      // Once the cooldown has passed, one more refetch, which brings the new key.
      await sleep(floodStarted + JWKS_REFETCH_COOLDOWN_MS + 1_500 - Date.now());
      await expectAccepted("jwks-flood", await token(k2, "jwks-flood"));
      expect(keyServer.fetches(path)).toBe(3);
      await expectRefused("jwks-flood", await token(stranger, "jwks-flood", "mallory", "random-again"));
      expect(keyServer.fetches(path)).toBe(3);
    }),
    3 * (JWKS_REFETCH_COOLDOWN_MS + 20_000),
  );

  it("a key server that fails after the first fetch leaves the cached set in use", () => quietly(async () => {
    const path = await tenantWithKeyUrl("jwks-flaky", { mode: "keys", keys: [k1.publicJwk] });
    await expectAccepted("jwks-flaky", await token(k1, "jwks-flaky"));
    keyServer.routes.set(path, { mode: "fail" });
    // An unknown kid makes it refetch; that fails...
    await expectRefused("jwks-flaky", await token(k2, "jwks-flaky"));
    expect(keyServer.fetches(path)).toBe(2);
    // ...and the cached key still verifies.
    await expectAccepted("jwks-flaky", await token(k1, "jwks-flaky", "dave"));
    expect(keyServer.fetches(path)).toBe(2);
  }));

  it("a key set just under the size cap is accepted", () => quietly(async () => {
    await tenantWithKeyUrl("jwks-big", { mode: "keys", keys: [k1.publicJwk], pad: JWKS_MAX_BYTES - 6 * 1024 });
    await expectAccepted("jwks-big", await token(k1, "jwks-big"));
  }));

  for (const mode of ["oversized-declared", "oversized-chunked", "endless"] as const) {
    it(`an answer over the size cap (${mode}) is refused: 401, not 500, and quickly`, () => quietly(async () => {
      const tenant = `jwks-${mode}`;
      // The set holds the token's key: only the cap stands between the token and acceptance.
      const path = await tenantWithKeyUrl(tenant, { mode, keys: [k1.publicJwk] });
      const started = Date.now();
      await expectRefused(tenant, await token(k1, tenant));
      // The cap ended it, not the timeout.
      expect(Date.now() - started).toBeLessThan(JWKS_FETCH_TIMEOUT_MS);
      expect(keyServer.fetches(path)).toBe(1);
    }));
  }

  for (const mode of ["hang", "hang-body"] as const) {
    it(`a key server that never answers (${mode}): 401 after the timeout, not a hang`, () => quietly(async () => {
      const tenant = `jwks-${mode}`;
      const path = await tenantWithKeyUrl(tenant, { mode });
      let started = Date.now();
      await expectRefused(tenant, await token(k1, tenant));
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(JWKS_FETCH_TIMEOUT_MS - 250);
      expect(elapsed).toBeLessThan(JWKS_FETCH_TIMEOUT_MS + 3_000);
      expect(keyServer.fetches(path)).toBe(1);
      // The failure is remembered for the cooldown: the next request is refused at once, no new fetch.
      started = Date.now();
      await expectRefused(tenant, await token(k1, tenant, "erin"));
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(keyServer.fetches(path)).toBe(1);
    }));
  }
});
