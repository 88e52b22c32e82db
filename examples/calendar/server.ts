// Demo backend "calendar": an MCP server that acts only for the user whose access token it is
// given. It is an OAuth protected resource (RFC 9728) whose authorization server is the demo
// OpenID provider (test/support/idp.ts, env IDP_ISSUER): every request to /mcp must carry
// `Authorization: Bearer <access token>` that the IdP issued, and each user (`sub`) sees only
// their own calendar. This is the backend for testing "the gateway acts for the user at a
// backend with per-user OAuth".
//
// Two kinds of access tokens are taken:
//   - opaque ones (a request without an RFC 8707 `resource`): checked by calling the IdP's
//     userinfo endpoint with them (userinfo needs no client credentials of the backend's own). A
//     valid token's sub is cached for TOKEN_CACHE_SECONDS (default and maximum 30): an expired or
//     revoked token may be taken for that long, which tests of expiry shorten;
//   - JWTs (RFC 9068; what the IdP issues when the client sent `resource=<this server's /mcp URL>`,
//     as an RFC 8707 client such as the gateway does): verified locally with jose against the
//     IdP's jwks_uri (from discovery): signature RS256 or ES256, `typ` at+jwt, `iss` the IdP,
//     `aud` this server's resource identifier (`<origin>/mcp`, the `resource` of its RFC 9728
//     metadata), `exp`; the user is `sub`. A JWT for another audience is refused (401
//     invalid_token). Not cached (the check is local; exp is checked every time).
// A token of three dot-separated parts is taken for a JWT; any other goes to userinfo. Tokens are
// never logged.
//
// Test aid: GET /stats answers {sub: number of authenticated /mcp requests}, so a test can prove
// whose token reached the backend.

import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { createRemoteJWKSet, jwtVerify } from "jose";
import * as z from "zod";
import { isMain, log, runBackend } from "../shared/http.ts";

interface CalendarEvent {
  id: string;
  title: string;
  date: string;
}

/** RFC 9728 section 3.1: the metadata of the resource `<origin>/mcp` lives at this path. */
export const PRM_PATH = "/.well-known/oauth-protected-resource/mcp";
const MAX_CACHE_SECONDS = 30;

/** Each user's own calendar, by sub. In memory, lost on restart. */
const calendars = new Map<string, CalendarEvent[]>();
let nextId = 1;
/** Authenticated /mcp requests by sub (GET /stats). */
const requestsBySub = new Map<string, number>();

function text(value: string): { content: { type: "text"; text: string }[] } {
  return { content: [{ type: "text", text: value }] };
}

/** The caller's sub, put there by authenticate() for every request of the session. */
function callerOf(extra: { authInfo?: AuthInfo }): string {
  const sub = extra.authInfo?.extra?.["sub"];
  // Unreachable through the HTTP server (authenticate runs first); a guard for other transports.
  if (typeof sub !== "string" || sub === "") throw new Error("no authenticated user");
  return sub;
}

export function createCalendarServer(): McpServer {
  const server = new McpServer({ name: "demo-calendar", version: "0.1.0" });

  server.registerTool(
    "list_events",
    {
      title: "List events",
      description: "The caller's own events (the user whose access token made the request).",
      annotations: { readOnlyHint: true },
    },
    (extra) => {
      const sub = callerOf(extra);
      const events = calendars.get(sub) ?? [];
      return text(`Events of ${sub}: ${events.length === 0 ? "none" : JSON.stringify(events)}`);
    },
  );

  server.registerTool(
    "add_event",
    {
      title: "Add event",
      description: "Adds an event to the caller's own calendar.",
      inputSchema: { title: z.string().min(1), date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "YYYY-MM-DD") },
    },
    ({ title, date }, extra) => {
      const sub = callerOf(extra);
      const event: CalendarEvent = { id: `event-${nextId++}`, title, date };
      calendars.set(sub, [...(calendars.get(sub) ?? []), event]);
      return text(`Added for ${sub}: ${JSON.stringify(event)}`);
    },
  );

  return server;
}

// ---------------------------------------------------------------------------------------------
// The protected resource

export interface TokenValidatorOptions {
  issuer: string;
  cacheSeconds: number;
}

/** jose's error codes that mean "this JWT is not acceptable" (anything else: the check itself failed). */
const JWT_REFUSALS = new Set([
  "ERR_JWT_EXPIRED",
  "ERR_JWT_CLAIM_VALIDATION_FAILED",
  "ERR_JWT_INVALID",
  "ERR_JWS_INVALID",
  "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
  "ERR_JOSE_ALG_NOT_ALLOWED",
  "ERR_JOSE_NOT_SUPPORTED",
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JWKS_MULTIPLE_MATCHING_KEYS",
]);

/** Three base64url parts: a JWS compact serialization (RFC 7515 section 7.1). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Checks access tokens: JWTs locally against the IdP's keys (audience: the resource given to
 * validate()), any other token at the IdP's userinfo endpoint, caching a valid opaque token's sub
 * briefly.
 */
export function tokenValidator(opts: TokenValidatorOptions) {
  // Keyed by a hash: the cache holds no token itself.
  const cache = new Map<string, { sub: string; until: number }>();
  let discovery: Promise<{ userinfoEndpoint: string; jwksUri?: string }> | undefined;
  let jwks: { uri: string; keys: ReturnType<typeof createRemoteJWKSet> } | undefined;

  const discover = () =>
    (discovery ??= (async () => {
      const response = await fetch(`${opts.issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5_000) });
      if (!response.ok) throw new Error(`discovery: HTTP ${response.status}`);
      const doc = (await response.json()) as { issuer?: unknown; userinfo_endpoint?: unknown; jwks_uri?: unknown };
      if (doc.issuer !== opts.issuer) throw new Error(`discovery: issuer ${String(doc.issuer)} is not ${opts.issuer}`);
      if (typeof doc.userinfo_endpoint !== "string") throw new Error("discovery: no userinfo_endpoint");
      return { userinfoEndpoint: doc.userinfo_endpoint, ...(typeof doc.jwks_uri === "string" ? { jwksUri: doc.jwks_uri } : {}) };
    })().catch((error: unknown) => {
      discovery = undefined; // try again on the next request
      throw error;
    }));

  /** A JWT access token's sub; undefined if it is not one for `audience` from the IdP. */
  async function verifyJwt(token: string, audience: string | undefined): Promise<string | undefined> {
    if (audience === undefined) return undefined; // nothing to check its audience against
    const { jwksUri } = await discover();
    if (jwksUri === undefined) throw new Error("discovery: no jwks_uri");
    if (jwks?.uri !== jwksUri) jwks = { uri: jwksUri, keys: createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 5_000 }) };
    try {
      const { payload } = await jwtVerify(token, jwks.keys, {
        issuer: opts.issuer,
        audience,
        algorithms: ["RS256", "ES256"],
        typ: "at+jwt", // RFC 9068 section 4 (jose also takes "application/at+jwt")
        requiredClaims: ["sub", "exp"],
      });
      return typeof payload.sub === "string" && payload.sub !== "" ? payload.sub : undefined;
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (typeof code === "string" && JWT_REFUSALS.has(code)) return undefined;
      throw error;
    }
  }

  /**
   * The token's sub; undefined if it is refused; throws if the IdP cannot be asked. `audience`:
   * this server's resource identifier, which a JWT access token must name in `aud`.
   */
  return async function validate(token: string, audience?: string): Promise<string | undefined> {
    if (JWT_SHAPE.test(token)) return verifyJwt(token, audience);

    const key = createHash("sha256").update(token).digest("base64url");
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.sub;
    cache.delete(key);

    const { userinfoEndpoint } = await discover();
    const response = await fetch(userinfoEndpoint, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
    if (response.status === 401 || response.status === 400 || response.status === 403) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`userinfo: HTTP ${response.status}`);
    }
    const claims = (await response.json()) as { sub?: unknown };
    if (typeof claims.sub !== "string" || claims.sub === "") return undefined;
    if (opts.cacheSeconds > 0) {
      for (const [k, v] of cache) if (v.until <= now) cache.delete(k);
      cache.set(key, { sub: claims.sub, until: now + opts.cacheSeconds * 1000 });
    }
    return claims.sub;
  };
}

/** The origin the client used (the Host header was checked to be loopback by shared/http.ts). */
function originOf(req: IncomingMessage): string {
  return `http://${req.headers.host ?? "127.0.0.1"}`;
}

/** This server's resource identifier (RFC 9728 `resource`, RFC 9068 `aud`): its /mcp URL. */
function resourceOf(req: IncomingMessage): string {
  return `${originOf(req)}/mcp`;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

/**
 * RFC 6750 section 3 with RFC 9728 section 5.1: the challenge names the resource metadata, so a
 * client (or the gateway) can find the authorization server; error="invalid_token" only when a
 * token was presented (RFC 6750 3.1: no error code for a request without authentication).
 */
function unauthorized(req: IncomingMessage, res: ServerResponse, tokenGiven: boolean, description: string): void {
  const challenge = [`Bearer resource_metadata="${originOf(req)}${PRM_PATH}"`];
  if (tokenGiven) challenge.push(`error="invalid_token"`, `error_description="${description}"`);
  sendJson(res, 401, { jsonrpc: "2.0", error: { code: -32001, message: `Unauthorized: ${description}` }, id: null }, { "www-authenticate": challenge.join(", ") });
}

export function calendarHandlers(issuer: string, cacheSeconds: number) {
  const validate = tokenValidator({ issuer, cacheSeconds });

  async function authenticate(req: IncomingMessage, res: ServerResponse): Promise<AuthInfo | undefined> {
    const header = req.headers.authorization ?? "";
    const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
    if (!match) {
      unauthorized(req, res, header !== "", header === "" ? "missing bearer token" : "malformed Authorization header");
      return undefined;
    }
    const token = match[1]!;
    let sub: string | undefined;
    try {
      sub = await validate(token, resourceOf(req));
    } catch (error) {
      log("calendar", `token check failed: ${error instanceof Error ? error.message : String(error)}`);
      sendJson(res, 503, { jsonrpc: "2.0", error: { code: -32603, message: "Authorization server unavailable" }, id: null });
      return undefined;
    }
    if (sub === undefined) {
      unauthorized(req, res, true, "the access token is invalid or expired");
      return undefined;
    }
    requestsBySub.set(sub, (requestsBySub.get(sub) ?? 0) + 1);
    return { token, clientId: "", scopes: [], extra: { sub } };
  }

  function route(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (req.method !== "GET") return false;
    if (url.pathname === PRM_PATH) {
      // RFC 9728 section 2: `resource` is this server's resource identifier, the /mcp URL.
      sendJson(res, 200, {
        resource: resourceOf(req),
        authorization_servers: [issuer],
        scopes_supported: ["openid", "offline_access", "calendar"],
        bearer_methods_supported: ["header"],
      });
      return true;
    }
    if (url.pathname === "/stats") {
      sendJson(res, 200, Object.fromEntries(requestsBySub));
      return true;
    }
    return false;
  }

  return { authenticate, route };
}

if (isMain(import.meta.url)) {
  const issuer = process.env["IDP_ISSUER"]?.replace(/\/+$/, "");
  if (!issuer) {
    log("calendar", "IDP_ISSUER is required (the demo IdP's issuer URL)");
    process.exit(2);
  }
  const rawCache = process.env["TOKEN_CACHE_SECONDS"];
  const cacheSeconds = rawCache === undefined || rawCache === "" ? MAX_CACHE_SECONDS : Math.min(MAX_CACHE_SECONDS, Math.max(0, Number(rawCache) || 0));
  const { authenticate, route } = calendarHandlers(issuer, cacheSeconds);
  await runBackend({ name: "calendar", defaultPort: 3103, createServer: createCalendarServer, authenticate, route });
}
