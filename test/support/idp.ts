/**
 * A real OpenID provider on 127.0.0.1 for `npm start` and the end-to-end tests: oidc-provider
 * (a devDependency) running in this process behind a plain Node http server.
 *
 * What a relying party (the gateway) sees is an ordinary OpenID Connect IdP:
 *   - discovery at `${issuer}/.well-known/openid-configuration`, keys at its jwks_uri;
 *   - the authorization code flow with PKCE (S256 only, required for every client) and nonce;
 *   - confidential clients authenticating with client_secret_basic or client_secret_post (either
 *     is accepted whichever the client registered);
 *   - id_tokens signed RS256 (or ES256 by option) that carry sub, email, name and `roles` (a JSON
 *     array) themselves: `conformIdTokenClaims: false`, so the claims of the granted scopes go in
 *     the id_token too, not only at userinfo. `roles` comes with the `openid` scope.
 *
 * Its login page is its own (oidc-provider's devInteractions accept any password): a form with
 * `<input name="login">`, `<input name="password" type="password">` and a submit button, posted to
 * `/interaction/<uid>/login`. A wrong login or password renders the form again, status 401, with
 * an error in `<p class="error" role="alert">`. The clients are first-party, so there is no consent
 * page: the requested scopes and claims are granted without asking (one more invisible redirect),
 * and after a correct password the browser lands on the client's redirect_uri.
 *
 * The IdP keeps a login session in a cookie like any IdP: a second authorization in the same
 * browser skips the form unless the request says `prompt=login`. Cookies are not `Secure` over
 * plain http (oidc-provider sets the flag only on https requests), so they work on 127.0.0.1.
 *
 * Options for the tests of a backend that takes the user's own tokens (test/e2e/calendar-backend.test.ts):
 *   - `accessTokenTtlSeconds`: a short access token lifetime (default 600), to test refresh on expiry;
 *   - refresh tokens: issued (oidc-provider's `issueRefreshToken` hook) whenever the client's grant
 *     includes `offline_access` and the client may use the refresh_token grant. oidc-provider
 *     follows OpenID Connect Core 11 to the letter and drops `offline_access` from a request without
 *     `prompt=consent`; like Auth0, Okta or Keycloak, this IdP does not ask for it: the scope as the
 *     client sent it is remembered per authorization (the interaction's `cid`) and put in the grant
 *     when the (invisible) consent step runs. Such a grant's codes and refresh tokens do not expire
 *     with the login session. Limitation: an authorization that needs no consent step (a grant from
 *     an earlier login in the same IdP session covers the scopes) keeps that grant as it is;
 *   - the scope `calendar` (besides openid, offline_access, profile, email), for the demo calendar;
 *   - per client `grantTypes` (default ["authorization_code", "refresh_token"], as before).
 *
 * RFC 8707 resource indicators (what an OAuth client of a protected resource, such as the gateway,
 * sends: `resource=<the resource's URL>` in the authorization request, the code exchange and the
 * refresh): any `http://127.0.0.1:*` or `http://localhost:*` URL is accepted as a resource (anything
 * else: error=invalid_target). Its access tokens are JWTs (RFC 9068: `typ` at+jwt, signed RS256 with
 * the IdP's key at jwks_uri) with `aud` = the resource URL, `scope` "calendar" (the only scope a
 * resource has), the same lifetime as opaque ones (`accessTokenTtlSeconds`); they are not good at
 * userinfo. No default resource: a request without `resource` gets opaque access tokens exactly as
 * before. The granted resource is reused (`useGrantedResource`): a code exchange or refresh of a
 * grant made for a resource gets a JWT for it with or without `resource` (another resource there:
 * invalid_target). `offline_access` still yields a refresh token.
 *
 * Quiet: every default that oidc-provider would announce on the console (in-memory adapter,
 * development keys, TTLs, error page...) is replaced; server errors are kept for `output()`.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import Provider, { errors, type InteractionDetails } from "oidc-provider";
import { freePort, type RunningServer } from "./processes.ts";

export interface DemoUser {
  /** The `sub` claim. */
  sub: string;
  login: string;
  password: string;
  email: string;
  name: string;
  roles: string[];
}

/** The demo IdP's users (the same two for every instance unless `users` is given). */
export const DEMO_USERS = {
  alice: { sub: "alice", login: "alice", password: "alice-password", email: "alice@example.com", name: "Alice", roles: ["admin"] },
  bob: { sub: "bob", login: "bob", password: "bob-password", email: "bob@example.com", name: "Bob", roles: ["user"] },
} as const satisfies Record<string, DemoUser>;

export interface DemoIdpClient {
  clientId: string;
  clientSecret: string;
  /** Exact redirect URIs; any other is refused by the IdP (an error page, no redirect). */
  redirectUris: string[];
  /** Default ["authorization_code", "refresh_token"]. Without refresh_token, no refresh token is issued. */
  grantTypes?: ("authorization_code" | "refresh_token")[];
}

export interface DemoIdpOptions {
  /** Default: a free port. */
  port?: number;
  clients: DemoIdpClient[];
  /** Default DEMO_USERS. */
  users?: Record<string, DemoUser>;
  /** The id_token's signature algorithm. Default RS256 (what Entra, Google, Okta, Auth0 and Keycloak use). */
  idTokenSigningAlg?: "RS256" | "ES256";
  /** The access tokens' lifetime in seconds. Default 600. Small values test refresh on expiry. */
  accessTokenTtlSeconds?: number;
  /** Rotate refresh tokens on every use; a second use of a spent one revokes the whole grant (oidc-provider's reuse detection). Default: oidc-provider's own rule. */
  rotateRefreshTokens?: boolean;
}

export interface DemoIdp extends RunningServer {
  /** `http://127.0.0.1:PORT`, no trailing slash (also `url`). */
  issuer: string;
  users: Record<string, DemoUser>;
  /** Revokes every refresh token of the user (`sub`), as an IdP does when an admin ends their sessions; returns how many. */
  revokeRefreshTokens(sub: string): number;
}

const TTL_SECONDS = {
  AccessToken: 600,
  AuthorizationCode: 60,
  IdToken: 600,
  RefreshToken: 86_400,
  Interaction: 600,
  Session: 3_600,
  Grant: 3_600,
  ClientCredentials: 600,
  DeviceCode: 600,
  BackchannelAuthenticationRequest: 600,
};

/** Stored entries expire with the TTL oidc-provider gives (seconds), like its own memory adapter. */
interface Entry {
  payload: Record<string, unknown>;
  expiresAt: number;
}

/**
 * oidc-provider's storage interface over one Map per IdP (its bundled memory adapter would do, but
 * it warns on every start).
 */
function memoryAdapter(): { adapter: (model: string) => object; revokeRefreshTokens(accountId: string): number } {
  const entries = new Map<string, Entry>();
  /** What an IdP does when a user's sessions are revoked there: their refresh tokens stop working. */
  const revokeRefreshTokens = (accountId: string): number => {
    let revoked = 0;
    for (const [key, entry] of entries) {
      if (key.startsWith("RefreshToken:") && entry.payload.accountId === accountId) revoked += Number(entries.delete(key));
    }
    return revoked;
  };
  const index = new Map<string, string>(); // "uid:..." / "userCode:..." -> key
  const grants = new Map<string, Set<string>>(); // grantId -> keys
  const get = (key: string): Record<string, unknown> | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry?.payload;
  };
  const adapter = (model: string) => {
    const keyOf = (id: string) => `${model}:${id}`;
    return {
      async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number) {
        const key = keyOf(id);
        entries.set(key, { payload, expiresAt: typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : Infinity });
        if (typeof payload.uid === "string" && model === "Session") index.set(`uid:${payload.uid}`, key);
        if (typeof payload.userCode === "string") index.set(`userCode:${payload.userCode}`, key);
        if (typeof payload.grantId === "string") {
          const members = grants.get(payload.grantId) ?? new Set<string>();
          members.add(key);
          grants.set(payload.grantId, members);
        }
      },
      async find(id: string) {
        return get(keyOf(id));
      },
      async findByUid(uid: string) {
        const key = index.get(`uid:${uid}`);
        return key === undefined ? undefined : get(key);
      },
      async findByUserCode(userCode: string) {
        const key = index.get(`userCode:${userCode}`);
        return key === undefined ? undefined : get(key);
      },
      async consume(id: string) {
        const payload = get(keyOf(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id: string) {
        entries.delete(keyOf(id));
      },
      async revokeByGrantId(grantId: string) {
        for (const key of grants.get(grantId) ?? []) entries.delete(key);
        grants.delete(grantId);
      },
    };
  };
  return { adapter, revokeRefreshTokens };
}

function signingKeys(): object[] {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
  return [
    { ...rsa, kid: `rs-${randomUUID().slice(0, 8)}`, alg: "RS256", use: "sig" },
    { ...ec, kid: `es-${randomUUID().slice(0, 8)}`, alg: "ES256", use: "sig" },
  ];
}

/** An RFC 8707 resource indicator this IdP issues tokens for: http://127.0.0.1:* or http://localhost:*. */
function isLoopbackResource(indicator: string): boolean {
  const url = URL.parse(indicator);
  return url !== null && url.protocol === "http:" && (url.hostname === "127.0.0.1" || url.hostname === "localhost") && url.hash === "" && url.username === "" && url.password === "";
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:3rem auto}label,input,button{display:block;width:100%;margin:.4rem 0}.error{color:#b00020}</style>
</head><body>${body}</body></html>`;
}

function loginPage(uid: string, clientId: string, login: string, error?: string): string {
  return page(
    "Sign in - demo IdP",
    `<h1>Sign in</h1>
<p>to continue to <code>${escapeHtml(clientId)}</code></p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/interaction/${encodeURIComponent(uid)}/login" autocomplete="off">
<label for="login">Username</label><input id="login" name="login" value="${escapeHtml(login)}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>`,
  );
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error("form too large");
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

/**
 * No `form-action` in the CSP: Chromium applies it to the redirects that follow a form's POST too,
 * and the login form's POST ends, through redirects, at the client's redirect URI on another origin.
 */
function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
  });
  res.end(html);
}

/** Starts the demo IdP; `stop()` closes it (idempotent). */
export async function startDemoIdp(options: DemoIdpOptions): Promise<DemoIdp> {
  const port = options.port ?? (await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  const users: Record<string, DemoUser> = options.users ?? DEMO_USERS;
  const byLogin = new Map(Object.values(users).map((u) => [u.login, u]));
  const bySub = new Map(Object.values(users).map((u) => [u.sub, u]));
  const log: string[] = [];
  const note = (line: string) => {
    log.push(line);
    if (log.length > 200) log.shift();
  };

  const grantTypesOf = new Map(options.clients.map((c) => [c.clientId, c.grantTypes ?? ["authorization_code", "refresh_token"]]));
  /**
   * The `cid`s (one per authorization request, kept across its login and consent interactions) of
   * the requests whose scope, as the client sent it, asked for offline_access. Bounded: a test
   * IdP's worth of logins.
   */
  const offlineRequested = new Set<string>();
  const grantHasOffline = (grant: { getOIDCScope?: () => string } | undefined): boolean =>
    grant?.getOIDCScope?.().split(" ").includes("offline_access") ?? false;
  type HookCtx = { method?: string; query?: Record<string, unknown>; oidc?: { route?: string; body?: Record<string, unknown>; grant?: { getOIDCScope(): string }; entities?: { Grant?: { getOIDCScope(): string } } } };
  const hookGrant = (ctx: HookCtx) => ctx.oidc?.entities?.Grant ?? ctx.oidc?.grant;
  if (options.accessTokenTtlSeconds !== undefined && !(Number.isInteger(options.accessTokenTtlSeconds) && options.accessTokenTtlSeconds > 0)) {
    throw new Error(`accessTokenTtlSeconds must be a positive integer, got ${options.accessTokenTtlSeconds}`);
  }

  const storage = memoryAdapter();
  const provider = new Provider(issuer, {
    adapter: storage.adapter,
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      grant_types: c.grantTypes ?? ["authorization_code", "refresh_token"],
      response_types: ["code"],
      // client_secret_post is accepted too (oidc-provider treats the two as one).
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: options.idTokenSigningAlg ?? "RS256",
    })),
    jwks: { keys: signingKeys() },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    claims: {
      openid: ["sub", "roles"],
      email: ["email", "email_verified"],
      profile: ["name", "preferred_username"],
    },
    scopes: ["openid", "offline_access", "profile", "email", "calendar"],
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      // RFC 8707 (see the header): any loopback http resource gets RS256 JWT access tokens bound
      // to it; no default resource, so a request without `resource` gets opaque tokens as before.
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx: unknown, resourceIndicator: string) {
          if (!isLoopbackResource(resourceIndicator)) throw new errors.InvalidTarget("resource indicator must be an http URL on 127.0.0.1 or localhost");
          return {
            scope: "calendar",
            audience: resourceIndicator,
            accessTokenFormat: "jwt",
            accessTokenTTL: options.accessTokenTtlSeconds ?? TTL_SECONDS.AccessToken,
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
    interactions: {
      url(ctx: HookCtx, interaction: { uid: string; cid?: string }) {
        // The first interaction of an authorization request sees the request as sent (a resumed
        // one, at /auth/<uid>, has no scope of its own: its cid was recorded then).
        if (ctx.oidc?.route === "authorization" && interaction.cid) {
          const raw = ctx.method === "POST" ? ctx.oidc.body?.scope : ctx.query?.scope;
          if (typeof raw === "string" && raw.split(" ").includes("offline_access")) {
            offlineRequested.add(interaction.cid);
            if (offlineRequested.size > 1000) offlineRequested.delete(offlineRequested.values().next().value!);
          }
        }
        return `/interaction/${interaction.uid}`;
      },
    },
    // Refresh tokens without prompt=consent (see the header): the grant decides, not the request.
    async issueRefreshToken(ctx: HookCtx, client: { grantTypeAllowed(type: string): boolean }, source: { scopes: Set<string> }) {
      return client.grantTypeAllowed("refresh_token") && (source.scopes.has("offline_access") || grantHasOffline(hookGrant(ctx)));
    },
    // Offline access outlives the login session (oidc-provider's default looks at the request's scope only).
    async expiresWithSession(ctx: HookCtx, source: { scopes: Set<string> }) {
      return !(source.scopes.has("offline_access") || grantHasOffline(hookGrant(ctx)));
    },
    ttl: { ...TTL_SECONDS, AccessToken: options.accessTokenTtlSeconds ?? TTL_SECONDS.AccessToken },
    ...(options.rotateRefreshTokens ? { rotateRefreshToken: true } : {}),
    clientBasedCORS: () => true,
    async findAccount(_ctx: unknown, sub: string) {
      const user = bySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: user.email,
            email_verified: true,
            name: user.name,
            preferred_username: user.login,
            roles: [...user.roles],
          };
        },
      };
    },
    async renderError(ctx: { type: string; body: string }, out: Record<string, string>) {
      ctx.type = "html";
      ctx.body = page(
        "Error - demo IdP",
        `<h1>Error</h1>${Object.entries(out)
          .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: <span class="${escapeHtml(key)}">${escapeHtml(String(value))}</span></p>`)
          .join("")}`,
      );
    },
  });
  provider.on("server_error", (_ctx: unknown, error: Error) => note(`server_error: ${error?.stack ?? error}`));
  // A listener of its own keeps Koa from printing errors itself.
  provider.on("error", (error: Error) => note(`error: ${error?.stack ?? error}`));
  const oidc = provider.callback();

  async function interaction(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const [, , uid, action] = path.split("/"); // "", "interaction", uid, action?
    let details: InteractionDetails;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      // No interaction cookie, or an expired / foreign one.
      return send(res, 400, page("Error - demo IdP", `<h1>Error</h1><p class="error">This sign-in request has expired or is unknown. Start again from the application.</p>`));
    }
    if (details.uid !== uid) return send(res, 400, page("Error - demo IdP", "<h1>Error</h1><p>Interaction mismatch.</p>"));
    const clientId = String(details.params.client_id ?? "");

    if (details.prompt.name === "login") {
      if (req.method === "GET" && action === undefined) return send(res, 200, loginPage(uid, clientId, ""));
      if (req.method === "POST" && action === "login") {
        const form = await readForm(req);
        const login = form.get("login") ?? "";
        const user = byLogin.get(login);
        if (!user || form.get("password") !== user.password) {
          return send(res, 401, loginPage(uid, clientId, login, "Invalid username or password."));
        }
        return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
      }
    } else if (details.prompt.name === "consent" && req.method === "GET" && action === undefined) {
      // First-party clients: grant what is asked without a page.
      const accountId = details.session?.accountId;
      if (!accountId) return send(res, 400, page("Error - demo IdP", "<h1>Error</h1><p>No session.</p>"));
      const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId });
      const missing = details.prompt.details as {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
      // oidc-provider dropped offline_access from the request (no prompt=consent): grant it anyway
      // if the client asked for it and may refresh (the issueRefreshToken hook reads the grant).
      if (details.cid && offlineRequested.delete(details.cid) && grantTypesOf.get(clientId)?.includes("refresh_token")) grant.addOIDCScope("offline_access");
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(" "));
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    send(res, 404, page("Not found - demo IdP", "<h1>Not found</h1>"));
  }

  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", issuer).pathname;
    if (path.startsWith("/interaction/")) {
      interaction(req, res, path).catch((error: unknown) => {
        note(`interaction: ${error instanceof Error ? error.stack : String(error)}`);
        if (!res.headersSent) send(res, 500, page("Error - demo IdP", "<h1>Error</h1><p>Internal error.</p>"));
        else res.end();
      });
      return;
    }
    oidc(req, res);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });

  let stopped: Promise<void> | undefined;
  return {
    name: "demo-idp",
    pid: process.pid,
    url: issuer,
    issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    users,
    revokeRefreshTokens: storage.revokeRefreshTokens,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return stopped;
    },
    output: () => log.join("\n"),
  };
}
