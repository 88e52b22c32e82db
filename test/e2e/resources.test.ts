/**
 * Resources without collisions (docs/resources.md, worker/broker/uris.ts): two copies of an SDK
 * server with an MCP App (test/fixtures/apps-server.ts) behind one tenant. Both serve `ui://widget`,
 * `file:///README.md` and the template `file:///docs/{page}`; through the gateway each is reachable
 * under its backend's name, in lists, reads, tool `_meta.ui.resourceUri`, resource links in results
 * and subscriptions, for clients of both protocol eras, and policy decides on the backend's own URI.
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import * as v2 from "@modelcontextprotocol/client";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { startProcess, type RunningServer } from "../support/processes.ts";

let gateway: RunningGateway;
let signer: TestSigner;
let maps: RunningServer;
let charts: RunningServer;

async function startApp(name: string): Promise<RunningServer> {
  const running = await startProcess({
    name,
    command: process.execPath,
    args: [fileURLToPath(new URL("../fixtures/apps-server.ts", import.meta.url))],
    env: { APP_NAME: name, PORT: "0" },
    readyLine: /^ready http:\/\/\S+$/,
  });
  const url = /ready (http:\/\/\S+)/.exec(running.output())?.[1];
  if (!url) throw new Error(`${name} printed no URL: ${running.output()}`);
  return { ...running, url };
}

beforeAll(async () => {
  signer = await testSigner();
  // The apps listen on ports the OS picks: started before the gateway, they cannot take the port
  // the gateway was given between its pick and its listen.
  [maps, charts] = await Promise.all([startApp("maps"), startApp("charts")]);
  gateway = await startGateway();
  const backends = [
    { name: "maps", url: maps.url },
    { name: "charts", url: charts.url },
  ];
  await gateway.putTenant({ id: "apps", backends, auth: jwtAuth(signer, gateway.mcpUrl("apps")) });
  await gateway.putTenant({
    id: "apps-policy",
    backends,
    auth: jwtAuth(signer, gateway.mcpUrl("apps-policy")),
    // The rule names the backend's own URI: charts' widget is hidden, maps' is not.
    policy: { defaultEffect: "allow", rules: [{ id: "no-charts-widget", effect: "deny", items: { kinds: ["resource"], backends: ["charts"], names: ["ui://widget"] } }] },
  });
  await gateway.putTenant({ id: "apps-always", backends: [{ name: "maps", url: maps.url }], naming: { mode: "always", separator: "__", resources: "always" }, auth: jwtAuth(signer, gateway.mcpUrl("apps-always")) });
  await gateway.putTenant({ id: "apps-never", backends, naming: { mode: "always", separator: "__", resources: "never" }, auth: jwtAuth(signer, gateway.mcpUrl("apps-never")) });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), maps?.stop(), charts?.stop()]);
});

async function v1(tenant: string): Promise<Client> {
  const token = await signer.token({ sub: "ana", audience: gateway.mcpUrl(tenant) });
  const client = new Client({ name: "apps-host", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(tenant)), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

const textOf = (contents: unknown[]) => (contents[0] as { text?: string }).text ?? "";

describe("two backends that serve the same resource URIs (naming.resources on-collision, the default)", () => {
  it("lists each under its backend's name, and reads each from its own backend", async () => {
    const client = await v1("apps");
    const uris = (await client.listResources()).resources.map((r) => r.uri);
    expect(uris).toEqual(expect.arrayContaining(["ui://maps__widget", "ui://charts__widget", "file://maps__/README.md", "file://charts__/README.md"]));
    expect(uris).not.toContain("ui://widget");
    const templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    expect(templates).toEqual(expect.arrayContaining(["file://maps__/docs/{page}", "file://charts__/docs/{page}"]));

    const widget = await client.readResource({ uri: "ui://charts__widget" });
    expect(textOf(widget.contents)).toMatch(/charts widget/);
    expect(widget.contents[0]!.uri).toBe("ui://charts__widget");
    expect(textOf((await client.readResource({ uri: "file://maps__/README.md" })).contents)).toBe("# maps readme");
    const page = await client.readResource({ uri: "file://charts__/docs/intro" });
    expect(textOf(page.contents)).toBe("charts docs: intro");
    expect(page.contents[0]!.uri).toBe("file://charts__/docs/intro");
    // The plain URI both serve names neither: not found, never the wrong one.
    await expect(client.readResource({ uri: "ui://widget" })).rejects.toMatchObject({ code: -32002 });
    await client.close();
  }, 60_000);

  it("rewrites an MCP App tool's _meta.ui.resourceUri and the resource links its result carries", async () => {
    const client = await v1("apps");
    const tools = (await client.listTools()).tools;
    const uiOf = (name: string) => (tools.find((t) => t.name === name)?._meta as { ui?: { resourceUri?: string } } | undefined)?.ui?.resourceUri;
    expect(uiOf("maps__show")).toBe("ui://maps__widget");
    expect(uiOf("charts__show")).toBe("ui://charts__widget");
    // The host renders the app from the URI the tool names: the right backend's HTML.
    expect(textOf((await client.readResource({ uri: uiOf("maps__show")! })).contents)).toMatch(/maps widget/);
    const shown = await client.callTool({ name: "charts__show", arguments: {} });
    const link = (shown.content as { type: string; uri?: string }[]).find((c) => c.type === "resource_link");
    expect(link?.uri).toBe("ui://charts__widget");
    await client.close();
  }, 60_000);

  it("subscribes to a namespaced URI at its own backend, and the update names it as the client knows it", async () => {
    const client = await v1("apps");
    const updated: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    await client.subscribeResource({ uri: "file://charts__/README.md" });
    await expect.poll(() => updated, { timeout: 10_000 }).toContain("file://charts__/README.md");
    expect(updated.every((uri) => uri === "file://charts__/README.md")).toBe(true);
    await client.close();
  }, 60_000);

  it("reaches a 2026-07-28 client (SDK v2) the same way", async () => {
    const token = await signer.token({ sub: "ana", audience: gateway.mcpUrl("apps") });
    const client = new v2.Client({ name: "apps-host-modern", version: "2.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(new v2.StreamableHTTPClientTransport(new URL(gateway.mcpUrl("apps")), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const tools = (await client.listTools()).tools;
    const ui = (tools.find((t) => t.name === "maps__show")?._meta as { ui?: { resourceUri?: string } } | undefined)?.ui?.resourceUri;
    expect(ui).toBe("ui://maps__widget");
    const read = await client.readResource({ uri: ui! });
    expect((read.contents[0] as { text?: string }).text).toMatch(/maps widget/);
    await client.close();
  }, 60_000);
});

describe("naming.resources and policy", () => {
  it("decides policy on the backend's own URI: a rule hiding charts' ui://widget leaves maps' alone", async () => {
    const client = await v1("apps-policy");
    const uris = (await client.listResources()).resources.map((r) => r.uri);
    expect(uris).toContain("ui://maps__widget");
    expect(uris).not.toContain("ui://charts__widget");
    await expect(client.readResource({ uri: "ui://charts__widget" })).rejects.toMatchObject({ code: -32002 });
    expect(textOf((await client.readResource({ uri: "ui://maps__widget" })).contents)).toMatch(/maps widget/);
    await client.close();
  }, 60_000);

  it("namespaces every URI with always, even a backend's alone", async () => {
    const client = await v1("apps-always");
    expect((await client.listResources()).resources.map((r) => r.uri).sort()).toEqual(["file://maps__/README.md", "ui://maps__widget"]);
    expect(textOf((await client.readResource({ uri: "file://maps__/README.md" })).contents)).toBe("# maps readme");
    await client.close();
  }, 60_000);

  it("passes URIs through with never: the first backend in config order keeps a shared one", async () => {
    const client = await v1("apps-never");
    const uris = (await client.listResources()).resources.map((r) => r.uri);
    expect(uris.filter((u) => u === "ui://widget")).toHaveLength(1);
    expect(textOf((await client.readResource({ uri: "ui://widget" })).contents)).toMatch(/maps widget/);
    await client.close();
  }, 60_000);
});
