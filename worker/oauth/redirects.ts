/**
 * Redirect URIs of the gateway's OAuth clients: which ones a client may register (dynamic
 * registration, RFC 7591) or list in its Client ID Metadata Document, and whether the
 * `redirect_uri` of an authorization request is one of them.
 *
 * - Acceptable: an absolute `https:` URL, or `http:` on a loopback host (127.0.0.0/8, [::1],
 *   `localhost`); no fragment (RFC 6749 §3.1.2), no userinfo. MCP 2025-11-25 "Communication
 *   Security" (and 2026-07-28 security-considerations): "All redirect URIs MUST be either
 *   `localhost` or use HTTPS".
 * - Private-use URI schemes of native apps (`com.example.app:/cb`, RFC 8252 §7.1) are refused:
 *   the MCP rule above leaves no room for them, and MCP's native clients (Claude Desktop via
 *   mcp-remote, the SDK examples, IDEs) use loopback redirects. `javascript:`, `data:`, `file:`,
 *   `vbscript:`, `blob:` and the like are refused along with every other non-http(s) scheme.
 * - Matching is exact string comparison (OAuth 2.1 §4.1.1 and §7.12.2; RFC 9700 §4.1.3; MCP
 *   "Open Redirection": "Authorization servers MUST validate exact redirect URIs against
 *   pre-registered values"), with one exception: the port of an `http:` loopback redirect.
 *
 * The loopback port exception. RFC 8252 §7.3: "The authorization server MUST allow any port to
 * be specified at the time of the request for loopback IP redirect URIs, to accommodate clients
 * that obtain an available ephemeral port from the operating system at the time of the request."
 * That covers 127.0.0.1 and [::1]. For `localhost` RFC 8252 §8.3 says using the name is NOT
 * RECOMMENDED (a firewall or a hosts file may send it elsewhere) but sets no rule for the server.
 * We give `localhost` the same port exemption, deliberately:
 *   - the MCP spec's own CIMD example registers `http://localhost:3000/callback` next to
 *     `http://127.0.0.1:3000/callback`, and MCP clients in the wild register `localhost`:
 *     mcp-remote (0.1.x) registers `http://localhost:<port>/oauth/callback` (`--host` defaults
 *     to localhost), the port preferred from a hash of the server URL, a random free one when
 *     that is busy, and afterwards the port of its stored registration; the SDK's example
 *     clients use `http://localhost:<fixed port>/callback`. A client that registered by DCR
 *     keeps working without the exemption, but one whose remembered port is taken (or that
 *     re-binds) needs it;
 *   - a CIMD document cannot know which port will be free on the user's machine, so without the
 *     exemption a port collision breaks sign-in for good;
 *   - it adds no attack surface the loopback IP exemption does not already have: whoever can
 *     listen on some localhost port can listen on 127.0.0.1 too (MCP "Localhost Redirect URI
 *     Risks": the consent page must show the redirect host and warn about loopback-only clients).
 * Host, path and query still match exactly (the host as written: `localhost` does not stand in
 * for `127.0.0.1`, nor 127.0.0.1 for 127.0.0.2), and the scheme must be `http:` (an `https:`
 * loopback URI is an ordinary exact-match URI).
 *
 * Every reason returned is plain ASCII without `"` or `\`, so it can go into an OAuth
 * `error_description` (RFC 6749 §5.2 limits that to %x20-21 / %x23-5B / %x5D-7E); none echoes
 * the URI it judges.
 */

/** Characters no redirect URI may contain: the URL parser would strip or rewrite them, so the
 * string compared would not be the URL followed. Controls, whitespace and the backslash. */
const UNSAFE_CHARS = /[\u0000-\u0020\u007f-\u009f\\\s]/u;

/** 127.0.0.0/8 as the URL parser writes it (it normalizes 127.1, 0x7f.0.0.1, 2130706433). */
const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** Whether a parsed URL's hostname is a loopback host: 127.0.0.0/8, [::1] or `localhost`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === "localhost" || host === "[::1]" || LOOPBACK_V4.test(host);
}

/** Null when `uri` is an acceptable redirect URI, else a short reason why not. */
export function validRedirectUri(uri: string): string | null {
  if (typeof uri !== "string" || uri.length === 0) return "redirect URI is empty";
  if (UNSAFE_CHARS.test(uri)) return "redirect URI contains whitespace, control characters or a backslash";
  if (uri.includes("#")) return "redirect URI must not contain a fragment"; // RFC 6749 §3.1.2
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return "redirect URI is not an absolute URL";
  }
  if (url.username !== "" || url.password !== "") return "redirect URI must not contain userinfo";
  if (url.protocol === "https:") return url.hostname === "" ? "redirect URI has no host" : null;
  if (url.protocol === "http:") {
    // OAuth 2.1 §1.5 / MCP "Communication Security": plain http only for loopback.
    return isLoopbackHost(url.hostname) ? null : "http redirect URIs are only allowed on a loopback host (127.0.0.1, [::1], localhost)";
  }
  // MCP: "All redirect URIs MUST be either localhost or use HTTPS": no private-use native
  // schemes, and never javascript:, data:, file: and the like.
  return "redirect URI scheme must be https (or http on a loopback host)";
}

/**
 * `http://<loopback host>[:port]<rest>` split into the part before the port and the rest, from
 * the string as written (not the parsed URL, so path and query stay exactly as presented); null
 * when the URI is not an http loopback URI written in canonical form.
 */
function loopbackParts(uri: string): { host: string; rest: string } | null {
  const match = /^http:\/\/(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)(?::\d{1,5})?([/?][^#]*)?$/.exec(uri);
  if (!match) return null;
  return { host: match[1]!, rest: match[2] ?? "" };
}

/**
 * Whether the `redirect_uri` of an authorization request is one the client registered: exact
 * string match, except that an `http:` loopback redirect may use any port (RFC 8252 §7.3; see
 * the module comment for `localhost`).
 */
export function redirectAllowed(registered: readonly string[], presented: string): boolean {
  if (typeof presented !== "string") return false;
  if (registered.includes(presented)) return true;
  const wanted = loopbackParts(presented);
  if (!wanted || validRedirectUri(presented) !== null) return false;
  return registered.some((uri) => {
    const parts = loopbackParts(uri);
    return parts !== null && parts.host === wanted.host && parts.rest === wanted.rest;
  });
}

/**
 * A client's display URL (client_uri, logo_uri) when it is an absolute https URL without
 * userinfo, else undefined: these only decorate the consent page, so a bad one is dropped rather
 * than failing the client (RFC 7591 §3.2.1 lets the server replace or ignore metadata values).
 */
export function httpsDisplayUrl(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length > 2048 || UNSAFE_CHARS.test(value)) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === "https:" && url.username === "" && url.password === "" ? value : undefined;
  } catch {
    return undefined;
  }
}
