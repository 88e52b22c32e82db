/**
 * OpenAPI backends end to end (issue 17, docs/openapi.md): a real gateway (`wrangler dev`) whose
 * tenant names a spec URL; Stoplight Prism (a third-party mock and request validator) serves the
 * API that spec describes (test/fixtures/openapi/shop.json: every parameter location and style,
 * a body beside path parameters, oneOf, nested and cyclic $refs, non-2xx answers). Prism answers
 * 422 to a request that does not match the spec, so each successful call also checks how the
 * gateway serialized it. A second backend with an inline spec points at a recording server, to
 * see the exact bytes that arrive (path encoding, headers). Real MCP clients of both eras.
 * A YAML spec split over two files (test/fixtures/openapi/notes.yaml), served by a second Prism,
 * is read by the gateway's parser; its tenant sets no catalog.mode, so search mode comes on by
 * itself above the threshold (docs/catalog.md).
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { freePort, startProcess, type Running } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";

const SPEC_PATH = fileURLToPath(new URL("../fixtures/openapi/shop.json", import.meta.url));
const NOTES_PATH = fileURLToPath(new URL("../fixtures/openapi/notes.yaml", import.meta.url));
const NOTES_SCHEMAS_PATH = fileURLToPath(new URL("../fixtures/openapi/notes-schemas.yaml", import.meta.url));
const PRISM = fileURLToPath(new URL("../../node_modules/.bin/prism", import.meta.url));
const SHOP_KEY = `shop-key-${Math.random().toString(36).slice(2)}`;

const running: Running[] = [];
const servers: Server[] = [];
let gateway: RunningGateway;
let signer: TestSigner;
let prismPort: number;
let notesPort: number;
let url: string;
/** What the recording server received, newest last. */
const received: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[] = [];

/** An inline spec for the recording server: what arrives there is what the gateway sent. */
const recorderSpec = {
  openapi: "3.1.0",
  info: { title: "Recorder", version: "1" },
  paths: {
    "/files/{name}": {
      get: {
        operationId: "readFile",
        parameters: [
          { name: "name", in: "path", required: true, schema: { type: "string" } },
          { name: "X-Api-Key", in: "header", schema: { type: "string" } },
          { name: "api_key", in: "query", schema: { type: "string" } },
        ],
        responses: { "200": { description: "ok", content: { "application/json": { schema: { type: "object" } } } } },
      },
    },
  },
};

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

beforeAll(async () => {
  // Prism on Node 20 and 22 alike: 5.14.2 is the newest release that does not require Node 24.
  prismPort = await freePort();
  notesPort = await freePort();
  const prism = (name: string, spec: string, port: number) =>
    startProcess({ name, command: process.execPath, args: [PRISM, "mock", spec, "-h", "127.0.0.1", "-p", String(port), "--errors"], readyLine: /Prism is listening on/, timeoutMs: 60_000 });
  running.push(...(await Promise.all([prism("prism", SPEC_PATH, prismPort), prism("prism-notes", NOTES_PATH, notesPort)])));
  const specServer = createServer((req, res) => {
    // Swagger 2.0 is converted; 1.2 is not read.
    if (req.url === "/swagger.json") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ swagger: "1.2", info: { title: "old", version: "1" }, paths: {} }));
    if (req.url === "/specs/notes.yaml") return void res.writeHead(200, { "content-type": "application/yaml" }).end(readFileSync(NOTES_PATH));
    if (req.url === "/specs/notes-schemas.yaml") return void res.writeHead(200, { "content-type": "application/yaml" }).end(readFileSync(NOTES_SCHEMAS_PATH));
    if (req.url !== "/openapi.json") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(readFileSync(SPEC_PATH));
  });
  const recorder = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ seen: req.url }));
    });
  });
  servers.push(specServer, recorder);
  const [specPort, recorderPort] = await Promise.all([listen(specServer), listen(recorder)]);
  gateway = await startGateway({ vars: { SHOP_KEY } });
  running.push(gateway);
  signer = await testSigner();
  url = gateway.mcpUrl("rest");
  await gateway.putTenant({
    id: "rest",
    backends: [
      {
        name: "shop",
        transport: "openapi",
        spec: `http://127.0.0.1:${specPort}/openapi.json`,
        // Prism serves the paths at its root; the spec's own server names another port.
        baseUrl: `http://127.0.0.1:${prismPort}`,
        operations: { exclude: [{ tag: "admin" }] },
      },
      {
        name: "rec",
        transport: "openapi",
        spec: recorderSpec,
        baseUrl: `http://127.0.0.1:${recorderPort}/base`,
        headers: { "x-static": "from-config" },
        secretHeaders: { "x-api-key": "SHOP_KEY" },
        secretQuery: { api_key: "SHOP_KEY" },
      },
    ],
    policy: { rules: [{ id: "no-deletes", effect: "deny", items: { kinds: ["tool"], backends: ["shop"], names: ["deleteItem"] } }] },
    auth: jwtAuth(signer, url),
  });
  await gateway.putTenant({
    id: "broken",
    backends: [
      { name: "old", transport: "openapi", spec: `http://127.0.0.1:${specPort}/swagger.json`, baseUrl: `http://127.0.0.1:${prismPort}` },
      { name: "shop", transport: "openapi", spec: `http://127.0.0.1:${specPort}/openapi.json`, baseUrl: `http://127.0.0.1:${prismPort}`, operations: { include: [{ operationId: "getItem" }] } },
    ],
    auth: jwtAuth(signer, gateway.mcpUrl("broken")),
  });
  // No catalog.mode: with an openapi backend that means "auto"; five operations are above a threshold of 3.
  await gateway.putTenant({
    id: "notes",
    backends: [{ name: "notes", transport: "openapi", spec: `http://127.0.0.1:${specPort}/specs/notes.yaml`, baseUrl: `http://127.0.0.1:${notesPort}` }],
    catalog: { searchThreshold: 3 },
    auth: jwtAuth(signer, gateway.mcpUrl("notes")),
  });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([...running.map((r) => r.stop()), ...servers.map((s) => new Promise((resolve) => s.close(resolve)))]);
});

async function client(tenant = "rest"): Promise<Client> {
  const at = gateway.mcpUrl(tenant);
  const token = await signer.token({ sub: "rita", audience: at });
  const c = new Client({ name: "e2e-openapi", version: "1.0.0" });
  await c.connect(new StreamableHTTPClientTransport(new URL(at), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return c;
}

const text = (r: unknown) => ((r as CallToolResult).content as { type: string; text?: string }[]).map((c) => c.text ?? "").join("");

describe("a spec URL's operations as tools", () => {
  it("lists the selected operations, minus what policy denies, with schemas and hints", async () => {
    const c = await client();
    const { tools } = await c.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(["rec__readFile", "shop__createOrder", "shop__getItem", "shop__get_reports_year", "shop__itemLabels", "shop__searchItems", "shop__setStoreNote"]);
    const getItem = tools.find((t) => t.name === "shop__getItem")!;
    expect(getItem.annotations?.readOnlyHint).toBe(true);
    expect(Object.keys(getItem.inputSchema.properties!)).toEqual(["itemId", "fields", "filter", "X-Request-Tag", "session", "Prefer"]);
    // The cyclic Category is named once in $defs and referred to from itself.
    const output = getItem.outputSchema as Record<string, any>;
    expect(output.$defs.Category.properties.parent.anyOf[0].allOf[0]).toEqual({ $ref: "#/$defs/Category" });
    const order = tools.find((t) => t.name === "shop__createOrder")!;
    expect(order.annotations?.readOnlyHint).toBe(false);
    expect((order.inputSchema.properties!.body as any).properties.delivery.oneOf).toHaveLength(2);
    expect(order.inputSchema.required).toEqual(["storeId", "body"]);
    await c.close();
  });

  it("calls with path, query (form, deepObject), header and cookie parameters; 2xx JSON is structured content", async () => {
    const c = await client();
    const result = (await c.callTool({ name: "shop__getItem", arguments: { itemId: 7, fields: ["name", "price"], filter: { color: "red", size: "L" }, "X-Request-Tag": "e2e", session: "s-1" } })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const item = { id: 7, name: "Lamp", price: 19.5, category: { name: "Home", parent: { name: "All", parent: null } } };
    expect(result.structuredContent).toEqual(item);
    expect(JSON.parse(text(result))).toEqual(item);
    await c.close();
  });

  it("serializes label, matrix, spaceDelimited and pipeDelimited parameters as the spec says", async () => {
    const c = await client();
    const labels = (await c.callTool({ name: "shop__itemLabels", arguments: { itemId: 3, labels: "new" } })) as CallToolResult;
    expect(labels.structuredContent).toEqual({ result: ["new", "sale"] });
    const report = (await c.callTool({ name: "shop__get_reports_year", arguments: { year: 2024 } })) as CallToolResult;
    expect(report.structuredContent).toEqual({ year: 2025, total: 1234.5 });
    const search = (await c.callTool({ name: "shop__searchItems", arguments: { terms: ["desk", "lamp"], colors: ["red", "blue"], limit: 5 } })) as CallToolResult;
    expect(search.isError).toBeFalsy();
    expect((search.structuredContent as { result: unknown[] }).result).toHaveLength(1);
    await c.close();
  });

  it("sends a JSON body (oneOf) and a form body beside path and query parameters", async () => {
    const c = await client();
    const order = (await c.callTool({ name: "shop__createOrder", arguments: { storeId: "main", dryRun: true, body: { items: [{ itemId: 7, quantity: 2 }], delivery: { kind: "delivery", address: { street: "1 Main St", city: "Oslo" } } } } })) as CallToolResult;
    expect(order.isError).toBeFalsy();
    expect(order.structuredContent).toMatchObject({ id: "o-1", status: "placed" });
    const note = (await c.callTool({ name: "shop__setStoreNote", arguments: { storeId: "main", body: { note: "Closed on Sunday", pinned: true } } })) as CallToolResult;
    expect(note.isError).toBeFalsy();
    expect(text(note)).toBe("HTTP 204, no content");
    await c.close();
  });

  it("answers a non-2xx status as an isError result with the status and the API's body", async () => {
    const c = await client();
    const missing = (await c.callTool({ name: "shop__getItem", arguments: { itemId: 7, "X-Request-Tag": "e2e", Prefer: "code=404" } })) as CallToolResult;
    expect(missing.isError).toBe(true);
    expect(text(missing)).toMatch(/^HTTP 404/);
    // Prism refuses what the spec does not allow: a delivery that is neither oneOf alternative, a year below the minimum.
    const bad = (await c.callTool({ name: "shop__createOrder", arguments: { storeId: "main", body: { items: [{ itemId: 1, quantity: 1 }], delivery: { kind: "drone" } } } })) as CallToolResult;
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/^HTTP 422/);
    const early = (await c.callTool({ name: "shop__get_reports_year", arguments: { year: 1999 } })) as CallToolResult;
    expect(text(early)).toMatch(/^HTTP 422/);
    // A required argument the model left out is refused by the gateway itself, as a tool error.
    const noBody = (await c.callTool({ name: "shop__setStoreNote", arguments: { storeId: "main" } })) as CallToolResult;
    expect(noBody).toMatchObject({ isError: true, content: [{ type: "text", text: "missing required argument body" }] });
    await c.close();
  });

  it("hides an operation a deny rule names, and refuses a call to it", async () => {
    const c = await client();
    await expect(c.callTool({ name: "shop__deleteItem", arguments: { itemId: 7 } })).rejects.toThrow();
    await c.close();
  });
});

describe("what reaches the API", () => {
  it("keeps path arguments inside their segment, and config headers and secret query keys over the model's", async () => {
    const c = await client();
    received.length = 0;
    const result = (await c.callTool({ name: "rec__readFile", arguments: { name: "../../admin/%2e%2e/x", "X-Api-Key": "from-the-model", api_key: "from-the-model" } })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(received).toHaveLength(1);
    const sent = new URL(received[0]!.url, "http://recorder");
    expect(sent.pathname).toBe("/base/files/..%2F..%2Fadmin%2F%252e%252e%2Fx");
    expect(sent.searchParams.getAll("api_key")).toEqual([SHOP_KEY]);
    expect(received[0]!.headers["x-api-key"]).toBe(SHOP_KEY);
    expect(received[0]!.headers["x-static"]).toBe("from-config");
    const dots = (await c.callTool({ name: "rec__readFile", arguments: { name: ".." } })) as CallToolResult;
    expect(dots.isError).toBe(true);
    expect(received).toHaveLength(1);
    await c.close();
  });
});

describe("a spec the gateway cannot read", () => {
  it("leaves that backend's tools out with a warning (fail-open) and names nothing of why", async () => {
    const c = await client("broken");
    const warnings: string[] = [];
    c.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
      warnings.push(JSON.stringify(n.params));
    });
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name)).toEqual(["shop__getItem"]);
    await expect.poll(() => warnings.length).toBeGreaterThan(0);
    expect(warnings.join("")).not.toContain("Swagger");
    await c.close();
  });
});

describe("a large YAML spec split over two files", () => {
  it("is offered through search mode without the tenant asking: search finds an operation and call_tool calls it through Prism", async () => {
    const c = await client("notes");
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["call_tool", "search_tools"]);
    const found = (await c.callTool({ name: "search_tools", arguments: { query: "write a new note", limit: 3 } })) as CallToolResult;
    const matches = (found.structuredContent as { tools: { name: string; inputSchema: Record<string, any> }[] }).tools;
    expect(matches[0]!.name).toBe("notes__createNote");
    // The body schema came from the other YAML file, resolved by the gateway's parser.
    expect(matches[0]!.inputSchema.properties.body).toMatchObject({ type: "object", required: ["text"], properties: { text: { type: "string", maxLength: 500 } } });
    const created = (await c.callTool({ name: "call_tool", arguments: { name: "notes__createNote", arguments: { body: { text: "Call the plumber", tags: ["home"] } } } })) as CallToolResult;
    expect(created.isError).toBeFalsy();
    expect(created.structuredContent).toEqual({ id: "n-2", text: "Call the plumber", tags: ["home"] });
    // Prism validates the request against the YAML spec: a bad path parameter is its 422.
    const bad = (await c.callTool({ name: "call_tool", arguments: { name: "notes__getNote", arguments: { noteId: "x" } } })) as CallToolResult;
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/^HTTP 422/);
    await c.close();
  });
});

describe("a 2026-07-28 client", () => {
  it("lists and calls the same tools (served by the session object, as for any legacy backend)", async () => {
    const token = await signer.token({ sub: "maya", audience: url });
    const c = new ModernClient({ name: "modern", version: "1" }, { capabilities: {}, versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await c.connect(new ModernTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name)).toContain("shop__getItem");
    expect(tools.map((t) => t.name)).not.toContain("shop__deleteItem");
    const result = await c.callTool({ name: "shop__getItem", arguments: { itemId: 9, "X-Request-Tag": "modern" } });
    expect((result.structuredContent as { name: string }).name).toBe("Lamp");
    await c.close();
  });
});
