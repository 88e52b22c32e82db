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
 *
 * A caller's own confirmation (a rule with no approvers) is asked where the caller is, when the
 * client takes form-mode elicitation (2025-11-25 client/elicitation "Form Mode"):
 *   - a 2025-11-25 (or 2025-06-18) client gets `elicitation/create` with a yes/no form in the
 *     call's own stream; a yes runs the call at once, a no ends it as a tool error;
 *   - a 2026-07-28 client gets an InputRequiredResult with the same form (basic/patterns/mrtr);
 *     its retry carries the answer (sealed with the approval's id by engine/modern.ts).
 * Either way the answer is recorded in the tenant's ApprovalObject as the caller's decision, bound
 * to the very call it was asked for, and audited like a decision at the page.
 */
import type { ApprovalRequirement, PolicyItem } from "../policy/engine.ts";
import { redact } from "../policy/redact.ts";
import { canonicalJson, sha256Hex } from "../protocol/encoding.ts";
import { result, type JsonRpcMessage, type JsonRpcRequest } from "../protocol/jsonrpc.ts";
import type { TenantConfig } from "../tenant/schema.ts";
import type { GateResult } from "../approvals/types.ts";
import type { AuditEvent } from "../audit/audit.ts";
import type { ConfirmedCall } from "../approvals/types.ts";
import { asRecord, type JsonRpcResponse } from "../protocol/jsonrpc.ts";
import { MODERN_VERSION } from "../protocol/modern.ts";
import { local, urlElicitationRequired, type Produced } from "./answers.ts";
import type { ClientAnswers } from "./consent.ts";
import type { EngineHost } from "./host.ts";

/** What the audit row of a gated call records about its approval. */
export interface ApprovalNote {
  id: string;
  state: GateResult["state"];
  decidedBy?: string;
}

export type Gate = { go: true; note: ApprovalNote; confirm?: Confirmation } | { go: false; note?: ApprovalNote; outcome: AuditEvent["outcome"]; produced: Produced };

/** A legacy call that runs once its caller says yes in the call's stream (confirmFirst). */
export interface Confirmation {
  note: ApprovalNote;
  call: ConfirmedCall;
  tenant: string;
  exposedName: string;
  message: string;
  /** The approval page, for a client that answers the form with an error. */
  url: string;
}

/** The answer a 2026-07-28 client's retry carries for the gateway's own confirmation form. */
export interface ConfirmationAnswer {
  approval: string;
  response: unknown;
}

/** Set by engine/modern.ts on the retry it hands the handler; read here, never forwarded upstream. */
const answered = new WeakMap<JsonRpcRequest, ConfirmationAnswer>();

export function withConfirmationAnswer(request: JsonRpcRequest, answer: ConfirmationAnswer): JsonRpcRequest {
  answered.set(request, answer);
  return request;
}

/** `to`, rewritten from `from` (search mode's call_tool), keeps the answer `from` carried. */
export function sameConfirmationAnswer(from: JsonRpcRequest, to: JsonRpcRequest): JsonRpcRequest {
  const answer = answered.get(from);
  return answer ? withConfirmationAnswer(to, answer) : to;
}

/** Whether the client takes form-mode elicitation: `elicitation.form`, or an empty `elicitation` (form only, 2025-11-25 client/elicitation "Capabilities"). */
export function acceptsFormElicitation(capabilities: Record<string, unknown>): boolean {
  if (typeof capabilities.elicitation !== "object" || capabilities.elicitation === null) return false;
  const elicitation = asRecord(capabilities.elicitation);
  return elicitation.form !== undefined || elicitation.url === undefined;
}

/** Longest text of the arguments put into the question (the page shows them all). */
const MAX_ARGS_IN_MESSAGE = 600;

/** The confirmation form: one required yes/no (2025-11-25 client/elicitation "Supported Schema Types": boolean). */
export function confirmationForm(message: string, exposedName: string): Record<string, unknown> {
  return {
    message,
    requestedSchema: {
      type: "object",
      properties: { confirm: { type: "boolean", title: `Run ${exposedName}`, description: "Yes runs this call once, with exactly these arguments." } },
      required: ["confirm"],
    },
  };
}

/** A yes, a no, or no decision (the user dismissed the form: 2025-11-25 "cancel"). */
export function decisionOf(response: unknown): "approve" | "deny" | null {
  const answer = asRecord(response);
  if (answer.action === "accept") return asRecord(answer.content).confirm === true ? "approve" : "deny";
  return answer.action === "decline" ? "deny" : null;
}

/** The digest an approval is bound to: SHA-256 of the tool and its arguments as canonical JSON. */
export async function callDigest(backend: string, tool: string, args: Record<string, unknown>): Promise<string> {
  return sha256Hex(canonicalJson({ backend, tool, args }));
}

export async function gateCall(host: EngineHost, config: TenantConfig, request: JsonRpcRequest, item: PolicyItem, args: Record<string, unknown>, requirement: ApprovalRequirement): Promise<Gate> {
  const caller = host.caller();
  const exposedName = typeof request.params?.name === "string" ? request.params.name : item.name;
  const approvals = host.env.APPROVALS.get(host.env.APPROVALS.idFromName(config.id));
  const call: ConfirmedCall = { principal: caller.principal.sub, backend: item.backend, tool: item.name, digest: await callDigest(item.backend, item.name, args), policyVersion: config.version };
  const shown = redact(config.policy, args) as Record<string, unknown>;
  const client = host.client();
  const inClient = requirement.approvers.length === 0 && requirement.confirmWith === "elicitation" && acceptsFormElicitation(client.capabilities);
  const answer = inClient ? answered.get(request) : undefined;
  const decision = answer ? decisionOf(answer.response) : null;
  if (answer && decision === null) return { go: false, outcome: "approval_required", note: { id: answer.approval, state: "pending" }, produced: local(toolError(request, "You did not confirm this call, so it did not run.")) };
  const gate = (answer && decision && (await approvals.confirm(answer.approval, call, decision))) || (await approvals.gate({ ...call, approvers: requirement.approvers, exposedName, args: shown, ttlSeconds: requirement.ttlSeconds }));
  if (gate.state === "approved") return { go: true, note: { id: gate.id, state: "approved", decidedBy: gate.decidedBy } };
  if (gate.state === "too_many") {
    return { go: false, outcome: "rate_limited", produced: local(toolError(request, "Too many calls of yours are waiting for approval; let them be decided first.")) };
  }
  if (gate.state === "denied") {
    const by = gate.decidedBy === call.principal ? "you" : gate.decidedBy;
    return { go: false, note: { id: gate.id, state: "denied", decidedBy: gate.decidedBy }, outcome: "denied", produced: local(toolError(request, `This call was denied by ${by}.`)) };
  }
  const note: ApprovalNote = { id: gate.id, state: "pending" };
  const url = `${new URL(caller.resourceMetadataUrl).origin}/t/${encodeURIComponent(config.id)}/approvals/${gate.id}`;
  if (inClient) {
    const message = `Confirm the call ${exposedName} with these arguments: ${clip(JSON.stringify(shown))}`;
    if (client.version !== MODERN_VERSION) return { go: true, note, confirm: { note, call, tenant: config.id, exposedName, message, url } };
    // The approval's id is the requestState: engine/modern.ts seals it and hands the retry's answer back here.
    const form = { [gate.id]: { method: "elicitation/create", params: { mode: "form", ...confirmationForm(message, exposedName) } } };
    return { go: false, note, outcome: "approval_required", produced: local(result(request.id, { resultType: "input_required", inputRequests: form, requestState: gate.id })) };
  }
  const who = requirement.approvers.length === 0 ? "you" : `someone with the role ${requirement.approvers.join(" or ")}`;
  const message = `The call ${exposedName} needs approval by ${who}. Open the link, then call again with the same arguments.`;
  return { go: false, note, outcome: "approval_required", produced: local(urlElicitationRequired(request.id, { elicitationId: gate.id, url, message })) };
}

/**
 * A 2025-11-25 call that waits for its caller's yes (Confirmation): the form in the call's own
 * stream, the answer recorded as the caller's decision, then the call runs (`run`) or ends as
 * a tool error. A client that answers the form with an error gets the approval page instead.
 */
export async function* confirmFirst(
  host: EngineHost,
  confirm: Confirmation | undefined,
  answers: ClientAnswers,
  signal: AbortSignal,
  run: () => AsyncGenerator<JsonRpcMessage, JsonRpcResponse>,
): AsyncGenerator<JsonRpcMessage, JsonRpcResponse> {
  if (!confirm) return yield* run();
  const id = `gateway:${host.store.nextCounter()}`;
  const answer = answers(id, signal);
  yield { jsonrpc: "2.0", id, method: "elicitation/create", params: confirmationForm(confirm.message, confirm.exposedName) };
  const response = await answer;
  // The relay answers the client with its own id: 0 stands for it here.
  if ("error" in response) return urlElicitationRequired(0, { elicitationId: confirm.note.id, url: confirm.url, message: "This call needs your approval: confirm it at the link, then call again with the same arguments." });
  const decision = decisionOf(response.result);
  if (decision === null) return toolError({ id: 0 }, "You did not confirm this call, so it did not run.");
  const approvals = host.env.APPROVALS.get(host.env.APPROVALS.idFromName(confirm.tenant));
  const decided = await approvals.confirm(confirm.note.id, confirm.call, decision);
  if (!decided) return toolError({ id: 0 }, "This confirmation is no longer valid (it expired or the policy changed); call again.");
  Object.assign(confirm.note, { state: decided.state, decidedBy: decided.decidedBy });
  if (decided.state !== "approved") return toolError({ id: 0 }, "You declined this call, so it did not run.");
  return yield* run();
}

function clip(text: string): string {
  return text.length <= MAX_ARGS_IN_MESSAGE ? text : `${text.slice(0, MAX_ARGS_IN_MESSAGE)}…`;
}

/** A tool's own failure (2025-11-25 server/tools "Error Handling"): the model reads why. */
function toolError(request: Pick<JsonRpcRequest, "id">, text: string): JsonRpcResponse {
  return result(request.id, { content: [{ type: "text", text }], isError: true });
}
