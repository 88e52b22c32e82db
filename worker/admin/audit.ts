/**
 * `GET /admin/tenants/:id/audit`: a tenant's audit trail, newest first, under the admin API's
 * bearer token (mounted by admin/routes.ts after its auth middleware).
 *
 * Query parameters, each at most once: principal, sessionId, method, decision (allow | deny),
 * outcome, backend, item, agent, credential, traceId (exact matches); since (inclusive) and until (exclusive), Unix ms;
 * limit (1..1000, default 100); cursor (the `nextCursor` of the previous page). Anything else, or
 * a bad value, is a 400 whose `error` names the parameter. The answer is `{ events, nextCursor }`.
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.ts";
import { decodeAuditCursor, DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT, queryAudit, type AuditFilters } from "../audit/query.ts";

const Text = z.string().min(1, "must not be empty").max(512, "must be at most 512 characters");

const UnixMs = z
  .string()
  .regex(/^\d{1,16}$/, "must be a time in Unix milliseconds")
  .transform(Number)
  .refine(Number.isSafeInteger, "must be a time in Unix milliseconds");

const AuditQuerySchema = z.strictObject({
  principal: Text.optional(),
  sessionId: Text.optional(),
  method: Text.optional(),
  decision: z.enum(["allow", "deny"], "must be allow or deny").optional(),
  outcome: z
    .enum(["ok", "error", "denied", "timeout", "rate_limited", "cancelled", "approval_required"], "must be ok, error, denied, timeout, rate_limited, cancelled or approval_required")
    .optional(),
  backend: Text.optional(),
  item: Text.optional(),
  agent: Text.optional(),
  credential: z.enum(["none", "static", "client_credentials", "token_exchange"], "must be none, static, client_credentials or token_exchange").optional(),
  traceId: z.string().regex(/^[0-9a-f]{32}$/, "must be a W3C trace id (32 lowercase hex digits)").optional(),
  since: UnixMs.optional(),
  until: UnixMs.optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, `must be an integer from 1 to ${MAX_AUDIT_LIMIT}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_AUDIT_LIMIT, `must be an integer from 1 to ${MAX_AUDIT_LIMIT}`)
    .default(DEFAULT_AUDIT_LIMIT),
  cursor: z
    .string()
    .transform((text, ctx) => {
      const cursor = decodeAuditCursor(text);
      if (!cursor) {
        ctx.addIssue({ code: "custom", message: "not a cursor this API handed out" });
        return z.NEVER;
      }
      return cursor;
    })
    .optional(),
});

export const audit = new Hono<AppEnv>();

audit.get("/tenants/:id/audit", async (c) => {
  const raw = c.req.queries();
  const single: Record<string, string> = {};
  for (const [name, values] of Object.entries(raw)) {
    if (values.length > 1) return c.json({ error: `${name}: given more than once` }, 400);
    single[name] = values[0] ?? "";
  }
  const parsed = AuditQuerySchema.safeParse(single);
  if (!parsed.success) return c.json({ error: describeIssue(parsed.error.issues[0]) }, 400);
  const { cursor, ...query } = parsed.data;
  if (query.since !== undefined && query.until !== undefined && query.until <= query.since) {
    return c.json({ error: "until: must be after since" }, 400);
  }
  const filters: AuditFilters = { tenant: c.req.param("id"), ...query, before: cursor };
  return c.json(await queryAudit(c.env.AUDIT, filters));
});

function describeIssue(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return "query: invalid";
  if (issue.code === "unrecognized_keys") return `${issue.keys[0]}: unknown parameter`;
  const name = issue.path.length > 0 ? issue.path.join(".") : "query";
  return `${name}: ${issue.message}`;
}
