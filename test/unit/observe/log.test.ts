/** The one logger: one JSON object per line, and no secret ever reaches it (worker/observe/log.ts). */
import { describe, expect, it } from "vitest";
import { formatLine, MAX_LOG_STRING_CHARS, REDACTED, scrub } from "../../../worker/observe/log.ts";

const JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz";
const API_KEY = `mgw_${"a".repeat(43)}`;

describe("formatLine", () => {
  it("writes one JSON object with level and event first", () => {
    const line = formatLine("info", "mcp_request", { tenant: "acme", durationMs: 12 });
    expect(line).not.toContain("\n");
    expect(line.startsWith('{"level":"info","event":"mcp_request"')).toBe(true);
    expect(JSON.parse(line)).toEqual({ level: "info", event: "mcp_request", tenant: "acme", durationMs: 12 });
  });

  it("leaves out undefined fields", () => {
    expect(JSON.parse(formatLine("warn", "x", { a: undefined, b: null }))).toEqual({ level: "warn", event: "x", b: null });
  });
});

describe("scrub", () => {
  it("replaces fields whose names say they hold credentials, at any depth", () => {
    expect(scrub({ authorization: "Bearer abc", headers: { cookie: "sid=1", "x-api-key": "k", accept: "*/*" }, clientSecret: "s", subjectToken: "t", password: "p" })).toEqual({
      authorization: REDACTED,
      headers: { cookie: REDACTED, "x-api-key": REDACTED, accept: "*/*" },
      clientSecret: REDACTED,
      subjectToken: REDACTED,
      password: REDACTED,
    });
  });

  it("removes bearer tokens, JWTs and gateway API keys from free text", () => {
    const text = scrub(`upstream said: Authorization: Bearer ${JWT}; raw ${JWT}; key ${API_KEY}`) as string;
    expect(text).not.toContain(JWT);
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain("c2lnbmF0dXJl");
    expect(text).toContain(REDACTED);
  });

  it("keeps ordinary values, trace context and ids as they are", () => {
    const fields = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", session: "f".repeat(64), tool: "get_forecast", status: 200, ok: true };
    expect(scrub(fields)).toEqual(fields);
  });

  it("cuts long strings, long arrays and deep objects", () => {
    expect((scrub("x".repeat(10_000)) as string).length).toBe(MAX_LOG_STRING_CHARS + 1);
    expect((scrub(new Array(100).fill(1)) as unknown[]).length).toBe(20);
    expect(scrub({ a: { b: { c: { d: { e: 1 } } } } })).toEqual({ a: { b: { c: { d: "[…]" } } } });
  });

  it("writes an error as its name and message, never a stack", () => {
    expect(scrub(new TypeError("boom"))).toBe("TypeError: boom");
  });
});
