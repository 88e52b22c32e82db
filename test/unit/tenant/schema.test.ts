/**
 * Tenant documents: parsed at every boundary, defaults filled in, and the first problem reported
 * as `path: message` so an admin knows which field to fix.
 */
import { describe, expect, it } from "vitest";
import {
  DEFAULT_BACKEND_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_PAGE_SIZE,
  DEFAULT_SESSION_IDLE_MS,
  parseTenant,
} from "../../../worker/tenant/schema.ts";

const backend = (extra: Record<string, unknown> = {}) => ({ name: "notes", url: "https://notes.example/mcp", ...extra });

function ok(doc: unknown) {
  const parsed = parseTenant(doc);
  if (!parsed.ok) throw new Error(`expected a valid tenant, got ${parsed.error}`);
  return parsed.tenant;
}

function error(doc: unknown): string {
  const parsed = parseTenant(doc);
  if (parsed.ok) throw new Error("expected the tenant to be refused");
  return parsed.error;
}

describe("parseTenant: accepted documents and defaults", () => {
  it("accepts a document with only an id and fills in the defaults", () => {
    const tenant = ok({ id: "acme" });
    expect(tenant).toMatchObject({
      id: "acme",
      version: 1,
      backends: [],
      naming: { mode: "always", separator: "__" },
      failureMode: "open",
      allowedOrigins: [],
      limits: { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, sessionIdleMs: DEFAULT_SESSION_IDLE_MS, pageSize: DEFAULT_PAGE_SIZE },
      auth: { anonymous: false },
    });
  });

  it("uses the documented default values", () => {
    expect(DEFAULT_MAX_BODY_BYTES).toBe(4 * 1024 * 1024);
    expect(DEFAULT_BACKEND_TIMEOUT_MS).toBe(30_000);
    expect(DEFAULT_PAGE_SIZE).toBe(500);
    expect(DEFAULT_SESSION_IDLE_MS).toBe(30 * 60 * 1000);
  });

  it("fills in a backend's defaults: Streamable HTTP, no headers, the default timeout", () => {
    const [b] = ok({ id: "acme", backends: [backend()] }).backends;
    expect(b).toMatchObject({
      name: "notes",
      url: "https://notes.example/mcp",
      transport: "streamable-http",
      headers: {},
      secretHeaders: {},
      timeoutMs: DEFAULT_BACKEND_TIMEOUT_MS,
    });
  });

  it("fills in naming defaults for a partial naming object", () => {
    expect(ok({ id: "acme", naming: { mode: "never" } }).naming).toEqual({ mode: "never", separator: "__" });
    expect(ok({ id: "acme", naming: { separator: "." } }).naming).toEqual({ mode: "always", separator: "." });
  });

  it("fills in the other limits when only one is given", () => {
    expect(ok({ id: "acme", limits: { pageSize: 5 } }).limits).toMatchObject({
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      sessionIdleMs: DEFAULT_SESSION_IDLE_MS,
      pageSize: 5,
    });
  });

  it("accepts http and https backend URLs and the legacy sse transport", () => {
    expect(ok({ id: "a", backends: [backend({ url: "http://127.0.0.1:9000/mcp" })] }).backends[0]?.url).toBe("http://127.0.0.1:9000/mcp");
    expect(ok({ id: "a", backends: [backend({ transport: "sse", url: "https://old.example/sse" })] }).backends[0]?.transport).toBe("sse");
  });

  it("accepts a service-binding backend without a URL, giving it an internal one", () => {
    const [b] = ok({ id: "a", backends: [{ name: "svc", transport: "service", service: "BACKEND_NOTES" }] }).backends;
    expect(b).toMatchObject({ transport: "service", service: "BACKEND_NOTES", url: "https://service.internal/mcp" });
  });

  it("keeps a service backend's URL as the path inside the bound Worker", () => {
    const [b] = ok({ id: "a", backends: [{ name: "svc", transport: "service", service: "SVC", url: "https://x.internal/custom" }] }).backends;
    expect(b?.url).toBe("https://x.internal/custom");
  });

  it("accepts static headers and secret headers with valid names", () => {
    const [b] = ok({ id: "a", backends: [backend({ headers: { "X-Api-Version": "2" }, secretHeaders: { authorization: "NOTES_TOKEN" } })] }).backends;
    expect(b?.headers).toEqual({ "X-Api-Version": "2" });
    expect(b?.secretHeaders).toEqual({ authorization: "NOTES_TOKEN" });
  });

  it("accepts backends whose names share a prefix when the separator cannot make them collide", () => {
    expect(ok({ id: "a", backends: [backend({ name: "x" }), backend({ name: "xa" }), backend({ name: "x-a" })] }).backends).toHaveLength(3);
  });
});

describe("parseTenant: errors name the field", () => {
  it("refuses a document that is not an object", () => {
    expect(error(null)).toMatch(/^document: /);
    expect(error("acme")).toMatch(/^document: /);
  });

  it("refuses a missing or malformed id", () => {
    expect(error({})).toMatch(/^id: /);
    expect(error({ id: "Acme" })).toMatch(/^id: /);
    expect(error({ id: "-acme" })).toMatch(/^id: /);
  });

  it("names the backend index and field of a bad URL", () => {
    expect(error({ id: "a", backends: [backend({ url: "not a url" })] })).toMatch(/^backends\.0\.url: /);
  });

  it.each(["ftp://files.example/mcp", "file:///etc/passwd", "javascript:alert(1)", "wss://ws.example/mcp", "data:text/plain,hi"])(
    "refuses the non-http URL %s",
    (url) => {
      expect(error({ id: "a", backends: [backend({ name: "ok" }), backend({ name: "bad", url })] })).toMatch(/^backends\.1\.url: /);
    },
  );

  it("requires a URL for http backends", () => {
    expect(error({ id: "a", backends: [{ name: "notes" }] })).toBe("backends.0.url: required for http backends");
    expect(error({ id: "a", backends: [{ name: "old", transport: "sse" }] })).toBe("backends.0.url: required for http backends");
  });

  it("requires `service` when the transport is service", () => {
    expect(error({ id: "a", backends: [{ name: "svc", transport: "service" }] })).toBe("backends.0.service: required when transport is 'service'");
  });

  it("refuses a service name that is not a binding name", () => {
    expect(error({ id: "a", backends: [{ name: "svc", transport: "service", service: "notes" }] })).toMatch(/^backends\.0\.service: must be a binding name/);
  });

  it("refuses an unknown transport", () => {
    expect(error({ id: "a", backends: [backend({ transport: "websocket" })] })).toMatch(/^backends\.0\.transport: /);
  });

  it.each(["Notes", "notes_1", "-notes", "notes-", "", "a".repeat(33), "no tes"])("refuses the backend name %j", (name) => {
    expect(error({ id: "a", backends: [backend({ name })] })).toMatch(/^backends\.0\.name: /);
  });

  it("refuses duplicate backend names, naming the later one", () => {
    expect(error({ id: "a", backends: [backend(), backend({ name: "other" }), backend()] })).toBe(
      "backends.2.name: duplicate backend name 'notes'",
    );
  });

  it("refuses a backend name containing the naming separator (names become prefixes)", () => {
    expect(error({ id: "a", naming: { separator: "-" }, backends: [backend({ name: "my-notes" })] })).toBe(
      "backends.0.name: must not contain the naming separator",
    );
  });

  // Regression: with a separator that overlaps itself, "x" and "xa" could expose one name for two
  // tools ("x"+"aa"+"ab" = "xa"+"aa"+"b"), so one backend's tool shadowed the other's.
  it("refuses backend names that could expose the same names through a self-overlapping separator", () => {
    expect(error({ id: "a", naming: { separator: "aa" }, backends: [backend({ name: "x" }), backend({ name: "xa" })] })).toBe(
      "backends.1.name: 'xa' and 'x' would share exposed names with separator 'aa'",
    );
    expect(error({ id: "a", naming: { separator: "-a-" }, backends: [backend({ name: "x-a" }), backend({ name: "x" })] })).toMatch(
      /^backends\.0\.name: /,
    );
    // "a-a" overlaps itself too, but the partner would end in "-", which no backend name may.
    expect(ok({ id: "a", naming: { separator: "a-a" }, backends: [backend({ name: "x" }), backend({ name: "xb" })] }).backends).toHaveLength(2);
  });

  it("refuses separators outside the MCP tool-name characters or longer than 3 (server/tools 'Tool Names')", () => {
    for (const separator of ["::", "/", " ", "", "____"]) expect(error({ id: "a", naming: { separator } })).toMatch(/^naming\.separator: /);
  });

  it("refuses an unknown naming mode", () => {
    expect(error({ id: "a", naming: { mode: "sometimes" } })).toMatch(/^naming\.mode: /);
  });

  // Regression: the reason used to be lost as "Invalid key in record".
  it("refuses an invalid header name, naming the header and saying why", () => {
    expect(error({ id: "a", backends: [backend({ headers: { "bad header": "x" } })] })).toBe(
      "backends.0.headers.bad header: must be an HTTP header name",
    );
    expect(error({ id: "a", backends: [backend({ secretHeaders: { "x:y": "TOKEN" } })] })).toBe(
      "backends.0.secretHeaders.x:y: must be an HTTP header name",
    );
  });

  it("refuses a secret header whose value is not a secret name", () => {
    expect(error({ id: "a", backends: [backend({ secretHeaders: { authorization: "lowercase" } })] })).toMatch(
      /^backends\.0\.secretHeaders\.authorization: /,
    );
  });

  it("refuses a header value that is not a string", () => {
    expect(error({ id: "a", backends: [backend({ headers: { "x-n": 5 } })] })).toMatch(/^backends\.0\.headers\.x-n: /);
  });

  it("refuses timeouts outside 100 ms .. 10 min and non-integers", () => {
    expect(error({ id: "a", backends: [backend({ timeoutMs: 99 })] })).toMatch(/^backends\.0\.timeoutMs: /);
    expect(error({ id: "a", backends: [backend({ timeoutMs: 600_001 })] })).toMatch(/^backends\.0\.timeoutMs: /);
    expect(error({ id: "a", backends: [backend({ timeoutMs: 1000.5 })] })).toMatch(/^backends\.0\.timeoutMs: /);
  });

  it("refuses limits out of range, naming the limit", () => {
    expect(error({ id: "a", limits: { maxBodyBytes: 10 } })).toMatch(/^limits\.maxBodyBytes: /);
    expect(error({ id: "a", limits: { pageSize: 0 } })).toMatch(/^limits\.pageSize: /);
    expect(error({ id: "a", limits: { sessionIdleMs: 10 } })).toMatch(/^limits\.sessionIdleMs: /);
  });

  it("refuses more than 64 backends", () => {
    const backends = Array.from({ length: 65 }, (_, i) => backend({ name: `b${i}` }));
    expect(error({ id: "a", backends })).toMatch(/^backends: /);
  });

  it("refuses an unknown failure mode", () => {
    expect(error({ id: "a", failureMode: "sometimes" })).toMatch(/^failureMode: /);
  });

  it("refuses a version below 1", () => {
    expect(error({ id: "a", version: 0 })).toMatch(/^version: /);
  });
});
