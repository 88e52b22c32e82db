/**
 * Logging in through the gateway with real MCP clients (issue: the gateway as each tenant's OAuth
 * 2.1 authorization server, docs/oauth.md). The gateway runs in workerd (wrangler dev), its login
 * is federated to a real OpenID provider (oidc-provider, test/support/idp.ts), and the IdP's login
 * form and the gateway's consent page are completed in headless Chromium. Clients:
 *
 * - the MCP SDK v1 client with its OAuthClientProvider (discovery from the 401, RFC 9728 and RFC
 *   8414 metadata, dynamic client registration, PKCE, the code exchange, refresh on a 401);
 * - the SDK v2 client (`@modelcontextprotocol/client`), which checks the issuer's metadata and the
 *   authorization response's `iss` (RFC 9207);
 * - `mcp-remote`, the stdio bridge many desktop clients use, with its own callback server;
 * - the MCP Inspector CLI's interactive OAuth (registration, its loopback callback server).
 *
 * The users' IdP roles reach the gateway's policy unchanged: alice (admin) sees every tool, bob
 * (user) only the weather backend's; both land in the audit trail by subject.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext } from "playwright-core";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationFull, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import * as v2 from "@modelcontextprotocol/client";
import { launchChromium } from "../support/browser.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { DEMO_USERS, startDemoIdp, type DemoIdp } from "../support/idp.ts";
import { loginInPage, loginWithFetch } from "../support/oauthLogin.ts";
import { freePort, startDemoBackend, type RunningServer } from "../support/processes.ts";

const TENANT = "oauth-clients";
const IDP_CLIENT_ID = "edge-gateway";
const IDP_CLIENT_SECRET = `idp-secret-${Math.random().toString(36).slice(2)}`;

let gateway: RunningGateway;
let idp: DemoIdp;
let weather: RunningServer;
let notes: RunningServer;
let browser: BrowserContext;
let profile: string;
let mcpUrl: string;
let issuer: string;

beforeAll(async () => {
  [weather, notes] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes")]);
  // The gateway first: the IdP must know the gateway's callback, which has the gateway's port.
  gateway = await startGateway({ vars: { IDP_SECRET: IDP_CLIENT_SECRET } });
  idp = await startDemoIdp({
    clients: [{ clientId: IDP_CLIENT_ID, clientSecret: IDP_CLIENT_SECRET, redirectUris: [`${gateway.origin}/t/${TENANT}/oauth/callback`] }],
  });
  await gateway.putTenant({
    id: TENANT,
    backends: [
      { name: "weather", url: weather.url },
      { name: "notes", url: notes.url },
    ],
    naming: { mode: "always", separator: "__" },
    auth: {
      oauth: {
        idp: { issuer: idp.issuer, clientId: IDP_CLIENT_ID, clientSecret: "IDP_SECRET", scopes: ["openid", "profile"], rolesClaim: "roles" },
        scopes: ["mcp"],
        dynamicRegistration: true,
      },
    },
    policy: {
      defaultEffect: "deny",
      rules: [
        { id: "admins", effect: "allow", principals: { roles: ["admin"] } },
        { id: "users-weather", effect: "allow", principals: { roles: ["user"] }, items: { backends: ["weather"] } },
      ],
    },
  });
  mcpUrl = gateway.mcpUrl(TENANT);
  issuer = `${gateway.origin}/t/${TENANT}`;
  profile = mkdtempSync(join(tmpdir(), "oauth-clients-chromium-"));
  browser = await launchChromium(profile);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await Promise.allSettled([gateway?.stop(), idp?.stop(), weather?.stop(), notes?.stop()]);
});

/** Signs `user` in through the IdP and the consent page in a fresh browser state; returns the URL the client was sent back to. */
async function browserLogin(authorizeUrl: string, user: keyof typeof DEMO_USERS, redirectPrefix: string): Promise<URL> {
  await browser.clearCookies();
  const page = await browser.newPage();
  try {
    const { login, password } = DEMO_USERS[user];
    return new URL(await loginInPage(page, authorizeUrl, { user: login, password, redirectPrefix }));
  } finally {
    await page.close();
  }
}

/**
 * An OAuthClientProvider kept in memory, as a desktop client keeps one on disk. The SDK v1 and v2
 * interfaces have the same members; `redirectToAuthorization` only records the URL, the test opens it.
 */
class MemoryProvider {
  client?: OAuthClientInformationFull;
  saved?: OAuthTokens;
  verifier = "";
  authorizationUrl?: URL;
  readonly redirectUrl: string;
  readonly name: string;
  constructor(redirectUrl: string, name: string) {
    this.redirectUrl = redirectUrl;
    this.name = name;
  }
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: this.name, redirect_uris: [this.redirectUrl], grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none" };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationFull) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  /** What the SDK calls when the server refuses what was saved (a refused refresh token: "tokens"). */
  invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery") {
    if (scope === "all" || scope === "tokens") this.saved = undefined;
    if (scope === "all" || scope === "client") this.client = undefined;
    if (scope === "all" || scope === "verifier") this.verifier = "";
  }
}

async function admin(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${gateway.origin}/admin/tenants/${TENANT}${path}`, { ...init, headers: { authorization: `Bearer ${gateway.adminToken}`, ...init.headers } });
}

interface Grant {
  id: string;
  clientId: string;
  clientName: string;
  sub: string;
  roles: string[];
  revokedAt: string | null;
}

async function grants(): Promise<Grant[]> {
  const response = await admin("/oauth/grants");
  expect(response.status).toBe(200);
  return ((await response.json()) as { grants: Grant[] }).grants;
}

const names = (tools: { name: string }[]) => tools.map((t) => t.name).sort();

describe("MCP SDK v1 client (OAuthClientProvider)", () => {
  it("registers, logs alice in through the IdP and the consent page, lists every tool, refreshes on a 401, and stops at an operator's revocation", async () => {
    const redirect = `http://127.0.0.1:${await freePort()}/callback`;
    const provider = new MemoryProvider(redirect, "SDK v1 e2e");
    const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
    await expect(new Client({ name: "sdk-v1", version: "1.0.0" }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    // It found the gateway as the authorization server from the 401 and registered (RFC 7591).
    expect(provider.client?.client_id).toMatch(/\S/);
    expect(provider.client?.token_endpoint_auth_method).toBe("none");
    const authorize = provider.authorizationUrl!;
    expect(authorize.origin + authorize.pathname).toBe(`${issuer}/oauth/authorize`);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorize.searchParams.get("resource")).toBe(mcpUrl);

    const back = await browserLogin(authorize.href, "alice", redirect);
    expect(back.origin + back.pathname).toBe(redirect);
    expect(back.searchParams.get("iss")).toBe(issuer);
    expect(back.searchParams.get("state")).toBe(authorize.searchParams.get("state"));
    await first.finishAuth(back.searchParams.get("code")!);
    expect(provider.saved?.refresh_token).toMatch(/\S/);

    const client = new Client({ name: "sdk-v1", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
    const tools = names((await client.listTools()).tools);
    expect(tools).toEqual(expect.arrayContaining(["notes__add_note", "notes__list_notes", "weather__get_forecast"]));
    const forecast = await client.callTool({ name: "weather__get_forecast", arguments: { city: "Porto", days: 1 } });
    expect(JSON.stringify(forecast.content)).toContain("Forecast for Porto");

    // An access token the gateway no longer accepts: the SDK refreshes with its refresh token
    // (rotated: the new one differs) and the call goes through.
    const refreshBefore = provider.saved!.refresh_token;
    provider.saved = { ...provider.saved!, access_token: `${provider.saved!.access_token.slice(0, -4)}AAAA` };
    const again = new Client({ name: "sdk-v1", version: "1.0.0" });
    await again.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
    expect(names((await again.listTools()).tools)).toEqual(tools);
    expect(provider.saved!.refresh_token).not.toBe(refreshBefore);

    const grant = (await grants()).find((g) => g.sub === "alice" && g.clientId === provider.client!.client_id && g.revokedAt === null);
    expect(grant).toMatchObject({ clientName: "SDK v1 e2e", roles: ["admin"] });

    // Audit rows name the user by the IdP's subject, as for any other credential.
    // (Rows are written in batches off the reply path, so they may take a moment.)
    const audited = async () => {
      const audit = await admin(`/audit?principal=alice`);
      expect(audit.status).toBe(200);
      return ((await audit.json()) as { events: { principal: string; method: string; backend?: string; item?: string }[] }).events.filter((e) => e.method === "tools/call").map((e) => `${e.principal} ${e.backend}/${e.item}`);
    };
    await expect.poll(audited, { timeout: 5_000 }).toContain("alice weather/get_forecast");

    // The operator revokes the grant: the open session's next call is refused, and so is a refresh.
    expect((await admin(`/oauth/grants/${grant!.id}`, { method: "DELETE" })).status).toBe(204);
    await expect(
      (async () => {
        for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) await again.listTools();
      })(),
    ).rejects.toThrow();
    const fresh = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
    provider.authorizationUrl = undefined;
    await expect(new Client({ name: "sdk-v1", version: "1.0.0" }).connect(fresh)).rejects.toBeInstanceOf(UnauthorizedError);
    // Its refresh token was refused (invalid_grant), so the SDK dropped its tokens and asks for a new login.
    expect(provider.saved).toBeUndefined();
    expect(provider.authorizationUrl).toBeInstanceOf(URL);
    await Promise.allSettled([client.close(), again.close()]);
  }, 120_000);
});

describe("MCP SDK v2 client (@modelcontextprotocol/client)", () => {
  it("logs bob in; his IdP role shows him the weather tools only and refuses the notes tools", async () => {
    const redirect = `http://127.0.0.1:${await freePort()}/callback`;
    const provider = new MemoryProvider(redirect, "SDK v2 e2e");
    const first = new v2.StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider as unknown as v2.OAuthClientProvider });
    await expect(new v2.Client({ name: "sdk-v2", version: "2.0.0" }).connect(first)).rejects.toBeInstanceOf(v2.UnauthorizedError);
    const authorize = provider.authorizationUrl!;
    expect(authorize.searchParams.get("resource")).toBe(mcpUrl);

    const back = await browserLogin(authorize.href, "bob", redirect);
    // v2 checks the response's iss against the issuer it discovered (RFC 9207) when given it.
    await first.finishAuth(back.searchParams.get("code")!, back.searchParams.get("iss") ?? undefined);

    const client = new v2.Client({ name: "sdk-v2", version: "2.0.0" });
    await client.connect(new v2.StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider as unknown as v2.OAuthClientProvider }));
    const tools = names((await client.listTools()).tools);
    expect(tools).toEqual(expect.arrayContaining(["weather__get_forecast", "weather__get_alerts"]));
    expect(tools.filter((n) => !n.startsWith("weather__"))).toEqual([]);
    // Unknown to bob, exactly as a tool hidden by policy is for any principal (-32602).
    const refused = await client.callTool({ name: "notes__list_notes", arguments: {} }).then(
      () => null,
      (error: unknown) => error as { code?: number; message?: string },
    );
    expect(refused?.code).toBe(-32602);
    expect(refused?.message).toMatch(/notes__list_notes/);

    const grant = (await grants()).find((g) => g.sub === "bob" && g.clientId === provider.client!.client_id);
    expect(grant).toMatchObject({ roles: ["user"], revokedAt: null });
    await client.close();
  }, 120_000);
});

describe("mcp-remote (stdio bridge)", () => {
  it("prints the login URL, takes the code at its own callback server and bridges alice's session", async () => {
    const configDir = mkdtempSync(join(tmpdir(), "mcp-remote-config-"));
    const callbackPort = await freePort();
    const bin = new URL("../../node_modules/mcp-remote/dist/proxy.js", import.meta.url).pathname;
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [bin, mcpUrl, String(callbackPort), "--transport", "http-only"],
      // BROWSER=true: its opener "opens" nothing; the test drives Chromium to the URL it prints.
      env: { ...(process.env as Record<string, string>), MCP_REMOTE_CONFIG_DIR: configDir, BROWSER: "true" },
      stderr: "pipe",
    });
    let output = "";
    const printed = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mcp-remote printed no login URL:\n${output}`)), 60_000);
      transport.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /Please authorize this client by visiting:\s*(\S+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
    const client = new Client({ name: "via-mcp-remote", version: "1.0.0" });
    const connected = client.connect(transport);
    try {
      const authorize = new URL(await printed);
      expect(authorize.origin + authorize.pathname).toBe(`${issuer}/oauth/authorize`);
      // mcp-remote registered http://localhost:<port>/oauth/callback; the gateway accepts any
      // port of a loopback redirect (RFC 8252 §7.3), and exactly this one here.
      const redirect = authorize.searchParams.get("redirect_uri")!;
      expect(new URL(redirect).port).toBe(String(callbackPort));
      const back = await browserLogin(authorize.href, "alice", redirect);
      expect(back.searchParams.get("iss")).toBe(issuer);
      // Chromium follows the consent page's redirect to mcp-remote's callback server itself; a
      // second delivery makes sure of it (mcp-remote takes the first code it gets).
      await fetch(back).catch(() => null);
      await connected;
      const tools = names((await client.listTools()).tools);
      expect(tools).toEqual(expect.arrayContaining(["notes__list_notes", "weather__get_forecast"]));
      const forecast = await client.callTool({ name: "weather__get_forecast", arguments: { city: "Braga", days: 2 } });
      expect(JSON.stringify(forecast.content)).toContain("Forecast for Braga");
    } catch (error) {
      throw new Error(`${String(error)}\n--- mcp-remote stderr ---\n${output.slice(-4000)}`);
    } finally {
      await client.close().catch(() => {});
      rmSync(configDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("the MCP Inspector CLI", () => {
  it("logs in on its own (registration, its loopback callback server) and lists alice's tools", async () => {
    // Its OAuth state and secrets go under HOME (no keychain here): a temporary one.
    const home = mkdtempSync(join(tmpdir(), "inspector-home-"));
    const callback = `http://127.0.0.1:${await freePort()}/oauth/callback`;
    const bin = new URL("../../node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js", import.meta.url).pathname;
    const child = spawn(process.execPath, [bin, "--cli", mcpUrl, "--transport", "http", "--callback-url", callback, "--method", "tools/list"], {
      // Interactive OAuth without a TTY needs MCP_AUTO_OPEN_ENABLED=true; BROWSER=true makes its
      // opener open nothing: the test drives Chromium to the URL it prints.
      env: { ...process.env, HOME: home, MCP_AUTO_OPEN_ENABLED: "true", BROWSER: "true", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      const printed = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the Inspector printed no login URL")), 60_000);
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
          const match = /Please navigate to:\s*(\S+)/.exec(stderr);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
        void exited.then(() => reject(new Error("the Inspector exited before printing a login URL")));
      });
      const authorize = new URL(printed);
      expect(authorize.origin + authorize.pathname).toBe(`${issuer}/oauth/authorize`);
      expect(authorize.searchParams.get("redirect_uri")).toBe(callback);
      const back = await browserLogin(authorize.href, "alice", callback);
      expect(back.searchParams.get("iss")).toBe(issuer);
      // Chromium follows the consent page's redirect to the callback itself; after the code has
      // arrived the Inspector closes its callback server, so this second delivery may find nothing.
      await fetch(back).catch(() => null);
      expect(await exited).toBe(0);
      const listed = JSON.parse(stdout) as { tools: { name: string }[] };
      expect(names(listed.tools)).toEqual(expect.arrayContaining(["notes__list_notes", "weather__get_forecast"]));
    } catch (error) {
      throw new Error(`${String(error)}\n--- inspector stderr ---\n${stderr.slice(-4000)}\n--- stdout ---\n${stdout.slice(-2000)}`);
    } finally {
      child.kill();
      rmSync(home, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("Client ID Metadata Documents", () => {
  let docServer: Server;
  let docUrl: string;
  let redirect: string;

  beforeAll(async () => {
    const port = await freePort();
    docUrl = `http://127.0.0.1:${port}/client.json`;
    redirect = `http://127.0.0.1:${await freePort()}/cimd/callback`;
    docServer = createServer((request, response) => {
      if (request.url !== "/client.json") return void response.writeHead(404).end();
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ client_id: docUrl, client_name: "Metadata Document Client", redirect_uris: [redirect], token_endpoint_auth_method: "none" }));
    });
    await new Promise<void>((resolve) => docServer.listen(port, "127.0.0.1", resolve));
  });

  afterAll(() => {
    docServer?.closeAllConnections();
    docServer?.close();
  });

  /**
   * The SDKs and mcp-remote insist on an https document URL, which no test server here has, so
   * this client is driven by hand: a gateway that allows private backends (as this test gateway
   * does) fetches the document from 127.0.0.1 (the private-address guard is tested in
   * oauth-security.test.ts and test/unit/oauth/cimd.test.ts).
   */
  it("lets a client in by its document URL, shows its name on the consent page, and issues tokens to it without registration", async () => {
    const verifier = "v".repeat(20) + Math.random().toString(36).slice(2).padEnd(30, "x");
    const challenge = Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))).toString("base64url");
    const authorize = new URL(`${issuer}/oauth/authorize`);
    for (const [k, v] of Object.entries({ response_type: "code", client_id: docUrl, redirect_uri: redirect, code_challenge: challenge, code_challenge_method: "S256", state: "cimd-state", resource: mcpUrl })) {
      authorize.searchParams.set(k, v);
    }
    const login = await loginWithFetch(authorize.href, { user: "alice", password: DEMO_USERS.alice.password, redirectPrefix: redirect });
    const back = new URL(login.finalUrl);
    const consent = login.responses.find((r) => r.url.startsWith(`${issuer}/oauth/callback`));
    expect(consent?.status).toBe(200);
    expect(consent?.body).toContain("Metadata Document Client");
    expect(consent?.body).toContain("127.0.0.1");
    expect(back.searchParams.get("state")).toBe("cimd-state");

    const token = await fetch(`${issuer}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", code: back.searchParams.get("code")!, redirect_uri: redirect, code_verifier: verifier, client_id: docUrl }),
    });
    expect(token.status).toBe(200);
    const { access_token } = (await token.json()) as { access_token: string };
    const client = new Client({ name: "cimd", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { authorization: `Bearer ${access_token}` } } }));
    expect(names((await client.listTools()).tools)).toContain("notes__list_notes");
    await client.close();
  }, 60_000);
});
