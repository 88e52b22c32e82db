/**
 * The web console at `/admin/console`: a static shell, its stylesheet and its script. These three
 * answers hold no data, so they are served without the admin token (a browser navigating here
 * cannot send one); everything the console shows comes from the bearer-checked admin API, called
 * from the same origin. No CORS headers anywhere: no other origin may read the admin API.
 *
 * The Content-Security-Policy allows this origin's own script, style and API calls and nothing
 * else: no inline code, no eval, no frames, no form posts, and Trusted Types required, so
 * untrusted text (tool names and descriptions come from backends) can only ever be text.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../env.ts";
import { CONSOLE_HTML } from "./page.ts";
import { CONSOLE_JS } from "./script.ts";
import { CONSOLE_CSS } from "./style.ts";

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  // The shell is tiny, and a stale script after a deploy would talk to a newer API.
  "cache-control": "no-store",
};

function serve(body: string, type: string): Response {
  return new Response(body, { headers: { "content-type": type, ...SECURITY_HEADERS } });
}

export const consoleRoutes = new Hono<AppEnv>();

consoleRoutes.get("/", () => serve(CONSOLE_HTML, "text/html; charset=utf-8"));
consoleRoutes.get("/console.js", () => serve(CONSOLE_JS, "text/javascript; charset=utf-8"));
consoleRoutes.get("/console.css", () => serve(CONSOLE_CSS, "text/css; charset=utf-8"));
