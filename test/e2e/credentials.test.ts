/**
 * Outbound credentials through a running gateway (`wrangler dev`, workerd): the notes demo
 * backend is configured with `auth`, a real OAuth token endpoint (test/fixtures/token-server.ts)
 * runs on 127.0.0.1, and the backend's `whoami` tool reports the Authorization header it got.
 * The backend must see a token the gateway obtained, never the client's own.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { startDemoBackend, type Running, type RunningServer } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";
import { ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, startTokenServer, type RunningTokenServer } from "../fixtures/token-server.ts";

const NOTES_SECRET = `notes-secret-${Math.random().toString(36).slice(2)}`;
const NOTES_AUDIENCE = "https://notes.example.com/mcp";

let servers: Running[] = [];
let tokens: RunningTokenServer;
let gateway: RunningGateway;
let signer: TestSigner;

beforeAll(async () => {
  const [notes, weather] = (await Promise.all([startDemoBackend("notes"), startDemoBackend("weather")])) as [RunningServer, RunningServer];
  servers = [notes, weather];
  tokens = await startTokenServer({ clients: { gateway: NOTES_SECRET } });
  gateway = await startGateway({ vars: { NOTES_CLIENT_SECRET: NOTES_SECRET } });
  servers.push(gateway);
  signer = await testSigner();
  const auth = { tokenUrl: tokens.url, clientId: "gateway", clientSecret: "NOTES_CLIENT_SECRET" };
  await gateway.putTenant({
    id: "cc",
    backends: [{ name: "notes", url: notes.url, auth: { type: "client_credentials", ...auth, scope: "notes:read" } }],
    auth: jwtAuth(signer, gateway.mcpUrl("cc")),
  });
  await gateway.putTenant({
    id: "xchg",
    backends: [{ name: "notes", url: notes.url, auth: { type: "token_exchange", ...auth, audience: NOTES_AUDIENCE } }],
    auth: jwtAuth(signer, gateway.mcpUrl("xchg")),
  });
  await gateway.putTenant({
    id: "nosecret",
    backends: [
      { name: "weather", url: weather.url },
      { name: "notes", url: notes.url, auth: { type: "client_credentials", ...auth, clientSecret: "UNSET_CLIENT_SECRET" } },
    ],
    auth: jwtAuth(signer, gateway.mcpUrl("nosecret")),
  });
});

afterAll(async () => {
  await Promise.allSettled([...servers.map((s) => s.stop()), tokens?.close()]);
});

beforeEach(() => {
  tokens.reset();
});

async function connect(tenant: string, sub: string): Promise<{ client: Client; token: string }> {
  const url = gateway.mcpUrl(tenant);
  const token = await signer.token({ sub, audience: url });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: "e2e-credentials", version: "1.0.0" });
  await client.connect(transport);
  return { client, token };
}

/** The headers the notes backend received, as its `whoami` tool reports them. */
async function whoami(client: Client): Promise<{ text: string; headers: Record<string, string> }> {
  const result = (await client.callTool({ name: "notes__whoami", arguments: {} })) as CallToolResult;
  expect(result.isError).toBeFalsy();
  const text = result.content.map((c) => (c.type === "text" ? c.text : "")).join("");
  return { text, headers: JSON.parse(text) as Record<string, string> };
}

describe("client_credentials", () => {
  it("gives the backend a token the gateway obtained, never the client's, and reuses it", async () => {
    const { client, token } = await connect("cc", "alice");
    const first = await whoami(client);
    expect(first.headers.authorization).toMatch(/^Bearer cc-\d+$/);
    expect(first.text).not.toContain(token);
    const second = await whoami(client);
    expect(second.headers.authorization).toBe(first.headers.authorization);

    // initialize, initialized, tools/call twice: one token request served them all.
    expect(tokens.requests).toHaveLength(1);
    const request = tokens.requests[0]!;
    expect(request).toMatchObject({ grant_type: "client_credentials", client: "gateway", scope: "notes:read" });
    expect(request.authorization).toMatch(/^Basic /);
    expect(JSON.stringify(request)).not.toContain(token);
    await client.close();
  });
});

describe("token_exchange", () => {
  it("exchanges the client's token at the token endpoint and gives the backend only the exchanged one", async () => {
    const { client, token } = await connect("xchg", "alice");
    const seen = await whoami(client);
    expect(seen.headers.authorization).toMatch(/^Bearer xchg-\d+-for-alice$/);
    expect(seen.text).not.toContain(token);

    expect(tokens.requests.length).toBeGreaterThanOrEqual(1);
    for (const request of tokens.requests) {
      expect(request).toMatchObject({
        grant_type: TOKEN_EXCHANGE_GRANT,
        client: "gateway",
        subject_token: token,
        subject_token_type: ACCESS_TOKEN_TYPE,
        audience: NOTES_AUDIENCE,
      });
    }
    await client.close();
  });

  it("keeps principals apart: each client's calls carry a token exchanged for that client", async () => {
    const alice = await connect("xchg", "alice");
    const bob = await connect("xchg", "bob");
    expect((await whoami(alice.client)).headers.authorization).toMatch(/-for-alice$/);
    expect((await whoami(bob.client)).headers.authorization).toMatch(/-for-bob$/);
    expect(new Set(tokens.requests.map((r) => r.subject_token))).toEqual(new Set([alice.token, bob.token]));
    await Promise.all([alice.client.close(), bob.client.close()]);
  });
});

describe("a backend whose client secret is not set", () => {
  it("fails on its own: the other backend's tools are listed, and nothing reaches the token endpoint", async () => {
    const { client } = await connect("nosecret", "alice");
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("weather__get_forecast");
    expect(names.some((n) => n.startsWith("notes__"))).toBe(false);
    expect(tokens.requests).toHaveLength(0);
    await client.close();
  });
});
