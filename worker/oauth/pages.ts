/**
 * The two pages a person sees at the gateway during a login: the consent page and the error page
 * shown when nothing can safely be sent back to the client (an unknown client or redirect URI:
 * redirecting there would make the gateway an open redirector, RFC 9700 §4.11).
 *
 * No script, no external resources, no framing (clickjacking, RFC 9700 §4.16), not cached; the
 * form posts only to the gateway, and the redirect that follows only to the client's redirect URI.
 */
import type { OAuthErrorCode } from "./types.ts";

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function pageHeaders(formTarget?: string): Record<string, string> {
  const formAction = formTarget === undefined ? "'none'" : `'self' ${formTarget}`;
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": `default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action ${formAction}`,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  };
}

export const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1d232a}
h1{font-size:1.3rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{color:#5a6470}dd{margin:0;word-break:break-all}
.actions{display:flex;gap:1rem;margin-top:1.5rem}button{font:inherit;padding:.5rem 1.2rem;border-radius:.4rem;border:1px solid #8a96a3;background:#fff;cursor:pointer}
button[value=allow]{background:#1f6feb;border-color:#1f6feb;color:#fff}.note{color:#5a6470;font-size:.9rem}`;

export interface ConsentView {
  action: string;
  consentToken: string;
  tenant: string;
  clientName: string;
  clientId: string;
  redirectUri: string;
  scopes: string[];
  user: string;
  unverifiedClient: boolean;
}

export function consentPage(view: ConsentView): Response {
  const redirect = new URL(view.redirectUri);
  const scopes = view.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join("");
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Allow access to ${escapeHtml(view.tenant)}?</title><style>${STYLE}</style></head><body>
<h1><strong>${escapeHtml(view.clientName)}</strong> wants to use the MCP tools of <strong>${escapeHtml(view.tenant)}</strong> as you</h1>
<dl><dt>Signed in as</dt><dd>${escapeHtml(view.user)}</dd>
<dt>Client</dt><dd>${escapeHtml(view.clientName)}</dd>
<dt>Client id</dt><dd>${escapeHtml(view.clientId)}</dd>
<dt>Returns to</dt><dd>${escapeHtml(redirect.host)}</dd>
<dt>Scopes</dt><dd><ul>${scopes}</ul></dd></dl>
${view.unverifiedClient ? `<p class="note">The client describes itself; the gateway has not verified its name. Allow only if you started this sign-in from ${escapeHtml(view.clientName)} and expect it to return to ${escapeHtml(redirect.host)}.</p>` : ""}
<form method="post" action="${escapeHtml(view.action)}">
<input type="hidden" name="consent" value="${escapeHtml(view.consentToken)}">
<div class="actions"><button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="deny">Deny</button></div>
</form></body></html>`;
  return new Response(html, { status: 200, headers: pageHeaders(redirect.origin) });
}

/** A page of the gateway's own (consent, approval, connect): `body` is trusted markup, escaped by the caller. */
export function htmlPage(status: number, title: string, body: string, options: { formTarget?: string; headers?: Record<string, string> } = {}): Response {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
  return new Response(html, { status, headers: { ...pageHeaders(options.formTarget), ...options.headers } });
}

/** A page that only says something: a title and one sentence. */
export function messagePage(status: number, title: string, text: string, headers: Record<string, string> = {}): Response {
  return htmlPage(status, title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`, { headers });
}

/** An error the user sees at the gateway (never sent to a redirect URI that is not known good). */
export function errorPage(status: 400 | 401 | 403 | 404 | 502 | 503, error: OAuthErrorCode, description: string): Response {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title><style>${STYLE}</style></head><body>
<h1>Sign-in failed</h1><p>${escapeHtml(description)}</p><p class="note">Error: <code>${escapeHtml(error)}</code>. Start the sign-in again from your MCP client.</p></body></html>`;
  return new Response(html, { status, headers: pageHeaders() });
}
