/**
 * Admin API for approval gates (docs/approvals.md), on the admin router:
 *
 * - `GET  /admin/tenants/:id/approvals`                         pending requests first, then those of the last day
 * - `POST /admin/tenants/:id/approvals/:approvalId`  `{"decision": "approve" | "deny"}`
 *                                                               an operator decides (recorded as `operator:admin`)
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.ts";
import { approvals } from "../approvals/routes.ts";
import { readTextCapped } from "../protocol/body.ts";
import { requireTenant } from "../tenant/store.ts";

const DecisionBody = z.strictObject({ decision: z.enum(["approve", "deny"]) });

export const approvalsAdmin = new Hono<AppEnv>();

approvalsAdmin.get("/tenants/:id/approvals", async (c) => {
  const id = (await requireTenant(c.env, c.req.param("id"))).id;
  return c.json({ approvals: await approvals(c.env, id).list() });
});

approvalsAdmin.post("/tenants/:id/approvals/:approvalId", async (c) => {
  const id = (await requireTenant(c.env, c.req.param("id"))).id;
  let body: unknown;
  try {
    body = JSON.parse(await readTextCapped(c.req.raw, 4096));
  } catch {
    return c.json({ error: "body: must be JSON {\"decision\": \"approve\" | \"deny\"}" }, 400);
  }
  const parsed = DecisionBody.safeParse(body);
  if (!parsed.success) return c.json({ error: "decision: must be approve or deny" }, 400);
  const result = await approvals(c.env, id).decide(c.req.param("approvalId"), { sub: "admin", roles: [], operator: true }, parsed.data.decision);
  if (!result.ok) return c.json({ error: result.reason }, result.status);
  return c.json({ approval: result.approval });
});
