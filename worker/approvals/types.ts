/**
 * Approval gates (docs/approvals.md): the shapes the engine, the approval pages and the tenant's
 * ApprovalObject share. A leaf: it imports nothing.
 */

/** What a gated call asks for: this principal, this tool, these exact arguments, this policy. */
export interface ApprovalRequest {
  principal: string;
  /** Roles that may approve; empty: the caller confirms their own call. */
  approvers: string[];
  backend: string;
  /** The tool as the backend knows it, and as the client called it. */
  tool: string;
  exposedName: string;
  /** SHA-256 of the arguments' canonical JSON: a changed argument is another request. */
  digest: string;
  /** The arguments as the approver sees them (the tenant's redaction patterns applied). */
  args: Record<string, unknown>;
  policyVersion: number;
  ttlSeconds: number;
}

export type ApprovalState = "pending" | "approved" | "denied";

export interface Approval extends ApprovalRequest {
  id: string;
  state: ApprovalState;
  createdAt: number;
  expiresAt: number;
  decidedBy: string | null;
  decidedAt: number | null;
  usedAt: number | null;
}

/** The gate's answer to a call: go ahead (and this approval is now spent), wait, or refused. */
export type GateResult = { state: "approved"; id: string; decidedBy: string } | { state: "pending"; id: string; expiresAt: number } | { state: "denied"; id: string; decidedBy: string };

/** The call a confirmation answer is for: it must be the very call the confirmation was asked for. */
export type ConfirmedCall = Pick<ApprovalRequest, "principal" | "backend" | "tool" | "digest" | "policyVersion">;

/** Who decides: a person signed in at the tenant's IdP, or an operator through the admin API. */
export interface Decider {
  sub: string;
  roles: string[];
  /** An operator with the admin token may decide any approval. */
  operator?: boolean;
}

export type DecideResult = { ok: true; approval: Approval } | { ok: false; status: 403 | 404 | 409; reason: string };
