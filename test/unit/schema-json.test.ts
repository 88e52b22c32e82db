/**
 * docs/tenant.schema.json, the JSON Schema editors use for tenant documents: it must be exactly
 * what `npm run schema` generates from TenantSchema now (so it cannot drift), and it must agree
 * with TenantSchema on real documents. The agreement is checked with a small JSON Schema checker
 * below that knows only the keywords the generator emits and refuses any other, so a schema change
 * that brings in a new keyword fails here instead of being silently ignored.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { demoTenant } from "../../examples/tenants/demo.ts";
import { renderTenantJsonSchema, TENANT_SCHEMA_PATH } from "../../scripts/schema.ts";
import { parseTenant, TenantSchema, type TenantInput } from "../../worker/tenant/schema.ts";

type Schema = Record<string, unknown>;

const committedText = readFileSync(TENANT_SCHEMA_PATH, "utf8");
const schema = JSON.parse(committedText) as Schema;

// --- a JSON Schema checker for the keywords the generator emits --------------------------------

const KEYWORDS = new Set([
  "$schema",
  "title",
  "description",
  "default",
  "type",
  "const",
  "anyOf",
  "enum",
  "pattern",
  "format",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "items",
  "minItems",
  "maxItems",
  "properties",
  "required",
  "propertyNames",
  "additionalProperties",
  "oneOf",
]);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case "object":
      return isObject(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "null":
      return value === null;
    default:
      throw new Error(`type ${type} not handled by this checker`);
  }
}

/** The problems of `value` against `node`, as `path: reason`; empty when it validates. */
function check(node: Schema, value: unknown, path = "$"): string[] {
  for (const keyword of Object.keys(node)) {
    if (!KEYWORDS.has(keyword)) throw new Error(`${path}: keyword '${keyword}' is not handled by this checker; extend it`);
  }
  const problems: string[] = [];
  const fail = (reason: string) => problems.push(`${path}: ${reason}`);
  if (typeof node.type === "string" && !hasType(value, node.type)) {
    fail(`not of type ${node.type}`);
    return problems;
  }
  if ("const" in node && value !== node.const) fail(`not ${JSON.stringify(node.const)}`);
  if (Array.isArray(node.enum) && !node.enum.includes(value)) fail(`not one of ${JSON.stringify(node.enum)}`);
  if (typeof value === "string") {
    const length = [...value].length;
    if (typeof node.pattern === "string" && !new RegExp(node.pattern, "u").test(value)) fail(`does not match ${node.pattern}`);
    if (typeof node.minLength === "number" && length < node.minLength) fail(`shorter than ${node.minLength}`);
    if (typeof node.maxLength === "number" && length > node.maxLength) fail(`longer than ${node.maxLength}`);
    if (node.format !== undefined) {
      if (node.format !== "uri") throw new Error(`${path}: format '${String(node.format)}' not handled by this checker`);
      if (!URL.canParse(value)) fail("not a URI");
    }
  }
  if (typeof value === "number") {
    if (typeof node.minimum === "number" && value < node.minimum) fail(`below ${node.minimum}`);
    if (typeof node.maximum === "number" && value > node.maximum) fail(`above ${node.maximum}`);
  }
  if (Array.isArray(value)) {
    if (typeof node.minItems === "number" && value.length < node.minItems) fail(`fewer than ${node.minItems} items`);
    if (typeof node.maxItems === "number" && value.length > node.maxItems) fail(`more than ${node.maxItems} items`);
    if (isObject(node.items)) value.forEach((item, i) => problems.push(...check(node.items as Schema, item, `${path}[${i}]`)));
  }
  if (isObject(value)) {
    const properties = isObject(node.properties) ? (node.properties as Record<string, Schema>) : {};
    for (const name of Array.isArray(node.required) ? (node.required as string[]) : []) {
      if (!(name in value)) fail(`missing required '${name}'`);
    }
    for (const [key, item] of Object.entries(value)) {
      if (isObject(node.propertyNames)) problems.push(...check(node.propertyNames, key, `${path}{${key}}`));
      const property = properties[key];
      if (property) problems.push(...check(property, item, `${path}.${key}`));
      else if (node.additionalProperties === false) fail(`unexpected '${key}'`);
      else if (isObject(node.additionalProperties)) problems.push(...check(node.additionalProperties, item, `${path}.${key}`));
    }
  }
  if (Array.isArray(node.oneOf)) {
    const matching = (node.oneOf as Schema[]).filter((variant) => check(variant, value, path).length === 0).length;
    if (matching !== 1) fail(`matches ${matching} of the oneOf alternatives, not exactly 1`);
  }
  if (Array.isArray(node.anyOf) && !(node.anyOf as Schema[]).some((variant) => check(variant, value, path).length === 0)) fail("matches none of the anyOf alternatives");
  return problems;
}

/** Property paths (`backends[].auth.tokenUrl`) of the schema, through items, records and oneOf. */
function schemaPaths(node: Schema, prefix = ""): string[] {
  const out: string[] = [];
  if (isObject(node.properties)) {
    for (const [key, child] of Object.entries(node.properties as Record<string, Schema>)) out.push(`${prefix}.${key}`, ...schemaPaths(child, `${prefix}.${key}`));
  }
  if (isObject(node.items)) out.push(...schemaPaths(node.items, `${prefix}[]`));
  if (isObject(node.additionalProperties)) out.push(...schemaPaths(node.additionalProperties, `${prefix}.*`));
  for (const variant of [...((node.oneOf as Schema[] | undefined) ?? []), ...((node.anyOf as Schema[] | undefined) ?? [])]) out.push(...schemaPaths(variant, prefix));
  return out;
}

/** The schema's property paths a document sets. */
function documentPaths(node: Schema, value: unknown, prefix = "", out = new Set<string>()): Set<string> {
  for (const variant of [...((node.oneOf as Schema[] | undefined) ?? []), ...((node.anyOf as Schema[] | undefined) ?? [])]) {
    if (check(variant, value).length === 0) documentPaths(variant, value, prefix, out);
  }
  if (Array.isArray(value) && isObject(node.items)) for (const item of value) documentPaths(node.items, item, `${prefix}[]`, out);
  if (isObject(value)) {
    const properties = isObject(node.properties) ? (node.properties as Record<string, Schema>) : {};
    for (const [key, item] of Object.entries(value)) {
      const property = properties[key];
      if (property) {
        out.add(`${prefix}.${key}`);
        documentPaths(property, item, `${prefix}.${key}`, out);
      } else if (isObject(node.additionalProperties)) documentPaths(node.additionalProperties, item, `${prefix}.*`, out);
    }
  }
  return out;
}

// --- documents -------------------------------------------------------------------------------

const JWK = { kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", kid: "k1", alg: "ES256", use: "sig" };

const demo = demoTenant({
  weatherUrl: "http://127.0.0.1:8001/mcp",
  notesUrl: "http://127.0.0.1:8002/mcp",
  publicJwk: JWK,
  issuer: "http://127.0.0.1:8787/dev-issuer",
  audience: "http://127.0.0.1:8787/t/demo/mcp",
  idp: { issuer: "http://127.0.0.1:8788", clientId: "edge-mcp-gateway-demo", clientSecret: "DEMO_IDP_CLIENT_SECRET" },
  calendar: { url: "http://127.0.0.1:8003/mcp", clientId: "edge-mcp-gateway-calendar", clientSecret: "DEMO_CALENDAR_CLIENT_SECRET" },
});

/** Every field of the tenant document set at least once (together with `second` below). */
const full: TenantInput = {
  id: "acme",
  version: 7,
  backends: [
    {
      name: "crm",
      transport: "streamable-http",
      url: "https://crm.example/mcp",
      headers: { "x-team": "sales" },
      secretHeaders: { "x-api-key": "CRM_API_KEY" },
      timeoutMs: 15_000,
      era: "auto",
      auth: { type: "client_credentials", tokenUrl: "https://auth.example/token", clientId: "gateway", clientSecret: "CRM_CLIENT_SECRET", scope: "crm.read", audience: "crm" },
      inject: { headers: true, meta: true },
    },
    {
      name: "legacy",
      transport: "sse",
      url: "https://legacy.example/sse",
      auth: { type: "token_exchange", tokenUrl: "https://auth.example/token", clientId: "gateway", clientSecret: "LEGACY_SECRET", audience: "legacy", scope: "legacy.all" },
    },
    { name: "inventory", transport: "service", service: "BACKEND_INVENTORY", url: "https://inventory.internal/mcp" },
    { name: "files", transport: "tunnel", timeoutMs: 60_000 },
    {
      name: "shop",
      transport: "openapi",
      spec: "https://api.shop.example/openapi.json",
      baseUrl: "https://api.shop.example/v2",
      operations: {
        include: [{ tag: "orders" }, { path: "/products/**", method: "get" }, { operationId: "getStatus" }],
        exclude: [{ operationId: "deleteOrder" }, { tag: "admin" }, { path: "/orders/*/refunds", method: "post" }],
      },
      secretQuery: { api_key: "SHOP_API_KEY" },
    },
    {
      name: "mail",
      url: "https://mail.example/mcp",
      auth: {
        type: "user_oauth",
        issuer: "https://login.mail.example",
        authorizationUrl: "https://login.mail.example/authorize",
        tokenUrl: "https://login.mail.example/token",
        clientId: "gateway",
        clientSecret: "MAIL_CLIENT_SECRET",
        scopes: ["mail.read"],
      },
    },
  ],
  naming: { mode: "on-collision", separator: ".", resources: "always" },
  catalog: {
    mode: "auto",
    searchThreshold: 30,
    allowlist: true,
    curate: {
      "weather.get_forecast": { alias: "forecast", title: "Forecast", description: "Forecast for a city.", annotations: { title: "Forecast", readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true } },
      add_note: {},
    },
  },
  failureMode: "closed",
  allowedOrigins: ["https://app.acme.example"],
  limits: {
    maxBodyBytes: 1_048_576,
    sessionIdleMs: 600_000,
    pageSize: 100,
    rate: [
      { scope: "principal", limit: 600, windowSeconds: 60 },
      { scope: "tool", tools: ["crm.delete_*"], limit: 10, windowSeconds: 3600 },
    ],
  },
  hostnames: ["mcp.acme.example"],
  policy: {
    defaultEffect: "deny",
    rules: [
      {
        id: "sales-crm",
        effect: "allow",
        principals: { subjects: ["user:*"], roles: ["sales"], scopes: ["crm"] },
        items: { kinds: ["tool", "resource"], backends: ["crm"], names: ["*"] },
        when: "principal.sub != ''",
        requireScopes: ["crm.write"],
        requireApproval: { approvers: ["crm-admin"], ttlSeconds: 1800, confirmWith: "page" },
      },
      { id: "no-deletes", effect: "deny", items: { names: ["delete_*"] } },
    ],
    pinning: "quarantine",
    redact: [{ pattern: "\\b\\d{16}\\b", replacement: "[CARD]" }, { pattern: "secret" }],
    audit: { arguments: true, results: false, export: { url: "https://siem.acme.example/collect", secretHeaders: { authorization: "SIEM_TOKEN" } } },
  },
  auth: {
    jwt: { issuer: "https://login.acme.example", audience: "https://mcp.acme.example/mcp", jwks: { keys: [JWK] }, algorithms: ["ES256", "EdDSA"] },
    anonymous: false,
    apiKeys: [{ id: "ci-bot", sha256: "a".repeat(64), sub: "bot:ci", roles: ["ci"], scopes: ["crm"] }],
    requiredScopes: ["mcp"],
    oauth: {
      idp: { issuer: "https://login.acme.example", clientId: "mcp-gateway", clientSecret: "ACME_IDP_SECRET", scopes: ["openid", "email"], rolesClaim: "realm_access.roles", subjectClaim: "email" },
      scopes: ["mcp", "crm"],
      clientIdMetadataDocuments: true,
      dynamicRegistration: true,
      clients: [{ clientId: "acme-cli", clientName: "Acme CLI", redirectUris: ["http://127.0.0.1/callback"], clientSecretSha256: "b".repeat(64) }],
      accessTokenTtlSeconds: 300,
      refreshTokenTtlSeconds: 86_400,
      keyRotationDays: 14,
    },
  },
};

/** The other way to name keys: a JWKS URL. */
const second: TenantInput = {
  id: "beta",
  backends: [{ name: "pets", transport: "openapi", spec: { openapi: "3.1.0", info: { title: "Pets", version: "1" }, paths: {} }, baseUrl: "https://pets.example" }],
  auth: { jwt: { issuer: "https://login.beta.example", audience: "https://gw.example/t/beta/mcp", jwksUrl: "https://login.beta.example/.well-known/jwks.json" }, anonymous: true },
};

const VALID: [string, unknown][] = [
  ["the demo tenant", demo],
  ["the full example", full],
  ["a JWKS URL tenant", second],
  ["only an id", { id: "x" }],
  // The audience then defaults to the tenant's canonical MCP URL (worker/auth/authenticate.ts).
  ["a JWT config without an audience", { id: "x", auth: { jwt: { issuer: "https://i.example", jwksUrl: "https://i.example/jwks.json" } } }],
  // Open by nature: any header name, and the members of a JWKS and its keys (RFC 7517 §4, §5).
  ["any header names", { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", headers: { "x-anything": "1" }, secretHeaders: { "x-other": "S" } }] }],
  ["a JWKS with members the gateway does not use", { id: "x", auth: { jwt: { issuer: "https://i.example", jwks: { keys: [{ ...JWK, x5t: "abc", ext: true }], cached_at: 1 } } } }],
];

/** Each of these is one mistake an editor should flag, and TenantSchema refuses too. */
const INVALID: [string, unknown][] = [
  ["not an object", "acme"],
  ["no id", { backends: [] }],
  ["an id that is a number", { id: 5 }],
  ["an id with capitals", { id: "Acme" }],
  ["version 0", { id: "x", version: 0 }],
  ["a fractional version", { id: "x", version: 1.5 }],
  ["backends as an object", { id: "x", backends: {} }],
  ["a backend without a name", { id: "x", backends: [{ url: "https://a.example/mcp" }] }],
  ["a backend name with '_'", { id: "x", backends: [{ name: "bad_name", url: "https://a.example/mcp" }] }],
  ["an unknown transport", { id: "x", backends: [{ name: "a", transport: "grpc", url: "https://a.example/mcp" }] }],
  ["a URL that is not one", { id: "x", backends: [{ name: "a", url: "not a url" }] }],
  ["a header name with a space", { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", headers: { "x bad": "1" } }] }],
  ["a header value that is a number", { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", headers: { "x-n": 1 } }] }],
  ["a secret header naming a lowercase secret", { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", secretHeaders: { "x-key": "key" } }] }],
  ["a timeout below 100 ms", { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", timeoutMs: 50 }] }],
  ["an unknown outbound auth type", { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", auth: { type: "basic" } }] }],
  [
    "client credentials without a secret",
    { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", auth: { type: "client_credentials", tokenUrl: "https://t.example", clientId: "c" } }] },
  ],
  [
    "token exchange without an audience",
    { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", auth: { type: "token_exchange", tokenUrl: "https://t.example", clientId: "c", clientSecret: "S" } }] },
  ],
  ["inject.meta as a string", { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", inject: { meta: "yes" } }] }],
  ["a four-character separator", { id: "x", naming: { separator: "____" } }],
  ["an unknown naming mode", { id: "x", naming: { mode: "sometimes" } }],
  ["an unknown resource naming mode", { id: "x", naming: { resources: "sometimes" } }],
  ["an unknown catalog mode", { id: "x", catalog: { mode: "lazy" } }],
  ["an alias over 64 characters", { id: "x", catalog: { curate: { a: { alias: "a".repeat(65) } } } }],
  ["an alias with a space", { id: "x", catalog: { curate: { a: { alias: "my tool" } } } }],
  ["an alias taking search mode's call_tool", { id: "x", catalog: { curate: { a: { alias: "call_tool" } } } }],
  ["an unknown failure mode", { id: "x", failureMode: "half" }],
  ["a body cap below 1 KiB", { id: "x", limits: { maxBodyBytes: 10 } }],
  ["a rate limit with an unknown scope", { id: "x", limits: { rate: [{ scope: "global", limit: 1, windowSeconds: 1 }] } }],
  ["a rate limit without a window", { id: "x", limits: { rate: [{ scope: "tenant", limit: 1 }] } }],
  ["an uppercase hostname", { id: "x", hostnames: ["MCP.example"] }],
  ["a rule with an unknown effect", { id: "x", policy: { rules: [{ id: "r", effect: "maybe" }] } }],
  ["a rule without an id", { id: "x", policy: { rules: [{ effect: "allow" }] } }],
  ["an unknown item kind", { id: "x", policy: { rules: [{ id: "r", effect: "allow", items: { kinds: ["template"] } }] } }],
  ["an empty glob", { id: "x", policy: { rules: [{ id: "r", effect: "allow", principals: { subjects: [""] } }] } }],
  ["an unknown pinning mode", { id: "x", policy: { pinning: "strict" } }],
  ["a redaction without a pattern", { id: "x", policy: { redact: [{ replacement: "x" }] } }],
  ["audit.arguments as a string", { id: "x", policy: { audit: { arguments: "true" } } }],
  ["an empty JWKS", { id: "x", auth: { jwt: { issuer: "https://i.example", audience: "a", jwks: { keys: [] } } } }],
  ["an unknown algorithm", { id: "x", auth: { jwt: { issuer: "https://i.example", audience: "a", algorithms: ["HS256"] } } }],
  ["anonymous as a string", { id: "x", auth: { anonymous: "yes" } }],
  ["an API key hash that is too short", { id: "x", auth: { apiKeys: [{ id: "k", sha256: "abc", sub: "s" }] } }],
  // Unknown keys, at every level that is not an open map: a typo must not leave a default in force.
  ["an unknown top-level key", { id: "x", comment: "hello" }],
  ["a misspelt failureMode", { id: "x", falureMode: "closed" }],
  ["a misspelt policy", { id: "x", polcy: { defaultEffect: "deny" } }],
  ["a '$schema' key (point the editor at the schema instead)", { $schema: "./docs/tenant.schema.json", id: "x" }],
  ["an unknown backend key", { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", timeout: 5 }] }],
  ["an OpenAPI spec that is a number", { id: "x", backends: [{ name: "a", transport: "openapi", spec: 3 }] }],
  ["an OpenAPI matcher with an unknown key", { id: "x", backends: [{ name: "a", transport: "openapi", spec: "https://a.example/o.json", operations: { exclude: [{ tags: "admin" }] } }] }],
  ["an OpenAPI matcher with an unknown method", { id: "x", backends: [{ name: "a", transport: "openapi", spec: "https://a.example/o.json", operations: { include: [{ method: "fetch" }] } }] }],
  [
    "an unknown key in outbound auth",
    { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", auth: { type: "client_credentials", tokenUrl: "https://t.example", clientId: "c", clientSecret: "S", scopes: "x" } }] },
  ],
  ["an unknown inject key", { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", inject: { header: true } }] }],
  ["an unknown naming key", { id: "x", naming: { seperator: "." } }],
  ["an unknown curation key", { id: "x", catalog: { curate: { a: { rename: "b" } } } }],
  ["an unknown limits key", { id: "x", limits: { maxBody: 1024 } }],
  ["an unknown rate limit key", { id: "x", limits: { rate: [{ scope: "tenant", limit: 1, windowSeconds: 1, burst: 2 }] } }],
  ["an unknown policy key", { id: "x", policy: { defaultEfect: "deny" } }],
  ["an unknown rule key", { id: "x", policy: { rules: [{ id: "r", effect: "deny", efect: "deny" }] } }],
  ["an unknown principals key", { id: "x", policy: { rules: [{ id: "r", effect: "allow", principals: { role: ["admin"] } }] } }],
  ["an unknown items key", { id: "x", policy: { rules: [{ id: "r", effect: "deny", items: { name: ["delete_*"] } }] } }],
  ["an unknown redaction key", { id: "x", policy: { redact: [{ pattern: "x", replace: "y" }] } }],
  ["an unknown audit key", { id: "x", policy: { audit: { argument: true } } }],
  ["an unknown auth key", { id: "x", auth: { anonymus: false } }],
  ["an unknown jwt key", { id: "x", auth: { jwt: { issuer: "https://i.example", jwksUrl: "https://i.example/jwks.json", audiance: "a" } } }],
  ["an unknown API key field", { id: "x", auth: { apiKeys: [{ id: "k", sha256: "a".repeat(64), sub: "s", role: "admin" }] } }],
];

// --- tests -----------------------------------------------------------------------------------

describe("docs/tenant.schema.json", () => {
  it("is exactly what `npm run schema` generates now", () => {
    // On failure: run `npm run schema` and commit docs/tenant.schema.json with the schema change.
    expect(committedText, "docs/tenant.schema.json is stale: run `npm run schema`").toBe(renderTenantJsonSchema());
  });

  it("generates the same text twice (stable output)", () => {
    expect(renderTenantJsonSchema()).toBe(renderTenantJsonSchema());
    expect(committedText.endsWith("}\n")).toBe(true);
  });

  it("is a draft 2020-12 object schema with TenantSchema's fields, requiring only what has no default", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.type).toBe("object");
    const fields = Object.keys(TenantSchema.shape);
    expect(Object.keys(schema.properties as Schema).sort()).toEqual([...fields].sort());
    const required = fields.filter((name) => !TenantSchema.shape[name as keyof typeof TenantSchema.shape].safeParse(undefined).success);
    expect((schema.required as string[]).sort()).toEqual(required.sort());
    expect(required).toEqual(["id"]);
  });

  it("is covered by the examples: the full example sets every property the schema has", () => {
    const set = new Set<string>();
    for (const doc of [full, second]) for (const path of documentPaths(schema, doc)) set.add(path);
    const missing = [...new Set(schemaPaths(schema))].filter((path) => !set.has(path));
    expect(missing, "add these fields to the full example in this file").toEqual([]);
  });
});

describe("the JSON Schema and TenantSchema agree", () => {
  it.each(VALID)("both accept %s", (_, doc) => {
    expect(check(schema, doc)).toEqual([]);
    expect(TenantSchema.safeParse(doc).success).toBe(true);
  });

  it("the demo and full examples also pass the admin API's own checks", () => {
    for (const doc of [demo, full, second]) {
      const parsed = parseTenant(doc);
      expect(parsed.ok, parsed.ok ? "" : parsed.error).toBe(true);
    }
  });

  it.each(INVALID)("both refuse %s", (_, doc) => {
    expect(check(schema, doc)).not.toEqual([]);
    expect(TenantSchema.safeParse(doc).success).toBe(false);
  });

  it("documents what it cannot express: a backend's url or service depends on its transport", () => {
    // Said in the schema's description; the admin API refuses these with a named field.
    const withoutUrl = { id: "x", backends: [{ name: "a" }] };
    const serviceWithoutBinding = { id: "x", backends: [{ name: "a", transport: "service" }] };
    const tunnelWithUrl = { id: "x", backends: [{ name: "a", transport: "tunnel", url: "https://a.example/mcp" }] };
    const openapiWithoutSpec = { id: "x", backends: [{ name: "a", transport: "openapi" }] };
    const specOnHttpBackend = { id: "x", backends: [{ name: "a", url: "https://a.example/mcp", spec: "https://a.example/o.json" }] };
    const emptyMatcher = { id: "x", backends: [{ name: "a", transport: "openapi", spec: "https://a.example/o.json", operations: { exclude: [{}] } }] };
    for (const doc of [withoutUrl, serviceWithoutBinding, tunnelWithUrl, openapiWithoutSpec, specOnHttpBackend, emptyMatcher]) {
      expect(check(schema, doc)).toEqual([]);
      expect(TenantSchema.safeParse(doc).success).toBe(false);
    }
    expect(schema.description).toContain("a backend needs `url` unless its transport is 'service' (then `service`), 'tunnel' (then no `url`) or 'openapi' (then `spec`)");
  });
});
