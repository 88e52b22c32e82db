/**
 * A spec split over several files (`"$ref": "schemas/pet.json#/Pet"`, `"$ref": "common.json"`):
 * each other file is fetched once, relative to the file that names it, and the spec becomes one
 * document. The files go under EXTERNAL_KEY, and every reference is rewritten to a local one
 * (`#/x-gateway-files/0/Pet`), so the rest of worker/openapi/ sees a single document.
 */
import { SpecError } from "./refs.ts";

/** Other files a spec may pull in. */
export const MAX_EXTERNAL_FILES = 32;
/** Where the other files live in the bundled document. */
export const EXTERNAL_KEY = "x-gateway-files";
/** A `$ref` that does not start with `#`: worth bundling. */
export const EXTERNAL_REF = /"\$ref"\s*:\s*"(?!#)/;

/** Reads one file, refusing more than `budget` bytes. */
type Loader = (url: string, budget: number) => Promise<{ doc: Record<string, unknown>; text: string }>;

/**
 * The spec at `rootUrl` with its other files bundled in (a new object: `root` is not changed),
 * at most `maxFiles` of them and `budget` bytes together.
 */
export async function bundle(root: Record<string, unknown>, rootUrl: string, limits: { maxFiles: number; budget: number }, load: Loader): Promise<Record<string, unknown>> {
  const maxFiles = limits.maxFiles;
  let budget = limits.budget;
  const index = new Map<string, number>();
  const pending: { url: string; doc: unknown; at: number }[] = [];
  const files: unknown[] = [];

  /** The local reference for `ref` as written in the file at `base`, whose own pointers start at `prefix`. */
  const localRef = (ref: string, base: string, prefix: string): string => {
    if (ref.startsWith("#")) return prefix + ref.slice(1);
    let target: URL;
    try {
      target = new URL(ref, base);
    } catch {
      throw new SpecError(`$ref ${JSON.stringify(ref)} is not a URL or a pointer`);
    }
    if (target.protocol !== "http:" && target.protocol !== "https:") throw new SpecError(`$ref ${JSON.stringify(ref)} is not an http(s) reference`);
    const fragment = target.hash.slice(1);
    target.hash = "";
    const url = target.toString();
    if (url === rootUrl) return `#${fragment}`;
    let at = index.get(url);
    if (at === undefined) {
      if (index.size >= maxFiles) throw new SpecError(`the spec refers to more than ${maxFiles} other files`);
      at = index.size;
      index.set(url, at);
      pending.push({ url, doc: null, at });
    }
    return `#/${EXTERNAL_KEY}/${at}${fragment}`;
  };

  const rewrite = (node: unknown, base: string, prefix: string): unknown => {
    if (Array.isArray(node)) return node.map((item) => rewrite(item, base, prefix));
    if (typeof node !== "object" || node === null) return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = key === "$ref" && typeof value === "string" ? localRef(value, base, prefix) : rewrite(value, base, prefix);
    return out;
  };

  const bundled = rewrite(root, rootUrl, "#") as Record<string, unknown>;
  for (let i = 0; i < pending.length; i++) {
    const file = pending[i]!;
    const { doc, text } = await load(file.url, budget);
    budget -= text.length;
    files[file.at] = rewrite(doc, file.url, `#/${EXTERNAL_KEY}/${file.at}`);
  }
  if (files.length > 0) bundled[EXTERNAL_KEY] = files;
  return bundled;
}
