/**
 * The tenant's policy document (part of the tenant document, worker/tenant/schema.ts): rules
 * over principals, items and conditions, pinning, redaction and what the audit keeps. Strict
 * like the rest of the tenant document: an unknown key is refused with its path, because a typo
 * in a security setting must never weaken it.
 */
import { z } from "zod";

/** A glob over names, subjects or backends (policy/engine.ts globToRegExp). */
export const Glob = z.string().min(1).max(200);

/**
 * One policy rule. A rule matches when every part it names matches (principal, item, condition).
 * Decision: any matching deny wins; else any matching allow allows; else `defaultEffect`.
 */
export const PolicyRuleSchema = z.strictObject({
  id: z.string().min(1).max(100),
  effect: z.enum(["allow", "deny"]),
  /** Who: any of the subjects (globs), roles or scopes listed; omitted means everyone. */
  principals: z
    .strictObject({
      subjects: z.array(Glob).optional(),
      roles: z.array(z.string()).optional(),
      scopes: z.array(z.string()).optional(),
    })
    .optional(),
  /** What: kinds, backends and names (globs over the backend's own names; URIs for resources). */
  items: z
    .strictObject({
      kinds: z.array(z.enum(["tool", "prompt", "resource"])).optional(),
      backends: z.array(Glob).optional(),
      names: z.array(Glob).optional(),
    })
    .optional(),
  /**
   * A CEL expression over `args` (the call's arguments), `principal` ({sub, roles, scopes}),
   * `tenant`, `backend`, `name`; the rule applies only when it is true. Rules with a condition
   * decide calls, not visibility in lists.
   */
  when: z.string().min(1).max(2000).optional(),
  /** Scopes the principal must hold for a matching allow to apply; missing ones answer 403 insufficient_scope. */
  requireScopes: z.array(z.string()).optional(),
  /**
   * A tool call this allow decides waits for a person's yes (docs/approvals.md): someone with one
   * of `approvers` (roles at the tenant's IdP) other than the caller, or, with none listed, the
   * caller themself, approves it at a URL the client is given (error -32042, URL elicitation).
   * A caller's own confirmation (no approvers) is asked in the client by form-mode elicitation
   * when the client takes it and `confirmWith` is "elicitation" (the default); "page" always
   * sends the caller to the approval page, where the IdP login proves it is the person and not
   * the agent who says yes.
   * An approval is for this principal, tool, exact arguments and policy version, once, within
   * `ttlSeconds`. Needs `auth.oauth` (approvers sign in at the tenant's IdP).
   */
  requireApproval: z
    .strictObject({
      approvers: z.array(z.string().min(1).max(100)).max(20).default([]),
      ttlSeconds: z.number().int().min(60).max(86_400).default(900),
      confirmWith: z.enum(["elicitation", "page"]).default("elicitation"),
    })
    .optional(),
});
export type PolicyRule = z.infer<typeof PolicyRuleSchema>;

export const PolicySchema = z.strictObject({
  defaultEffect: z.enum(["allow", "deny"]).default("allow"),
  rules: z.array(PolicyRuleSchema).max(500).default([]),
  /**
   * Tool definition pinning: off; flag (a changed definition is recorded and reported); or
   * quarantine (a changed definition is hidden until an admin approves it).
   */
  pinning: z.enum(["off", "flag", "quarantine"]).default("flag"),
  /** Patterns (JavaScript regular expressions) replaced in tool results and resource contents. */
  redact: z
    .array(z.strictObject({ pattern: z.string().min(1).max(500), replacement: z.string().max(100).default("[REDACTED]") }))
    .max(50)
    .default([]),
  /** What the audit trail may keep beyond the decision itself. */
  audit: z
    .strictObject({
      arguments: z.boolean().default(false),
      results: z.boolean().default(false),
      /**
       * Where rows also go, in batches through a Cloudflare Queue (worker/audit/export.ts): an
       * HTTP sink such as a SIEM's collector, with headers whose values come from Worker secrets.
       */
      export: z
        .strictObject({
          url: z.url({ protocol: /^https?$/ }),
          secretHeaders: z
            .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "must be a header name"), z.string().regex(/^[A-Z][A-Z0-9_]*$/, "must be a Worker secret name"))
            .default({}),
        })
        .optional(),
    })
    .default({ arguments: false, results: false }),
});
export type Policy = z.infer<typeof PolicySchema>;

