/**
 * An OpenAPI backend's description: loaded (inline from config, or fetched from its URL with the
 * private-address guard, a time cap, a size cap and no redirect to a private address; JSON or
 * YAML, its files bundled by parse.ts), checked (OpenAPI 3.0 or 3.1; Swagger 2.0 converted to
 * 3.0 by @scalar/openapi-upgrader), and compiled into tool definitions and call plans.
 * Both the fetched document and the compiled API are cached per isolate; a fetched document is
 * revalidated (ETag / Last-Modified) once SPEC_FRESH_MS has passed.
 */
import { privateAddress } from "../admin/destinations.ts";
import { upgradeFromTwoToThree } from "@scalar/openapi-upgrader/2.0-to-3.0";
import { fetchText, guardedFetch, MAX_SPEC_BYTES, readText } from "./fetch.ts";
import { operationsOf, select, toolNames, type Selection } from "./operations.ts";
import { MAX_SPEC_FILES, parseSpec, resolveInline } from "./parse.ts";
import { SpecError } from "./refs.ts";
import { buildTool, type ToolDefinition, type ToolPlan } from "./tools.ts";

export { MAX_SPEC_BYTES } from "./fetch.ts";
/** A fetched spec is used without asking again for this long. */
export const SPEC_FRESH_MS = 5 * 60_000;
/** Specs kept per isolate (fetched and compiled alike). */
const CACHE_MAX = 32;

export interface SpecSource {
  /** A URL, or the document itself. */
  spec: string | Record<string, unknown>;
  baseUrl?: string | undefined;
  operations?: Selection | undefined;
  allowPrivate: boolean;
}

export interface CompiledApi {
  title: string;
  version: string;
  baseUrl: string;
  tools: ToolDefinition[];
  plans: Map<string, ToolPlan>;
}

interface Fetched {
  doc: Record<string, unknown>;
  etag: string | null;
  lastModified: string | null;
  at: number;
}

const fetched = new Map<string, Fetched>();
const compiled = new Map<string, { doc: Record<string, unknown>; api: CompiledApi }>();

/** The backend's API, compiled; a SpecError says what is wrong with its description. */
export async function loadApi(source: SpecSource, signal: AbortSignal): Promise<CompiledApi> {
  const inline = typeof source.spec !== "string";
  const doc = typeof source.spec === "string" ? await fetchSpec(source.spec, source.allowPrivate, signal) : source.spec;
  // Keyed by the whole selection and a SHA-256 of an inline spec (tenants share the cache: no short hash that could collide).
  const key = JSON.stringify([inline ? await sha256(JSON.stringify(doc)) : source.spec, source.baseUrl ?? null, source.operations ?? null, source.allowPrivate]);
  const hit = compiled.get(key);
  // A fetched spec that changed on revalidation is a new document object: compiled again.
  if (hit && (inline || hit.doc === doc)) return hit.api;
  // A fetched spec was resolved by parse.ts already; an inline one is resolved here, once per content.
  const api = compile(inline ? await resolveInline(doc) : doc, source);
  if (compiled.size >= CACHE_MAX) compiled.clear();
  compiled.set(key, { doc, api });
  return api;
}

/** Checks the document's version and builds a tool per selected operation. */
export function compile(original: Record<string, unknown>, source: Pick<SpecSource, "spec" | "baseUrl" | "operations" | "allowPrivate">): CompiledApi {
  const doc = upgraded(original);
  const version = typeof doc.openapi === "string" ? doc.openapi : "";
  if (!/^3\.\d+\.\d+/.test(version)) throw new SpecError(`the document is not OpenAPI 3 (its "openapi" field is ${JSON.stringify(doc.openapi ?? null)})`);
  const v30 = version.startsWith("3.0.");
  const operations = select(operationsOf(doc), source.operations);
  const names = toolNames(operations);
  const tools: ToolDefinition[] = [];
  const plans = new Map<string, ToolPlan>();
  operations.forEach((operation, i) => {
    let built;
    try {
      built = buildTool(doc, v30, operation, names[i]!);
    } catch (error) {
      if (error instanceof SpecError) throw new SpecError(`${operation.method.toUpperCase()} ${operation.path}: ${error.message}`);
      throw error;
    }
    tools.push(built.tool);
    plans.set(built.plan.name, built.plan);
  });
  const info = typeof doc.info === "object" && doc.info !== null ? (doc.info as Record<string, unknown>) : {};
  return {
    title: typeof info.title === "string" ? info.title : "OpenAPI backend",
    version: typeof info.version === "string" ? info.version : "0",
    baseUrl: baseUrlOf(doc, source),
    tools,
    plans,
  };
}

/** Swagger 2.0 as OpenAPI 3.0 (on a copy: the input may be the tenant's own document); others as they are. */
function upgraded(doc: Record<string, unknown>): Record<string, unknown> {
  if (doc.swagger === undefined) return doc;
  if (doc.swagger !== "2.0") throw new SpecError(`Swagger ${JSON.stringify(doc.swagger)} is not supported: only 2.0 is converted, and OpenAPI 3.0 and 3.1 are read`);
  try {
    return upgradeFromTwoToThree(structuredClone(doc)) as Record<string, unknown>;
  } catch (error) {
    throw new SpecError(`the Swagger 2.0 description could not be converted to OpenAPI 3: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
  }
}

/**
 * The config's `baseUrl`, else the first server of the spec with its variables at their defaults
 * (OAS 3.1 §4.8.6): hosts never come from a call's arguments. A relative server URL is relative
 * to the spec's own URL.
 */
export function baseUrlOf(doc: Record<string, unknown>, source: Pick<SpecSource, "spec" | "baseUrl" | "allowPrivate">): string {
  let base = source.baseUrl;
  if (base === undefined) {
    const server = Array.isArray(doc.servers) ? (doc.servers[0] as Record<string, unknown> | undefined) : undefined;
    let url = typeof server?.url === "string" ? server.url : "/";
    const variables = typeof server?.variables === "object" && server.variables !== null ? (server.variables as Record<string, { default?: unknown }>) : {};
    url = url.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const value = variables[name]?.default;
      if (typeof value !== "string") throw new SpecError(`server variable ${name} has no default`);
      return value;
    });
    if (!/^https?:\/\//i.test(url) && typeof source.spec !== "string") throw new SpecError(`the spec's server URL ${JSON.stringify(url)} is relative and the spec is inline: set baseUrl`);
    try {
      base = new URL(url, typeof source.spec === "string" ? source.spec : undefined).toString();
    } catch {
      throw new SpecError(`the spec's server URL ${JSON.stringify(url)} is not a URL`);
    }
  }
  const parsed = new URL(base);
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new SpecError(`the API's base URL ${base} is not http(s)`);
  if (!source.allowPrivate && privateAddress(base) !== null) throw new SpecError(`the API's base URL ${parsed.hostname} is at a private address`);
  return parsed.toString();
}

async function fetchSpec(url: string, allowPrivate: boolean, signal: AbortSignal): Promise<Record<string, unknown>> {
  const cached = fetched.get(url);
  if (cached && Date.now() - cached.at < SPEC_FRESH_MS) return cached.doc;
  const conditional: Record<string, string> = {};
  if (cached?.etag) conditional["if-none-match"] = cached.etag;
  else if (cached?.lastModified) conditional["if-modified-since"] = cached.lastModified;
  const response = await guardedFetch(url, allowPrivate, conditional, signal);
  if (response.status === 304 && cached) {
    await response.body?.cancel().catch(() => {});
    cached.at = Date.now();
    return cached.doc;
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw new SpecError(`the spec URL answered HTTP ${response.status}`);
  }
  const text = await readText(response, MAX_SPEC_BYTES, "the spec");
  // JSON or YAML; other files of the same spec fetched through the same guard, one byte budget.
  const doc = await parseSpec(url, text, (file, budget) => fetchText(file, allowPrivate, signal, budget), { maxFiles: MAX_SPEC_FILES, budget: MAX_SPEC_BYTES });
  if (fetched.size >= CACHE_MAX) fetched.clear();
  fetched.set(url, { doc, etag: response.headers.get("etag"), lastModified: response.headers.get("last-modified"), at: Date.now() });
  return doc;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
