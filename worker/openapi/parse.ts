/**
 * Parsing a fetched spec and resolving its references to other files, by
 * @apidevtools/json-schema-ref-parser: JSON and YAML, relative `$ref`s resolved against the file
 * that names them, and every reference dereferenced. The library's object graph (shared and
 * cyclic objects) is then written out as one tree: an object met again becomes a local `$ref` to
 * where it was first written, so a cycle stays a `$ref` (refs.ts turns it into `$defs`) and the
 * document serializes. (The library's own `bundle` leaves a reference from another file back
 * into the root file unrewritten, so it is not used.) The library never fetches
 * on its own: its file and HTTP resolvers are off and the gateway's resolver reads every file
 * through `readFile` (the guarded fetch: private-address check on every hop, time cap), within
 * a file count and one byte budget for the whole spec.
 */
import { $RefParser, getJsonSchemaRefParserDefaultOptions, type FileInfo, type Plugin } from "@apidevtools/json-schema-ref-parser";
import { SpecError } from "./refs.ts";

/** Other files a spec may pull in. */
export const MAX_SPEC_FILES = 32;

/** Reads one file of the spec as text, refusing more than `budget` bytes. */
export type ReadFile = (url: string, budget: number) => Promise<string>;

/**
 * The spec at `rootUrl` (already read as `rootText`), its other files read through `readFile`,
 * as one document with local references only.
 */
export async function parseSpec(rootUrl: string, rootText: string, readFile: ReadFile, limits: { maxFiles: number; budget: number }): Promise<Record<string, unknown>> {
  const root = withoutHash(rootUrl);
  let budget = limits.budget - rootText.length;
  let files = 0;
  const gateway = {
    order: 1,
    canRead: true,
    read: async (file: FileInfo): Promise<string> => {
      const url = withoutHash(file.url);
      if (url === root) return rootText;
      if (!/^https?:\/\//i.test(url)) throw new SpecError(`a $ref names ${JSON.stringify(url)}, not an http(s) file of the spec`);
      if (++files > limits.maxFiles) throw new SpecError(`the spec refers to more than ${limits.maxFiles} other files`);
      const text = await readFile(url, budget);
      budget -= text.length;
      return text;
    },
  };
  const defaults = getJsonSchemaRefParserDefaultOptions().parse;
  let doc: unknown;
  try {
    doc = await new $RefParser().dereference(rootUrl, {
      resolve: { file: false, http: false, external: true, gateway },
      // JSON, then YAML (a superset); nothing else is a spec.
      parse: { json: treeOnly(defaults.json as Plugin), yaml: treeOnly(defaults.yaml as Plugin), text: false, binary: false },
      dereference: { circular: true },
      continueOnError: false,
    });
  } catch (error) {
    throw new SpecError(describe(error));
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new SpecError("the spec is not a JSON or YAML object");
  return asTree(doc as Record<string, unknown>);
}

/**
 * The graph as a tree: an object met a second time becomes `{ $ref: <pointer to its first place> }`.
 * `components` is written first, so shared schemas keep their names there (and as `$defs` names).
 */
function asTree(root: Record<string, unknown>): Record<string, unknown> {
  const placed = new Map<object, string>();
  const write = (node: unknown, pointer: string): unknown => {
    if (typeof node !== "object" || node === null) return node;
    const first = placed.get(node);
    if (first !== undefined && first !== pointer) return { $ref: `#${first}` };
    placed.set(node, pointer);
    if (Array.isArray(node)) return node.map((item, i) => write(item, `${pointer}/${i}`));
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = write(value, `${pointer}/${escape(key)}`);
    return out;
  };
  placed.set(root, "");
  // Every named component is placed at its own name before anything is written, so one met
  // first inside another component still keeps its name.
  const components = root.components;
  if (typeof components === "object" && components !== null) {
    for (const [kind, group] of Object.entries(components)) {
      if (typeof group !== "object" || group === null) continue;
      for (const [name, value] of Object.entries(group)) if (typeof value === "object" && value !== null && !placed.has(value)) placed.set(value, `/components/${escape(kind)}/${escape(name)}`);
    }
  }
  const out: Record<string, unknown> = {};
  if ("components" in root) out.components = write(root.components, "/components");
  for (const [key, value] of Object.entries(root)) if (key !== "components") out[key] = write(value, `/${escape(key)}`);
  return out;
}

/**
 * An inline spec (already parsed as part of the tenant document): its local references resolved
 * by the library, on a copy, and written out as a tree as above. References to other files are
 * left for refs.ts to refuse: an inline spec has no URL to resolve them against.
 */
export async function resolveInline(spec: Record<string, unknown>): Promise<Record<string, unknown>> {
  let doc: unknown;
  try {
    doc = await new $RefParser().dereference(structuredClone(spec), {
      resolve: { file: false, http: false, external: false },
      dereference: { circular: true },
      continueOnError: false,
    });
  } catch (error) {
    throw new SpecError(describe(error));
  }
  return asTree(doc as Record<string, unknown>);
}

/**
 * The library's parser, refusing a document in which one object sits in two places: YAML
 * aliases (`*name`) share objects, and a few nested ones make a walk of the document
 * exponential (the "billion laughs" shape). A JSON document is always a tree.
 */
function treeOnly(plugin: Plugin): Plugin {
  const parse = plugin.parse as (file: FileInfo) => unknown;
  return {
    ...plugin,
    parse: async (file: FileInfo) => {
      const value = await parse.call(plugin, file);
      const seen = new Set<object>();
      const walk = (node: unknown): void => {
        if (typeof node !== "object" || node === null) return;
        if (seen.has(node)) throw new SpecError(`${file.url}: YAML aliases are not supported in specs (write the repeated part out, or use a $ref)`);
        seen.add(node);
        for (const child of Object.values(node)) walk(child);
      };
      walk(value);
      return value;
    },
  };
}

/** A key as a JSON Pointer token (RFC 6901 §3). */
function escape(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

function withoutHash(url: string): string {
  const i = url.indexOf("#");
  return i === -1 ? url : url.slice(0, i);
}

/** The library's error as one line, without a stack: its message names the file and the problem. */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]!.slice(0, 500);
}
