/**
 * The approval page (docs/approvals.md), mounted at `/t/:tenant/approvals`:
 *
 *   GET  :id   an approver (or, for a confirmation, the caller) opens the URL a gated call was
 *              answered with (engine/approvals.ts) -> signs in at the tenant's IdP through the
 *              authorization server's login (oauth/routes.ts: the same state, PKCE, nonce and iss
 *              checks, the same __Host- cookie); its callback shows this page's decision form
 *   POST :id   the decision (with the form's one-time token and the login cookie: CSRF-safe)
 *
 * Who may decide is the ApprovalObject's rule: a holder of an approver role other than the
 * caller, or the caller for a confirmation. Operators decide through the admin API instead.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { logger } from "../observe/log.ts";
import { GatewayError } from "../protocol/errors.ts";
import { loadTenant } from "../tenant/store.ts";
import { constantTimeEqual, randomToken, sha256Hex } from "../oauth/crypto.ts";
import { clearedLoginCookie, cookieValue, LOGIN_COOKIE, readForm } from "../oauth/http.ts";
import { startPurposeLogin } from "../oauth/login.ts";
import { authority, issuerFor } from "../oauth/server.ts";
import type { PendingLogin } from "../oauth/types.ts";
import { approvalMessage, approvalPage } from "./pages.ts";
import type { Approval, Decider, DecideResult } from "./types.ts";

type Ctx = Context<AppEnv>;

export const approvalRoutes = new Hono<AppEnv>();

/**
 * The tenant's ApprovalObject, typed by hand: its Approval carries arguments (`unknown` values),
 * which the generated RPC types cannot express.
 */
interface ApprovalStore {
  get(id: string): Promise<Approval | null>;
  mayDecide(id: string, decider: Decider): Promise<DecideResult>;
  decide(id: string, decider: Decider, decision: "approve" | "deny"): Promise<DecideResult>;
  list(): Promise<Approval[]>;
}
export const approvals = (env: Env, tenant: string) => env.APPROVALS.get(env.APPROVALS.idFromName(tenant)) as unknown as ApprovalStore;
const ID = /^ap-[A-Za-z0-9_-]{16,64}$/;

async function approvalTenant(c: Ctx) {
  const tenant = await loadTenant(c.env, c.req.param("tenant") ?? "");
  if (!tenant?.auth.oauth) throw new GatewayError("tenant_not_found");
  return { tenant, server: tenant.auth.oauth, issuer: issuerFor(c.req.url, tenant.id) };
}

approvalRoutes.get("/:id", async (c) => {
  const { tenant, server, issuer } = await approvalTenant(c);
  const id = c.req.param("id");
  const approval = ID.test(id) ? await approvals(c.env, tenant.id).get(id) : null;
  if (!approval) return approvalMessage(404, "Unknown approval", "This approval request does not exist.");
  if (approval.state !== "pending") return approvalMessage(409, "Already decided", `This request was already ${approval.state} by ${approval.decidedBy ?? "someone"}.`);
  if (approval.expiresAt <= Date.now()) return approvalMessage(409, "Expired", "This request has expired; the caller must call again.");
  const started = await startPurposeLogin(c.env, tenant.id, server, issuer, { approval: id }, `${issuer}/approvals/${id}`);
  return started ?? approvalMessage(503, "Sign-in unavailable", "The identity provider could not be reached.");
});

/**
 * The IdP's callback for an approver's login (called by oauth/routes.ts once the user is known):
 * the decision form when this user may decide, else why not.
 */
export async function approverArrived(env: Env, tenantId: string, issuer: string, idHash: string, pending: PendingLogin & { user: NonNullable<PendingLogin["user"]> }): Promise<Response> {
  const store = authority(env, tenantId);
  const allowed = await approvals(env, tenantId).mayDecide(pending.approval!, { sub: pending.user.sub, roles: pending.user.roles });
  if (!allowed.ok) {
    await store.takePending(idHash);
    return approvalMessage(allowed.status, "Not possible", allowed.reason);
  }
  const consentToken = randomToken(16);
  await store.putPending(idHash, { ...pending, consentToken });
  return approvalPage({ action: `${issuer}/approvals/${allowed.approval.id}`, consentToken, tenant: tenantId, user: pending.user.name ?? pending.user.sub, approval: allowed.approval });
}

approvalRoutes.post("/:id", async (c) => {
  const { tenant } = await approvalTenant(c);
  const form = await readForm(c.req.raw);
  const loginId = cookieValue(c.req.header("cookie"), LOGIN_COOKIE);
  // Taken, not read: one decision per login, and a replayed form finds nothing.
  const pending = loginId ? await authority(c.env, tenant.id).takePending(await sha256Hex(loginId)) : null;
  const token = form?.get("consent") ?? "";
  if (!form || !pending?.user || !pending.consentToken || pending.approval !== c.req.param("id") || !(await constantTimeEqual(token, pending.consentToken))) {
    return approvalMessage(400, "Not accepted", "This approval form is unknown, expired or already used. Open the approval link again.");
  }
  const decision = form.get("decision") === "approve" ? "approve" : "deny";
  const result = await approvals(c.env, tenant.id).decide(pending.approval, { sub: pending.user.sub, roles: pending.user.roles }, decision);
  const headers = { "set-cookie": clearedLoginCookie() };
  if (!result.ok) return approvalMessage(result.status, "Not possible", result.reason, headers);
  logger.info("approval_decided", { tenant: tenant.id, approval: result.approval.id, decision, by: pending.user.sub, principal: result.approval.principal, tool: result.approval.tool });
  return decided(result.approval, headers);
});

function decided(approval: Approval, headers: Record<string, string>): Response {
  return approval.state === "approved"
    ? approvalMessage(200, "Approved", `${approval.principal} may now call ${approval.exposedName} once with these arguments; their client can call again.`, headers)
    : approvalMessage(200, "Denied", `The call to ${approval.exposedName} was denied; ${approval.principal}'s next identical call is refused.`, headers);
}
