/** The approval page and its outcome pages (same rules as the consent page: no script, no framing, not cached). */
import { escapeHtml, htmlPage, messagePage } from "../oauth/pages.ts";
import type { Approval } from "./types.ts";

export function approvalPage(view: { action: string; consentToken: string; tenant: string; user: string; approval: Approval }): Response {
  const { approval } = view;
  const self = approval.approvers.length === 0;
  const args = JSON.stringify(approval.args, null, 2);
  return htmlPage(
    200,
    `Approve ${approval.exposedName}?`,
    `<h1>${self ? "Confirm your call" : "Approve a call"} to <strong>${escapeHtml(approval.exposedName)}</strong> in <strong>${escapeHtml(view.tenant)}</strong>?</h1>
<dl><dt>Signed in as</dt><dd>${escapeHtml(view.user)}</dd>
<dt>Called by</dt><dd>${escapeHtml(approval.principal)}</dd>
<dt>Tool</dt><dd>${escapeHtml(approval.tool)} (backend ${escapeHtml(approval.backend)})</dd>
<dt>Arguments</dt><dd><pre>${escapeHtml(args)}</pre></dd>
<dt>Expires</dt><dd>${escapeHtml(new Date(approval.expiresAt).toISOString())}</dd></dl>
<p class="note">This approves this call once, with exactly these arguments. The caller must call again.</p>
<form method="post" action="${escapeHtml(view.action)}">
<input type="hidden" name="consent" value="${escapeHtml(view.consentToken)}">
<div class="actions"><button type="submit" name="decision" value="approve">Approve</button><button type="submit" name="decision" value="deny">Deny</button></div>
</form>`,
    // The form posts back to the page's own origin only.
    { formTarget: new URL(view.action).origin },
  );
}

export function approvalMessage(status: 200 | 400 | 403 | 404 | 409 | 503, title: string, text: string, headers: Record<string, string> = {}): Response {
  return messagePage(status, title, text, headers);
}
