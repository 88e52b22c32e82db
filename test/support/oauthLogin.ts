/**
 * Drivers that complete a user's login for an OAuth authorization request: from an authorization
 * URL (the gateway's, or an IdP's directly) through the IdP's login form and the gateway's consent
 * page, until the browser is sent to the client's redirect URI.
 *
 *   loginInPage(page, url, ...)   a real browser (playwright-core Page, test/support/browser.ts)
 *   loginWithFetch(url, ...)      plain fetch with a small cookie jar, every response recorded,
 *                                 so security tests can inspect status codes and Set-Cookie flags
 *
 * The pages they read are known ones, ours: the demo IdP's login form (test/support/idp.ts: a form
 * with `<input name="login">`, `<input name="password" type="password">` and a submit button) and
 * the gateway's consent page (`<form method="post" action="...">` with hidden inputs and buttons
 * `<button name="decision" value="allow">` / `value="deny"`). So loginWithFetch reads them with
 * careful regular expressions over these simple forms, not a general HTML parser; it is not meant
 * for arbitrary pages. Either page may be absent (an IdP session already there, an IdP used alone
 * without the gateway, a consent remembered): the drivers act on what they find.
 */
import type { Page, Request } from "playwright-core";

export type Decision = "allow" | "deny";

export interface LoginOptions {
  user: string;
  password: string;
  /** Which consent button to press if the gateway asks. Default "allow". */
  decision?: Decision;
  /** Done when a navigation goes to a URL starting with this (the client's redirect URI)... */
  redirectPrefix?: string;
  /** ...or when this says so. One of the two is required. */
  isDone?: (url: string) => boolean;
  /** Default 30 s. */
  timeoutMs?: number;
}

/** The login form came back (wrong user or password, or a locked account): no login happened. */
export class LoginRejectedError extends Error {
  /** The page that showed the form again. */
  readonly url: string;
  /** Its HTTP status (0 in a browser). */
  readonly status: number;
  constructor(message: string, url: string, status: number) {
    super(message);
    this.name = "LoginRejectedError";
    this.url = url;
    this.status = status;
  }
}

function doneTest(options: LoginOptions): (url: string) => boolean {
  const { redirectPrefix, isDone } = options;
  if (redirectPrefix === undefined && isDone === undefined) throw new Error("loginWithFetch/loginInPage: give redirectPrefix or isDone");
  return (url) => (redirectPrefix !== undefined && url.startsWith(redirectPrefix)) || (isDone?.(url) ?? false);
}

// ---------------------------------------------------------------------------------------------
// Browser

/**
 * Drives `page` from `authorizeUrl` through the IdP's login form and the gateway's consent page;
 * resolves with the URL the browser was finally sent to (the client's redirect URI with `code` and
 * `state`, or `error=access_denied` after "deny"). Its URL is what counts: the driver sees the
 * request go out and returns. Playwright does not route a request reached by an HTTP redirect (the
 * usual way there), so if nothing listens at that URL the page ends on Chromium's error page
 * (`chrome-error://chromewebdata/`); a direct navigation there (a link, a script) is answered by
 * the driver with an empty page.
 */
export async function loginInPage(page: Page, authorizeUrl: string, options: LoginOptions): Promise<string> {
  const done = doneTest(options);
  const decision = options.decision ?? "allow";
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let finalUrl: string | undefined;
  const onRequest = (request: Request) => {
    if (finalUrl === undefined && request.isNavigationRequest() && request.frame() === page.mainFrame() && done(request.url())) finalUrl = request.url();
  };
  // Answers the redirect URI when Playwright lets it (not after a redirect; the request event sees both).
  const route = (url: URL) => done(url.href);
  const handler = (r: import("playwright-core").Route) => r.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>done</title>" });
  page.on("request", onRequest);
  await page.route(route, handler);
  try {
    let navigations = 0;
    const onNavigated = (frame: unknown) => {
      if (frame === page.mainFrame()) navigations++;
    };
    page.on("framenavigated", onNavigated);
    try {
      await page.goto(authorizeUrl, { waitUntil: "domcontentloaded" }).catch((error: unknown) => {
        if (finalUrl === undefined) throw error;
      });
      let loginTried = false;
      let consentDone = false;
      let actedAt = -1;
      while (finalUrl === undefined) {
        if (Date.now() > deadline) throw new Error(`loginInPage: not done after ${options.timeoutMs ?? 30_000} ms; last at ${page.url()}`);
        // Act once per page: wait until the click before has navigated.
        if (navigations === actedAt) {
          await page.waitForTimeout(25);
          continue;
        }
        const state = await pageState(page);
        if (state === "login") {
          if (loginTried) {
            const error = await page.locator(".error, [role=alert]").first().textContent({ timeout: 1_000 }).catch(() => null);
            throw new LoginRejectedError(`login refused at ${page.url()}: ${error?.trim() ?? "the login form came back"}`, page.url(), 0);
          }
          loginTried = true;
          actedAt = navigations;
          await page.fill('input[name="login"]', options.user);
          await page.fill('input[name="password"]', options.password);
          await page.click('form:has(input[name="password"]) [type="submit"]', { noWaitAfter: true });
        } else if (state === "consent") {
          if (consentDone) throw new Error(`loginInPage: the consent page came back at ${page.url()}`);
          consentDone = true;
          actedAt = navigations;
          await page.click(`button[name="decision"][value="${decision}"]`, { noWaitAfter: true });
        } else {
          await page.waitForTimeout(25);
        }
      }
      return finalUrl;
    } finally {
      page.off("framenavigated", onNavigated);
    }
  } finally {
    page.off("request", onRequest);
    await page.unroute(route, handler).catch(() => {});
  }
}

/** What the page shows now; "other" while loading or navigating. */
async function pageState(page: Page): Promise<"login" | "consent" | "other"> {
  try {
    if ((await page.locator('input[name="password"]').count()) > 0) return "login";
    if ((await page.locator('button[name="decision"]').count()) > 0) return "consent";
  } catch {
    // The document went away under the query (a navigation): look again.
  }
  return "other";
}

// ---------------------------------------------------------------------------------------------
// fetch

export interface StoredCookie {
  name: string;
  value: string;
  /** The host it was set by, or its Domain attribute (lowercase, no leading dot). */
  domain: string;
  hostOnly: boolean;
  path: string;
  /** Every attribute as sent, keys lowercase: `{ path: "/", httponly: true, samesite: "Lax" }`. */
  attributes: Record<string, string | true>;
  /** The Set-Cookie header it came from. */
  raw: string;
}

/**
 * A cookie jar for loginWithFetch, enough for these flows (RFC 6265 matching of host, domain,
 * path, expiry). `Secure` cookies are sent over https, and over http to 127.0.0.1, ::1 and
 * localhost only, as browsers treat those as secure contexts.
 */
export class CookieJar {
  #cookies: StoredCookie[] = [];

  /** Stores the Set-Cookie headers of a response from `url`. */
  store(url: string, setCookies: string[]): void {
    const { hostname, pathname } = new URL(url);
    for (const raw of setCookies) {
      const [pair = "", ...parts] = raw.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const attributes: Record<string, string | true> = {};
      for (const part of parts) {
        const i = part.indexOf("=");
        const key = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
        if (key) attributes[key] = i < 0 ? true : part.slice(i + 1).trim();
      }
      const domainAttribute = typeof attributes.domain === "string" ? attributes.domain.replace(/^\./, "").toLowerCase() : "";
      if (domainAttribute && !domainMatches(hostname, domainAttribute)) continue; // a cookie for another site: refused
      const path = typeof attributes.path === "string" && attributes.path.startsWith("/") ? attributes.path : defaultPath(pathname);
      const cookie: StoredCookie = { name, value, domain: domainAttribute || hostname, hostOnly: !domainAttribute, path, attributes, raw };
      this.#cookies = this.#cookies.filter((c) => !(c.name === name && c.domain === cookie.domain && c.path === path));
      if (!expired(attributes)) this.#cookies.push(cookie);
    }
  }

  /** The Cookie header for a request to `url` (undefined if none). */
  header(url: string): string | undefined {
    const cookies = this.matching(url);
    return cookies.length > 0 ? cookies.map((c) => `${c.name}=${c.value}`).join("; ") : undefined;
  }

  /** The cookies a request to `url` would carry, longest path first. */
  matching(url: string): StoredCookie[] {
    const { protocol, hostname, pathname } = new URL(url);
    const secureContext = protocol === "https:" || ["127.0.0.1", "localhost", "[::1]"].includes(hostname);
    return this.#cookies
      .filter((c) => (c.hostOnly ? c.domain === hostname : domainMatches(hostname, c.domain)))
      .filter((c) => pathMatches(pathname, c.path))
      .filter((c) => secureContext || c.attributes.secure !== true)
      .sort((a, b) => b.path.length - a.path.length);
  }

  /** Every cookie held. */
  all(): StoredCookie[] {
    return [...this.#cookies];
  }

  /** The cookie of this name (for this host, if given); the last stored if several. */
  get(name: string, host?: string): StoredCookie | undefined {
    return this.#cookies.filter((c) => c.name === name && (host === undefined || c.domain === host)).at(-1);
  }
}

function domainMatches(host: string, domain: string): boolean {
  return host === domain || (host.endsWith(`.${domain}`) && !/^[\d.]+$/.test(host));
}

function defaultPath(pathname: string): string {
  const i = pathname.lastIndexOf("/");
  return i <= 0 ? "/" : pathname.slice(0, i);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}

function expired(attributes: Record<string, string | true>): boolean {
  if (typeof attributes["max-age"] === "string") return Number(attributes["max-age"]) <= 0;
  if (typeof attributes.expires === "string") return Date.parse(attributes.expires) <= Date.now();
  return false;
}

export interface SeenResponse {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  /** The Set-Cookie headers, one per cookie. */
  setCookies: string[];
  /** The body, for pages that were read (HTML forms, errors); else undefined. */
  body?: string;
}

export interface FetchLoginResult {
  /** The URL the last redirect pointed to (the client's redirect URI with code and state); not fetched. */
  finalUrl: string;
  /** The cookies by name (the last stored of a name; `jar` has them all, per host and path). */
  cookies: Record<string, StoredCookie>;
  jar: CookieJar;
  /** Every response, in order. */
  responses: SeenResponse[];
}

/**
 * The same as loginInPage with fetch: follows redirects itself (redirect: "manual"), keeps
 * cookies per host and path, fills the IdP's login form and answers the consent form. Throws
 * LoginRejectedError if the login form comes back after submitting it. A `jar` may be passed
 * (an IdP or gateway session from an earlier login).
 */
export async function loginWithFetch(authorizeUrl: string, options: LoginOptions & { jar?: CookieJar; maxSteps?: number }): Promise<FetchLoginResult> {
  const done = doneTest(options);
  const decision = options.decision ?? "allow";
  const jar = options.jar ?? new CookieJar();
  const responses: SeenResponse[] = [];
  const signal = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  let request: { url: string; method: string; form?: URLSearchParams; from?: string } = { url: authorizeUrl, method: "GET" };
  let loginTried = false;
  let consentDone = false;

  for (let step = 0; step < (options.maxSteps ?? 30); step++) {
    if (done(request.url)) {
      const cookies: Record<string, StoredCookie> = {};
      for (const cookie of jar.all()) cookies[cookie.name] = cookie;
      return { finalUrl: request.url, cookies, jar, responses };
    }
    const headers: Record<string, string> = { accept: "text/html,application/xhtml+xml" };
    const cookie = jar.header(request.url);
    if (cookie) headers.cookie = cookie;
    if (request.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      headers.origin = new URL(request.from ?? request.url).origin; // as a browser posting the page's form
    }
    const response = await fetch(request.url, { method: request.method, headers, body: request.form?.toString(), redirect: "manual", signal });
    const setCookies = response.headers.getSetCookie();
    jar.store(request.url, setCookies);
    const seen: SeenResponse = { method: request.method, url: request.url, status: response.status, headers: response.headers, setCookies };
    responses.push(seen);

    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      request = { url: new URL(location, request.url).href, method: "GET" };
      continue;
    }
    const body = await response.text();
    seen.body = body;
    const forms = parseForms(body, request.url);
    const login = forms.find((f) => f.inputs.some((i) => i.name === "password"));
    const consent = forms.find((f) => f.buttons.some((b) => b.name === "decision"));
    if (login) {
      if (loginTried) {
        const error = /<[^>]*class="[^"]*\berror\b[^"]*"[^>]*>([\s\S]*?)</.exec(body)?.[1]?.trim();
        throw new LoginRejectedError(`login refused at ${request.url} (${response.status}): ${error ? decodeEntities(error) : "the login form came back"}`, request.url, response.status);
      }
      loginTried = true;
      const form = hiddenFields(login);
      const userField = login.inputs.find((i) => i.name !== "password" && i.type !== "hidden" && i.type !== "submit")?.name ?? "login";
      form.set(userField, options.user);
      form.set("password", options.password);
      request = { url: login.action, method: login.method, form, from: request.url };
    } else if (consent) {
      if (consentDone) throw new Error(`loginWithFetch: the consent page came back at ${request.url}`);
      consentDone = true;
      if (!consent.buttons.some((b) => b.name === "decision" && b.value === decision)) throw new Error(`loginWithFetch: no "${decision}" button on the consent page at ${request.url}`);
      const form = hiddenFields(consent);
      form.set("decision", decision);
      request = { url: consent.action, method: consent.method, form, from: request.url };
    } else {
      throw new Error(`loginWithFetch: unexpected ${response.status} at ${request.url}: ${body.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim().slice(0, 300)}`);
    }
  }
  throw new Error(`loginWithFetch: not done after ${options.maxSteps ?? 30} steps; last at ${request.url}`);
}

// ---------------------------------------------------------------------------------------------
// The forms (ours and the demo IdP's: simple, known markup; see the top of this file)

interface ParsedForm {
  action: string;
  method: string;
  inputs: { name: string; type: string; value: string }[];
  buttons: { name: string; value: string; type: string }[];
}

function parseForms(html: string, pageUrl: string): ParsedForm[] {
  const forms: ParsedForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form\s*>/gi)) {
    const attributes = parseAttributes(match[1] ?? "");
    const inner = match[2] ?? "";
    const inputs = [...inner.matchAll(/<input\b([^>]*)>/gi)].map((m) => parseAttributes(m[1] ?? ""));
    const buttons = [...inner.matchAll(/<button\b([^>]*)>/gi)].map((m) => parseAttributes(m[1] ?? ""));
    forms.push({
      action: new URL(attributes.action || pageUrl, pageUrl).href,
      method: (attributes.method || "GET").toUpperCase(),
      inputs: inputs.filter((a) => a.name).map((a) => ({ name: a.name ?? "", type: (a.type ?? "text").toLowerCase(), value: a.value ?? "" })),
      buttons: buttons.map((a) => ({ name: a.name ?? "", value: a.value ?? "", type: (a.type ?? "submit").toLowerCase() })),
    });
  }
  return forms;
}

function hiddenFields(form: ParsedForm): URLSearchParams {
  const fields = new URLSearchParams();
  for (const input of form.inputs) if (input.type === "hidden") fields.append(input.name, input.value);
  return fields;
}

function parseAttributes(source: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const m of source.matchAll(/([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = (m[1] ?? "").toLowerCase();
    if (!(name in attributes)) attributes[name] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? "");
  }
  return attributes;
}

function decodeEntities(text: string): string {
  const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };
  return text.replace(/&(#x[\da-f]+|#\d+|[a-z]+);/gi, (whole, entity: string) => {
    if (entity[0] === "#") {
      const code = entity[1] === "x" || entity[1] === "X" ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return named[entity.toLowerCase()] ?? whole;
  });
}
