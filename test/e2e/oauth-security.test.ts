/**
 * The gateway's authorization server under attack, end to end: the gateway in workerd (wrangler
 * dev), the real OpenID provider (oidc-provider, test/support/idp.ts) behind its login, and raw
 * HTTP standing in for the browser and a hostile client (test/support/oauthLogin.ts drives the
 * forms). One test per attack. Every OAuth error must have the shape RFC 6749 names (§4.1.2.1 for
 * redirects, §5.2 for the token endpoint), an error page where a redirect would be unsafe, and no
 * answer anywhere is a 500.
 *
 * Cases the workers suite (test/workers/oauth.test.ts) already covers in depth in-process (key
 * rotation, scope narrowing, revocation of running sessions) are not repeated; code replay,
 * refresh reuse and tenant A's token at tenant B are, because here they go through the real login.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { createServer, type Server } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { DEMO_USERS, startDemoIdp, type DemoIdp } from "../support/idp.ts";
import { loginWithFetch, type CookieJar } from "../support/oauthLogin.ts";
import { freePort } from "../support/processes.ts";

const TENANT = "oauth-sec";
const OTHER = "oauth-sec-other";
const IDP_CLIENT_ID = "edge-gateway";
const IDP_SECRET = `idp-secret-${randomBytes(8).toString("hex")}`;
/** A pre-registered public client; nothing listens at its redirect URI (the drivers stop before it). */
const CLIENT = "sec-cli";
const REDIRECT = "http://127.0.0.1:9/cb";

let gateway: RunningGateway;
let idp: DemoIdp;
/** Every status the gateway answered in this file, checked for 500s at the end. */
const statuses: { url: string; status: number }[] = [];

async function gw(path: string, init: RequestInit = {}): Promise<Response> {
  const url = path.startsWith("http") ? path : `${gateway.origin}${path}`;
  const response = await fetch(url, { redirect: "manual", ...init });
  statuses.push({ url, status: response.status });
  return response;
}

const issuerOf = (tenant: string) => `${gateway.origin}/t/${tenant}`;
const resourceOf = (tenant: string) => `${gateway.origin}/t/${tenant}/mcp`;

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

function authorizeUrl(tenant: string, params: Record<string, string | undefined> = {}): string {
  const url = new URL(`${issuerOf(tenant)}/oauth/authorize`);
  const defaults: Record<string, string | undefined> = {
    response_type: "code",
    client_id: CLIENT,
    redirect_uri: REDIRECT,
    code_challenge: pkce().challenge,
    code_challenge_method: "S256",
    state: "client-state",
    resource: resourceOf(tenant),
  };
  for (const [k, v] of Object.entries({ ...defaults, ...params })) if (v !== undefined) url.searchParams.set(k, v);
  return url.href;
}

function tenantDoc(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    backends: [],
    auth: {
      oauth: {
        idp: { issuer: idp.issuer, clientId: IDP_CLIENT_ID, clientSecret: "IDP_SECRET", scopes: ["openid", "profile"], rolesClaim: "roles" },
        clients: [{ clientId: CLIENT, clientName: "Security CLI", redirectUris: [REDIRECT] }],
        ...extra,
      },
    },
  };
}

beforeAll(async () => {
  gateway = await startGateway({ vars: { IDP_SECRET } });
  idp = await startDemoIdp({
    clients: [{ clientId: IDP_CLIENT_ID, clientSecret: IDP_SECRET, redirectUris: [`${issuerOf(TENANT)}/oauth/callback`, `${issuerOf(OTHER)}/oauth/callback`] }],
  });
  await gateway.putTenant(tenantDoc(TENANT, { dynamicRegistration: true }));
  await gateway.putTenant(tenantDoc(OTHER));
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), idp?.stop()]);
});

/** A full login as alice to the client's redirect URI: the code, and the verifier that goes with it. */
async function codeFor(tenant = TENANT, params: Record<string, string> = {}): Promise<{ code: string; verifier: string; back: URL; jar: CookieJar }> {
  const { verifier, challenge } = pkce();
  const login = await loginWithFetch(authorizeUrl(tenant, { code_challenge: challenge, ...params }), { user: "alice", password: DEMO_USERS.alice.password, redirectPrefix: REDIRECT });
  for (const r of login.responses) if (r.url.startsWith(gateway.origin)) statuses.push({ url: r.url, status: r.status });
  const back = new URL(login.finalUrl);
  return { code: back.searchParams.get("code") ?? "", verifier, back, jar: login.jar };
}

async function token(tenant: string, form: Record<string, string>): Promise<Response> {
  return gw(`${issuerOf(tenant)}/oauth/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });
}

async function exchange(tenant: string, code: string, verifier: string, extra: Record<string, string> = {}): Promise<Response> {
  return token(tenant, { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: CLIENT, ...extra });
}

/** RFC 6749 §5.2: JSON with `error` (and here always a description), not cached. */
async function expectTokenError(response: Response, status: number, error: string): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  const body = (await response.json()) as Record<string, unknown>;
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe("string");
  // §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
  expect(body.error_description).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/);
}

/** An error shown to the user, never a redirect (the redirect URI is not known good). */
async function expectErrorPage(response: Response, status: number): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get("location")).toBeNull();
  expect(response.headers.get("content-type")).toMatch(/^text\/html/);
  return response.text();
}

/** RFC 6749 §4.1.2.1 with RFC 9207: back at the redirect URI with error, the client's state, iss. */
function expectRedirectError(response: Response, error: string, tenant = TENANT): URL {
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get("location")!);
  expect(location.origin + location.pathname).toBe(REDIRECT);
  expect(location.searchParams.get("error")).toBe(error);
  expect(location.searchParams.get("state")).toBe("client-state");
  expect(location.searchParams.get("iss")).toBe(issuerOf(tenant));
  expect(location.searchParams.get("code")).toBeNull();
  return location;
}

async function mcpStatus(tenant: string, accessToken: string): Promise<number> {
  const response = await gw(resourceOf(tenant), {
    method: "POST",
    headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "sec", version: "1" } } }),
  });
  await response.body?.cancel();
  return response.status;
}

describe("PKCE", () => {
  it("refuses an authorization request without a code challenge, or with the plain method, by redirect", async () => {
    expectRedirectError(await gw(authorizeUrl(TENANT, { code_challenge: undefined, code_challenge_method: undefined })), "invalid_request");
    expectRedirectError(await gw(authorizeUrl(TENANT, { code_challenge_method: "plain" })), "invalid_request");
  });

  it("refuses a code with a wrong or missing verifier, and the code is then spent", async () => {
    const { code, verifier } = await codeFor();
    await expectTokenError(await exchange(TENANT, code, pkce().verifier), 400, "invalid_grant");
    await expectTokenError(await token(TENANT, { grant_type: "authorization_code", code, redirect_uri: REDIRECT, client_id: CLIENT }), 400, "invalid_request");
    // The right verifier after a wrong one: the code was consumed by the first attempt.
    await expectTokenError(await exchange(TENANT, code, verifier), 400, "invalid_grant");
  });
});

describe("redirect URIs", () => {
  const hostile: [string, string][] = [
    ["another host", "https://evil.example/cb"],
    ["userinfo trick", "http://127.0.0.1:9@evil.example/cb"],
    ["another path", "http://127.0.0.1:9/cb/../evil"],
    ["a longer path", "http://127.0.0.1:9/cb/evil"],
    ["an added query", "http://127.0.0.1:9/cb?next=https://evil.example"],
    ["a fragment", "http://127.0.0.1:9/cb#evil"],
    ["https for http", "https://127.0.0.1:9/cb"],
    ["another scheme", "javascript:alert(1)//127.0.0.1:9/cb"],
    ["an encoded host", "http://127.0.0.1%2eevil.example:9/cb"],
  ];
  for (const [name, uri] of hostile) {
    it(`never redirects to an unregistered redirect URI (${name})`, async () => {
      const page = await expectErrorPage(await gw(authorizeUrl(TENANT, { redirect_uri: uri })), 400);
      expect(page).not.toContain("evil.example/cb?");
    });
  }

  it("accepts the registered loopback redirect on another port (RFC 8252 §7.3), and exactly it", async () => {
    const response = await gw(authorizeUrl(TENANT, { redirect_uri: "http://127.0.0.1:43123/cb" }));
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get("location")!).origin).toBe(new URL(idp.issuer).origin);
  });

  it("refuses a code at the token endpoint with a redirect URI other than the one it was issued for", async () => {
    const { code, verifier } = await codeFor();
    await expectTokenError(await exchange(TENANT, code, verifier, { redirect_uri: "http://127.0.0.1:9/other" }), 400, "invalid_grant");
  });

  it("shows an error page, not a redirect, for an unknown client", async () => {
    await expectErrorPage(await gw(authorizeUrl(TENANT, { client_id: "nobody" })), 400);
  });
});

describe("codes and refresh tokens", () => {
  it("a replayed code is refused, and the tokens its first use gave stop working", async () => {
    const { code, verifier } = await codeFor();
    const first = await exchange(TENANT, code, verifier);
    expect(first.status).toBe(200);
    const issued = (await first.json()) as { access_token: string; refresh_token: string };
    expect(await mcpStatus(TENANT, issued.access_token)).toBe(200);
    await expectTokenError(await exchange(TENANT, code, verifier), 400, "invalid_grant");
    await expectTokenError(await token(TENANT, { grant_type: "refresh_token", refresh_token: issued.refresh_token, client_id: CLIENT }), 400, "invalid_grant");
    // The grant check at the MCP endpoint is cached for 2 s.
    await expect.poll(() => mcpStatus(TENANT, issued.access_token), { timeout: 6_000, interval: 500 }).toBe(401);
  });

  it("a refresh token used after rotation revokes the grant: the newest refresh token dies too", async () => {
    const { code, verifier } = await codeFor();
    const issued = (await (await exchange(TENANT, code, verifier)).json()) as { refresh_token: string };
    const rotated = await token(TENANT, { grant_type: "refresh_token", refresh_token: issued.refresh_token, client_id: CLIENT });
    expect(rotated.status).toBe(200);
    const next = (await rotated.json()) as { refresh_token: string; access_token: string };
    expect(next.refresh_token).not.toBe(issued.refresh_token);
    await expectTokenError(await token(TENANT, { grant_type: "refresh_token", refresh_token: issued.refresh_token, client_id: CLIENT }), 400, "invalid_grant");
    await expectTokenError(await token(TENANT, { grant_type: "refresh_token", refresh_token: next.refresh_token, client_id: CLIENT }), 400, "invalid_grant");
  });

  it("a token of tenant A is refused at tenant B, and B's token endpoint refuses A's code", async () => {
    const { code, verifier } = await codeFor(TENANT);
    const issued = (await (await exchange(TENANT, code, verifier)).json()) as { access_token: string };
    expect(await mcpStatus(TENANT, issued.access_token)).toBe(200);
    expect(await mcpStatus(OTHER, issued.access_token)).toBe(401);
    const other = await codeFor(TENANT);
    await expectTokenError(await exchange(OTHER, other.code, other.verifier), 400, "invalid_grant");
  });

  it("refuses a resource other than the tenant's MCP endpoint (RFC 8707)", async () => {
    expectRedirectError(await gw(authorizeUrl(TENANT, { resource: resourceOf(OTHER) })), "invalid_target");
  });
});

describe("the login in the browser", () => {
  /** /authorize as a browser: the login cookie it sets and the IdP request it sends the browser to. */
  async function begin(): Promise<{ cookie: string; setCookie: string; idpRequest: URL }> {
    const response = await gw(authorizeUrl(TENANT));
    expect(response.status).toBe(302);
    const setCookie = response.headers.getSetCookie().find((c) => c.startsWith("__Host-mcp-login="))!;
    return { setCookie, cookie: setCookie.split(";")[0]!, idpRequest: new URL(response.headers.get("location")!) };
  }

  it("sets its login cookie __Host-, HttpOnly, Secure, SameSite=Lax, Path=/, short-lived, and clears it after consent", async () => {
    const { setCookie } = await begin();
    const attributes = setCookie.split(";").map((p) => p.trim().toLowerCase());
    expect(attributes).toEqual(expect.arrayContaining(["httponly", "secure", "samesite=lax", "path=/"]));
    expect(attributes.some((a) => a.startsWith("domain="))).toBe(false);
    const maxAge = Number(attributes.find((a) => a.startsWith("max-age="))?.slice("max-age=".length));
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(600);

    const { jar } = await codeFor();
    expect(jar.get("__Host-mcp-login", new URL(gateway.origin).hostname)).toBeUndefined();
  });

  it("ends the sign-in on a state mismatch at its callback (login CSRF)", async () => {
    const { cookie, idpRequest } = await begin();
    expect(idpRequest.searchParams.get("state")).toMatch(/\S{16,}/);
    const forged = await gw(`${issuerOf(TENANT)}/oauth/callback?code=attacker-code&state=attacker-state&iss=${encodeURIComponent(idp.issuer)}`, { headers: { cookie } });
    expect(await expectErrorPage(forged, 400)).toMatch(/state mismatch/);
    // The sign-in is gone: the real state no longer helps.
    const late = await gw(`${issuerOf(TENANT)}/oauth/callback?code=x&state=${idpRequest.searchParams.get("state")}&iss=${encodeURIComponent(idp.issuer)}`, { headers: { cookie } });
    await expectErrorPage(late, 400);
  });

  it("refuses a callback without the browser's login cookie", async () => {
    const { idpRequest } = await begin();
    await expectErrorPage(await gw(`${issuerOf(TENANT)}/oauth/callback?code=x&state=${idpRequest.searchParams.get("state")}`), 400);
  });

  it("refuses an answer from another issuer (mix-up, RFC 9207)", async () => {
    const { cookie, idpRequest } = await begin();
    const mixed = await gw(`${issuerOf(TENANT)}/oauth/callback?code=x&state=${idpRequest.searchParams.get("state")}&iss=${encodeURIComponent("https://evil.example")}`, { headers: { cookie } });
    expect(await expectErrorPage(mixed, 400)).toMatch(/iss mismatch/);
  });

  /** Through the IdP's login to the gateway's consent page; stops before answering it. */
  async function atConsent(): Promise<{ jar: CookieJar; consentToken: string; cookie: string }> {
    const login = await loginWithFetch(authorizeUrl(TENANT), {
      user: "alice",
      password: DEMO_USERS.alice.password,
      isDone: (url) => url.startsWith(`${issuerOf(TENANT)}/oauth/consent`) || url.startsWith(REDIRECT),
    });
    const page = login.responses.at(-1)!;
    expect(page.url.startsWith(`${issuerOf(TENANT)}/oauth/callback`)).toBe(true);
    expect(page.status).toBe(200);
    // The consent page names the client, its redirect host and the scopes.
    expect(page.body).toContain("Security CLI");
    expect(page.body).toContain("127.0.0.1:9");
    expect(page.body).toContain("mcp");
    const consentToken = /name="consent" value="([^"]+)"/.exec(page.body ?? "")?.[1] ?? "";
    expect(consentToken).not.toBe("");
    return { jar: login.jar, consentToken, cookie: login.jar.header(`${issuerOf(TENANT)}/oauth/consent`) ?? "" };
  }

  function consent(form: Record<string, string>, cookie?: string): Promise<Response> {
    return gw(`${issuerOf(TENANT)}/oauth/consent`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...(cookie ? { cookie } : {}) },
      body: new URLSearchParams(form).toString(),
    });
  }

  it("refuses a consent form posted without the browser's cookie (cross-site request)", async () => {
    const { consentToken } = await atConsent();
    await expectErrorPage(await consent({ consent: consentToken, decision: "allow" }), 400);
  });

  it("refuses a consent form with the wrong token, and the sign-in is then spent", async () => {
    const { consentToken, cookie } = await atConsent();
    expect(cookie).toMatch(/__Host-mcp-login=/);
    await expectErrorPage(await consent({ consent: "forged", decision: "allow" }, cookie), 400);
    await expectErrorPage(await consent({ consent: consentToken, decision: "allow" }, cookie), 400);
  });

  it("sends the client access_denied (with state and iss) when the user denies", async () => {
    const { consentToken, cookie } = await atConsent();
    const denied = await consent({ consent: consentToken, decision: "deny" }, cookie);
    expect(denied.status).toBe(303);
    const location = new URL(denied.headers.get("location")!);
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toBe("client-state");
    expect(location.searchParams.get("iss")).toBe(issuerOf(TENANT));
    expect(location.searchParams.get("code")).toBeNull();
  });

  it("serves its pages with a CSP whose form-action allows only itself and the client's redirect origin", async () => {
    const login = await loginWithFetch(authorizeUrl(TENANT), { user: "alice", password: DEMO_USERS.alice.password, isDone: (url) => url.startsWith(`${issuerOf(TENANT)}/oauth/consent`) });
    const csp = login.responses.at(-1)!.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/form-action 'self' http:\/\/127\.0\.0\.1:9(;|\s|$)/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
  });
});

describe("dynamic client registration (RFC 7591)", () => {
  it("registers a public client, refuses an unsafe redirect URI, and is 403 where the tenant has not enabled it", async () => {
    const register = (tenant: string, body: unknown) => gw(`${issuerOf(tenant)}/oauth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const created = await register(TENANT, { client_name: "Registered", redirect_uris: ["http://127.0.0.1:9/cb"], token_endpoint_auth_method: "client_secret_post" });
    expect(created.status).toBe(201);
    const client = (await created.json()) as Record<string, unknown>;
    expect(client).toMatchObject({ client_name: "Registered", token_endpoint_auth_method: "none", redirect_uris: ["http://127.0.0.1:9/cb"] });
    expect(client.client_secret).toBeUndefined();
    await expectTokenError(await register(TENANT, { redirect_uris: ["javascript:alert(1)"] }), 400, "invalid_redirect_uri");
    await expectTokenError(await register(TENANT, { redirect_uris: ["http://evil.example/cb"] }), 400, "invalid_redirect_uri");
    await expectTokenError(await register(TENANT, "not an object"), 400, "invalid_client_metadata");
    await expectTokenError(await register(OTHER, { redirect_uris: ["http://127.0.0.1:9/cb"] }), 403, "access_denied");
  });
});

describe("Client ID Metadata Documents at this gateway (private backends allowed, as in local development)", () => {
  let server: Server;
  let base: string;
  let slowHits = 0;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = createServer((request, response) => {
      const doc = { client_id: `${base}${request.url}`, client_name: "Doc", redirect_uris: [REDIRECT] };
      if (request.url === "/redirecting.json") return void response.writeHead(302, { location: `${base}/ok.json` }).end();
      if (request.url === "/ok.json") return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...doc, client_id: `${base}/ok.json` }));
      if (request.url === "/big.json") return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...doc, client_name: "x".repeat(64 * 1024) }));
      if (request.url === "/slow.json") {
        slowHits++;
        setTimeout(() => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc)), 15_000).unref();
        return;
      }
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  });

  afterAll(() => {
    server?.closeAllConnections();
    server?.close();
  });

  it("follows no redirect to a metadata document", async () => {
    expect(await expectErrorPage(await gw(authorizeUrl(TENANT, { client_id: `${base}/redirecting.json` })), 400)).toMatch(/redirect/i);
  });

  it("refuses an oversized metadata document", async () => {
    expect(await expectErrorPage(await gw(authorizeUrl(TENANT, { client_id: `${base}/big.json` })), 400)).toMatch(/large|size|bytes/i);
  });

  it("gives up on a slow metadata document within seconds", async () => {
    const started = Date.now();
    const response = await gw(authorizeUrl(TENANT, { client_id: `${base}/slow.json` }));
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.headers.get("location")).toBeNull();
    await response.body?.cancel();
    expect(Date.now() - started).toBeLessThan(12_000);
    expect(slowHits).toBe(1);
  });

  it("accepts a well-formed document (the guard is not refusing everything)", async () => {
    const response = await gw(authorizeUrl(TENANT, { client_id: `${base}/ok.json` }));
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get("location")!).origin).toBe(new URL(idp.issuer).origin);
  });
});

describe("Client ID Metadata Documents at a production gateway (no private addresses)", () => {
  let production: RunningGateway;
  let listener: TcpServer;
  let connections = 0;
  let port = 0;

  beforeAll(async () => {
    // Something listens on 127.0.0.1 and counts connections: the gateway must never open one.
    listener = createTcpServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    port = (listener.address() as { port: number }).port;
    production = await startGateway({ vars: { ALLOW_PRIVATE_BACKENDS: "false", IDP_SECRET } });
    // A public-looking IdP (never reached: the client is judged before the IdP is asked anything).
    await production.putTenant({
      id: TENANT,
      backends: [],
      auth: { oauth: { idp: { issuer: "https://idp.example.com", clientId: IDP_CLIENT_ID, clientSecret: "IDP_SECRET" } } },
    });
  }, 120_000);

  afterAll(async () => {
    listener?.close();
    await production?.stop();
  });

  afterEach(() => {
    expect(connections).toBe(0);
  });

  const privateIds = (p: number) => [
    ["loopback", `https://127.0.0.1:${p}/client.json`],
    ["localhost", `https://localhost:${p}/client.json`],
    ["IPv6 loopback", `https://[::1]:${p}/client.json`],
    ["private range", "https://10.0.0.7/client.json"],
    ["link-local (cloud metadata)", "https://169.254.169.254/latest/client.json"],
    ["decimal loopback", "https://2130706433/client.json"],
  ];
  for (const index of privateIds(0).keys()) {
    it(`refuses a metadata document URL at a private address (${privateIds(0)[index]![0]})`, async () => {
      const url = new URL(`${production.origin}/t/${TENANT}/oauth/authorize`);
      for (const [k, v] of Object.entries({ response_type: "code", client_id: privateIds(port)[index]![1]!, redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: "S256" })) url.searchParams.set(k, v);
      const response = await gw(url.href);
      expect(await expectErrorPage(response, 400)).toMatch(/private|loopback|link-local|not a valid|not known/i);
    });
  }
});

describe("malformed requests", () => {
  it("answers every malformed request to the authorization server with a 4xx and an RFC 6749 shape, never a 500", async () => {
    const form = (body: string, headers: Record<string, string> = {}) => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body });
    const tokenUrl = `${issuerOf(TENANT)}/oauth/token`;
    await expectTokenError(await gw(tokenUrl, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }), 400, "invalid_request");
    await expectTokenError(await gw(tokenUrl, form("grant_type=password&username=a&password=b")), 400, "unsupported_grant_type");
    await expectTokenError(await gw(tokenUrl, form("grant_type=authorization_code&grant_type=refresh_token")), 400, "invalid_request");
    await expectTokenError(await gw(tokenUrl, form("grant_type=authorization_code&code=x&code_verifier=y&redirect_uri=z")), 401, "invalid_client");
    await expectTokenError(await gw(tokenUrl, form("grant_type=authorization_code&code=x&client_id=nobody&code_verifier=y&redirect_uri=z")), 401, "invalid_client");
    await expectTokenError(await gw(tokenUrl, form("grant_type=authorization_code&code=x&code_verifier=y&redirect_uri=z", { authorization: "Basic %%%" })), 401, "invalid_client");
    // Basic credentials whose parts are not valid percent-encoding (RFC 6749 §2.3.1 form-encodes them).
    await expectTokenError(await gw(tokenUrl, form("grant_type=authorization_code&code=x&code_verifier=y&redirect_uri=z", { authorization: `Basic ${btoa("%zz:%zz")}` })), 401, "invalid_client");
    await expectTokenError(await gw(tokenUrl, form(`grant_type=refresh_token&client_id=${CLIENT}&refresh_token=${"x".repeat(20_000)}`)), 400, "invalid_request");
    await expectTokenError(await gw(tokenUrl, form(`grant_type=refresh_token&client_id=${CLIENT}&refresh_token=garbage`)), 400, "invalid_grant");
    await expectTokenError(await gw(`${issuerOf(TENANT)}/oauth/revoke`, form("")), 400, "invalid_request");
    await expectErrorPage(await gw(`${issuerOf(TENANT)}/oauth/authorize`), 400);
    await expectErrorPage(await gw(`${issuerOf(TENANT)}/oauth/callback?state=x&code=y`), 400);
    await expectErrorPage(await gw(`${issuerOf(TENANT)}/oauth/consent`, form("consent=x&decision=allow")), 400);
    expect((await gw(`${gateway.origin}/t/no-such-tenant/oauth/token`, form("grant_type=authorization_code"))).status).toBe(404);
    expect((await gw(`${gateway.origin}/.well-known/oauth-authorization-server/t/no-such-tenant`)).status).toBe(404);
  });

  // Pins a wrangler 4.164 dev-server quirk (worker/protocol/body.ts, readTextCapped): when the
  // Worker cancelled an oversized request body, up to one in 25 of the next requests on the
  // same keep-alive connection failed with a 500 "Network connection lost" from the dev proxy.
  // The bodies are now left unread. With the cancel in place, 200 pairs against a fresh gateway
  // failed 1 to 8 times per run (a fresh gateway is where it showed most; here it is a tripwire).
  it("keeps the connection good after refusing an oversized body (token endpoint and admin API)", async () => {
    const tokenUrl = `${issuerOf(TENANT)}/oauth/token`;
    const form = (body: string) => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
    const admin = (body: string) => ({ method: "PUT", headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" }, body });
    const seen = new Set<string>();
    for (let i = 0; i < 150; i++) {
      const big = await gw(tokenUrl, form(`grant_type=refresh_token&client_id=${CLIENT}&refresh_token=${"x".repeat(20_000)}`));
      await big.arrayBuffer();
      const next = await gw(tokenUrl, form(`grant_type=refresh_token&client_id=${CLIENT}&refresh_token=garbage`));
      await next.arrayBuffer();
      seen.add(`token ${big.status} ${next.status}`);
    }
    for (let i = 0; i < 40; i++) {
      const big = await gw(`/admin/tenants/${OTHER}`, admin(JSON.stringify({ id: OTHER, pad: "x".repeat(2 * 1024 * 1024) })));
      await big.arrayBuffer();
      const next = await gw(`/admin/tenants/${OTHER}`, { headers: { authorization: `Bearer ${gateway.adminToken}` } });
      await next.arrayBuffer();
      seen.add(`admin ${big.status} ${next.status}`);
    }
    expect([...seen]).toEqual(["token 400 400", "admin 413 200"]);
  });

  it("answered no request in this file with a 5xx", () => {
    expect(statuses.length).toBeGreaterThan(40);
    expect(statuses.filter((s) => s.status >= 500)).toEqual([]);
  });
});
