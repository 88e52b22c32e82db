/**
 * OutboundCredentials against a real OAuth token endpoint (test/fixtures/token-server.ts) on
 * 127.0.0.1: the client credentials grant and RFC 8693 token exchange, the token cache, shared
 * in-flight requests, and clean errors that never carry a secret or a token.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ACCESS_TOKEN_TYPE,
  FAILURE_RETRY_AFTER_MS,
  MAX_CACHED_TOKENS,
  MAX_TOKEN_CACHE_MS,
  MAX_TOKEN_RESPONSE_BYTES,
  OutboundCredentials,
  TOKEN_EXCHANGE_GRANT,
  TOKEN_EXPIRY_MARGIN_MS,
  basicCredentials,
  cacheLifetimeMs,
} from "../../worker/upstream/credentials.ts";
import { UpstreamError } from "../../worker/upstream/errors.ts";
import { BackendSchema, type BackendConfig, type OutboundAuth } from "../../worker/tenant/schema.ts";
import { startTokenServer, type RunningTokenServer } from "../fixtures/token-server.ts";

const SECRET = "s3cret-value-that-must-never-be-logged";
const CLIENT_TOKEN = "client-token-alice";
const env = { NOTES_CLIENT_SECRET: SECRET };

let server: RunningTokenServer;
let clock: number;

beforeAll(async () => {
  server = await startTokenServer({ clients: { gateway: SECRET, "odd:client id": "pä ss+w%rd" } });
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.reset();
  clock = 1_700_000_000_000;
});

/** An Env holding only Worker secrets: OutboundCredentials reads nothing else (secretNamed). */
function secretsOnly(secrets: Record<string, string>): Env {
  return secrets as unknown as Env;
}

function credentials(options: { timeoutMs?: number; environment?: Record<string, string> } = {}): OutboundCredentials {
  return new OutboundCredentials(secretsOnly(options.environment ?? env), undefined, { now: () => clock, timeoutMs: options.timeoutMs });
}

function backend(auth?: Partial<OutboundAuth> & { type: OutboundAuth["type"] }, name = "notes"): BackendConfig {
  const base = { tokenUrl: server.url, clientId: "gateway", clientSecret: "NOTES_CLIENT_SECRET" };
  const full = auth?.type === "token_exchange" ? { audience: "https://notes.example.com/mcp", ...base, ...auth } : auth ? { ...base, ...auth } : undefined;
  return BackendSchema.parse({ name, url: "http://127.0.0.1:9/mcp", auth: full });
}

const never = new AbortController().signal;

/** The rejection of `promise`, which must be an UpstreamError. */
async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

describe("a backend without auth", () => {
  it("gets no headers and causes no token request", async () => {
    expect(await credentials().headers(backend(), CLIENT_TOKEN, never)).toEqual({});
    expect(server.requests).toHaveLength(0);
  });
});

describe("client_credentials", () => {
  it("asks the token endpoint with HTTP Basic client authentication and returns the issued bearer token", async () => {
    const headers = await credentials().headers(backend({ type: "client_credentials", scope: "notes:read notes:write" }), CLIENT_TOKEN, never);
    expect(headers).toEqual({ authorization: "Bearer cc-1" });
    expect(server.requests).toHaveLength(1);
    const request = server.requests[0]!;
    expect(request.client).toBe("gateway");
    expect(request.authorization).toBe(`Basic ${Buffer.from(`gateway:${SECRET}`).toString("base64")}`);
    expect(request.grant_type).toBe("client_credentials");
    expect(request.scope).toBe("notes:read notes:write");
    // Credentials travel in the header only (RFC 6749 §2.3.1), and the client's token not at all.
    expect(request.client_secret).toBeUndefined();
    expect(JSON.stringify(request)).not.toContain(CLIENT_TOKEN);
  });

  it("sends a URI audience both as audience and as an RFC 8707 resource, and a plain one as audience only", async () => {
    await credentials().headers(backend({ type: "client_credentials", audience: "https://notes.example.com/mcp" }), null, never);
    await credentials().headers(backend({ type: "client_credentials", audience: "notes-api" }), null, never);
    expect(server.requests.map((r) => [r.audience, r.resource])).toEqual([
      ["https://notes.example.com/mcp", "https://notes.example.com/mcp"],
      ["notes-api", undefined],
    ]);
  });

  it("form-urlencodes client id and secret inside the Basic credentials (RFC 6749 §2.3.1)", async () => {
    const odd = backend({ type: "client_credentials", clientId: "odd:client id", clientSecret: "ODD_SECRET" });
    const headers = await credentials({ environment: { ODD_SECRET: "pä ss+w%rd" } }).headers(odd, null, never);
    expect(headers.authorization).toMatch(/^Bearer cc-\d+$/);
    expect(server.requests[0]!.client).toBe("odd:client id");
    expect(basicCredentials("odd:client id", "pä ss+w%rd")).toBe(`Basic ${btoa("odd%3Aclient+id:p%C3%A4+ss%2Bw%25rd")}`);
  });

  it("serves the cached token to later calls: two calls, one token request", async () => {
    const creds = credentials();
    const cc = backend({ type: "client_credentials" });
    const first = await creds.headers(cc, null, never);
    const second = await creds.headers(cc, null, never);
    expect(second).toEqual(first);
    expect(server.requests).toHaveLength(1);
  });

  it("fetches a new token once the cached one is within the expiry margin", async () => {
    const creds = credentials();
    const cc = backend({ type: "client_credentials" });
    expect(await creds.headers(cc, null, never)).toEqual({ authorization: "Bearer cc-1" });
    clock += 3600_000 - TOKEN_EXPIRY_MARGIN_MS - 1;
    expect(await creds.headers(cc, null, never)).toEqual({ authorization: "Bearer cc-1" });
    clock += 1;
    expect((await creds.headers(cc, null, never)).authorization).toMatch(/^Bearer cc-(?!1$)\d+$/);
    expect(server.requests).toHaveLength(2);
  });

  it("caches a short-lived token for half its life", async () => {
    server.expiresInS = 10;
    const creds = credentials();
    const cc = backend({ type: "client_credentials" });
    await creds.headers(cc, null, never);
    clock += 4_999;
    await creds.headers(cc, null, never);
    expect(server.requests).toHaveLength(1);
    clock += 1;
    await creds.headers(cc, null, never);
    expect(server.requests).toHaveLength(2);
  });

  it("bounds cache lifetimes: margin, half-life for short tokens, an hour at most, none without expires_in", () => {
    expect(cacheLifetimeMs(3600)).toBe(3600_000 - TOKEN_EXPIRY_MARGIN_MS);
    expect(cacheLifetimeMs(10)).toBe(5_000);
    expect(cacheLifetimeMs(365 * 86_400)).toBe(MAX_TOKEN_CACHE_MS);
    expect(cacheLifetimeMs(undefined)).toBe(0);
    expect(cacheLifetimeMs(0)).toBe(0);
  });

  it("does not cache a token without expires_in: its lifetime is unknown", async () => {
    server.mode = "no-expiry";
    const creds = credentials();
    const cc = backend({ type: "client_credentials" });
    const first = await creds.headers(cc, null, never);
    const second = await creds.headers(cc, null, never);
    expect(first.authorization).not.toBe(second.authorization);
    expect(server.requests).toHaveLength(2);
  });

  it("lets concurrent callers share one in-flight token request", async () => {
    server.delayMs = 100;
    const creds = credentials();
    const cc = backend({ type: "client_credentials" });
    const all = await Promise.all(Array.from({ length: 8 }, () => creds.headers(cc, null, never)));
    expect(new Set(all.map((h) => h.authorization))).toEqual(new Set(["Bearer cc-1"]));
    expect(server.requests).toHaveLength(1);
  });

  it("keeps a shared request going when one caller gives up; only that caller is cancelled", async () => {
    server.delayMs = 150;
    const creds = credentials();
    const cc = backend({ type: "client_credentials" });
    const impatient = new AbortController();
    const gaveUp = failure(creds.headers(cc, null, impatient.signal));
    const patient = creds.headers(cc, null, never);
    setTimeout(() => impatient.abort(), 20);
    expect((await gaveUp).kind).toBe("cancelled");
    expect(await patient).toEqual({ authorization: "Bearer cc-1" });
    expect(server.requests).toHaveLength(1);
  });

  it("keeps separate tokens for configurations that differ in scope", async () => {
    const creds = credentials();
    await creds.headers(backend({ type: "client_credentials", scope: "a" }), null, never);
    await creds.headers(backend({ type: "client_credentials", scope: "b" }), null, never);
    await creds.headers(backend({ type: "client_credentials", scope: "a" }), null, never);
    expect(server.requests.map((r) => r.scope)).toEqual(["a", "b"]);
  });

  it("forgets the least recently used token beyond MAX_CACHED_TOKENS", async () => {
    const creds = credentials();
    const exchange = backend({ type: "token_exchange" });
    await creds.headers(exchange, "subject-0", never);
    // Then MAX_CACHED_TOKENS more subjects, in concurrent batches to keep the test quick.
    for (let start = 1; start <= MAX_CACHED_TOKENS; start += 50) {
      const batch = Array.from({ length: Math.min(50, MAX_CACHED_TOKENS + 1 - start) }, (_, i) => `subject-${start + i}`);
      await Promise.all(batch.map((subject) => creds.headers(exchange, subject, never)));
    }
    expect(server.requests).toHaveLength(MAX_CACHED_TOKENS + 1);
    await creds.headers(exchange, `subject-${MAX_CACHED_TOKENS / 2}`, never); // still cached
    expect(server.requests).toHaveLength(MAX_CACHED_TOKENS + 1);
    await creds.headers(exchange, "subject-0", never); // the oldest, evicted
    expect(server.requests).toHaveLength(MAX_CACHED_TOKENS + 2);
  }, 20_000);
});

describe("failures fail the call cleanly, naming the problem but no credential", () => {
  function expectNoCredentials(error: UpstreamError) {
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain(CLIENT_TOKEN);
    expect(error.message).not.toContain(Buffer.from(`gateway:${SECRET}`).toString("base64"));
  }

  it("a missing Worker secret is named, and nothing is sent", async () => {
    const error = await failure(credentials({ environment: {} }).headers(backend({ type: "client_credentials" }), null, never));
    expect(error.kind).toBe("unreachable");
    expect(error.backend).toBe("notes");
    expect(error.message).toBe("notes: outbound auth: Worker secret NOTES_CLIENT_SECRET is not set");
    expect(server.requests).toHaveLength(0);
  });

  it("an endpoint answering 500 gives its error code only", async () => {
    server.mode = "error500";
    const error = await failure(credentials().headers(backend({ type: "client_credentials" }), CLIENT_TOKEN, never));
    expect(error.kind).toBe("unreachable");
    expect(error.message).toBe("notes: outbound auth: token endpoint answered HTTP 500 (server_error)");
    expectNoCredentials(error);
  });

  it("a rejected client secret is a 401 invalid_client, without the secret", async () => {
    const creds = credentials({ environment: { NOTES_CLIENT_SECRET: "wrong-secret-value" } });
    const error = await failure(creds.headers(backend({ type: "client_credentials" }), CLIENT_TOKEN, never));
    expect(error.message).toBe("notes: outbound auth: token endpoint answered HTTP 401 (invalid_client)");
    expect(error.message).not.toContain("wrong-secret-value");
  });

  it("a failing endpoint is asked again only after FAILURE_RETRY_AFTER_MS", async () => {
    server.mode = "error500";
    const creds = credentials();
    const cc = backend({ type: "client_credentials" });
    await failure(creds.headers(cc, null, never));
    server.mode = "ok";
    const again = await failure(creds.headers(cc, null, never));
    expect(again.message).toContain("HTTP 500");
    expect(server.requests).toHaveLength(1);
    clock += FAILURE_RETRY_AFTER_MS;
    expect(await creds.headers(cc, null, never)).toEqual({ authorization: "Bearer cc-1" });
    expect(server.requests).toHaveLength(2);
  });

  it("a garbage answer is refused as not JSON", async () => {
    server.mode = "garbage";
    const error = await failure(credentials().headers(backend({ type: "client_credentials" }), null, never));
    expect(error.message).toBe("notes: outbound auth: token endpoint answer is not JSON");
  });

  it("an oversized answer is refused at the byte cap", async () => {
    server.mode = "oversized";
    const error = await failure(credentials().headers(backend({ type: "client_credentials" }), null, never));
    expect(error.message).toBe(`notes: outbound auth: token endpoint answer exceeds ${MAX_TOKEN_RESPONSE_BYTES} bytes`);
  });

  it("a token that is not a Bearer token is refused", async () => {
    server.mode = "wrong-type";
    const error = await failure(credentials().headers(backend({ type: "client_credentials" }), null, never));
    expect(error.message).toBe("notes: outbound auth: token endpoint answer is invalid: token_type: must be Bearer");
  });

  it("an endpoint that never answers times out", async () => {
    server.mode = "hang";
    const error = await failure(credentials({ timeoutMs: 200 }).headers(backend({ type: "client_credentials" }), null, never));
    expect(error.kind).toBe("unreachable");
    expect(error.message).toBe("notes: outbound auth: token endpoint did not answer within 200 ms");
  });

  it("an endpoint nobody listens on is unreachable", async () => {
    const closed = await startTokenServer();
    const url = closed.url;
    await closed.close();
    const error = await failure(credentials().headers(backend({ type: "client_credentials", tokenUrl: url }), null, never));
    expect(error.message).toMatch(/^notes: outbound auth: token endpoint unreachable/);
  });

  it("a plain-http token endpoint off loopback is refused before anything is sent (RFC 6749 §3.2)", async () => {
    const error = await failure(credentials().headers(backend({ type: "client_credentials", tokenUrl: "http://auth.example.com/token" }), null, never));
    expect(error.message).toBe("notes: outbound auth: tokenUrl must use https (RFC 6749 §3.2) unless it is on loopback");
  });

  it("an already aborted call is cancelled without a request", async () => {
    const error = await failure(credentials().headers(backend({ type: "client_credentials" }), null, AbortSignal.abort()));
    expect(error.kind).toBe("cancelled");
    expect(server.requests).toHaveLength(0);
  });
});

describe("token_exchange (RFC 8693)", () => {
  it("sends the client's token as subject_token, with Basic client authentication, and returns the exchanged token", async () => {
    const exchange = backend({ type: "token_exchange", audience: "https://notes.example.com/mcp", scope: "notes:read" });
    const headers = await credentials().headers(exchange, "alice", never);
    expect(headers).toEqual({ authorization: "Bearer xchg-1-for-alice" });
    const request = server.requests[0]!;
    expect(request).toMatchObject({
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: "alice",
      subject_token_type: ACCESS_TOKEN_TYPE,
      requested_token_type: ACCESS_TOKEN_TYPE,
      audience: "https://notes.example.com/mcp",
      resource: "https://notes.example.com/mcp",
      scope: "notes:read",
      client: "gateway",
    });
  });

  it("caches per subject token: the same subject reuses its token, another subject gets its own", async () => {
    const creds = credentials();
    const exchange = backend({ type: "token_exchange" });
    const alice = await creds.headers(exchange, "alice", never);
    expect(await creds.headers(exchange, "alice", never)).toEqual(alice);
    const bob = await creds.headers(exchange, "bob", never);
    expect(bob.authorization).toMatch(/-for-bob$/);
    expect(server.requests.map((r) => r.subject_token)).toEqual(["alice", "bob"]);
  });

  it("shares one in-flight exchange among concurrent callers with the same subject", async () => {
    server.delayMs = 100;
    const creds = credentials();
    const exchange = backend({ type: "token_exchange" });
    const all = await Promise.all([...["alice", "alice", "alice", "bob"].map((s) => creds.headers(exchange, s, never))]);
    expect(all.map((h) => h.authorization?.replace(/^Bearer xchg-\d+-/, ""))).toEqual(["for-alice", "for-alice", "for-alice", "for-bob"]);
    expect(server.requests).toHaveLength(2);
  });

  it("fails without a subject token, and sends nothing", async () => {
    const error = await failure(credentials().headers(backend({ type: "token_exchange" }), null, never));
    expect(error.kind).toBe("unreachable");
    expect(error.message).toBe("notes: outbound auth: token exchange needs the client's bearer token, and this request has none");
    expect(server.requests).toHaveLength(0);
  });

  it("a rejected exchange names the endpoint's answer, never the subject token", async () => {
    server.mode = "error500";
    const error = await failure(credentials().headers(backend({ type: "token_exchange" }), CLIENT_TOKEN, never));
    expect(error.message).not.toContain(CLIENT_TOKEN);
    expect(error.message).not.toContain(SECRET);
  });
});
