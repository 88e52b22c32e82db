/**
 * The calendar backend's token check (examples/calendar/server.ts, tokenValidator) with a stubbed
 * fetch: discovery once, userinfo per token, a valid token's sub cached no longer than asked
 * (what lets the e2e test see an expired token refused), refusals not cached, an unreachable IdP
 * an error rather than a refusal. JWT access tokens (RFC 9068) are verified locally against the
 * discovered jwks_uri: the right audience taken, another audience or an alg:none token refused,
 * an unreachable jwks_uri an error.
 */
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { tokenValidator } from "../../examples/calendar/server.ts";

const ISSUER = "http://127.0.0.1:4444";
const USERINFO = `${ISSUER}/me`;
const JWKS = `${ISSUER}/jwks`;
const RESOURCE = "http://127.0.0.1:3103/mcp";

let signingKey: CryptoKey;
let publicJwk: Record<string, unknown>;
let jwksStatus: number;

beforeAll(async () => {
  const pair = await generateKeyPair("RS256");
  signingKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
});

/** An RFC 9068 access token as the demo IdP issues it for a resource. */
function accessJwt(claims: { aud?: string; sub?: string; iss?: string; typ?: string } = {}): Promise<string> {
  return new SignJWT({ scope: "calendar" })
    .setProtectedHeader({ alg: "RS256", kid: "k1", typ: claims.typ ?? "at+jwt" })
    .setIssuer(claims.iss ?? ISSUER)
    .setAudience(claims.aud ?? RESOURCE)
    .setSubject(claims.sub ?? "alice")
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(signingKey);
}

let calls: { url: string; authorization: string | null }[];
let users: Record<string, string>;
let userinfoStatus: number | undefined;
let discoveredIssuer: string;
let now: number;

beforeEach(() => {
  calls = [];
  users = { "alice-token": "alice", "bob-token": "bob" };
  userinfoStatus = undefined;
  discoveredIssuer = ISSUER;
  jwksStatus = 200;
  now = 1_000_000;
  vi.spyOn(Date, "now").mockImplementation(() => now);
  vi.stubGlobal("fetch", async (input: string | URL, init?: RequestInit) => {
    const url = String(input);
    const authorization = new Headers(init?.headers).get("authorization");
    calls.push({ url, authorization });
    if (url === `${ISSUER}/.well-known/openid-configuration`) return Response.json({ issuer: discoveredIssuer, userinfo_endpoint: USERINFO, jwks_uri: JWKS });
    if (url === JWKS) return jwksStatus === 200 ? Response.json({ keys: [publicJwk] }) : new Response("", { status: jwksStatus });
    if (url === USERINFO) {
      if (userinfoStatus !== undefined) return new Response("", { status: userinfoStatus });
      const sub = users[authorization?.replace(/^Bearer /, "") ?? ""];
      return sub ? Response.json({ sub, email: `${sub}@example.com` }) : Response.json({ error: "invalid_token" }, { status: 401 });
    }
    return new Response("not found", { status: 404 });
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const userinfoCalls = () => calls.filter((c) => c.url === USERINFO);

describe("the calendar's token check", () => {
  it("asks userinfo with the token as a bearer, after one discovery, and returns the sub", async () => {
    const validate = tokenValidator({ issuer: ISSUER, cacheSeconds: 30 });
    expect(await validate("alice-token")).toBe("alice");
    expect(await validate("bob-token")).toBe("bob");
    expect(calls.filter((c) => c.url.endsWith("/.well-known/openid-configuration"))).toHaveLength(1);
    expect(userinfoCalls().map((c) => c.authorization)).toEqual(["Bearer alice-token", "Bearer bob-token"]);
  });

  it("caches a valid token's sub for cacheSeconds, then asks again", async () => {
    const validate = tokenValidator({ issuer: ISSUER, cacheSeconds: 30 });
    expect(await validate("alice-token")).toBe("alice");
    now += 29_999;
    delete users["alice-token"]; // revoked at the IdP: still taken from the cache...
    expect(await validate("alice-token")).toBe("alice");
    expect(userinfoCalls()).toHaveLength(1);
    now += 1; // ...for 30 s at most
    expect(await validate("alice-token")).toBeUndefined();
    expect(userinfoCalls()).toHaveLength(2);
  });

  it("does not cache with cacheSeconds 0, nor a refused token", async () => {
    const validate = tokenValidator({ issuer: ISSUER, cacheSeconds: 0 });
    expect(await validate("alice-token")).toBe("alice");
    expect(await validate("alice-token")).toBe("alice");
    expect(await validate("garbage")).toBeUndefined();
    users.garbage = "mallory";
    expect(await validate("garbage")).toBe("mallory");
    expect(userinfoCalls()).toHaveLength(4);
  });

  it("throws (not a refusal) when the IdP fails or its discovery names another issuer", async () => {
    userinfoStatus = 500;
    await expect(tokenValidator({ issuer: ISSUER, cacheSeconds: 30 })("alice-token")).rejects.toThrow("userinfo: HTTP 500");
    userinfoStatus = undefined;
    discoveredIssuer = "http://127.0.0.1:5555";
    const validate = tokenValidator({ issuer: ISSUER, cacheSeconds: 30 });
    await expect(validate("alice-token")).rejects.toThrow(/discovery: issuer/);
    // A failed discovery is tried again on the next request.
    discoveredIssuer = ISSUER;
    expect(await validate("alice-token")).toBe("alice");
  });

  it("verifies a JWT access token locally: the right audience gives its sub, without asking userinfo", async () => {
    const validate = tokenValidator({ issuer: ISSUER, cacheSeconds: 30 });
    expect(await validate(await accessJwt(), RESOURCE)).toBe("alice");
    expect(await validate(await accessJwt({ sub: "bob" }), RESOURCE)).toBe("bob");
    expect(userinfoCalls()).toHaveLength(0);
    expect(calls.filter((c) => c.url === JWKS)).toHaveLength(1); // the key set is kept
  });

  it("refuses a JWT for another audience or issuer, of another typ, unsigned, or with no audience to check", async () => {
    const validate = tokenValidator({ issuer: ISSUER, cacheSeconds: 30 });
    expect(await validate(await accessJwt({ aud: "http://127.0.0.1:9/mcp" }), RESOURCE)).toBeUndefined();
    expect(await validate(await accessJwt({ iss: "http://127.0.0.1:5555" }), RESOURCE)).toBeUndefined();
    expect(await validate(await accessJwt({ typ: "JWT" }), RESOURCE)).toBeUndefined();
    const unsigned = new UnsecuredJWT({ scope: "calendar" }).setIssuer(ISSUER).setAudience(RESOURCE).setSubject("alice").setExpirationTime("10m").encode();
    expect(await validate(`${unsigned}AAAA`, RESOURCE)).toBeUndefined();
    expect(await validate(await accessJwt())).toBeUndefined();
    expect(userinfoCalls()).toHaveLength(0);
  });

  it("throws (not a refusal) when the jwks_uri fails", async () => {
    jwksStatus = 500;
    await expect(tokenValidator({ issuer: ISSUER, cacheSeconds: 30 })(await accessJwt(), RESOURCE)).rejects.toThrow(/JSON Web Key Set/);
  });
});
