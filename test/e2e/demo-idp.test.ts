/**
 * The demo OpenID provider (test/support/idp.ts) on its own, no gateway: what the gateway's
 * federation will rely on. Discovery; the authorization code flow with PKCE and nonce driven by
 * loginWithFetch and by loginInPage in headless Chromium (test/support/oauthLogin.ts; the IdP has
 * no consent page, so the drivers go from its login form straight to the redirect URI); the
 * id_token's signature and claims (roles as a JSON array); wrong passwords, unknown redirect URIs,
 * missing PKCE and a wrong code_verifier refused. A stand-in for the gateway (a few lines of
 * node:http below, not the real one) puts a consent page after the IdP, so the drivers' consent
 * step is exercised too.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRemoteJWKSet, jwtVerify } from "jose";
import type { BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../support/browser.ts";
import { DEMO_USERS, startDemoIdp, type DemoIdp } from "../support/idp.ts";
import { LoginRejectedError, loginInPage, loginWithFetch } from "../support/oauthLogin.ts";
import { freePort } from "../support/processes.ts";

const CLIENT_ID = "gateway";
const CLIENT_SECRET = "gateway-client-secret";
/** Nothing listens there: the drivers stop before fetching it. */
const REDIRECT_URI = "http://127.0.0.1:9/t/acme/oauth/callback";

let idp: DemoIdp;
let fakeGateway: { url: string; server: Server };
/** Where the fake gateway sends the MCP client back; nothing listens there either. */
const CLIENT_REDIRECT = "http://127.0.0.1:9/client/callback";

beforeAll(async () => {
  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  idp = await startDemoIdp({
    clients: [
      { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [REDIRECT_URI] },
      { clientId: "fake-gateway", clientSecret: "fake-gateway-secret", redirectUris: [`${gatewayUrl}/callback`] },
    ],
  });
  fakeGateway = { url: gatewayUrl, server: await startFakeGateway(gatewayPort) };
});

afterAll(async () => {
  fakeGateway?.server.closeAllConnections();
  fakeGateway?.server.close();
  await idp?.stop();
});

/**
 * The shape of the gateway's flow, not its code: /authorize sends the browser to the IdP (a
 * transaction cookie set), /callback redeems the IdP's code and shows a consent form with a hidden
 * field (entity-encoded on purpose), /consent sends the browser to the MCP client's redirect URI
 * with a code or access_denied.
 */
function startFakeGateway(port: number): Promise<Server> {
  const base = `http://127.0.0.1:${port}`;
  const transactions = new Map<string, { verifier: string; nonce: string; clientState: string; user?: unknown }>();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", base);
    const tx = /(?:^|; )gw_tx=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
    try {
      if (url.pathname === "/authorize") {
        const id = randomBytes(8).toString("hex");
        const verifier = randomBytes(32).toString("base64url");
        const nonce = randomBytes(8).toString("hex");
        transactions.set(id, { verifier, nonce, clientState: url.searchParams.get("state") ?? "" });
        const target = new URL(`${idp.issuer}/auth`);
        target.search = new URLSearchParams({
          client_id: "fake-gateway",
          response_type: "code",
          redirect_uri: `${base}/callback`,
          scope: "openid profile email",
          state: id,
          nonce,
          code_challenge: createHash("sha256").update(verifier).digest("base64url"),
          code_challenge_method: "S256",
          prompt: "login",
        }).toString();
        res.writeHead(302, { location: target.href, "set-cookie": `gw_tx=${id}; Path=/; HttpOnly; SameSite=Lax` }).end();
      } else if (url.pathname === "/callback" && tx && url.searchParams.get("state") === tx && transactions.has(tx)) {
        const transaction = transactions.get(tx)!;
        const form = new URLSearchParams({
          grant_type: "authorization_code",
          code: url.searchParams.get("code") ?? "",
          redirect_uri: `${base}/callback`,
          code_verifier: transaction.verifier,
        });
        const token = await fetch(`${idp.issuer}/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from("fake-gateway:fake-gateway-secret").toString("base64")}` },
          body: form,
        });
        const { id_token } = (await token.json()) as { id_token: string };
        const { payload } = await jwtVerify(id_token, createRemoteJWKSet(new URL(`${idp.issuer}/jwks`)), { issuer: idp.issuer, audience: "fake-gateway" });
        if (payload.nonce !== transaction.nonce) throw new Error("nonce");
        transaction.user = payload.sub;
        res.writeHead(200, { "content-type": "text/html" }).end(
          `<!doctype html><title>Consent</title><p>Allow the client for ${String(payload.name)}?</p>
<form method="post" action="/consent"><input type="hidden" name="tx" value="${tx}&amp;1">
<button type="submit" name="decision" value="allow">Allow</button> <button type="submit" name="decision" value="deny">Deny</button></form>`,
        );
      } else if (url.pathname === "/consent" && req.method === "POST" && tx && transactions.get(tx)?.user) {
        let body = "";
        for await (const chunk of req) body += chunk;
        const form = new URLSearchParams(body);
        const { clientState } = transactions.get(tx)!;
        transactions.delete(tx);
        if (form.get("tx") !== `${tx}&1`) throw new Error("hidden field");
        const back = new URL(CLIENT_REDIRECT);
        if (form.get("decision") === "allow") back.searchParams.set("code", "gw-code");
        else back.searchParams.set("error", "access_denied");
        back.searchParams.set("state", clientState);
        res.writeHead(302, { location: back.href }).end();
      } else {
        res.writeHead(400).end("bad request");
      }
    } catch (error) {
      res.writeHead(500).end(String(error));
    }
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint: string;
  code_challenge_methods_supported: string[];
  token_endpoint_auth_methods_supported: string[];
  id_token_signing_alg_values_supported: string[];
  response_types_supported: string[];
  scopes_supported: string[];
  claims_supported: string[];
}

async function discovery(): Promise<Discovery> {
  const response = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
  expect(response.status).toBe(200);
  return (await response.json()) as Discovery;
}

/** An authorization request as the gateway will make it, with its PKCE verifier, state and nonce. */
function authorizationRequest(overrides: Record<string, string | undefined> = {}) {
  const verifier = randomBytes(32).toString("base64url");
  const state = randomBytes(12).toString("base64url");
  const nonce = randomBytes(12).toString("base64url");
  const params: Record<string, string | undefined> = {
    client_id: CLIENT_ID,
    response_type: "code",
    redirect_uri: REDIRECT_URI,
    scope: "openid profile email",
    state,
    nonce,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    ...overrides,
  };
  const url = new URL(`${idp.issuer}/auth`);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
  return { url: url.href, verifier, state, nonce };
}

async function exchange(code: string, verifier: string, auth: "basic" | "post" = "basic"): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (auth === "basic") headers.authorization = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64")}`;
  else {
    form.set("client_id", CLIENT_ID);
    form.set("client_secret", CLIENT_SECRET);
  }
  const response = await fetch((await discovery()).token_endpoint, { method: "POST", headers, body: form });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function verifyIdToken(idToken: unknown, nonce: string) {
  expect(typeof idToken).toBe("string");
  const jwks = createRemoteJWKSet(new URL((await discovery()).jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(idToken as string, jwks, { issuer: idp.issuer, audience: CLIENT_ID });
  expect(payload.nonce).toBe(nonce);
  return { payload, protectedHeader };
}

describe("the demo IdP", () => {
  it("publishes a discovery document with the endpoints and what the gateway relies on", async () => {
    const doc = await discovery();
    expect(doc.issuer).toBe(idp.issuer);
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const endpoint of [doc.authorization_endpoint, doc.token_endpoint, doc.jwks_uri, doc.userinfo_endpoint]) {
      expect(endpoint.startsWith(`${idp.issuer}/`)).toBe(true);
    }
    expect(doc.code_challenge_methods_supported).toEqual(["S256"]);
    expect(doc.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(["client_secret_basic", "client_secret_post"]));
    expect(doc.id_token_signing_alg_values_supported).toContain("RS256");
    expect(doc.response_types_supported).toContain("code");
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(["openid", "profile", "email"]));
    expect(doc.claims_supported).toEqual(expect.arrayContaining(["sub", "email", "name", "roles"]));
  });

  it("logs alice in with code + PKCE: the id_token carries her roles, email, name and the nonce", async () => {
    const request = authorizationRequest();
    const { finalUrl, responses, jar } = await loginWithFetch(request.url, { user: "alice", password: "alice-password", redirectPrefix: REDIRECT_URI });
    const callback = new URL(finalUrl);
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT_URI);
    expect(callback.searchParams.get("state")).toBe(request.state);
    expect(callback.searchParams.get("iss")).toBe(idp.issuer); // RFC 9207
    const code = callback.searchParams.get("code");
    expect(code).toBeTruthy();

    // The login form was shown once, posted once, and no consent page followed.
    expect(responses.filter((r) => r.status === 200 && r.body?.includes('name="password"'))).toHaveLength(1);
    expect(responses.filter((r) => r.method === "POST")).toHaveLength(1);
    // The IdP's session cookie works over plain http: HttpOnly, not Secure.
    const session = jar.get("_session", "127.0.0.1");
    expect(session?.attributes.httponly).toBe(true);
    expect(session?.attributes.secure).toBeUndefined();

    const tokens = await exchange(code!, request.verifier, "basic");
    expect(tokens.status).toBe(200);
    const { payload, protectedHeader } = await verifyIdToken(tokens.body.id_token, request.nonce);
    expect(protectedHeader.alg).toBe("RS256");
    expect(payload).toMatchObject({ sub: "alice", email: "alice@example.com", name: "Alice", roles: ["admin"] });
    expect(payload.roles).toEqual(DEMO_USERS.alice.roles);

    // A code is good once.
    expect((await exchange(code!, request.verifier)).body.error).toBe("invalid_grant");
  });

  it("accepts client_secret_post too, and gives bob his own roles", async () => {
    const request = authorizationRequest();
    const { finalUrl } = await loginWithFetch(request.url, { user: "bob", password: "bob-password", redirectPrefix: REDIRECT_URI });
    const tokens = await exchange(new URL(finalUrl).searchParams.get("code")!, request.verifier, "post");
    expect(tokens.status).toBe(200);
    const { payload } = await verifyIdToken(tokens.body.id_token, request.nonce);
    expect(payload).toMatchObject({ sub: "bob", email: "bob@example.com", name: "Bob", roles: ["user"] });
  });

  it("refuses a wrong password or an unknown user: the form comes back with an error, nobody is logged in", async () => {
    for (const [user, password] of [
      ["alice", "bob-password"],
      ["mallory", "alice-password"],
    ] as const) {
      const failure = await loginWithFetch(authorizationRequest().url, { user, password, redirectPrefix: REDIRECT_URI }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(LoginRejectedError);
      expect((failure as LoginRejectedError).status).toBe(401);
      expect((failure as LoginRejectedError).message).toContain("Invalid username or password");
    }
  });

  it("refuses an unknown redirect_uri with an error page, redirecting nowhere", async () => {
    const request = authorizationRequest({ redirect_uri: "http://127.0.0.1:9/elsewhere" });
    const response = await fetch(request.url, { redirect: "manual" });
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
    expect(await response.text()).toContain("invalid_redirect_uri");
  });

  it("requires PKCE, and the right code_verifier at the token endpoint", async () => {
    const withoutPkce = await fetch(authorizationRequest({ code_challenge: undefined, code_challenge_method: undefined }).url, { redirect: "manual" });
    const refused = new URL(withoutPkce.headers.get("location") ?? "", idp.issuer);
    expect(`${refused.origin}${refused.pathname}`).toBe(REDIRECT_URI);
    expect(refused.searchParams.get("error")).toBe("invalid_request");

    const request = authorizationRequest();
    const { finalUrl } = await loginWithFetch(request.url, { user: "alice", password: "alice-password", redirectPrefix: REDIRECT_URI });
    const tokens = await exchange(new URL(finalUrl).searchParams.get("code")!, randomBytes(32).toString("base64url"));
    expect(tokens.status).toBe(400);
    expect(tokens.body.error).toBe("invalid_grant");
  });
});

describe("through a consent page after the IdP (a stand-in gateway)", () => {
  for (const decision of ["allow", "deny"] as const) {
    it(`loginWithFetch answers the consent form: ${decision}`, async () => {
      const { finalUrl, responses, jar } = await loginWithFetch(`${fakeGateway.url}/authorize?state=client-state`, {
        user: "bob",
        password: "bob-password",
        decision,
        redirectPrefix: CLIENT_REDIRECT,
      });
      const back = new URL(finalUrl);
      expect(back.searchParams.get("state")).toBe("client-state");
      if (decision === "allow") expect(back.searchParams.get("code")).toBe("gw-code");
      else expect(back.searchParams.get("error")).toBe("access_denied");
      expect(jar.get("gw_tx", "127.0.0.1")?.attributes).toMatchObject({ httponly: true, samesite: "Lax", path: "/" });
      expect(responses.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`)).toContain("POST /consent 302");
    });
  }
});

describe("the demo IdP in a browser (loginInPage)", () => {
  let profile: string;
  let browser: BrowserContext;

  beforeAll(async () => {
    profile = mkdtempSync(join(tmpdir(), "demo-idp-browser-"));
    browser = await launchChromium(profile);
  });

  afterAll(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("signs in through the IdP's own form and lands on the redirect URI with a code", async () => {
    const page = await browser.newPage();
    const request = authorizationRequest();
    const finalUrl = await loginInPage(page, request.url, { user: "alice", password: "alice-password", decision: "allow", redirectPrefix: REDIRECT_URI });
    const callback = new URL(finalUrl);
    expect(callback.searchParams.get("state")).toBe(request.state);
    const tokens = await exchange(callback.searchParams.get("code")!, request.verifier);
    const { payload } = await verifyIdToken(tokens.body.id_token, request.nonce);
    expect(payload.roles).toEqual(["admin"]);
    await page.close();
  });

  for (const decision of ["allow", "deny"] as const) {
    it(`clicks ${decision} on the consent page after the IdP (a stand-in gateway)`, async () => {
      const page = await browser.newPage();
      const finalUrl = await loginInPage(page, `${fakeGateway.url}/authorize?state=s-${decision}`, { user: "bob", password: "bob-password", decision, redirectPrefix: CLIENT_REDIRECT });
      const back = new URL(finalUrl);
      expect(back.searchParams.get("state")).toBe(`s-${decision}`);
      expect(back.searchParams.get(decision === "allow" ? "code" : "error")).toBeTruthy();
      await page.close();
    });
  }

  it("shows the error on a wrong password and does not log in", async () => {
    // The IdP session of the test before is in this profile: prompt=login asks for the form anyway.
    const page = await browser.newPage();
    const request = authorizationRequest({ prompt: "login" });
    const failure = await loginInPage(page, request.url, { user: "alice", password: "wrong", redirectPrefix: REDIRECT_URI }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(LoginRejectedError);
    expect(await page.locator("[role=alert]").textContent()).toContain("Invalid username or password");
    await page.close();
  });
});
