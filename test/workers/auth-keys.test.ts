/**
 * Authentication, the rest of the matrix (test/workers/auth.test.ts has missing, expired, wrong
 * issuer and audience, alg none, HS256, tampered payload, foreign key, no sub):
 *
 * - the JWT cases it lacks: not yet valid, an algorithm outside the allow-list, an unknown key
 *   id, a tampered signature, a token for another tenant, and the clock-skew boundaries;
 * - a key URL that cannot be fetched or is no key set: 401, never 500;
 * - API keys (`X-API-Key`): created through the admin API, stored only as hashes, accepted,
 *   refused when wrong or deleted, and never logged;
 * - `auth.requiredScopes`: 403 with an insufficient_scope challenge.
 *
 * Every refusal is a 401 whose WWW-Authenticate names the RFC 9728 metadata and carries the
 * RFC 6750 §3.1 error code (`invalid_token` for a bad credential, none for no credential).
 */
import { afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import {
  ADMIN_TOKEN,
  backend,
  createTenant,
  endpoint,
  gateway,
  initializeRequest,
  ISSUER,
  KEY_ID,
  mcp,
  ORIGIN,
  putTenant,
  readError,
  readReply,
  signingKey,
  uniqueTenantId,
  type Json,
} from "./helpers.ts";

const RSA_KID = "workers-test-rsa";
const API_KEY_SHAPE = /^mgw_[A-Za-z0-9_-]{43}$/;

const nowS = (): number => Math.floor(Date.now() / 1000);
const metadataUrl = (tenant: string): string => `${ORIGIN}/.well-known/oauth-protected-resource/t/${tenant}/mcp`;

let rsa: { privateKey: CryptoKey; publicJwk: JWK };

beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  rsa = { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid: RSA_KID, alg: "RS256", use: "sig" } };
});

interface SignOptions {
  /** Claims over the defaults (sub alice, the test issuer, the tenant's audience, 10 min). */
  claims?: Json;
  /** Protected header over the defaults (ES256, the trusted kid). */
  header?: Json;
  /** Signing key; the trusted ES256 key by default. */
  key?: CryptoKey;
}

/** A JWT for `tenant` with any claim or header changed. */
async function sign(tenant: string, options: SignOptions = {}): Promise<string> {
  const key = options.key ?? (await signingKey()).privateKey;
  const now = nowS();
  const claims = { sub: "alice", iss: ISSUER, aud: endpoint(tenant), iat: now - 5, exp: now + 600, ...options.claims };
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: KEY_ID, typ: "JWT", ...options.header } as { alg: string }).sign(key);
}

/** 401, the generic body, and the challenge: metadata URL, and invalid_token unless no credentials came. */
async function expectChallenge(res: Response, tenant: string, invalidToken = true): Promise<string> {
  const { status, headers, error } = await readError(res);
  expect(status).toBe(401);
  expect(error!.message).toBe("Unauthorized");
  const challenge = headers.get("www-authenticate")!;
  expect(challenge).toMatch(/^Bearer /);
  expect(challenge).toContain(`resource_metadata="${metadataUrl(tenant)}"`);
  if (invalidToken) expect(challenge).toContain('error="invalid_token"');
  else expect(challenge).not.toContain("error=");
  return challenge;
}

/** An initialize that the gateway accepted: a session was minted. */
async function expectAccepted(res: Response): Promise<void> {
  const reply = await readReply(res);
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  expect(res.headers.get("mcp-session-id")).toBeTruthy();
}

const initWith = (tenant: string, token: string): Promise<Response> => mcp(tenant, initializeRequest(), { token });
const initWithKey = (tenant: string, key: string, extra: Record<string, string> = {}): Promise<Response> =>
  mcp(tenant, initializeRequest(), { headers: { "x-api-key": key, ...extra } });

function admin(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) headers.set("authorization", `Bearer ${ADMIN_TOKEN}`);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  return gateway(`${ORIGIN}/admin${path}`, { ...init, headers });
}

interface CreatedKey {
  id: string;
  sub: string;
  roles: string[];
  scopes: string[];
  key: string;
}

async function createKey(tenant: string, request: Json): Promise<CreatedKey> {
  const res = await admin(`/tenants/${tenant}/api-keys`, { method: "POST", body: JSON.stringify(request) });
  const text = await res.text();
  expect(res.status, text).toBe(201);
  return JSON.parse(text) as CreatedKey;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function tenantDocument(tenant: string): Promise<{ text: string; doc: { version: number; auth: { apiKeys: Json[] } } }> {
  const res = await admin(`/tenants/${tenant}`);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return { text, doc: JSON.parse(text) as { version: number; auth: { apiKeys: Json[] } } };
}

describe("the JWT matrix: each refused with 401 invalid_token", () => {
  let tenant: string;
  let rsaTenant: string;

  beforeAll(async () => {
    tenant = (await createTenant("authk-jwt", { backends: [backend.weather()] })).id;
    // Trusts the RSA key too, but allows only ES256: an RS256 token fails on the algorithm alone.
    rsaTenant = uniqueTenantId("authk-alg");
    const { publicJwk } = await signingKey();
    await putTenant(rsaTenant, {
      backends: [backend.weather()],
      auth: { jwt: { issuer: ISSUER, audience: endpoint(rsaTenant), jwks: { keys: [publicJwk as Json, rsa.publicJwk as Json] }, algorithms: ["ES256"] } },
    });
  });

  it("a valid token is accepted (the control for every case below)", async () => {
    await expectAccepted(await initWith(tenant, await sign(tenant)));
  });

  it("not yet valid: nbf beyond the clock tolerance", async () => {
    await expectChallenge(await initWith(tenant, await sign(tenant, { claims: { nbf: nowS() + 120 } })), tenant);
  });

  it("the clock tolerance: nbf a little ahead and exp a little behind are accepted", async () => {
    await expectAccepted(await initWith(tenant, await sign(tenant, { claims: { nbf: nowS() + 10 } })));
    await expectAccepted(await initWith(tenant, await sign(tenant, { claims: { exp: nowS() - 10 } })));
  });

  it("a token without exp", async () => {
    const now = nowS();
    const noExp = await new SignJWT({ sub: "alice", iss: ISSUER, aud: endpoint(tenant), iat: now })
      .setProtectedHeader({ alg: "ES256", kid: KEY_ID })
      .sign((await signingKey()).privateKey);
    await expectChallenge(await initWith(tenant, noExp), tenant);
  });

  it("an algorithm outside the allow-list (RS256 when only ES256 is allowed), with a key the tenant trusts", async () => {
    const rs256 = await sign(rsaTenant, { header: { alg: "RS256", kid: RSA_KID }, key: rsa.privateKey });
    await expectChallenge(await initWith(rsaTenant, rs256), rsaTenant);
    // The same token is fine once RS256 is allowed: the refusal was the algorithm.
    const { publicJwk } = await signingKey();
    await putTenant(rsaTenant, {
      backends: [backend.weather()],
      auth: { jwt: { issuer: ISSUER, audience: endpoint(rsaTenant), jwks: { keys: [publicJwk as Json, rsa.publicJwk as Json] }, algorithms: ["ES256", "RS256"] } },
    });
    await expectAccepted(await initWith(rsaTenant, rs256));
  });

  it("an unknown key id, though signed by the trusted key", async () => {
    await expectChallenge(await initWith(tenant, await sign(tenant, { header: { kid: "rotated-away" } })), tenant);
  });

  it("a tampered signature", async () => {
    const genuine = await sign(tenant);
    const [header, payload, signature] = genuine.split(".") as [string, string, string];
    const i = 20; // inside the signature, away from the final character's padding bits
    const flipped = signature.slice(0, i) + (signature[i] === "A" ? "B" : "A") + signature.slice(i + 1);
    await expectChallenge(await initWith(tenant, `${header}.${payload}.${flipped}`), tenant);
    await expectChallenge(await initWith(tenant, `${header}.${payload}.`), tenant);
    await expectAccepted(await initWith(tenant, genuine));
  });

  it("a token for another tenant (its `tenant` claim), and its own tenant's is accepted", async () => {
    await expectChallenge(await initWith(tenant, await sign(tenant, { claims: { tenant: "some-other-tenant" } })), tenant);
    await expectChallenge(await initWith(tenant, await sign(tenant, { claims: { tenant: 42 } })), tenant);
    await expectAccepted(await initWith(tenant, await sign(tenant, { claims: { tenant } })));
  });

  it("alg none (in any case) and HS512", async () => {
    const b64 = (value: Json): string => btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
    const claims = { sub: "mallory", iss: ISSUER, aud: endpoint(tenant), exp: nowS() + 600 };
    for (const alg of ["none", "None", "HS512"]) {
      await expectChallenge(await initWith(tenant, `${b64({ alg, kid: KEY_ID })}.${b64(claims)}.${alg.startsWith("HS") ? "c2ln" : ""}`), tenant);
    }
  });
});

describe("a key URL (jwksUrl) that yields no keys: 401, never 500", () => {
  it("a port nobody listens on", async () => {
    const id = uniqueTenantId("authk-jwksdown");
    await putTenant(id, { backends: [backend.weather()], auth: { jwt: { issuer: ISSUER, audience: endpoint(id), jwksUrl: inject("closedUrl"), algorithms: ["ES256"] } } });
    await expectChallenge(await initWith(id, await sign(id)), id);
    // Within the cooldown the failure is remembered: refused again, at once.
    await expectChallenge(await initWith(id, await sign(id)), id);
  });

  it("a URL that answers something other than a JWK Set (an MCP endpoint)", async () => {
    const id = uniqueTenantId("authk-jwksnot");
    await putTenant(id, { backends: [backend.weather()], auth: { jwt: { issuer: ISSUER, audience: endpoint(id), jwksUrl: inject("weatherUrl"), algorithms: ["ES256"] } } });
    await expectChallenge(await initWith(id, await sign(id)), id);
  });
});

describe("API keys", () => {
  let tenant: string;
  let created: CreatedKey;
  let logged: string[];

  beforeAll(async () => {
    tenant = (await createTenant("authk-keys", { backends: [backend.weather()] })).id;
    created = await createKey(tenant, { id: "reporting", sub: "svc-reporting", roles: ["reader"], scopes: ["mcp:tools"] });
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** Captures what the gateway logs (it runs in this isolate). */
  function captureLogs(): void {
    logged = [];
    const record = (...args: unknown[]): void => void logged.push(args.map(String).join(" "));
    vi.spyOn(console, "log").mockImplementation(record);
    vi.spyOn(console, "error").mockImplementation(record);
    vi.spyOn(console, "warn").mockImplementation(record);
  }

  it("POST creates a key: returned once, in the documented shape, with the entry's principal", async () => {
    expect(created.key).toMatch(API_KEY_SHAPE);
    expect(created).toEqual({ id: "reporting", sub: "svc-reporting", roles: ["reader"], scopes: ["mcp:tools"], key: created.key });
  });

  it("the tenant config stores only the hash: GET never shows the key", async () => {
    const { text, doc } = await tenantDocument(tenant);
    expect(text).not.toContain(created.key);
    expect(text).not.toContain(created.key.slice(4));
    expect(doc.auth.apiKeys).toEqual([{ id: "reporting", sub: "svc-reporting", roles: ["reader"], scopes: ["mcp:tools"], sha256: await sha256Hex(created.key) }]);
  });

  it("each key write bumps the tenant's version", async () => {
    const before = (await tenantDocument(tenant)).doc.version;
    const extra = await createKey(tenant, { id: "bump", sub: "svc-bump" });
    expect(extra).toMatchObject({ roles: [], scopes: [] });
    expect((await tenantDocument(tenant)).doc.version).toBe(before + 1);
    expect((await admin(`/tenants/${tenant}/api-keys/bump`, { method: "DELETE" })).status).toBe(204);
    expect((await tenantDocument(tenant)).doc.version).toBe(before + 2);
  });

  it("two keys made for the same request differ", async () => {
    const other = uniqueTenantId("authk-keys2");
    await putTenant(other, { backends: [backend.weather()] });
    const second = await createKey(other, { id: "reporting", sub: "svc-reporting" });
    expect(second.key).toMatch(API_KEY_SHAPE);
    expect(second.key).not.toBe(created.key);
    // ...and a key is valid at its own tenant only.
    await expectChallenge(await initWithKey(tenant, second.key), tenant);
    await expectAccepted(await initWithKey(other, second.key));
  });

  it("the key authenticates as the entry's subject", async () => {
    const res = await initWithKey(tenant, created.key);
    const sessionId = res.headers.get("mcp-session-id")!;
    await expectAccepted(res);
    // The session belongs to svc-reporting: the same key reaches it, alice's token does not.
    const ping = { jsonrpc: "2.0", id: 1, method: "ping" };
    const again = await readReply(await mcp(tenant, ping, { session: sessionId, headers: { "x-api-key": created.key } }));
    expect(again.status).toBe(200);
    expect((await readError(await mcp(tenant, ping, { session: sessionId, token: await sign(tenant) }))).status).toBe(404);
    expect((await readReply(await mcp(tenant, ping, { session: sessionId, token: await sign(tenant, { claims: { sub: "svc-reporting" } }) }))).status).toBe(200);
  });

  it("a wrong key, a malformed key and an empty key are 401 invalid_token", async () => {
    const wrong = `mgw_${"A".repeat(43)}`;
    await expectChallenge(await initWithKey(tenant, wrong), tenant);
    await expectChallenge(await initWithKey(tenant, created.key.slice(0, -1)), tenant);
    await expectChallenge(await initWithKey(tenant, `${created.key}x`), tenant);
    await expectChallenge(await initWithKey(tenant, created.key.slice(4)), tenant);
    await expectChallenge(await initWithKey(tenant, ""), tenant);
  });

  it("an X-API-Key decides alone: a wrong key is refused even beside a valid bearer token", async () => {
    await expectChallenge(await initWithKey(tenant, `mgw_${"B".repeat(43)}`, { authorization: `Bearer ${await sign(tenant)}` }), tenant);
  });

  it("a bad key is refused on an anonymous tenant too (a bad credential is not no credential)", async () => {
    const id = uniqueTenantId("authk-anon");
    await putTenant(id, { backends: [backend.weather()], auth: { anonymous: true } });
    await expectAccepted(await mcp(id, initializeRequest()));
    await expectChallenge(await initWithKey(id, created.key), id);
  });

  it("neither keys nor tokens reach the log; the refusal's reason does", async () => {
    captureLogs();
    const bearer = await sign(tenant, { claims: { iss: "https://wrong.example" } });
    await expectAccepted(await initWithKey(tenant, created.key));
    await expectChallenge(await initWithKey(tenant, `${created.key.slice(0, -2)}zz`), tenant);
    await expectChallenge(await initWith(tenant, bearer), tenant);
    vi.restoreAllMocks();
    const all = logged.join("\n");
    expect(all).toContain("api key not recognised");
    expect(all).toContain("token rejected");
    expect(all).not.toContain(created.key.slice(4, 30));
    expect(all).not.toContain(bearer.split(".")[1]!);
    expect(all).not.toContain(bearer.split(".")[2]!);
  });

  it("DELETE removes the key: the next request with it is 401, and it is gone from the config", async () => {
    const doomed = await createKey(tenant, { id: "doomed", sub: "svc-doomed" });
    await expectAccepted(await initWithKey(tenant, doomed.key));
    const res = await admin(`/tenants/${tenant}/api-keys/doomed`, { method: "DELETE" });
    expect(res.status).toBe(204);
    await expectChallenge(await initWithKey(tenant, doomed.key), tenant);
    const { doc } = await tenantDocument(tenant);
    expect(doc.auth.apiKeys.map((k) => k.id)).toEqual(["reporting"]);
    // The other key is untouched.
    await expectAccepted(await initWithKey(tenant, created.key));
    // Deleting it again: 404.
    expect((await admin(`/tenants/${tenant}/api-keys/doomed`, { method: "DELETE" })).status).toBe(404);
  });

  it("the admin endpoints refuse: a duplicate id 409, an unknown tenant 404, a bad body 400, no admin token 401", async () => {
    const post = (t: string, body: unknown, headers?: Record<string, string>) =>
      admin(`/tenants/${t}/api-keys`, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), ...(headers ? { headers } : {}) });
    expect((await post(tenant, { id: "reporting", sub: "someone-else" })).status).toBe(409);
    expect((await post(uniqueTenantId("authk-none"), { id: "k", sub: "s" })).status).toBe(404);
    for (const body of ["not json", { sub: "s" }, { id: "bad id!", sub: "s" }, { id: "k", sub: "" }, { id: "k", sub: "s", sha256: "0".repeat(64) }, { id: "k", sub: "s", scopes: "one" }]) {
      const res = await post(tenant, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBeTruthy();
    }
    for (const authorization of ["", "Bearer wrong-token"]) {
      expect((await post(tenant, { id: "k2", sub: "s" }, { authorization })).status).toBe(401);
      expect((await admin(`/tenants/${tenant}/api-keys/reporting`, { method: "DELETE", headers: { authorization } })).status).toBe(401);
    }
    // None of that wrote anything.
    expect((await tenantDocument(tenant)).doc.auth.apiKeys.map((k) => k.id)).toEqual(["reporting"]);
  });
});

describe("required scopes: 403 insufficient_scope", () => {
  let tenant: string;
  let narrow: CreatedKey;
  let wide: CreatedKey;

  beforeAll(async () => {
    const { publicJwk } = await signingKey();
    tenant = uniqueTenantId("authk-scopes");
    await putTenant(tenant, {
      backends: [backend.weather()],
      auth: {
        jwt: { issuer: ISSUER, audience: endpoint(tenant), jwks: { keys: [publicJwk as Json] }, algorithms: ["ES256"] },
        // Anonymous is allowed, but an anonymous principal holds no scopes.
        anonymous: true,
        requiredScopes: ["mcp:tools", "notes:write"],
      },
    });
    narrow = await createKey(tenant, { id: "narrow", sub: "svc-narrow", scopes: ["mcp:tools"] });
    wide = await createKey(tenant, { id: "wide", sub: "svc-wide", scopes: ["notes:write", "mcp:tools", "extra"] });
  });

  async function expectInsufficient(res: Response): Promise<void> {
    const { status, headers, error } = await readError(res);
    expect(status).toBe(403);
    expect(error!.message).toMatch(/^Forbidden/);
    const challenge = headers.get("www-authenticate")!;
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="mcp:tools notes:write"');
    expect(challenge).toContain(`resource_metadata="${metadataUrl(tenant)}"`);
  }

  it("a token lacking one of them", async () => {
    await expectInsufficient(await initWith(tenant, await sign(tenant, { claims: { scope: "mcp:tools" } })));
    await expectInsufficient(await initWith(tenant, await sign(tenant, { claims: { scope: "" } })));
  });

  it("an API key lacking one of them", async () => {
    await expectInsufficient(await initWithKey(tenant, narrow.key));
  });

  it("a token or key holding all of them is accepted", async () => {
    await expectAccepted(await initWith(tenant, await sign(tenant, { claims: { scope: "openid notes:write mcp:tools" } })));
    await expectAccepted(await initWithKey(tenant, wide.key));
  });

  it("authentication comes first: a bad token is 401, not 403", async () => {
    await expectChallenge(await initWith(tenant, await sign(tenant, { claims: { scope: "mcp:tools notes:write", exp: nowS() - 300 } })), tenant);
  });

  it("no credentials is 401 with the scopes named, not anonymous access", async () => {
    const challenge = await expectChallenge(await mcp(tenant, initializeRequest()), tenant, false);
    expect(challenge).toContain('scope="mcp:tools notes:write"');
  });
});
