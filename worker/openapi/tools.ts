/**
 * One MCP tool per selected operation (MCP 2025-11-25 server/tools "Tool"): its input schema
 * gathers the operation's parameters (path, query, header, cookie) as top-level properties and
 * its request body under `body`; its output schema is the first 2xx JSON response's schema.
 * The plan kept beside each tool says where every argument goes when the tool is called.
 */
import { deref, SchemaBuilder, SpecError } from "./refs.ts";
import type { Method, Operation } from "./operations.ts";

export type Location = "path" | "query" | "header" | "cookie";

export interface ParamPlan {
  /** The argument's name in the tool's input. */
  key: string;
  /** The parameter's name in the HTTP request. */
  name: string;
  in: Location;
  style: string;
  explode: boolean;
  required: boolean;
}

export interface BodyPlan {
  key: string;
  mediaType: "json" | "form" | "text";
  contentType: string;
  required: boolean;
}

export interface ToolPlan {
  name: string;
  method: Method;
  path: string;
  params: ParamPlan[];
  body: BodyPlan | null;
  /** The output schema wraps a non-object 2xx body as `{ "result": ... }`. */
  wrapResult: boolean;
  hasOutputSchema: boolean;
}

export interface ToolDefinition {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations: Record<string, unknown>;
}

/** HTTP methods without side effects (RFC 9110 §9.2.1): their tools are marked read-only. */
const SAFE = new Set<Method>(["get", "head", "options", "trace"]);
/** Header parameters OpenAPI says to ignore (OAS 3.1 §4.8.12.1): the gateway sets these. */
const RESERVED_HEADERS = new Set(["accept", "content-type", "authorization"]);
const DEFAULT_STYLE: Record<Location, string> = { path: "simple", query: "form", header: "simple", cookie: "form" };

interface Param {
  name: string;
  in: Location;
  required?: boolean;
  description?: string;
  style?: string;
  explode?: boolean;
  schema?: unknown;
  content?: Record<string, { schema?: unknown }>;
  deprecated?: boolean;
}

/** The tool definition and its call plan for one operation. */
export function buildTool(doc: Record<string, unknown>, v30: boolean, operation: Operation, name: string): { tool: ToolDefinition; plan: ToolPlan } {
  const builder = new SchemaBuilder(doc, v30);
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  const params: ParamPlan[] = [];
  for (const param of parametersOf(doc, operation)) {
    if (param.in === "header" && RESERVED_HEADERS.has(param.name.toLowerCase())) continue;
    const key = properties[param.name] === undefined && param.name !== "body" ? param.name : `${param.in}_${param.name}`;
    const schemaSource = param.schema ?? Object.values(param.content ?? {})[0]?.schema ?? {};
    const schema = builder.part(schemaSource);
    const about = [param.description, `(${param.in} parameter${param.name !== key ? ` ${param.name}` : ""})`].filter(Boolean).join(" ");
    properties[key] = { ...schema, description: schema.description ? `${String(schema.description)} ${about}` : about };
    const isRequired = param.in === "path" || param.required === true;
    if (isRequired) required.push(key);
    const style = param.style ?? DEFAULT_STYLE[param.in];
    params.push({ key, name: param.name, in: param.in, style, explode: param.explode ?? style === "form", required: isRequired });
  }
  let body: BodyPlan | null = null;
  const requestBody = operation.object.requestBody === undefined ? undefined : deref<Record<string, unknown>>(doc, operation.object.requestBody);
  if (requestBody && typeof requestBody.content === "object" && requestBody.content !== null) {
    const chosen = chooseMedia(requestBody.content as Record<string, { schema?: unknown }>);
    if (chosen) {
      const key = properties.body === undefined ? "body" : "requestBody";
      const schema = builder.part(chosen.schema ?? {});
      properties[key] = typeof requestBody.description === "string" ? { ...schema, description: requestBody.description } : schema;
      body = { key, mediaType: chosen.kind, contentType: chosen.contentType, required: requestBody.required === true };
      if (body.required) required.push(key);
    }
  }
  // Definitions of cyclic or repeated schemas land in the top-level $defs of the input schema.
  const built = builder.root({ type: "object", properties, ...(required.length > 0 ? { required } : {}) });
  const output = outputOf(doc, v30, operation);
  const summary = typeof operation.object.summary === "string" ? operation.object.summary : undefined;
  const details = typeof operation.object.description === "string" ? operation.object.description : undefined;
  const description = [summary, details].filter(Boolean).join("\n\n") || `${operation.method.toUpperCase()} ${operation.path}`;
  const tool: ToolDefinition = {
    name,
    ...(summary ? { title: summary } : {}),
    description,
    inputSchema: built,
    ...(output ? { outputSchema: output.schema } : {}),
    annotations: {
      readOnlyHint: SAFE.has(operation.method),
      // PUT and DELETE are idempotent (RFC 9110 §9.2.2); unsafe methods may destroy data.
      ...(SAFE.has(operation.method) ? {} : { destructiveHint: operation.method === "delete" || operation.method === "put", idempotentHint: operation.method === "put" || operation.method === "delete" }),
      openWorldHint: true,
    },
  };
  const plan: ToolPlan = { name, method: operation.method, path: operation.path, params, body, wrapResult: output?.wrap ?? false, hasOutputSchema: output !== null };
  return { tool, plan };
}

/** Path Item parameters overridden by the operation's own (same name and location). */
function parametersOf(doc: Record<string, unknown>, operation: Operation): Param[] {
  const own = Array.isArray(operation.object.parameters) ? operation.object.parameters : [];
  const byKey = new Map<string, Param>();
  for (const raw of [...operation.pathParameters, ...own]) {
    const param = deref<Param>(doc, raw);
    if (typeof param !== "object" || param === null || typeof param.name !== "string") throw new SpecError(`${operation.method.toUpperCase()} ${operation.path}: a parameter has no name`);
    if (!["path", "query", "header", "cookie"].includes(param.in)) throw new SpecError(`${operation.method.toUpperCase()} ${operation.path}: parameter ${param.name} is in ${JSON.stringify(param.in)}`);
    byKey.set(`${param.in}:${param.name}`, param);
  }
  return [...byKey.values()];
}

/** The request body's media type the gateway can send: JSON first, then form, then text. */
function chooseMedia(content: Record<string, { schema?: unknown }>): { kind: BodyPlan["mediaType"]; contentType: string; schema: unknown } | null {
  const types = Object.keys(content);
  const json = types.find((t) => /^application\/(?:[\w.+-]+\+)?json\b/i.test(t));
  if (json) return { kind: "json", contentType: json, schema: content[json]?.schema };
  const form = types.find((t) => /^application\/x-www-form-urlencoded\b/i.test(t));
  if (form) return { kind: "form", contentType: form, schema: content[form]?.schema };
  const text = types.find((t) => /^text\//i.test(t));
  if (text) return { kind: "text", contentType: text, schema: content[text]?.schema ?? { type: "string" } };
  return null;
}

/** The first 2xx response with a JSON schema, as an object schema (MCP output schemas are objects). */
function outputOf(doc: Record<string, unknown>, v30: boolean, operation: Operation): { schema: Record<string, unknown>; wrap: boolean } | null {
  const responses = operation.object.responses;
  if (typeof responses !== "object" || responses === null) return null;
  const codes = Object.keys(responses).filter((code) => /^2(?:\d\d|XX)$/i.test(code)).sort();
  for (const code of codes) {
    const response = deref<Record<string, unknown>>(doc, (responses as Record<string, unknown>)[code]);
    const content = response?.content as Record<string, { schema?: unknown }> | undefined;
    if (!content) continue;
    const json = Object.keys(content).find((t) => /^application\/(?:[\w.+-]+\+)?json\b/i.test(t));
    const source = json ? content[json]?.schema : undefined;
    if (source === undefined) continue;
    const schema = new SchemaBuilder(doc, v30).build(source);
    if (schema.type === "object" && !("$ref" in schema)) return { schema, wrap: false };
    const { $defs, ...inner } = schema;
    return { schema: { type: "object", properties: { result: inner }, required: ["result"], ...($defs ? { $defs } : {}) }, wrap: true };
  }
  return null;
}
