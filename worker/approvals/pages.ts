/** The approval page and its outcome pages (same rules as the consent page: no script, no framing, not cached). */
import { escapeHtml, pageHeaders, STYLE } from "../oauth/pages.ts";
import type { Approval } from "./types.ts";

function page(status: number, title: string, body: string, formTarget?: string): Response {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
  return new Response(html, { status, headers: pageHeaders(formTarget) });
}

export function approvalPage(view: { action: string; consentToken: string; tenant: string; user: string; approval: Approval }): Response {
  const { approval } = view;
  const self = approval.approvers.length === 0;
  const args = JSON.stringify(approval.args, null, 2);
  return page(
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
    new URL(view.action).origin,
  );
}

export function approvalMessage(status: 200 | 400 | 403 | 404 | 409 | 503, title: string, text: string): Response {
  return page(status, title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`);
}
