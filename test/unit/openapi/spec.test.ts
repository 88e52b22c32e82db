/**
 * Loading a spec from its URL (worker/openapi/spec.ts) against a real HTTP server on 127.0.0.1:
 * caching and revalidation, the private-address guard on every hop, redirects, the size cap, and
 * clear errors for what the gateway does not read. Also the admin API's destinations check.
 */
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { fetchText } from "../../../worker/openapi/fetch.ts";
import { parseSpec } from "../../../worker/openapi/parse.ts";
import { SpecError } from "../../../worker/openapi/refs.ts";
import { loadApi, MAX_SPEC_BYTES, SPEC_FRESH_MS } from "../../../worker/openapi/spec.ts";
import { privateDestination } from "../../../worker/admin/destinations.ts";
import { parseTenant } from "../../../worker/tenant/schema.ts";

const doc = { openapi: "3.0.3", info: { title: "Tiny", version: "1" }, servers: [{ url: "/api" }], paths: { "/ping": { get: { operationId: "ping", responses: { "200": { description: "ok" } } } } } };
const hits: Record<string, number> = {};
/** A spec split over files, served under /multi/: references between them in every direction. */
const files: Record<string, unknown> = {
  "root.json": {
    openapi: "3.1.0",
    info: { title: "Split", version: "1" },
    servers: [{ url: "https://split.example" }],
    paths: { "/pets": { get: { operationId: "pets", parameters: [{ $ref: "common.json#/parameters/Limit" }], responses: { "200": { description: "ok", content: { "application/json": { schema: { $ref: "schemas/pet.json#/Pet" } } } } } } } },
    components: { schemas: { Owner: { type: "object", properties: { name: { type: "string" }, pets: { type: "array", items: { $ref: "schemas/pet.json#/Pet" } } } } } },
  },
  "common.json": { parameters: { Limit: { name: "limit", in: "query", schema: { $ref: "#/definitions/Small" } } }, definitions: { Small: { type: "integer", maximum: 10 } } },
  "schemas/pet.json": { Pet: { type: "object", properties: { kind: { $ref: "#/Kind" }, owner: { $ref: "../root.json#/components/schemas/Owner" }, tag: { $ref: "tag.json" } } }, Kind: { enum: ["cat", "dog"] } },
  "schemas/tag.json": { type: "string", maxLength: 8 },
  // YAML files: a YAML root naming a YAML file and a JSON file, relative to each file.
  "api.yaml": "openapi: 3.1.0\ninfo:\n  title: Yaml split\n  version: '1'\nservers:\n  - url: https://yaml.example\npaths:\n  /notes/{id}:\n    get:\n      operationId: getNote\n      parameters:\n        - $ref: 'parts/params.yaml#/Id'\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema:\n                $ref: 'parts/params.yaml#/Note'\n",
  "parts/params.yaml": "Id:\n  name: id\n  in: path\n  required: true\n  schema: { type: string, maxLength: 12 }\nNote:\n  type: object\n  properties:\n    tag:\n      $ref: '../schemas/tag.json'\n    replies:\n      type: array\n      items:\n        $ref: '#/Note'\n",
  "aliases.yaml": "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths: {}\nx-a: &a [1, 2]\nx-b: &b [*a, *a]\nx-c: [*b, *b]\n",
  "private-ref.json": { openapi: "3.1.0", info: { title: "x", version: "1" }, paths: { "/x": { get: { parameters: [{ $ref: "http://169.254.169.254/latest/p.json" }], responses: {} } } } },
  "many.json": { openapi: "3.1.0", info: { title: "x", version: "1" }, paths: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`/p${i}`, { get: { parameters: [{ $ref: `files/${i}.json` }], responses: {} } }])) },
  "escape.json": { openapi: "3.1.0", info: { title: "x", version: "1" }, paths: { "/x": { get: { parameters: [{ $ref: "file:///etc/passwd" }], responses: {} } } } },
};
const conditional: (string | undefined)[] = [];
let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url!;
    hits[path] = (hits[path] ?? 0) + 1;
    if (path === "/spec.json") {
      conditional.push(req.headers["if-none-match"]);
      if (req.headers["if-none-match"] === '"v1"') return void res.writeHead(304).end();
      return void res.writeHead(200, { "content-type": "application/json", etag: '"v1"' }).end(JSON.stringify(doc));
    }
    if (path.startsWith("/hop/")) {
      const left = Number(path.slice(5));
      return void res.writeHead(302, { location: left > 0 ? `/hop/${left - 1}` : "/spec.json" }).end();
    }
    if (path.startsWith("/multi/")) {
      const name = path.slice(7);
      const file = files[name] ?? (/^files\/\d+\.json$/.test(name) ? { name: name.replace(/\D/g, ""), in: "query", schema: { type: "string" } } : undefined);
      if (!file) return void res.writeHead(404).end();
      if (typeof file === "string") return void res.writeHead(200, { "content-type": "application/yaml" }).end(file);
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(file));
    }
    if (path === "/to-file") return void res.writeHead(302, { location: "file:///etc/passwd" }).end();
    if (path === "/yaml") return void res.writeHead(200, { "content-type": "application/yaml" }).end("openapi: 3.0.3\ninfo:\n  title: Yaml\n  version: '1'\npaths:\n  /ping:\n    get:\n      operationId: ping\n      responses: {'204': {description: none}}\n");
    if (path === "/not-a-spec") return void res.writeHead(200, { "content-type": "text/plain" }).end("openapi: [unclosed");
    if (path === "/huge") {
      // Streamed without a length: the cap must stop the read, not a Content-Length check.
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = " ".repeat(1024 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent <= MAX_SPEC_BYTES + chunk.length) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("error", () => {});
      return pump();
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const signal = () => new AbortController().signal;

describe("a spec URL", () => {
  it("is fetched once, then revalidated with its ETag once it is stale", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const api = await loadApi({ spec: `${origin}/spec.json`, allowPrivate: true }, signal());
      expect(api.tools.map((t) => t.name)).toEqual(["ping"]);
      // A relative server URL is relative to the spec's own URL.
      expect(api.baseUrl).toBe(`${origin}/api`);
      await loadApi({ spec: `${origin}/spec.json`, allowPrivate: true }, signal());
      expect(hits["/spec.json"]).toBe(1);
      vi.setSystemTime(Date.now() + SPEC_FRESH_MS + 1);
      const again = await loadApi({ spec: `${origin}/spec.json`, allowPrivate: true }, signal());
      expect(again).toBe(api);
      expect(hits["/spec.json"]).toBe(2);
      expect(conditional).toEqual([undefined, '"v1"']);
    } finally {
      vi.useRealTimers();
    }
  });

  it("at a private address is refused without a request when private backends are not allowed", async () => {
    const before = hits["/hop/0"] ?? 0;
    await expect(loadApi({ spec: `${origin}/hop/0`, allowPrivate: false }, signal())).rejects.toThrow(/loopback \(127\.0\.0\.0\/8\) address/);
    expect(hits["/hop/0"] ?? 0).toBe(before);
    await expect(loadApi({ spec: "http://169.254.169.254/latest/spec.json", allowPrivate: false }, signal())).rejects.toThrow(/link-local/);
  });

  it("follows up to three redirects, and refuses a fourth or one to another scheme", async () => {
    expect((await loadApi({ spec: `${origin}/hop/2`, allowPrivate: true }, signal())).tools).toHaveLength(1);
    await expect(loadApi({ spec: `${origin}/hop/3`, allowPrivate: true }, signal())).rejects.toThrow(/redirected more than 3 times/);
    await expect(loadApi({ spec: `${origin}/to-file`, allowPrivate: true }, signal())).rejects.toThrow(/non-http URL/);
  });

  it("in YAML is read by the parser", async () => {
    const api = await loadApi({ spec: `${origin}/yaml`, baseUrl: "https://yaml.example", allowPrivate: true }, signal());
    expect(api).toMatchObject({ title: "Yaml", tools: [{ name: "ping" }] });
  });

  it("larger than the cap, neither JSON nor YAML, or missing is refused with a clear message", async () => {
    await expect(loadApi({ spec: `${origin}/huge`, allowPrivate: true }, signal())).rejects.toThrow(`the spec is larger than ${MAX_SPEC_BYTES} bytes`);
    const broken = loadApi({ spec: `${origin}/not-a-spec`, allowPrivate: true }, signal());
    await expect(broken).rejects.toThrow(SpecError);
    await expect(broken).rejects.toThrow(/not-a-spec/);
    await expect(broken).rejects.not.toThrow(/\n\s+at /);
    await expect(loadApi({ spec: `${origin}/missing.json`, allowPrivate: true }, signal())).rejects.toThrow("the spec URL answered HTTP 404");
  });
});

/** The schema serializes, holds a `$ref` into its `$defs` (the cycle), and every such reference resolves. */
function expectDefsCycle(schema: Record<string, any>) {
  const refs = [...JSON.stringify(schema).matchAll(/"\$ref":"#\/\$defs\/([^"]+)"/g)].map((m) => m[1]!);
  expect(refs.length).toBeGreaterThan(0);
  for (const name of refs) expect(schema.$defs[name]).toMatchObject({ type: "object" });
}

describe("a spec split over several files", () => {
  it("is bundled: relative references in every direction, cycles through files included", async () => {
    const api = await loadApi({ spec: `${origin}/multi/root.json`, allowPrivate: true }, signal());
    const tool = api.tools[0]!;
    expect((tool.inputSchema.properties as Record<string, unknown>).limit).toMatchObject({ type: "integer", maximum: 10 });
    const output = tool.outputSchema as Record<string, any>;
    expect(output.properties.kind).toEqual({ enum: ["cat", "dog"] });
    expect(output.properties.tag).toEqual({ type: "string", maxLength: 8 });
    // Pet -> Owner -> Pet: a cycle across two files, kept in $defs.
    expectDefsCycle(output);
    expect(output.properties.owner.properties.pets.items).toMatchObject({ type: "object" });
    expect(hits["/multi/schemas/tag.json"]).toBe(1);
  });

  it("in YAML: relative references from a YAML file to a YAML file in a subfolder and from there to a JSON file", async () => {
    const api = await loadApi({ spec: `${origin}/multi/api.yaml`, allowPrivate: true }, signal());
    expect(api.baseUrl).toBe("https://yaml.example/");
    const tool = api.tools[0]!;
    expect(tool.name).toBe("getNote");
    expect(tool.inputSchema).toMatchObject({ properties: { id: { type: "string", maxLength: 12 } }, required: ["id"] });
    const output = tool.outputSchema as Record<string, any>;
    expect(output.properties.tag).toEqual({ type: "string", maxLength: 8 });
    expectDefsCycle(output);
    expect(JSON.stringify(api.tools)).not.toContain("params.yaml");
  });

  it("refuses a reference to a non-http URL, to a private address (no request made), past the file limit, and YAML aliases", async () => {
    await expect(loadApi({ spec: `${origin}/multi/escape.json`, allowPrivate: true }, signal())).rejects.toThrow(/not an http\(s\) file of the spec/);
    // Each other file goes through the guarded fetch: the root's text is given here, so only the reference is checked.
    const guarded = (file: string, budget: number) => fetchText(file, false, signal(), budget);
    const root = JSON.stringify(files["private-ref.json"]);
    await expect(parseSpec("https://api.example.com/openapi.json", root, guarded, { maxFiles: 4, budget: MAX_SPEC_BYTES })).rejects.toThrow(/169\.254\.169\.254 is a link-local/);
    const before = hits["/multi/schemas/pet.json"] ?? 0;
    await expect(parseSpec(`${origin}/multi/root.json`, JSON.stringify(files["root.json"]), guarded, { maxFiles: 4, budget: MAX_SPEC_BYTES })).rejects.toThrow(/loopback/);
    expect(hits["/multi/schemas/pet.json"] ?? 0).toBe(before);
    // The byte budget covers every file together: the root's text leaves too little for the next.
    await expect(parseSpec(`${origin}/multi/root.json`, JSON.stringify(files["root.json"]), (file, budget) => fetchText(file, true, signal(), budget), { maxFiles: 4, budget: JSON.stringify(files["root.json"]).length + 20 })).rejects.toThrow(/larger than/);
    await expect(loadApi({ spec: `${origin}/multi/many.json`, allowPrivate: true }, signal())).rejects.toThrow(/more than 32 other files/);
    expect(hits["/multi/files/32.json"]).toBeUndefined();
    await expect(loadApi({ spec: `${origin}/multi/aliases.yaml`, allowPrivate: true }, signal())).rejects.toThrow(/YAML aliases are not supported/);
  });
});

describe("an inline spec", () => {
  it("is compiled once per content, and two specs with the same base URL never share tools", async () => {
    const one = (operationId: string) => ({ ...doc, paths: { "/x": { get: { operationId, responses: {} } } } });
    const source = (spec: Record<string, unknown>) => ({ spec, baseUrl: "https://api.example.com", allowPrivate: false });
    const a = await loadApi(source(one("alpha")), signal());
    const b = await loadApi(source(one("beta")), signal());
    expect(a.tools.map((t) => t.name)).toEqual(["alpha"]);
    expect(b.tools.map((t) => t.name)).toEqual(["beta"]);
    // An equal document (a config parsed again) finds the compiled API.
    expect(await loadApi(source(one("alpha")), signal())).toBe(a);
  });
});

describe("an inline spec's references, resolved by the parser", () => {
  const inline = (extra: Record<string, unknown>, ref: string) => ({
    spec: { ...doc, servers: [], paths: { "/x": { get: { operationId: "x", parameters: [{ name: "q", in: "query", schema: { $ref: ref } }], responses: {} } } }, ...extra },
    baseUrl: "https://api.example.com",
    allowPrivate: false,
  });

  it("keeps exponentially repeated references within the budget, and does not change the tenant's document", async () => {
    const schemas: Record<string, unknown> = { L40: { type: "string" } };
    for (let i = 0; i < 40; i++) schemas[`L${i}`] = { type: "object", properties: { a: { $ref: `#/components/schemas/L${i + 1}` }, b: { $ref: `#/components/schemas/L${i + 1}` } } };
    const source = inline({ components: { schemas } }, "#/components/schemas/L0");
    const api = await loadApi(source, signal());
    const schema = api.tools[0]!.inputSchema;
    expect(JSON.stringify(schema).length).toBeLessThan(1_000_000);
    expect(Object.keys(schema.$defs as object).length).toBeGreaterThan(0);
    expect((schemas.L0 as { properties: { a: unknown } }).properties.a).toEqual({ $ref: "#/components/schemas/L1" });
  });

  it("refuses a pointer that does not resolve, a reference to another file, and a loop of references, each with a clear message", async () => {
    const missing = loadApi(inline({}, "#/components/schemas/Nope"), signal());
    await expect(missing).rejects.toThrow(SpecError);
    await expect(missing).rejects.toThrow(/Nope/);
    await expect(loadApi(inline({}, "other.json#/P"), signal())).rejects.toThrow(/only local references/);
    const loop = inline({ components: { parameters: { A: { $ref: "#/components/parameters/B" }, B: { $ref: "#/components/parameters/A" } } } }, "#/x");
    (loop.spec.paths["/x"].get.parameters as unknown[]) = [{ $ref: "#/components/parameters/A" }];
    await expect(loadApi(loop, signal())).rejects.toThrow(SpecError);
  });
});

describe("the admin API's destinations check", () => {
  const tenant = (backend: Record<string, unknown>) => {
    const parsed = parseTenant({ id: "t", backends: [{ name: "api", transport: "openapi", ...backend }] });
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.tenant;
  };

  it("refuses an OpenAPI backend whose spec URL or base URL is private", () => {
    expect(privateDestination(tenant({ spec: "http://10.1.2.3/openapi.json" }))).toMatch(/^backends\.0\.spec: 10\.1\.2\.3 is a private/);
    expect(privateDestination(tenant({ spec: "https://api.example.com/openapi.json", baseUrl: "http://[::1]:8080" }))).toMatch(/^backends\.0\.baseUrl: \[::1\] is a loopback/);
    expect(privateDestination(tenant({ spec: { openapi: "3.1.0", info: { title: "x", version: "1" } }, baseUrl: "https://api.example.com" }))).toBeNull();
  });

  it("fixes the era of an OpenAPI backend to legacy and refuses 'modern'", () => {
    expect(tenant({ spec: "https://api.example.com/o.json" }).backends[0]).toMatchObject({ era: "legacy", url: "https://api.example.com/o.json" });
    expect(parseTenant({ id: "t", backends: [{ name: "api", transport: "openapi", spec: "https://a.example/o.json", era: "modern" }] })).toMatchObject({ ok: false });
  });
});
