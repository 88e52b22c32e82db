/**
 * `$ref` resolution inside one OpenAPI document, and OpenAPI Schema Objects turned into the
 * self-contained JSON Schemas (2020-12) that MCP tools carry (2025-11-25 server/tools "Tool":
 * `inputSchema`, `outputSchema`).
 *
 * A reference is inlined where it is used, except one already being expanded further up (a
 * cycle) or any past the size budget or depth (deep or repeated references): those become
 * `{"$ref": "#/$defs/<name>"}` and the target is built once under `$defs`. So a cyclic schema is
 * still plain JSON, and a hostile spec cannot make one tool's schema grow without bound.
 */

export class SpecError extends Error {}

/** Nodes one tool's schema may inline before every further reference goes to `$defs`. */
export const INLINE_BUDGET = 2_000;
/** Nesting depth past which a schema is refused (a spec built to exhaust the stack). */
export const MAX_SCHEMA_DEPTH = 64;
/** Nesting depth past which references are no longer inlined but named in `$defs`. */
export const MAX_INLINE_DEPTH = 24;

type Json = Record<string, unknown>;

/** OpenAPI keywords that are not JSON Schema; dropped so clients' validators do not trip on them. */
const OPENAPI_ONLY = new Set(["nullable", "discriminator", "xml", "externalDocs", "example"]);

/** The value a local reference (`#/components/schemas/Pet`) points at, or a SpecError. */
export function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith("#")) throw new SpecError(`$ref ${JSON.stringify(ref)} points to another file: an inline spec supports only local references (#/...), a spec URL also relative files`);
  if (ref === "#") return doc;
  if (!ref.startsWith("#/")) throw new SpecError(`$ref ${JSON.stringify(ref)} is not a JSON pointer`);
  let node: unknown = doc;
  for (const raw of ref.slice(2).split("/")) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (typeof node !== "object" || node === null || !Object.prototype.hasOwnProperty.call(node, key)) throw new SpecError(`$ref ${JSON.stringify(ref)} does not resolve`);
    node = (node as Json)[key];
  }
  return node;
}

/**
 * Follows `$ref`s of a non-schema object (parameter, request body, response) until a real one,
 * refusing a chain that loops.
 */
export function deref<T = Json>(doc: unknown, value: unknown): T {
  let node = value;
  const seen = new Set<string>();
  while (typeof node === "object" && node !== null && typeof (node as Json).$ref === "string") {
    const ref = (node as Json).$ref as string;
    if (seen.has(ref)) throw new SpecError(`$ref ${JSON.stringify(ref)} refers to itself`);
    seen.add(ref);
    node = resolvePointer(doc, ref);
  }
  return node as T;
}

/** Builds JSON Schemas from one document's Schema Objects; one builder per tool schema. */
export class SchemaBuilder {
  readonly #doc: unknown;
  /** OpenAPI 3.0 (`nullable`, boolean `exclusiveMinimum`) rather than 3.1 (JSON Schema 2020-12). */
  readonly #v30: boolean;
  readonly #defs = new Map<string, { name: string; schema: unknown }>();
  #pending: string[] = [];
  #budget = INLINE_BUDGET;

  constructor(doc: unknown, v30: boolean) {
    this.#doc = doc;
    this.#v30 = v30;
  }

  /** A whole schema: `part` and `root` in one. */
  build(schema: unknown): Json {
    return this.root(this.part(schema));
  }

  /** A schema with every reference inlined or named in `$defs`, which `root` attaches. */
  part(schema: unknown): Json {
    const out = this.#convert(schema, [], 0);
    return typeof out === "object" && out !== null && !Array.isArray(out) ? (out as Json) : {};
  }

  /** `top` (built from parts) with the `$defs` its parts named, each built once. */
  root(top: Json): Json {
    while (this.#pending.length > 0) {
      const ref = this.#pending.shift()!;
      const entry = this.#defs.get(ref)!;
      entry.schema = this.#convert(resolvePointer(this.#doc, ref), [ref], 0);
    }
    if (this.#defs.size === 0) return top;
    const defs: Json = {};
    for (const { name, schema } of this.#defs.values()) defs[name] = schema;
    return { ...top, $defs: { ...(top.$defs as Json | undefined), ...defs } };
  }

  #defRef(ref: string): Json {
    let entry = this.#defs.get(ref);
    if (!entry) {
      const base = (ref.split("/").pop() ?? "def").replace(/[^A-Za-z0-9_.-]/g, "_") || "def";
      let name = base;
      for (let i = 2; [...this.#defs.values()].some((d) => d.name === name); i++) name = `${base}_${i}`;
      entry = { name, schema: {} };
      this.#defs.set(ref, entry);
      this.#pending.push(ref);
    }
    return { $ref: `#/$defs/${entry.name}` };
  }

  #convert(node: unknown, stack: string[], depth: number): unknown {
    if (depth > MAX_SCHEMA_DEPTH) throw new SpecError(`a schema is nested more than ${MAX_SCHEMA_DEPTH} levels deep`);
    if (Array.isArray(node)) return node.map((item) => this.#convert(item, stack, depth + 1));
    if (typeof node !== "object" || node === null) return node;
    const object = node as Json;
    if (typeof object.$ref === "string") {
      const ref = object.$ref;
      if (stack.includes(ref) || this.#defs.has(ref) || this.#budget <= 0 || depth > MAX_INLINE_DEPTH) return this.#defRef(ref);
      this.#budget--;
      const target = this.#convert(resolvePointer(this.#doc, ref), [...stack, ref], depth + 1);
      // 3.1 allows siblings next to $ref (description, ...); they are kept beside the target.
      const siblings = Object.fromEntries(Object.entries(object).filter(([k]) => k !== "$ref"));
      return Object.keys(siblings).length > 0 ? { ...(this.#convert(siblings, stack, depth + 1) as Json), allOf: [target] } : target;
    }
    this.#budget--;
    const out: Json = {};
    for (const [key, value] of Object.entries(object)) {
      if (OPENAPI_ONLY.has(key)) continue;
      // Values that are data, not schemas, are copied as they are.
      if (key === "enum" || key === "const" || key === "default" || key === "examples" || key === "required") out[key] = value;
      else if (key === "properties" || key === "patternProperties" || key === "$defs" || key === "definitions" || key === "dependentSchemas") {
        const map: Json = {};
        if (typeof value === "object" && value !== null) for (const [name, sub] of Object.entries(value)) map[name] = this.#convert(sub, stack, depth + 1);
        out[key] = map;
      } else out[key] = this.#convert(value, stack, depth + 1);
    }
    return this.#v30 ? this.#from30(object, out) : out;
  }

  /** OpenAPI 3.0 Schema Object dialect differences (OAS 3.0.3 §4.7.24). */
  #from30(source: Json, out: Json): Json {
    let result = out;
    if (source.nullable === true) {
      if (typeof out.type === "string") out.type = [out.type, "null"];
      else if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
      // No type of its own (`allOf: [{$ref}]`, `oneOf`...): null is one more alternative.
      else if (out.type === undefined) result = { anyOf: [out, { type: "null" }] };
    }
    for (const [flag, bound] of [["exclusiveMinimum", "minimum"], ["exclusiveMaximum", "maximum"]] as const) {
      if (source[flag] === true && typeof source[bound] === "number") {
        out[flag] = source[bound];
        delete out[bound];
      } else if (typeof source[flag] === "boolean") delete out[flag];
    }
    return result;
  }
}
