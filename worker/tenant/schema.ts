/**
 * A tenant's configuration: one versioned JSON document in KV (key `tenant:<id>`), parsed with
 * this schema at every boundary (admin API writes, KV reads). Errors name the offending field.
 *
 * Every object is strict (`z.strictObject`): a key the schema does not know is refused, not
 * dropped, so a misspelt security setting (`"polcy"`, `"falureMode"`) cannot silently leave its
 * default in force. What stays open is what is open by nature: header maps (any header name) and
 * the JWKS an identity provider publishes (RFC 7517 §4 and §5: members a reader does not
 * understand are ignored). Documents the gateway stored itself are read tolerantly
 * (`parseStoredTenant`).
 */
import { z } from "zod";
import { validatePolicy } from "../policy/engine.ts";
import { Glob, PolicySchema } from "../policy/schema.ts";
import { CatalogSchema, DEFAULT_CATALOG } from "./catalog.ts";
import { OPENAPI_FIELDS, checkOpenApiFields } from "./openapi.ts";

/** Backend names become name prefixes, so they are short and cannot contain a separator. */
export const BACKEND_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/** Default per-backend timeout: long enough for slow tools, short enough to free the session. */
export const DEFAULT_BACKEND_TIMEOUT_MS = 30_000;
/** Default request body cap: large tool arguments fit, a runaway upload does not. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Default page size of merged lists: most clients read one page, so pages are generous. */
export const DEFAULT_PAGE_SIZE = 500;
/** Default idle time after which a session expires and its upstream sessions are closed. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60 * 1000;

const HeaderName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be an HTTP header name");

const SecretName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, "must be a Worker secret name such as CRM_CLIENT_SECRET");

/**
 * Outbound credentials from Worker secrets:
 * - client_credentials: OAuth 2.1 client credentials grant at `tokenUrl`; token cached until expiry.
 * - token_exchange: RFC 8693, exchanging the client's token at `tokenUrl` for one meant for this
 *   backend (`audience`), so the backend sees the principal without ever seeing the client's token.
 */
export const OutboundAuthSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("client_credentials"),
    tokenUrl: z.url({ protocol: /^https?$/ }),
    clientId: z.string().min(1),
    clientSecret: SecretName,
    scope: z.string().optional(),
    audience: z.string().optional(),
  }),
  z.strictObject({
    type: z.literal("token_exchange"),
    tokenUrl: z.url({ protocol: /^https?$/ }),
    clientId: z.string().min(1),
    clientSecret: SecretName,
    audience: z.string().min(1),
    scope: z.string().optional(),
  }),
  /**
   * Each user's own grant at the backend (docs/connections.md): the gateway is the OAuth client
   * of the backend's authorization server, found by `issuer` (RFC 8414 / OpenID discovery), by
   * its two endpoints, or, with neither, from the backend's RFC 9728 metadata.
   */
  z.strictObject({
    type: z.literal("user_oauth"),
    issuer: z.url({ protocol: /^https?$/ }).optional(),
    authorizationUrl: z.url({ protocol: /^https?$/ }).optional(),
    tokenUrl: z.url({ protocol: /^https?$/ }).optional(),
    clientId: z.string().min(1),
    /** A confidential client's secret (a Worker secret's name); without one the gateway is a public client using PKCE. */
    clientSecret: SecretName.optional(),
    scopes: z.array(z.string().min(1)).max(50).default([]),
  }),
]);
export type OutboundAuth = z.infer<typeof OutboundAuthSchema>;
/** The service-to-service kinds: the gateway's own credential, one per backend. */
export type ServiceAuth = Exclude<OutboundAuth, { type: "user_oauth" }>;
export type UserOAuth = Extract<OutboundAuth, { type: "user_oauth" }>;

/** The URL a tunnel backend is stored with: never fetched (worker/upstream/tunnel.ts sends its requests to the TunnelObject). */
export const TUNNEL_PLACEHOLDER_URL = "https://tunnel.internal/mcp";

export const BackendSchema = z
  .strictObject({
    name: z.string().regex(BACKEND_NAME_PATTERN, "must be 1-32 of a-z, 0-9 and '-', starting and ending alphanumeric"),
    /**
     * streamable-http: MCP 2025-03-26+ Streamable HTTP; sse: the 2024-11-05 HTTP+SSE transport;
     * service: another Worker reached through a service binding named by `service`; tunnel: a
     * server that is not on the internet (a stdio program, a private URL), reached through the
     * outbound WebSocket of a connector (`npm run connect`; docs/tunnels.md);
     * openapi: a REST API described by `spec`, its operations served as tools by the gateway (docs/openapi.md).
     */
    transport: z.enum(["streamable-http", "sse", "service", "tunnel", "openapi"]).default("streamable-http"),
    url: z.url({ protocol: /^https?$/ }).optional(),
    service: z.string().regex(/^[A-Z][A-Z0-9_]*$/, "must be a binding name such as BACKEND_NOTES").optional(),
    /** openapi: spec, baseUrl, operations, secretQuery (tenant/openapi.ts, docs/openapi.md). */
    ...OPENAPI_FIELDS,
    /** Static headers sent to this backend on every request. */
    headers: z.record(HeaderName, z.string()).default({}),
    /** Headers whose values come from Worker secrets: header name -> secret (env var) name. */
    secretHeaders: z.record(HeaderName, z.string().regex(/^[A-Z][A-Z0-9_]*$/)).default({}),
    timeoutMs: z.number().int().min(100).max(600_000).default(DEFAULT_BACKEND_TIMEOUT_MS),
    /**
     * Which protocol era the backend speaks: detected once per upstream session by default
     * (`server/discover`, else `initialize`), or fixed to skip the probe.
     */
    era: z.enum(["auto", "legacy", "modern"]).default("auto"),
    /** How the gateway authenticates itself to this backend (never with the client's token). */
    auth: OutboundAuthSchema.optional(),
    /** Context the gateway adds to every request to this backend. */
    inject: z
      .strictObject({
        /** `x-mcp-tenant`, `x-mcp-principal`, `x-request-id` and W3C `traceparent` headers. */
        headers: z.boolean().default(false),
        /** The same facts under `_meta["io.edge-mcp-gateway/context"]` of each request. */
        meta: z.boolean().default(false),
      })
      .default({ headers: false, meta: false }),
  })
  .superRefine((backend, ctx) => {
    if (backend.transport === "service" && backend.service === undefined) {
      ctx.addIssue({ code: "custom", path: ["service"], message: "required when transport is 'service'" });
    }
    if (backend.transport !== "service" && backend.transport !== "tunnel" && backend.transport !== "openapi" && backend.url === undefined) {
      ctx.addIssue({ code: "custom", path: ["url"], message: "required for http backends" });
    }
    // The connector knows where the server is; a URL here would suggest the gateway reaches it.
    // The placeholder the gateway stores itself is accepted, so a document read back can be written back.
    if (backend.transport === "tunnel" && backend.url !== undefined && backend.url !== TUNNEL_PLACEHOLDER_URL) {
      ctx.addIssue({ code: "custom", path: ["url"], message: "not allowed when transport is 'tunnel' (the connector names the server)" });
    }
    checkOpenApiFields(backend, ctx);
  })
  // For a service binding the URL only names the path inside the bound Worker; the host is ignored.
  // A tunnel's URL is never fetched: it only names the backend for the era memo and logs.
  // An OpenAPI backend's URL is where it is (for the era memo and the destinations check): its
  // base URL, else its spec's URL.
  .transform((backend) =>
    backend.transport === "openapi"
      ? { ...backend, era: "legacy" as const, url: backend.baseUrl ?? (typeof backend.spec === "string" ? backend.spec : (backend.url ?? "https://openapi.internal/")) }
      : { ...backend, url: backend.url ?? (backend.transport === "tunnel" ? TUNNEL_PLACEHOLDER_URL : "https://service.internal/mcp") },
  );
export type BackendConfig = z.infer<typeof BackendSchema>;

export const NamingSchema = z.strictObject({
  /**
   * always: every tool, prompt and template name gets `<backend><separator>`;
   * on-collision: only names two backends share; never: names pass through (collisions refused).
   */
  mode: z.enum(["always", "on-collision", "never"]).default("always"),
  /** Characters allowed in MCP tool names (2025-11-25 server/tools "Tool Names"). */
  separator: z.string().regex(/^[A-Za-z0-9_.-]{1,3}$/).default("__"),
  /**
   * Resource and template URIs (docs/resources.md): the backend's name after the scheme, e.g.
   * file:///a -> file://notes__/a; on-collision: only URIs more than one backend lists; never:
   * URIs pass through and the first backend in config order keeps a shared one.
   */
  resources: z.enum(["always", "on-collision", "never"]).default("on-collision"),
});
export type NamingConfig = z.infer<typeof NamingSchema>;

export const JwtAuthSchema = z.strictObject({
  issuer: z.string().min(1),
  /**
   * The `aud` tokens must carry. Omitted, it is the tenant's canonical MCP URL as the client
   * called it (`https://<host>/t/<id>/mcp` or `https://<tenant hostname>/mcp`), as MCP 2025-11-25
   * basic/authorization asks (RFC 8707 resource indicators).
   */
  audience: z.string().min(1).optional(),
  /**
   * Inline public keys (a JWKS document, pasted as the identity provider publishes it): the set
   * and each key stay open, as RFC 7517 §4 and §5 ask (unknown members are ignored; the set's are
   * dropped, each key's go to jose as they are). A misspelt `keys` still fails: it is required.
   */
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
  /** Or a JWKS URL, fetched with a size and time limit, cached, refetch throttled. */
  jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
  algorithms: z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"])).default(["ES256", "RS256", "EdDSA"]),
});

/**
 * The gateway as the OAuth 2.1 authorization server of the tenant's MCP endpoint (MCP 2025-11-25
 * basic/authorization; docs/oauth.md), with user login federated to the tenant's OpenID Connect
 * provider. Clients arrive by Client ID Metadata Document, dynamic registration (RFC 7591) when
 * enabled, or pre-registration; the tokens it issues are checked like any other credential.
 */
/** RFC 6749 §3.3 scope-token. */
const OAuthScope = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "must be an RFC 6749 scope token");

export const OAuthIdpSchema = z.strictObject({
  /** The OpenID provider's issuer; its metadata is read from `<issuer>/.well-known/openid-configuration`. */
  issuer: z.url({ protocol: /^https?$/ }),
  clientId: z.string().min(1),
  /** The name of the Worker secret holding the client secret (`wrangler secret put NAME`). */
  clientSecret: SecretName,
  scopes: z.array(OAuthScope).min(1).default(["openid", "profile", "email"]),
  /** The ID token claim holding the user's roles: a claim name, or a dotted path such as `realm_access.roles`. */
  rolesClaim: z.string().min(1).default("roles"),
  /** The ID token claim that becomes the principal's subject. */
  subjectClaim: z.string().min(1).default("sub"),
});

export const OAuthClientSchema = z.strictObject({
  clientId: z.string().regex(/^[A-Za-z0-9._~:-]{1,128}$/, "must be 1-128 of A-Z, a-z, 0-9 and . _ ~ : -"),
  clientName: z.string().min(1).max(100),
  redirectUris: z.array(z.url()).min(1).max(10),
  /** SHA-256 (hex) of the client secret for a confidential client; absent, a public client (PKCE only). */
  clientSecretSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});
export type OAuthClientConfig = z.infer<typeof OAuthClientSchema>;

export const OAuthServerSchema = z.strictObject({
  idp: OAuthIdpSchema,
  /** Scopes clients may be granted; a request naming another is refused (invalid_scope). */
  scopes: z.array(OAuthScope).min(1).max(50).default(["mcp"]),
  /** Clients identified by an https URL whose document describes them (CIMD). */
  clientIdMetadataDocuments: z.boolean().default(true),
  /** RFC 7591 dynamic client registration (public clients only). */
  dynamicRegistration: z.boolean().default(false),
  clients: z.array(OAuthClientSchema).max(100).default([]),
  accessTokenTtlSeconds: z.number().int().min(60).max(3600).default(600),
  refreshTokenTtlSeconds: z.number().int().min(300).max(90 * 86_400).default(30 * 86_400),
  /** A new signing key every so many days; the previous one stays published until its tokens expire. */
  keyRotationDays: z.number().int().min(1).max(365).default(30),
});
export type OAuthServerConfig = z.infer<typeof OAuthServerSchema>;

export const ApiKeySchema = z.strictObject({
  /** Public identifier shown in logs and audit rows (never the key). */
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  /** SHA-256 of the key, lowercase hex: keys are stored only as hashes. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sub: z.string().min(1),
  roles: z.array(z.string()).default([]),
  scopes: z.array(z.string()).default([]),
});

/** Exact counters (Durable Objects); a request over any limit is answered 429 with Retry-After. */
export const RateLimitSchema = z.strictObject({
  scope: z.enum(["tenant", "principal", "tool"]),
  /** With scope "tool": the exposed tool names (globs) this limit counts; all tools when omitted. */
  tools: z.array(Glob).optional(),
  limit: z.number().int().min(1),
  windowSeconds: z.number().int().min(1).max(86_400),
});
export type RateLimit = z.infer<typeof RateLimitSchema>;

export const TenantSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/),
  /** Bumped by every admin write; sessions compare it to drop caches built on an older config. */
  version: z.number().int().min(1).default(1),
  backends: z.array(BackendSchema).max(64).default([]),
  naming: NamingSchema.default({ mode: "always", separator: "__", resources: "on-collision" }),
  /** How tools are offered: all listed, or found by search; aliases and overrides (tenant/catalog.ts). */
  catalog: CatalogSchema.default(DEFAULT_CATALOG),
  /** open: a failing backend's items are left out; closed: any failing backend fails the request. */
  failureMode: z.enum(["open", "closed"]).default("open"),
  /** Browser origins allowed to call this tenant (exact `scheme://host[:port]`). */
  allowedOrigins: z.array(z.string()).default([]),
  limits: z
    .strictObject({
      maxBodyBytes: z.number().int().min(1024).max(32 * 1024 * 1024).default(DEFAULT_MAX_BODY_BYTES),
      sessionIdleMs: z.number().int().min(1000).max(7 * 24 * 3600 * 1000).default(DEFAULT_SESSION_IDLE_MS),
      pageSize: z.number().int().min(1).max(10_000).default(DEFAULT_PAGE_SIZE),
      rate: z.array(RateLimitSchema).max(20).default([]),
    })
    .default({ maxBodyBytes: DEFAULT_MAX_BODY_BYTES, sessionIdleMs: DEFAULT_SESSION_IDLE_MS, pageSize: DEFAULT_PAGE_SIZE, rate: [] }),
  /** Hostnames that reach this tenant at `/mcp` (besides `/t/<id>/mcp` on any gateway host). */
  hostnames: z.array(z.string().regex(/^[a-z0-9.-]+$/, "must be a lowercase hostname")).max(20).default([]),
  policy: PolicySchema.default({ defaultEffect: "allow", rules: [], pinning: "flag", redact: [], audit: { arguments: false, results: false } }),
  auth: z
    .strictObject({
      jwt: JwtAuthSchema.optional(),
      /** The gateway's own authorization server for this tenant (docs/oauth.md). */
      oauth: OAuthServerSchema.optional(),
      /**
       * Lets requests without credentials in as the principal "anonymous". Off by default; meant
       * for public demo tenants and conformance runs, never for tenants with private backends.
       */
      anonymous: z.boolean().default(false),
      /** API keys, presented as `X-API-Key`, stored only as SHA-256 hashes. */
      apiKeys: z.array(ApiKeySchema).max(1000).default([]),
      /** Scopes every request must carry (403 insufficient_scope otherwise). */
      requiredScopes: z.array(z.string()).default([]),
    })
    .default({ anonymous: false, apiKeys: [], requiredScopes: [] }),
}).superRefine((tenant, ctx) => {
  // Approvers sign in at the tenant's IdP, through its authorization server (docs/approvals.md).
  tenant.policy.rules.forEach((rule, i) => {
    if (rule.requireApproval && !tenant.auth.oauth) {
      ctx.addIssue({ code: "custom", path: ["policy", "rules", i, "requireApproval"], message: "needs auth.oauth: approvers sign in at the tenant's identity provider" });
    }
  });
});
export type TenantConfig = z.infer<typeof TenantSchema>;
export type TenantInput = z.input<typeof TenantSchema>;

export type ParsedTenant = { ok: true; tenant: TenantConfig } | { ok: false; error: string };

/**
 * Parses a tenant document as an admin writes it, returning the first problem as `path: message`.
 * Strict: a key the schema does not know, at any depth, is refused with its path.
 */
export function parseTenant(value: unknown): ParsedTenant {
  return checked(TenantSchema.safeParse(value));
}

/**
 * Parses a tenant document the gateway stored itself (KV), tolerating keys the schema does not
 * know: they are left out and listed in `ignored` (as paths) for the caller to log. Every other
 * problem still refuses the document.
 *
 * Why tolerant here and strict on writes: strictness is there to catch an admin's typo at the
 * moment it is made, when the admin can fix it. A stored document was accepted when it was
 * written, so an unknown key in it is not a typo but a version skew: a field a later version
 * removed, or one a newer version added before a rollback. Refused, such a document would leave
 * the tenant unreadable from KV (store.ts logs it as invalid and falls back to the Durable
 * Object's copy, which is not parsed at all) over a key this version cannot act on anyway;
 * dropped, it loads as every document did before the schema was strict, and the keys are logged.
 * The keys are found by the strict schema itself (zod's `unrecognized_keys` issues), not by a
 * second list of fields.
 */
export function parseStoredTenant(value: unknown): { ok: true; tenant: TenantConfig; ignored: string[] } | { ok: false; error: string } {
  const parsed = TenantSchema.safeParse(value);
  if (parsed.success) return withIgnored(checked(parsed), []);
  const issues = parsed.error.issues;
  const unknownKeys = issues.filter((issue) => issue.code === "unrecognized_keys");
  const others = issues.filter((issue) => issue.code !== "unrecognized_keys");
  // The problem that refuses the document is named, not a key that would only have been ignored.
  if (others.length > 0) return { ok: false, error: describeIssue(others) };
  const pruned = structuredClone(value);
  const ignored: string[] = [];
  for (const issue of unknownKeys) {
    // The issue's path leads to the object holding the keys, in the document as given.
    const holder = issue.path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown>)[key], pruned) as Record<string, unknown>;
    for (const key of issue.keys) {
      delete holder[key];
      ignored.push(formatPath([...issue.path, key]));
    }
  }
  return withIgnored(checked(TenantSchema.safeParse(pruned)), ignored);
}

function withIgnored(parsed: ParsedTenant, ignored: string[]): { ok: true; tenant: TenantConfig; ignored: string[] } | { ok: false; error: string } {
  return parsed.ok ? { ...parsed, ignored } : parsed;
}

/** The checks zod cannot express, after a successful parse; or the first issue of a failed one. */
function checked(parsed: z.ZodSafeParseResult<TenantConfig>): ParsedTenant {
  if (parsed.success) {
    const names = new Set<string>();
    for (const [i, backend] of parsed.data.backends.entries()) {
      if (names.has(backend.name)) return { ok: false, error: `backends.${i}.name: duplicate backend name '${backend.name}'` };
      if (backend.name.includes(parsed.data.naming.separator)) {
        return { ok: false, error: `backends.${i}.name: must not contain the naming separator` };
      }
      names.add(backend.name);
    }
    // Exposed names are `<backend><separator><name>`. With a separator that overlaps itself
    // (say "aa"), backends "x" and "xa" could expose one name for two tools ("x"+"aa"+"ab" and
    // "xa"+"aa"+"b"), so one would shadow the other. That happens exactly when one backend's
    // name followed by the separator starts with another's followed by the separator.
    const sep = parsed.data.naming.separator;
    for (const [i, backend] of parsed.data.backends.entries()) {
      for (const other of parsed.data.backends) {
        if (other.name.length < backend.name.length && `${backend.name}${sep}`.startsWith(`${other.name}${sep}`)) {
          return { ok: false, error: `backends.${i}.name: '${backend.name}' and '${other.name}' would share exposed names with separator '${sep}'` };
        }
      }
    }
    const policyError = validatePolicy(parsed.data.policy);
    if (policyError) return { ok: false, error: policyError };
    return { ok: true, tenant: parsed.data };
  }
  return { ok: false, error: describeIssue(parsed.error.issues) };
}

/** One issue as `path: message`, the path joined with dots (`backends.0.url`), as every admin error is. */
function describeIssue(issues: readonly z.core.$ZodIssue[]): string {
  // A misspelt key usually also leaves the real one missing ("efect" for "effect"); the
  // misspelling is the cause, so an unknown key is reported before anything else.
  const issue = issues.find((i) => i.code === "unrecognized_keys") ?? issues[0];
  if (issue?.code === "unrecognized_keys") {
    // zod's issue points at the object holding the keys and lists them; the answer names the key.
    const [key, ...others] = issue.keys;
    const more = others.length > 0 ? ` (and ${others.map((k) => `'${k}'`).join(", ")})` : "";
    return `${formatPath([...issue.path, key!])}: unknown key${more}`;
  }
  // A bad record key (a header name) reports "Invalid key in record"; the reason is inside.
  const inner = issue?.code === "invalid_key" ? issue.issues[0] : undefined;
  return `${formatPath(issue?.path ?? [])}: ${inner?.message ?? issue?.message ?? "invalid"}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length > 0 ? path.map(String).join(".") : "document";
}
