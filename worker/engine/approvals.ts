/**
 * Approval gates in the engine (docs/approvals.md): a tool call whose deciding allow rule has
 * `requireApproval` goes ahead only with an approval of exactly this call (principal, tool,
 * arguments, policy version) given at the gateway's approval page, and spends it.
 *
 * Until then the call is answered with error -32042 (URL elicitation required, MCP 2025-11-25
 * client/elicitation "URL Elicitation Required Error"; the same code in 2026-07-28): its data
 * names the approval page, which the client shows its user, and the client calls again once
 * someone has approved. Every client of either era understands it, whether or not it declared
 * elicitation, because it is an ordinary error carrying a URL.
 */
import type { ApprovalRequirement, PolicyItem } from "../policy/engine.ts";
import { redact } from "../policy/redact.ts";
import { canonicalJson, sha256Hex } from "../protocol/encoding.ts";
import { result, type JsonRpcMessage, type JsonRpcRequest } from "../protocol/jsonrpc.ts";
import type { TenantConfig } from "../tenant/schema.ts";
import type { GateResult } from "../approvals/types.ts";
import type { AuditEvent } from "../audit/audit.ts";
import { local, urlElicitationRequired, type Produced } from "./answers.ts";
import type { EngineHost } from "./host.ts";

/** What the audit row of a gated call records about its approval. */
export interface ApprovalNote {
  id: string;
  state: GateResult["state"];
  decidedBy?: string;
}

export type Gate = { go: true; note: ApprovalNote } | { go: false; note?: ApprovalNote; outcome: AuditEvent["outcome"]; produced: Produced };

/** The digest an approval is bound to: SHA-256 of the tool and its arguments as canonical JSON. */
export async function callDigest(backend: string, tool: string, args: Record<string, unknown>): Promise<string> {
  return sha256Hex(canonicalJson({ backend, tool, args }));
}

export async function gateCall(host: EngineHost, config: TenantConfig, request: JsonRpcRequest, item: PolicyItem, args: Record<string, unknown>, requirement: ApprovalRequirement): Promise<Gate> {
  const caller = host.caller();
  const exposedName = typeof request.params?.name === "string" ? request.params.name : item.name;
  const gate = await host.env.APPROVALS.get(host.env.APPROVALS.idFromName(config.id)).gate({
    principal: caller.principal.sub,
    approvers: requirement.approvers,
    backend: item.backend,
    tool: item.name,
    exposedName,
    digest: await callDigest(item.backend, item.name, args),
    args: redact(config.policy, args) as Record<string, unknown>,
    policyVersion: config.version,
    ttlSeconds: requirement.ttlSeconds,
  });
  if (gate.state === "approved") return { go: true, note: { id: gate.id, state: "approved", decidedBy: gate.decidedBy } };
  if (gate.state === "too_many") {
    return { go: false, outcome: "rate_limited", produced: local(toolError(request, "Too many calls of yours are waiting for approval; let them be decided first.")) };
  }
  if (gate.state === "denied") {
    return { go: false, note: { id: gate.id, state: "denied", decidedBy: gate.decidedBy }, outcome: "denied", produced: local(toolError(request, `This call was denied by ${gate.decidedBy}.`)) };
  }
  const url = `${new URL(caller.resourceMetadataUrl).origin}/t/${encodeURIComponent(config.id)}/approvals/${gate.id}`;
  const who = requirement.approvers.length === 0 ? "you" : `someone with the role ${requirement.approvers.join(" or ")}`;
  const message = `The call ${exposedName} needs approval by ${who}. Open the link, then call again with the same arguments.`;
  return { go: false, note: { id: gate.id, state: "pending" }, outcome: "approval_required", produced: local(urlElicitationRequired(request.id, { elicitationId: gate.id, url, message })) };
}

/** A tool's own failure (2025-11-25 server/tools "Error Handling"): the model reads why. */
function toolError(request: JsonRpcRequest, text: string): JsonRpcMessage {
  return result(request.id, { content: [{ type: "text", text }], isError: true });
}
