/**
 * A tenant's configuration: one versioned JSON document in KV (key `tenant:<id>`), parsed with
 * this schema at every boundary (admin API writes, KV reads). Errors name the offending field.
 */
import { z } from "zod";

/** Backend names become name prefixes, so they are short and cannot contain a separator. */
export const BACKEND_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/** Default per-backend timeout: long enough for slow tools, short enough to free the session. */
export const DEFAULT_BACKEND_TIMEOUT_MS = 30_000;
/** Default request body cap (issue 3): large tool arguments fit, a runaway upload does not. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Default page size of merged lists: most clients read one page, so pages are generous. */
export const DEFAULT_PAGE_SIZE = 500;
/** Default idle time after which a session expires and its upstream sessions are closed. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60 * 1000;

const HeaderName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be an HTTP header name");

export const BackendSchema = z
  .object({
    name: z.string().regex(BACKEND_NAME_PATTERN, "must be 1-32 of a-z, 0-9 and '-', starting and ending alphanumeric"),
    /**
     * streamable-http: MCP 2025-03-26+ Streamable HTTP; sse: the 2024-11-05 HTTP+SSE transport;
     * service: another Worker reached through a service binding named by `service`.
     */
    transport: z.enum(["streamable-http", "sse", "service"]).default("streamable-http"),
    url: z.url({ protocol: /^https?$/ }).optional(),
    service: z.string().regex(/^[A-Z][A-Z0-9_]*$/, "must be a binding name such as BACKEND_NOTES").optional(),
    /** Static headers sent to this backend on every request. */
    headers: z.record(HeaderName, z.string()).default({}),
    /** Headers whose values come from Worker secrets: header name -> secret (env var) name. */
    secretHeaders: z.record(HeaderName, z.string().regex(/^[A-Z][A-Z0-9_]*$/)).default({}),
    timeoutMs: z.number().int().min(100).max(600_000).default(DEFAULT_BACKEND_TIMEOUT_MS),
  })
  .superRefine((backend, ctx) => {
    if (backend.transport === "service" && backend.service === undefined) {
      ctx.addIssue({ code: "custom", path: ["service"], message: "required when transport is 'service'" });
    }
    if (backend.transport !== "service" && backend.url === undefined) {
      ctx.addIssue({ code: "custom", path: ["url"], message: "required for http backends" });
    }
  })
  // For a service binding the URL only names the path inside the bound Worker; the host is ignored.
  .transform((backend) => ({ ...backend, url: backend.url ?? "https://service.internal/mcp" }));
export type BackendConfig = z.infer<typeof BackendSchema>;

export const NamingSchema = z.object({
  /**
   * always: every tool, prompt and template name gets `<backend><separator>`;
   * on-collision: only names two backends share; never: names pass through (collisions refused).
   */
  mode: z.enum(["always", "on-collision", "never"]).default("always"),
  /** Characters allowed in MCP tool names (2025-11-25 server/tools "Tool Names"). */
  separator: z.string().regex(/^[A-Za-z0-9_.-]{1,3}$/).default("__"),
});
export type NamingConfig = z.infer<typeof NamingSchema>;

export const JwtAuthSchema = z.object({
  issuer: z.string().min(1),
  audience: z.string().min(1),
  /** Inline public keys (a JWKS document). */
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
  algorithms: z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"])).default(["ES256", "RS256", "EdDSA"]),
});

export const TenantSchema = z.object({
  id: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/),
  /** Bumped by every admin write; sessions compare it to drop caches built on an older config. */
  version: z.number().int().min(1).default(1),
  backends: z.array(BackendSchema).max(64).default([]),
  naming: NamingSchema.default({ mode: "always", separator: "__" }),
  /** open: a failing backend's items are left out; closed: any failing backend fails the request. */
  failureMode: z.enum(["open", "closed"]).default("open"),
  /** Browser origins allowed to call this tenant (exact `scheme://host[:port]`). */
  allowedOrigins: z.array(z.string()).default([]),
  limits: z
    .object({
      maxBodyBytes: z.number().int().min(1024).max(32 * 1024 * 1024).default(DEFAULT_MAX_BODY_BYTES),
      sessionIdleMs: z.number().int().min(1000).max(7 * 24 * 3600 * 1000).default(DEFAULT_SESSION_IDLE_MS),
      pageSize: z.number().int().min(1).max(10_000).default(DEFAULT_PAGE_SIZE),
    })
    .default({ maxBodyBytes: DEFAULT_MAX_BODY_BYTES, sessionIdleMs: DEFAULT_SESSION_IDLE_MS, pageSize: DEFAULT_PAGE_SIZE }),
  auth: z
    .object({
      jwt: JwtAuthSchema.optional(),
      /**
       * Lets requests without credentials in as the principal "anonymous". Off by default; meant
       * for public demo tenants and conformance runs, never for tenants with private backends.
       */
      anonymous: z.boolean().default(false),
    })
    .default({ anonymous: false }),
});
export type TenantConfig = z.infer<typeof TenantSchema>;
export type TenantInput = z.input<typeof TenantSchema>;

/** Parses a tenant document, returning the first problem as `path: message`. */
export function parseTenant(value: unknown): { ok: true; tenant: TenantConfig } | { ok: false; error: string } {
  const parsed = TenantSchema.safeParse(value);
  if (parsed.success) {
    const names = new Set<string>();
    for (const [i, backend] of parsed.data.backends.entries()) {
      if (names.has(backend.name)) return { ok: false, error: `backends.${i}.name: duplicate backend name '${backend.name}'` };
      if (backend.name.includes(parsed.data.naming.separator)) {
        return { ok: false, error: `backends.${i}.name: must not contain the naming separator` };
      }
      names.add(backend.name);
    }
    return { ok: true, tenant: parsed.data };
  }
  const issue = parsed.error.issues[0];
  const path = issue && issue.path.length > 0 ? issue.path.join(".") : "document";
  return { ok: false, error: `${path}: ${issue?.message ?? "invalid"}` };
}
