/**
 * The operations of an OpenAPI document, which of them a backend exposes (`operations.include` /
 * `operations.exclude`), and the tool name each one gets.
 */
import { fnv1a } from "../protocol/encoding.ts";
import { deref, SpecError } from "./refs.ts";

export const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;
export type Method = (typeof METHODS)[number];

/** MCP 2025-11-25 server/tools "Tool Names": 1-128 of A-Z a-z 0-9 _ - .; kept to 64 as many clients cap there. */
export const MAX_TOOL_NAME = 64;

export interface Operation {
  method: Method;
  path: string;
  operationId: string | undefined;
  tags: string[];
  /** The Operation Object, references not yet followed. */
  object: Record<string, unknown>;
  /** Parameters of the Path Item, which the operation's own override by name and location. */
  pathParameters: unknown[];
}

export interface Matcher {
  operationId?: string | undefined;
  tag?: string | undefined;
  /** A glob over the path template: `*` within one segment, `**` across segments. */
  path?: string | undefined;
  method?: string | undefined;
}

export interface Selection {
  include?: Matcher[] | undefined;
  exclude?: Matcher[] | undefined;
}

/** Every operation of the document, in document order. */
export function operationsOf(doc: Record<string, unknown>): Operation[] {
  const paths = doc.paths;
  if (paths === undefined) return [];
  if (typeof paths !== "object" || paths === null) throw new SpecError("paths is not an object");
  const out: Operation[] = [];
  for (const [path, rawItem] of Object.entries(paths)) {
    if (!path.startsWith("/")) throw new SpecError(`path ${JSON.stringify(path)} does not start with /`);
    const item = deref<Record<string, unknown>>(doc, rawItem);
    if (typeof item !== "object" || item === null) continue;
    const pathParameters = Array.isArray(item.parameters) ? item.parameters : [];
    for (const method of METHODS) {
      const object = item[method];
      if (typeof object !== "object" || object === null) continue;
      const operation = object as Record<string, unknown>;
      out.push({
        method,
        path,
        operationId: typeof operation.operationId === "string" && operation.operationId !== "" ? operation.operationId : undefined,
        tags: Array.isArray(operation.tags) ? operation.tags.filter((t): t is string => typeof t === "string") : [],
        object: operation,
        pathParameters,
      });
    }
  }
  return out;
}

/** True when every field the matcher names matches the operation. */
export function matches(matcher: Matcher, operation: Operation): boolean {
  if (matcher.operationId !== undefined && matcher.operationId !== operation.operationId) return false;
  if (matcher.tag !== undefined && !operation.tags.includes(matcher.tag)) return false;
  if (matcher.method !== undefined && matcher.method.toLowerCase() !== operation.method) return false;
  if (matcher.path !== undefined && !pathGlob(matcher.path).test(operation.path)) return false;
  return true;
}

/** Included (all when `include` is absent) and not excluded. */
export function select(operations: Operation[], selection: Selection | undefined): Operation[] {
  const include = selection?.include;
  const exclude = selection?.exclude ?? [];
  return operations.filter((op) => (include === undefined || include.some((m) => matches(m, op))) && !exclude.some((m) => matches(m, op)));
}

const globCache = new Map<string, RegExp>();

function pathGlob(glob: string): RegExp {
  let re = globCache.get(glob);
  if (!re) {
    const body = glob
      .split(/(\*\*|\*)/)
      .map((part) => (part === "**" ? ".*" : part === "*" ? "[^/]*" : part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")))
      .join("");
    re = new RegExp(`^${body}$`);
    if (globCache.size > 1_000) globCache.clear();
    globCache.set(glob, re);
  }
  return re;
}

/**
 * Tool names for the operations, in order: the operationId, else method and path
 * (`get_pets_petId`), reduced to the allowed characters, cut to MAX_TOOL_NAME with a short hash
 * when longer, and made unique with a numeric suffix.
 */
export function toolNames(operations: Operation[]): string[] {
  const used = new Set<string>();
  return operations.map((op) => {
    const raw = op.operationId ?? `${op.method}${op.path.replace(/[{}]/g, "")}`;
    let name = raw.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^_+|_+$/g, "") || op.method;
    if (name.length > MAX_TOOL_NAME) name = `${name.slice(0, MAX_TOOL_NAME - 9)}_${fnv1a(raw)}`;
    let unique = name;
    for (let i = 2; used.has(unique); i++) unique = `${name.slice(0, MAX_TOOL_NAME - String(i).length - 1)}_${i}`;
    used.add(unique);
    return unique;
  });
}
