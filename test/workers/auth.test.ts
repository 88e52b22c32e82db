/**
 * The gateway as an OAuth 2.1 resource server (2025-11-25 basic/authorization): bearer JWTs
 * verified against the tenant's inline JWKS, 401 with a WWW-Authenticate that names the RFC 9728
 * metadata, sessions bound to the principal that created them, and anonymous tenants.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  backend,
  base64url,
  connect,
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
  text,
  token,
  uniqueTenantId,
} from "./helpers.ts";

let tenant: string;

beforeAll(async () => {
  tenant = (await createTenant("auth", { backends: [backend.weather()] })).id;
});

const metadataUrl = () => `${ORIGIN}/.well-known/oauth-protected-resource/t/${tenant}/mcp`;

async function expectChallenge(res: Response, invalidToken: boolean): Promise<void> {
  const { status, headers, error } = await readError(res);
  expect(status).toBe(401);
  expect(error!.message).toBe("Unauthorized");
  const challenge = headers.get("www-authenticate");
  expect(challenge).toMatch(/^Bearer /);
  expect(challenge).toContain(`resource_metadata="${metadataUrl()}"`);
  // RFC 6750 §3.1: a request without credentials gets no error code; a bad token gets invalid_token.
  if (invalidToken) expect(challenge).toContain('error="invalid_token"');
  else expect(challenge).not.toContain("error=");
}

/** A token whose header and payload are ours but whose signature is whatever `sign` returns. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ""): string {
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}.${signature}`;
}

function validClaims(): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { sub: "mallory", iss: ISSUER, aud: endpoint(tenant), iat: now, exp: now + 600 };
}

describe("401 with a challenge", () => {
  it("without a token", async () => {
    await expectChallenge(await mcp(tenant, initializeRequest()), false);
  });

  it("on GET and DELETE too, before the session is looked at", async () => {
    await expectChallenge(await mcp(tenant, undefined, { method: "GET", session: "A".repeat(43) }), false);
    await expectChallenge(await mcp(tenant, undefined, { method: "DELETE", session: "A".repeat(43) }), false);
  });

  it("with a malformed Authorization header", async () => {
    for (const authorization of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer two words", "bearer-less"]) {
      const res = await mcp(tenant, initializeRequest(), { headers: { authorization } });
      const { status, headers } = await readError(res);
      expect(status, authorization).toBe(401);
      expect(headers.get("www-authenticate")).toContain(`resource_metadata="${metadataUrl()}"`);
    }
  });

  it("with an expired token (beyond the clock tolerance)", async () => {
    const expired = await token(tenant, { exp: Math.floor(Date.now() / 1000) - 120 });
    await expectChallenge(await mcp(tenant, initializeRequest(), { token: expired }), true);
  });

  it("with the wrong issuer", async () => {
    const wrong = await token(tenant, { iss: "https://other-issuer.example" });
    await expectChallenge(await mcp(tenant, initializeRequest(), { token: wrong }), true);
  });

  it("with the wrong audience (another tenant's URL)", async () => {
    const wrong = await token(tenant, { aud: endpoint("some-other-tenant") });
    await expectChallenge(await mcp(tenant, initializeRequest(), { token: wrong }), true);
  });

  it("with alg: none", async () => {
    const unsigned = forge({ alg: "none", typ: "JWT" }, validClaims());
    await expectChallenge(await mcp(tenant, initializeRequest(), { token: unsigned }), true);
  });

  it("with an HS256 token keyed by the public key (algorithm confusion)", async () => {
    const forged = forge({ alg: "HS256", kid: KEY_ID, typ: "JWT" }, validClaims(), base64url("not a real mac"));
    await expectChallenge(await mcp(tenant, initializeRequest(), { token: forged }), true);
  });

  it("with a tampered payload", async () => {
    const genuine = await token(tenant, { sub: "alice" });
    const [header, payload, signature] = genuine.split(".") as [string, string, string];
    const claims = JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/"))) as Record<string, unknown>;
    const tampered = `${header}.${base64url(JSON.stringify({ ...claims, sub: "admin" }))}.${signature}`;
    await expectChallenge(await mcp(tenant, initializeRequest(), { token: tampered }), true);
    // The untampered token is fine, so the refusal was about the tampering.
    const ok = await mcp(tenant, initializeRequest(), { token: genuine });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("mcp-session-id")).toBeTruthy();
  });

  it("with a token signed by a key the tenant does not trust (same kid)", async () => {
    const foreign = await token(tenant, { foreignKey: true });
    await expectChallenge(await mcp(tenant, initializeRequest(), { token: foreign }), true);
  });

  it("with a validly signed token without a subject", async () => {
    const noSub = await token(tenant, { sub: null });
    await expectChallenge(await mcp(tenant, initializeRequest(), { token: noSub }), true);
  });

  it("for a tenant that has no keys configured", async () => {
    const id = uniqueTenantId("auth-nokeys");
    await putTenant(id, { backends: [backend.weather()] });
    const res = await mcp(id, initializeRequest(), { token: await token(id) });
    const { status, headers } = await readError(res);
    expect(status).toBe(401);
    expect(headers.get("www-authenticate")).toContain(`/.well-known/oauth-protected-resource/t/${id}/mcp`);
  });
});

describe("protected-resource metadata (RFC 9728)", () => {
  it("answers for the tenant with its resource and authorization server", async () => {
    const res = await gateway(metadataUrl());
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual({
      resource: endpoint(tenant),
      authorization_servers: [ISSUER],
      bearer_methods_supported: ["header"],
    });
  });

  it("the URL in the challenge is the metadata endpoint and the resource is the token audience", async () => {
    const res = await mcp(tenant, initializeRequest());
    const challenge = res.headers.get("www-authenticate")!;
    await res.body?.cancel();
    const url = /resource_metadata="([^"]+)"/.exec(challenge)![1]!;
    const metadata = (await (await gateway(url)).json()) as { resource: string };
    const session = await connect(tenant, { token: await token(tenant, { aud: metadata.resource }) });
    expect(session.id).toBeTruthy();
  });
});

describe("sessions belong to their principal", () => {
  it("a session created by alice is 404 for bob, for POST, GET and DELETE, and still alice's after", async () => {
    const alice = await connect(tenant, { token: await token(tenant, { sub: "alice" }) });
    const bob = await token(tenant, { sub: "bob" });
    const ping = { jsonrpc: "2.0", id: 1, method: "ping" };
    expect((await readError(await mcp(tenant, ping, { token: bob, session: alice.id, version: alice.version }))).status).toBe(404);
    expect((await readError(await mcp(tenant, undefined, { token: bob, session: alice.id, method: "GET" }))).status).toBe(404);
    expect((await readError(await mcp(tenant, undefined, { token: bob, session: alice.id, method: "DELETE" }))).status).toBe(404);
    // Bob's DELETE did not end it; alice (with a fresh token for the same subject) still can use it.
    const again = await readReply(await mcp(tenant, ping, { token: await token(tenant, { sub: "alice" }), session: alice.id }));
    expect(again.status).toBe(200);
    expect(again.messages[0]!.result).toEqual({});
  });

  it("a session of an authenticated principal is 404 without credentials on an anonymous tenant", async () => {
    const id = uniqueTenantId("auth-mixed");
    const { publicJwk } = await signingKey();
    await putTenant(id, {
      backends: [backend.weather()],
      auth: { anonymous: true, jwt: { issuer: ISSUER, audience: endpoint(id), jwks: { keys: [publicJwk as Record<string, unknown>] }, algorithms: ["ES256"] } },
    });
    const alice = await connect(id, { token: await token(id, { sub: "alice" }) });
    const res = await mcp(id, { jsonrpc: "2.0", id: 1, method: "ping" }, { session: alice.id });
    expect((await readError(res)).status).toBe(404);
  });
});

describe("anonymous tenants", () => {
  let anonymous: string;

  beforeAll(async () => {
    anonymous = uniqueTenantId("auth-anon");
    await putTenant(anonymous, { backends: [backend.weather()], auth: { anonymous: true } });
  });

  it("work without a token: initialize, list, call", async () => {
    const session = await connect(anonymous, { token: null });
    const tools = await session.result("tools/list");
    expect((tools.tools as { name: string }[]).map((t) => t.name)).toContain("weather__get_forecast");
    const result = await session.callTool("weather__get_forecast", { city: "Tokyo", days: 1 });
    expect(text(result)).toContain("Forecast for Tokyo");
  });

  it("still refuse a token they cannot verify (a bad credential is not no credential)", async () => {
    const res = await mcp(anonymous, initializeRequest(), { token: "not.a.jwt" });
    const { status, headers } = await readError(res);
    expect(status).toBe(401);
    expect(headers.get("www-authenticate")).toContain("resource_metadata=");
  });

  it("publish metadata without authorization servers", async () => {
    const res = await gateway(`${ORIGIN}/.well-known/oauth-protected-resource/t/${anonymous}/mcp`);
    expect(await res.json()).toMatchObject({ resource: endpoint(anonymous), authorization_servers: [] });
  });
});

describe("admin API", () => {
  it("refuses a wrong or missing admin token with 401 and does not write", async () => {
    const id = uniqueTenantId("auth-admin");
    for (const authorization of [undefined, "Bearer wrong-token", "Bearer workers-test-admin-tokenX"]) {
      const res = await gateway(`${ORIGIN}/admin/tenants/${id}`, {
        method: "PUT",
        headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ backends: [], auth: { anonymous: true } }),
      });
      expect((await readError(res)).status).toBe(401);
    }
    const res = await mcp(id, initializeRequest());
    expect((await readError(res)).status).toBe(404);
  });

  it("refuses an invalid tenant document with 400 naming the field", async () => {
    const res = await gateway(`${ORIGIN}/admin/tenants/${uniqueTenantId("auth-bad")}`, {
      method: "PUT",
      headers: { "content-type": "application/json", authorization: "Bearer workers-test-admin-token" },
      body: JSON.stringify({ backends: [{ name: "Bad Name!", url: "http://127.0.0.1:1/mcp" }] }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string };
    expect(body.error).toMatch(/^backends\.0\.name: /);
  });
});
