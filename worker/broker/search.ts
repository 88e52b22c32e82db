/**
 * Full-text search over a merged tool list, for search mode's `search_tools` (docs/catalog.md).
 *
 * MiniSearch (BM25+ ranking, prefix and fuzzy matching, no dependencies, no code generation, so
 * it runs in workerd) indexes each tool's exposed name, title, description and parameter names
 * and descriptions. Names are split at `_`, `-`, `.` and camelCase humps, so `get_forecast`,
 * `getForecast` and "forecast" meet; a light suffix stemmer makes "forecasts" find "forecast".
 * An index is built once per list (the same array: the catalog keeps it while the backends'
 * lists and the tenant version stay), and policy filters its results per principal.
 */
import MiniSearch from "minisearch";
import type { Item } from "./merge.ts";

/** How many results `search_tools` gives when the caller names no limit, and the most it gives. */
export const DEFAULT_SEARCH_LIMIT = 8;
export const MAX_SEARCH_LIMIT = 50;
/**
 * Only the start of a query is searched: fuzzy matching costs per term, and a Worker's CPU time
 * is bounded, so a megabyte of query must cost what a sentence does.
 */
export const MAX_QUERY_CHARS = 500;
export const MAX_QUERY_TERMS = 24;

/** Words that carry no meaning in a tool query; left out of the index and of queries. */
const STOP_WORDS = new Set([
  "a", "an", "and", "any", "are", "as", "at", "be", "by", "can", "do", "for", "from", "get", "i", "in", "into", "is", "it", "its", "me", "my",
  "of", "on", "or", "please", "that", "the", "this", "to", "tool", "tools", "use", "using", "want", "what", "which", "with", "you", "your",
]);

interface Doc {
  id: number;
  name: string;
  title: string;
  description: string;
  params: string;
}

export interface ToolIndex {
  items: readonly Item[];
  engine: MiniSearch<Doc>;
}

const indexes = new WeakMap<readonly Item[], ToolIndex>();

/** The index of a list, built on first use and kept as long as the list itself is. */
export function toolIndex(items: readonly Item[]): ToolIndex {
  let index = indexes.get(items);
  if (!index) {
    const engine = new MiniSearch<Doc>({
      fields: ["name", "title", "description", "params"],
      tokenize,
      processTerm,
    });
    engine.addAll(items.map((item, id) => toDoc(item, id)));
    index = { items, engine };
    indexes.set(items, index);
  }
  return index;
}

/**
 * The tools that best match a query, best first, among those `allowed` keeps (by index in the
 * list). A query with no searchable word gives the first tools in list order.
 */
export function searchTools(index: ToolIndex, query: string, limit: number, allowed: (position: number) => boolean): Item[] {
  const terms = tokenize(query.slice(0, MAX_QUERY_CHARS))
    .map(processTerm)
    .filter((t): t is string => typeof t === "string")
    .slice(0, MAX_QUERY_TERMS);
  if (terms.length === 0) return index.items.filter((_, i) => allowed(i)).slice(0, limit);
  const hits = index.engine.search(terms.join(" "), {
    boost: { name: 3, title: 2, description: 1, params: 0.5 },
    prefix: (term) => term.length >= 3,
    fuzzy: (term) => (term.length >= 5 ? 0.2 : false),
    filter: (hit) => allowed(hit.id as number),
  });
  return hits.slice(0, limit).map((hit) => index.items[hit.id as number]!);
}

function toDoc(item: Item, id: number): Doc {
  const schema = typeof item.inputSchema === "object" && item.inputSchema !== null ? (item.inputSchema as Record<string, unknown>) : {};
  const properties = typeof schema.properties === "object" && schema.properties !== null ? (schema.properties as Record<string, unknown>) : {};
  const params = Object.entries(properties).map(([key, value]) => {
    const description = typeof value === "object" && value !== null ? (value as Record<string, unknown>).description : undefined;
    return typeof description === "string" ? `${key} ${description}` : key;
  });
  const annotations = typeof item.annotations === "object" && item.annotations !== null ? (item.annotations as Record<string, unknown>) : {};
  const title = [item.title, annotations.title].filter((t) => typeof t === "string").join(" ");
  return { id, name: String(item.name ?? ""), title, description: typeof item.description === "string" ? item.description : "", params: params.join(" ") };
}

/** Words of a name or a text: split at non-alphanumerics and at camelCase humps. */
export function tokenize(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word.length > 0);
}

/** Lower case, stop words out, and a light English suffix stemmer applied to index and query alike. */
export function processTerm(term: string): string | null {
  const word = term.toLowerCase();
  if (STOP_WORDS.has(word)) return null;
  let stem = word;
  if (stem.length > 4 && stem.endsWith("ies")) stem = `${stem.slice(0, -3)}y`;
  else if (stem.length > 5 && stem.endsWith("ing")) stem = stem.slice(0, -3);
  else if (stem.length > 4 && stem.endsWith("ed") && !stem.endsWith("eed")) stem = stem.slice(0, -2);
  else if (stem.length > 4 && /(?:ss|x|ch|sh)es$/.test(stem)) stem = stem.slice(0, -2);
  else if (stem.length > 3 && stem.endsWith("s") && !stem.endsWith("ss") && !stem.endsWith("us")) stem = stem.slice(0, -1);
  // "create", "creates", "created" and "creating" all end as "creat".
  if (stem.length > 4 && stem.endsWith("e")) stem = stem.slice(0, -1);
  return stem;
}
