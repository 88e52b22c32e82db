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
  parseStoredTenant,
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
    expect(ok({ id: "acme", naming: { mode: "never" } }).naming).toEqual({ mode: "never", separator: "__", resources: "on-collision" });
    expect(ok({ id: "acme", naming: { separator: "." } }).naming).toEqual({ mode: "always", separator: ".", resources: "on-collision" });
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

describe("parseTenant: unknown keys are refused at every depth, naming the key", () => {
  // A typo in a security setting must not leave the default in force: with keys silently
  // dropped, "polcy" left the tenant on defaultEffect "allow" and "falureMode" left it fail-open.
  it.each<[string, unknown, string]>([
    ["a misspelt policy", { id: "a", polcy: { defaultEffect: "deny" } }, "polcy"],
    ["a misspelt failureMode", { id: "a", falureMode: "closed" }, "falureMode"],
    ["a backend's misspelt key", { id: "a", backends: [backend(), backend({ name: "crm", timeout: 5_000 })] }, "backends.1.timeout"],
    [
      "a key in a backend's outbound auth",
      { id: "a", backends: [backend({ auth: { type: "token_exchange", tokenUrl: "https://t.example", clientId: "c", clientSecret: "S", audience: "x", scopes: "y" } })] },
      "backends.0.auth.scopes",
    ],
    ["a key in a backend's inject", { id: "a", backends: [backend({ inject: { header: true } })] }, "backends.0.inject.header"],
    ["a key in naming", { id: "a", naming: { seperator: "." } }, "naming.seperator"],
    ["a key in limits", { id: "a", limits: { maxBody: 1024 } }, "limits.maxBody"],
    ["a key in a rate limit", { id: "a", limits: { rate: [{ scope: "tenant", limit: 1, windowSeconds: 1, burst: 5 }] } }, "limits.rate.0.burst"],
    ["a key in the policy", { id: "a", policy: { defaultEfect: "deny" } }, "policy.defaultEfect"],
    ["a key in a policy rule", { id: "a", policy: { rules: [{ id: "r", effect: "allow" }, { id: "s", effect: "deny", efect: "deny" }] } }, "policy.rules.1.efect"],
    ["a key in a rule's principals", { id: "a", policy: { rules: [{ id: "r", effect: "allow", principals: { role: ["admin"] } }] } }, "policy.rules.0.principals.role"],
    ["a key in a rule's items", { id: "a", policy: { rules: [{ id: "r", effect: "deny", items: { name: ["delete_*"] } }] } }, "policy.rules.0.items.name"],
    ["a key in a redaction", { id: "a", policy: { redact: [{ pattern: "x", replace: "y" }] } }, "policy.redact.0.replace"],
    ["a key in the audit settings", { id: "a", policy: { audit: { argument: true } } }, "policy.audit.argument"],
    ["a key in auth", { id: "a", auth: { anonymus: false } }, "auth.anonymus"],
    ["a key in the JWT settings", { id: "a", auth: { jwt: { issuer: "https://i.example", jwksUrl: "https://i.example/jwks", audiance: "x" } } }, "auth.jwt.audiance"],
    ["a key in an API key", { id: "a", auth: { apiKeys: [{ id: "k", sha256: "a".repeat(64), sub: "s", role: "admin" }] } }, "auth.apiKeys.0.role"],
  ])("refuses %s as `<path of the key>: unknown key`", (_, doc, path) => {
    expect(error(doc)).toBe(`${path}: unknown key`);
  });

  it("names the misspelt key rather than the required key it left missing", () => {
    // zod also reports `effect` as missing; the typo is the cause, so it is what the admin sees.
    expect(error({ id: "a", policy: { rules: [{ id: "r", efect: "deny" }] } })).toBe("policy.rules.0.efect: unknown key");
  });

  it("lists the other unknown keys of the same object", () => {
    expect(error({ id: "a", polcy: {}, falureMode: "closed" })).toBe("polcy: unknown key (and 'falureMode')");
  });

  it("keeps open maps open: any header name, and a JWKS's and its keys' own members (RFC 7517 §4, §5)", () => {
    const tenant = ok({
      id: "a",
      backends: [backend({ headers: { "x-anything": "1" }, secretHeaders: { "x-other": "SECRET" } })],
      auth: { jwt: { issuer: "https://i.example", jwks: { keys: [{ kty: "OKP", crv: "Ed25519", x: "abc", x5t: "t", ext: true }], cached: 1 } } },
    });
    expect(tenant.backends[0]?.headers).toEqual({ "x-anything": "1" });
    expect(tenant.auth.jwt?.jwks?.keys[0]).toMatchObject({ x5t: "t", ext: true });
  });
});

describe("parseTenant: the fields the gateway manages", () => {
  it("accepts `version` and `id`, which every stored document carries", () => {
    expect(ok({ id: "a", version: 12 }).version).toBe(12);
  });

  it("accepts a stored document read back and written again (GET, then PUT), unchanged", () => {
    const stored = ok({
      id: "a",
      version: 3,
      backends: [
        backend({ auth: { type: "client_credentials", tokenUrl: "https://t.example/token", clientId: "gw", clientSecret: "CRM_SECRET" }, inject: { meta: true } }),
        // Its URL is filled in by the gateway (the path inside the bound Worker).
        { name: "svc", transport: "service", service: "BACKEND_NOTES" },
      ],
      limits: { rate: [{ scope: "principal", limit: 10, windowSeconds: 60 }] },
      policy: { defaultEffect: "deny", rules: [{ id: "r", effect: "allow", principals: { roles: ["x"] }, items: { kinds: ["tool"] }, when: "true" }], redact: [{ pattern: "secret" }] },
      auth: {
        jwt: { issuer: "https://i.example", jwks: { keys: [{ kty: "EC", crv: "P-256", x: "x", y: "y" }] } },
        apiKeys: [{ id: "k", sha256: "b".repeat(64), sub: "bot" }],
      },
    });
    // What GET answers is the stored JSON; the admin write sets `id` and the next `version` on it.
    const readBack = JSON.parse(JSON.stringify(stored)) as typeof stored;
    const written = ok({ ...readBack, id: "a", version: stored.version + 1 });
    expect(written).toEqual({ ...stored, version: stored.version + 1 });
  });
});

describe("parseStoredTenant: documents already stored load, with unknown keys ignored", () => {
  it("loads a stored document as parseTenant does, ignoring nothing", () => {
    expect(parseStoredTenant({ id: "a", version: 2 })).toEqual({ ok: true, tenant: ok({ id: "a", version: 2 }), ignored: [] });
  });

  // A field a later version removed, or one a newer version wrote before a rollback, must not
  // take the tenant down; the keys are returned (paths, as in errors) for the log.
  it("drops keys it does not know at any depth and lists them", () => {
    const stored = { id: "a", version: 4, retired: true, backends: [backend({ pool: 3 })], policy: { defaultEffect: "deny", rules: [{ id: "r", effect: "allow", weight: 1 }] } };
    const parsed = parseStoredTenant(stored);
    if (!parsed.ok) throw new Error(parsed.error);
    expect([...parsed.ignored].sort()).toEqual(["backends.0.pool", "policy.rules.0.weight", "retired"]);
    expect(parsed.tenant).toEqual(ok({ id: "a", version: 4, backends: [backend()], policy: { defaultEffect: "deny", rules: [{ id: "r", effect: "allow" }] } }));
    // The document it was given is left as it was.
    expect(stored).toHaveProperty("retired", true);
  });

  it("still refuses any other problem, naming it rather than a key it would have ignored", () => {
    expect(parseStoredTenant({ id: "a", failureMode: "half", extra: 1 })).toEqual({ ok: false, error: error({ id: "a", failureMode: "half" }) });
    expect(parseStoredTenant({ id: "a", extra: 1, policy: { rules: [{ id: "r", effect: "allow", when: "args.x >" }] } })).toMatchObject({ ok: false, error: expect.stringMatching(/^policy\.rules\.0\.when: /) });
  });
});
