/**
 * OpenAPI operations as tools (worker/openapi/): selection, names, input and output schemas,
 * `$ref`s (nested, cyclic, hostile), and the spec checks.
 */
import { describe, expect, it } from "vitest";
import { MAX_TOOL_NAME, operationsOf, select, toolNames } from "../../../worker/openapi/operations.ts";
import { INLINE_BUDGET, SchemaBuilder, SpecError } from "../../../worker/openapi/refs.ts";
import { baseUrlOf, compile } from "../../../worker/openapi/spec.ts";

const petSchema = {
  type: "object",
  required: ["id", "name"],
  properties: {
    id: { type: "integer", format: "int64" },
    name: { type: "string" },
    tag: { type: "string", nullable: true },
    owner: { $ref: "#/components/schemas/Person" },
  },
};

function spec(version = "3.1.0"): Record<string, unknown> {
  return {
    openapi: version,
    info: { title: "Pets", version: "2.0" },
    servers: [{ url: "https://{region}.pets.example/{base}", variables: { region: { default: "eu" }, base: { default: "v1" } } }],
    paths: {
      "/pets": {
        get: { operationId: "listPets", tags: ["pets"], summary: "List pets", parameters: [{ name: "limit", in: "query", schema: { type: "integer" } }], responses: { "200": { description: "ok", content: { "application/json": { schema: { type: "array", items: { $ref: "#/components/schemas/Pet" } } } } } } },
        post: { operationId: "createPet", tags: ["pets"], requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/Pet" } } } }, responses: { "201": { description: "created", content: { "application/json": { schema: { $ref: "#/components/schemas/Pet" } } } } } },
      },
      "/pets/{petId}": {
        parameters: [{ $ref: "#/components/parameters/PetId" }],
        get: { tags: ["pets"], description: "One pet.", responses: { "200": { $ref: "#/components/responses/OnePet" } } },
        put: { operationId: "updatePet", tags: ["pets"], parameters: [{ name: "X-Trace", in: "header", schema: { type: "string" } }, { name: "session", in: "cookie", schema: { type: "string" } }], requestBody: { content: { "application/x-www-form-urlencoded": { schema: { type: "object", properties: { name: { type: "string" } } } } } }, responses: { "204": { description: "done" } } },
        delete: { operationId: "deletePet", tags: ["pets", "admin"], responses: { "204": { description: "gone" } } },
      },
      "/admin/stats/{day}": { get: { operationId: "adminStats", tags: ["admin"], parameters: [{ name: "day", in: "path", required: true, schema: { type: "string" } }, { name: "Accept", in: "header", schema: { type: "string" } }], responses: { default: { description: "x" } } } },
    },
    components: {
      parameters: { PetId: { name: "petId", in: "path", required: true, description: "The pet.", schema: { type: "string" } } },
      responses: { OnePet: { description: "one", content: { "application/json": { schema: { $ref: "#/components/schemas/Pet" } } } } },
      schemas: {
        Pet: petSchema,
        Person: { type: "object", properties: { name: { type: "string" }, pets: { type: "array", items: { $ref: "#/components/schemas/Pet" } } } },
      },
    },
  };
}

const source = { spec: "https://pets.example/openapi.json", allowPrivate: false };

describe("operation selection and names", () => {
  const ops = operationsOf(spec());

  it("lists every operation with its Path Item parameters", () => {
    expect(ops.map((o) => `${o.method} ${o.path}`)).toEqual(["get /pets", "post /pets", "get /pets/{petId}", "put /pets/{petId}", "delete /pets/{petId}", "get /admin/stats/{day}"]);
    expect(ops[2]!.pathParameters).toHaveLength(1);
  });

  it("includes by tag, path glob and method, and excludes by tag and operationId", () => {
    const names = (sel: Parameters<typeof select>[1]) => select(ops, sel).map((o) => o.operationId ?? `${o.method} ${o.path}`);
    expect(names({ exclude: [{ tag: "admin" }] })).toEqual(["listPets", "createPet", "get /pets/{petId}", "updatePet"]);
    expect(names({ include: [{ path: "/pets/*", method: "get" }] })).toEqual(["get /pets/{petId}"]);
    expect(names({ include: [{ path: "/admin/**" }] })).toEqual(["adminStats"]);
    expect(names({ include: [{ path: "/admin/*" }] })).toEqual([]);
    expect(names({ include: [{ tag: "pets" }], exclude: [{ operationId: "deletePet" }, { method: "post" }] })).toEqual(["listPets", "get /pets/{petId}", "updatePet"]);
  });

  it("names tools by operationId, else method and path; within 64 characters and unique", () => {
    expect(toolNames(ops)).toEqual(["listPets", "createPet", "get_pets_petId", "updatePet", "deletePet", "adminStats"]);
    const long = { ...ops[0]!, operationId: `a${"b".repeat(100)}` };
    const clash = [long, { ...long }, { ...ops[0]!, operationId: "weird name/with:chars" }, { ...ops[0]!, operationId: "weird_name_with_chars" }];
    const names = toolNames(clash);
    expect(new Set(names).size).toBe(4);
    for (const name of names) expect(name).toMatch(new RegExp(`^[A-Za-z0-9_.-]{1,${MAX_TOOL_NAME}}$`));
    expect(names[2]).toBe("weird_name_with_chars");
    expect(names[3]).toBe("weird_name_with_chars_2");
  });
});

describe("tool definitions", () => {
  const api = compile(spec(), source);
  const tool = (name: string) => api.tools.find((t) => t.name === name)!;

  it("takes the base URL from the servers with variables at their defaults, or from config", () => {
    expect(api.baseUrl).toBe("https://eu.pets.example/v1");
    expect(compile(spec(), { ...source, baseUrl: "https://override.example/api" }).baseUrl).toBe("https://override.example/api");
    expect(baseUrlOf({ servers: [{ url: "/v3" }] }, source)).toBe("https://pets.example/v3");
    expect(() => baseUrlOf({ servers: [{ url: "/v3" }] }, { spec: {}, allowPrivate: false })).toThrow(/relative and the spec is inline/);
    expect(() => baseUrlOf({ servers: [{ url: "http://10.0.0.5/api" }] }, source)).toThrow(/private address/);
    expect(baseUrlOf({ servers: [{ url: "http://10.0.0.5/api" }] }, { ...source, allowPrivate: true })).toBe("http://10.0.0.5/api");
  });

  it("describes operations, marks safe methods read-only and reserved headers out", () => {
    expect(tool("listPets")).toMatchObject({ title: "List pets", description: "List pets", annotations: { readOnlyHint: true } });
    expect(tool("get_pets_petId").description).toBe("One pet.");
    expect(tool("deletePet").annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true });
    expect(tool("createPet").annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false });
    expect(tool("adminStats").description).toBe("GET /admin/stats/{day}");
    expect(Object.keys(tool("adminStats").inputSchema.properties as object)).toEqual(["day"]);
  });

  it("puts path, query, header and cookie parameters beside the body, path parameters required", () => {
    const input = tool("updatePet").inputSchema as { properties: Record<string, { description: string }>; required: string[] };
    expect(Object.keys(input.properties)).toEqual(["petId", "X-Trace", "session", "body"]);
    expect(input.required).toEqual(["petId"]);
    expect(input.properties.petId!.description).toBe("The pet. (path parameter)");
    expect(input.properties.session!.description).toBe("(cookie parameter)");
    expect(api.plans.get("updatePet")).toMatchObject({ body: { key: "body", mediaType: "form" }, params: [{ in: "path" }, { in: "header", style: "simple" }, { in: "cookie", style: "form", explode: true }] });
    expect((tool("createPet").inputSchema as { required: string[] }).required).toEqual(["body"]);
  });

  it("keeps a cyclic $ref as $defs and inlines the rest; 3.0 nullable becomes a null type", () => {
    const input = compile(spec("3.0.3"), source).tools.find((t) => t.name === "createPet")!.inputSchema as Record<string, any>;
    const body = input.properties.body;
    expect(body.properties.tag.type).toEqual(["string", "null"]);
    expect(body.properties.owner.properties.pets.items).toEqual({ $ref: "#/$defs/Pet" });
    expect(input.$defs.Pet.properties.owner.properties.pets.items).toEqual({ $ref: "#/$defs/Pet" });
    expect(JSON.stringify(input)).not.toContain("components");
    expect(JSON.stringify(input)).not.toContain("nullable");
    // 3.1 keeps `nullable` out too: it is not a 3.1 keyword, so it is simply dropped.
    expect(JSON.stringify(tool("createPet").inputSchema)).not.toContain("nullable");
  });

  it("gives an object 2xx schema as outputSchema and wraps any other as { result }", () => {
    expect(tool("get_pets_petId").outputSchema).toMatchObject({ type: "object", required: ["id", "name"] });
    expect(tool("listPets").outputSchema).toMatchObject({ type: "object", required: ["result"], properties: { result: { type: "array" } } });
    expect(api.plans.get("listPets")).toMatchObject({ wrapResult: true, hasOutputSchema: true });
    expect(tool("deletePet").outputSchema).toBeUndefined();
  });

  it("keeps oneOf, anyOf and allOf", () => {
    const doc = spec();
    (doc.components as any).schemas.Shape = { oneOf: [{ $ref: "#/components/schemas/Pet" }, { type: "string" }], anyOf: [{ minLength: 1 }], allOf: [{ description: "x" }] };
    (doc.paths as any)["/shapes"] = { post: { operationId: "shape", requestBody: { content: { "application/json": { schema: { $ref: "#/components/schemas/Shape" } } } }, responses: {} } };
    const body = (compile(doc, source).tools.find((t) => t.name === "shape")!.inputSchema as any).properties.body;
    expect(body.oneOf).toHaveLength(2);
    expect(body.oneOf[0].properties.name).toEqual({ type: "string" });
    expect(body.anyOf).toEqual([{ minLength: 1 }]);
    expect(body.allOf).toEqual([{ description: "x" }]);
  });
});

describe("names of inputs", () => {
  it("renames a parameter that another location or the body already uses", () => {
    const doc = {
      openapi: "3.1.0",
      info: { title: "x", version: "1" },
      paths: {
        "/things/{id}": {
          post: {
            operationId: "touch",
            parameters: [
              { name: "id", in: "path", required: true, schema: { type: "string" } },
              { name: "id", in: "query", schema: { type: "string" } },
              { name: "body", in: "header", schema: { type: "string" } },
            ],
            requestBody: { content: { "text/plain": {} } },
            responses: {},
          },
        },
      },
    };
    const api = compile(doc, { spec: "https://x.example/o.json", allowPrivate: false });
    expect(Object.keys(api.tools[0]!.inputSchema.properties as object)).toEqual(["id", "query_id", "header_body", "body"]);
    expect(api.plans.get("touch")!.params.map((p) => `${p.in}:${p.name}->${p.key}`)).toEqual(["path:id->id", "query:id->query_id", "header:body->header_body"]);
    expect(api.plans.get("touch")!.body).toMatchObject({ key: "body", mediaType: "text", contentType: "text/plain" });
  });

  it("keeps 3.1 keywords beside a $ref, with the target under allOf", () => {
    const built = new SchemaBuilder({ components: { schemas: { Pet: { type: "object" } } } }, false).build({ $ref: "#/components/schemas/Pet", description: "The pet to add." });
    expect(built).toEqual({ description: "The pet to add.", allOf: [{ type: "object" }] });
  });
});

describe("hostile and unsupported specs", () => {
  it("converts Swagger 2.0 (@scalar/openapi-upgrader), refuses other Swagger versions and documents that are not OpenAPI 3", () => {
    const swagger = {
      swagger: "2.0",
      info: { title: "Old", version: "1" },
      host: "old.example",
      basePath: "/v1",
      schemes: ["https"],
      paths: { "/items/{id}": { get: { operationId: "getItem", produces: ["application/json"], parameters: [{ name: "id", in: "path", required: true, type: "string" }], responses: { "200": { description: "ok", schema: { $ref: "#/definitions/Item" } } } } } },
      definitions: { Item: { type: "object", properties: { id: { type: "string" } } } },
    };
    const api = compile(swagger, { spec: swagger, allowPrivate: false });
    expect(api.baseUrl).toBe("https://old.example/v1");
    expect(api.tools[0]).toMatchObject({ name: "getItem", inputSchema: { properties: { id: { type: "string" } }, required: ["id"] }, outputSchema: { type: "object", properties: { id: { type: "string" } } } });
    expect(swagger.definitions).toBeDefined(); // the tenant's document is not changed
    expect(() => compile({ swagger: "1.2", paths: {} }, source)).toThrow(/Swagger "1.2" is not supported/);
    expect(() => compile({ paths: {} }, source)).toThrow(/not OpenAPI 3/);
  });

  it("refuses references that leave the document, do not resolve, or loop on themselves", () => {
    const broken = (ref: string) => ({ ...spec(), paths: { "/x": { get: { operationId: "x", parameters: [{ $ref: ref }], responses: {} } } } });
    expect(() => compile(broken("other.json#/P"), source)).toThrow(SpecError);
    expect(() => compile(broken("other.json#/P"), source)).toThrow(/GET \/x: .*only local references \(#\/\.\.\.\)/);
    expect(() => compile(broken("#/components/parameters/Nope"), source)).toThrow(/does not resolve/);
    const loop = { ...broken("#/components/parameters/A"), components: { parameters: { A: { $ref: "#/components/parameters/B" }, B: { $ref: "#/components/parameters/A" } } } };
    expect(() => compile(loop, source)).toThrow(/refers to itself/);
  });

  it("keeps exponentially repeated references within the inline budget", () => {
    // Each level refers to the next twice: fully inlined, 2^40 nodes.
    const schemas: Record<string, unknown> = { L40: { type: "string" } };
    for (let i = 0; i < 40; i++) schemas[`L${i}`] = { type: "object", properties: { a: { $ref: `#/components/schemas/L${i + 1}` }, b: { $ref: `#/components/schemas/L${i + 1}` } } };
    const built = new SchemaBuilder({ components: { schemas } }, false).build({ $ref: "#/components/schemas/L0" });
    const size = JSON.stringify(built).length;
    expect(size).toBeLessThan(INLINE_BUDGET * 400);
    expect(Object.keys(built.$defs as object).length).toBeGreaterThan(0);
  });

  it("refuses schemas nested deeper than the limit", () => {
    let deep: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < 200; i++) deep = { type: "array", items: deep };
    expect(() => new SchemaBuilder({}, false).build(deep)).toThrow(/nested more than/);
  });
});
