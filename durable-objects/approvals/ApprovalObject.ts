/**
 * One per tenant (`idFromName(tenantId)`): the approvals its policy's `requireApproval` rules ask
 * for (docs/approvals.md). Strongly consistent and single-threaded, which is what makes an
 * approval single-use: the call that spends it and a second call racing it are serialized here.
 *
 * Table approvals(id, data, principal, backend, tool, digest, policy_version, state, expires_at,
 * used_at): `data` holds the whole Approval as JSON; the columns are what lookups need.
 */
import { DurableObject } from "cloudflare:workers";
import type { Approval, ApprovalRequest, ConfirmedCall, Decider, DecideResult, GateResult } from "../../worker/approvals/types.ts";
import { randomToken } from "../../worker/oauth/crypto.ts";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, data TEXT NOT NULL, principal TEXT NOT NULL, backend TEXT NOT NULL,
    tool TEXT NOT NULL, digest TEXT NOT NULL, policy_version INTEGER NOT NULL, state TEXT NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER);
  CREATE INDEX IF NOT EXISTS approvals_by_call ON approvals (principal, backend, tool, digest, policy_version);
`;
/** Pending requests one principal may have open at once (a flood of distinct calls stops here). */
const MAX_PENDING_PER_PRINCIPAL = 50;
/** Decided approvals are kept this long for the admin API and the console, then swept. */
const KEEP_DECIDED_MS = 24 * 3600 * 1000;
const SWEEP_INTERVAL_MS = 3600 * 1000;

export class ApprovalObject extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(SCHEMA);
  }

  /**
   * A gated call arrives. An approved, unspent, unexpired approval of exactly this call is spent
   * and the call goes ahead; a denied one is spent and the call is refused (the next identical
   * call asks again); a pending one is waited on; otherwise a new request is opened.
   */
  async gate(request: ApprovalRequest, now = Date.now()): Promise<GateResult | { state: "too_many" }> {
    const rows = this.#sql
      .exec<{ data: string }>(
        "SELECT data FROM approvals WHERE principal = ? AND backend = ? AND tool = ? AND digest = ? AND policy_version = ? AND used_at IS NULL AND expires_at > ? ORDER BY expires_at DESC",
        request.principal,
        request.backend,
        request.tool,
        request.digest,
        request.policyVersion,
        now,
      )
      .toArray()
      .map((r) => JSON.parse(r.data) as Approval);
    const decided = rows.find((a) => a.state !== "pending");
    if (decided) {
      this.#save({ ...decided, usedAt: now });
      return decided.state === "approved" ? { state: "approved", id: decided.id, decidedBy: decided.decidedBy ?? "" } : { state: "denied", id: decided.id, decidedBy: decided.decidedBy ?? "" };
    }
    const pending = rows.find((a) => a.state === "pending");
    if (pending) return { state: "pending", id: pending.id, expiresAt: pending.expiresAt };
    const open = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM approvals WHERE principal = ? AND state = 'pending' AND expires_at > ?", request.principal, now).one().n;
    if (open >= MAX_PENDING_PER_PRINCIPAL) return { state: "too_many" };
    const approval: Approval = { ...request, id: `ap-${randomToken(16)}`, state: "pending", createdAt: now, expiresAt: now + request.ttlSeconds * 1000, decidedBy: null, decidedAt: null, usedAt: null };
    this.#save(approval);
    this.#scheduleSweep(now);
    return { state: "pending", id: approval.id, expiresAt: approval.expiresAt };
  }

  async get(id: string): Promise<Approval | null> {
    const row = this.#sql.exec<{ data: string }>("SELECT data FROM approvals WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.data) as Approval) : null;
  }

  /** Whether `decider` may decide `approval` (the page asks before it shows the buttons). */
  async mayDecide(id: string, decider: Decider, now = Date.now()): Promise<DecideResult> {
    const approval = await this.get(id);
    if (!approval) return { ok: false, status: 404, reason: "This approval request is unknown." };
    if (approval.state !== "pending") return { ok: false, status: 409, reason: `This request was already ${approval.state}.` };
    if (approval.expiresAt <= now) return { ok: false, status: 409, reason: "This request has expired; the caller must call again." };
    if (decider.operator) return { ok: true, approval };
    if (approval.approvers.length === 0) {
      // A confirmation: only the caller may give it.
      if (decider.sub !== approval.principal) return { ok: false, status: 403, reason: "Only the person who made this call may confirm it." };
    } else {
      // Four eyes: someone holding an approver role, and not the caller.
      if (decider.sub === approval.principal) return { ok: false, status: 403, reason: "A call cannot be approved by the person who made it." };
      if (!decider.roles.some((r) => approval.approvers.includes(r))) return { ok: false, status: 403, reason: `Only a holder of ${approval.approvers.join(" or ")} may approve this call.` };
    }
    return { ok: true, approval };
  }

  /** Records a decision, once. */
  async decide(id: string, decider: Decider, decision: "approve" | "deny", now = Date.now()): Promise<DecideResult> {
    const allowed = await this.mayDecide(id, decider, now);
    if (!allowed.ok) return allowed;
    const approval: Approval = { ...allowed.approval, state: decision === "approve" ? "approved" : "denied", decidedBy: decider.operator ? `operator:${decider.sub}` : decider.sub, decidedAt: now };
    this.#save(approval);
    return { ok: true, approval };
  }

  /**
   * The caller answered the confirmation form of exactly this call (engine/approvals.ts): the
   * decision is recorded as theirs and, when it is a yes, spent by this same call. Null when
   * `id` names no pending confirmation of this principal, tool, arguments and policy version
   * (another call, one decided or expired meanwhile, or a four-eyes approval, which only an approver gives).
   */
  async confirm(id: string, call: ConfirmedCall, decision: "approve" | "deny", now = Date.now()): Promise<Exclude<GateResult, { state: "pending" }> | null> {
    const approval = await this.get(id);
    if (!approval || approval.state !== "pending" || approval.approvers.length > 0 || approval.expiresAt <= now) return null;
    const same = approval.principal === call.principal && approval.backend === call.backend && approval.tool === call.tool && approval.digest === call.digest && approval.policyVersion === call.policyVersion;
    if (!same) return null;
    const state = decision === "approve" ? "approved" : "denied";
    this.#save({ ...approval, state, decidedBy: call.principal, decidedAt: now, usedAt: now });
    return { state, id, decidedBy: call.principal };
  }

  /** Pending requests first, then those decided in the last day, newest first (admin API). */
  async list(now = Date.now()): Promise<Approval[]> {
    return this.#sql
      .exec<{ data: string }>("SELECT data FROM approvals WHERE expires_at > ? OR used_at IS NOT NULL ORDER BY state = 'pending' DESC, rowid DESC LIMIT 500", now - KEEP_DECIDED_MS)
      .toArray()
      .map((r) => JSON.parse(r.data) as Approval);
  }

  #save(approval: Approval): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO approvals (id, data, principal, backend, tool, digest, policy_version, state, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      approval.id,
      JSON.stringify(approval),
      approval.principal,
      approval.backend,
      approval.tool,
      approval.digest,
      approval.policyVersion,
      approval.state,
      approval.expiresAt,
      approval.usedAt,
    );
  }

  #scheduleSweep(now: number): void {
    void this.ctx.storage.getAlarm().then((at) => {
      if (at === null) return this.ctx.storage.setAlarm(now + SWEEP_INTERVAL_MS);
    });
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.#sql.exec("DELETE FROM approvals WHERE expires_at <= ?", now - KEEP_DECIDED_MS);
    const left = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM approvals").one().n;
    if (left > 0) await this.ctx.storage.setAlarm(now + SWEEP_INTERVAL_MS);
  }
}
