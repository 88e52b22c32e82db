/**
 * The calendar backend's token check (examples/calendar/server.ts, tokenValidator) with a stubbed
 * fetch: discovery once, userinfo per token, a valid token's sub cached no longer than asked
 * (what lets the e2e test see an expired token refused), refusals not cached, an unreachable IdP
 * an error rather than a refusal.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { tokenValidator } from "../../examples/calendar/server.ts";

const ISSUER = "http://127.0.0.1:4444";
const USERINFO = `${ISSUER}/me`;

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
  now = 1_000_000;
  vi.spyOn(Date, "now").mockImplementation(() => now);
  vi.stubGlobal("fetch", async (input: string | URL, init?: RequestInit) => {
    const url = String(input);
    const authorization = new Headers(init?.headers).get("authorization");
    calls.push({ url, authorization });
    if (url === `${ISSUER}/.well-known/openid-configuration`) return Response.json({ issuer: discoveredIssuer, userinfo_endpoint: USERINFO });
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
});
