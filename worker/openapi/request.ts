/**
 * A tool call's arguments as the HTTP request of its operation, serialized per OpenAPI 3.1
 * §4.8.12.4 "Style Values" (path: simple, label, matrix; query: form, spaceDelimited,
 * pipeDelimited, deepObject; header: simple; cookie: form).
 *
 * The scheme, host and base path come from config or the spec's servers, never from arguments.
 * Every path parameter is percent-encoded as one opaque value (`/`, `?`, `#`, `%` included), and
 * the finished path is refused if it holds a dot segment or differs from what the URL parser makes
 * of it: no argument can move the request to another path (`../`, `%2e%2e`, `/`).
 */
import type { ParamPlan, ToolPlan } from "./tools.ts";

/** A call the gateway refuses before sending: the model gets this message as a tool error. */
export class ArgumentError extends Error {}

export interface BuiltRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | null;
}

/** RFC 3986 unreserved characters stay, everything else is percent-encoded. */
function encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function scalar(value: unknown, key: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null) return "";
  throw new ArgumentError(`argument ${key} must be a string, number or boolean here`);
}

/** One parameter as `[name, value]` pairs for query and cookie, both sides already encoded. */
function pairs(param: ParamPlan, value: unknown): [string, string][] {
  const name = encode(param.name);
  if (Array.isArray(value)) {
    const items = value.map((v) => encode(scalar(v, param.key)));
    if (param.style === "form" && param.explode) return items.map((v) => [name, v]);
    const joiner = param.style === "spaceDelimited" ? "%20" : param.style === "pipeDelimited" ? "%7C" : ",";
    return [[name, items.join(joiner)]];
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value);
    if (param.style === "deepObject") return entries.map(([k, v]) => [`${name}%5B${encode(k)}%5D`, encode(scalar(v, param.key))]);
    if (param.explode) return entries.map(([k, v]) => [encode(k), encode(scalar(v, param.key))]);
    return [[name, entries.map(([k, v]) => `${encode(k)},${encode(scalar(v, param.key))}`).join(",")]];
  }
  return [[name, encode(scalar(value, param.key))]];
}

/** A path parameter's text (simple, label or matrix), every value percent-encoded. */
function pathValue(param: ParamPlan, value: unknown): string {
  const name = encode(param.name);
  const prefix = param.style === "label" ? "." : param.style === "matrix" ? ";" : "";
  const sep = param.explode ? (param.style === "label" ? "." : param.style === "matrix" ? ";" : ",") : ",";
  if (Array.isArray(value)) {
    const items = value.map((v) => encode(scalar(v, param.key)));
    if (param.style === "matrix") return param.explode ? items.map((v) => `;${name}=${v}`).join("") : `;${name}=${items.join(",")}`;
    return prefix + items.join(sep);
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).map(([k, v]) => [encode(k), encode(scalar(v, param.key))] as const);
    if (param.explode) return prefix + entries.map(([k, v]) => `${k}=${v}`).join(sep);
    const flat = entries.map(([k, v]) => `${k},${v}`).join(",");
    return param.style === "matrix" ? `;${name}=${flat}` : prefix + flat;
  }
  const text = encode(scalar(value, param.key));
  return param.style === "matrix" ? `;${name}=${text}` : prefix + text;
}

/** A header parameter's value (style simple). */
function headerValue(param: ParamPlan, value: unknown): string {
  if (Array.isArray(value)) return value.map((v) => scalar(v, param.key)).join(",");
  if (typeof value === "object" && value !== null) return Object.entries(value).map(([k, v]) => (param.explode ? `${k}=${scalar(v, param.key)}` : `${k},${scalar(v, param.key)}`)).join(",");
  const text = scalar(value, param.key);
  // A header value cannot carry a line break (RFC 9110 §5.5): refused rather than smuggled.
  if (/[\r\n\0]/.test(text)) throw new ArgumentError(`argument ${param.key} contains a line break`);
  return text;
}

const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * The request for a call. `base` is the API's base URL (`https://api.example.com/v1`);
 * `args` the tool arguments as the client sent them.
 */
export function buildRequest(base: string, plan: ToolPlan, args: Record<string, unknown>): BuiltRequest {
  let path = plan.path;
  const query: [string, string][] = [];
  const cookies: [string, string][] = [];
  const headers: Record<string, string> = {};
  for (const param of plan.params) {
    const value = args[param.key];
    if (value === undefined) {
      if (param.required) throw new ArgumentError(`missing required argument ${param.key}`);
      continue;
    }
    if (param.in === "path") {
      const text = pathValue(param, value);
      if (text === "") throw new ArgumentError(`argument ${param.key} must not be empty`);
      path = path.split(`{${param.name}}`).join(text);
    } else if (param.in === "query") query.push(...pairs(param, value));
    else if (param.in === "cookie") cookies.push(...pairs({ ...param, explode: param.explode }, value));
    else headers[param.name.toLowerCase()] = headerValue(param, value);
  }
  if (/\{[^}]*\}/.test(path)) throw new ArgumentError(`the path ${plan.path} names a parameter the operation does not define`);
  const segments = path.split("/");
  if (segments.some((segment) => DOT_SEGMENT.test(segment))) throw new ArgumentError("a path argument may not be '.' or '..'");
  const baseUrl = new URL(base);
  const basePath = baseUrl.pathname.replace(/\/+$/, "");
  const expected = `${basePath}${path}`;
  const url = new URL(`${baseUrl.origin}${expected}`);
  // The URL parser would have normalized anything that changes the path; nothing may have changed.
  if (url.origin !== baseUrl.origin || url.pathname !== expected) throw new ArgumentError("a path argument would change the request's path");
  if (query.length > 0) url.search = query.map(([k, v]) => `${k}=${v}`).join("&");
  if (cookies.length > 0) headers.cookie = cookies.map(([k, v]) => `${k}=${v}`).join("; ");
  let body: string | null = null;
  if (plan.body) {
    const value = args[plan.body.key];
    if (value === undefined) {
      if (plan.body.required) throw new ArgumentError(`missing required argument ${plan.body.key}`);
    } else {
      headers["content-type"] = plan.body.contentType;
      body = bodyText(plan.body.mediaType, value, plan.body.key);
    }
  }
  headers.accept = "application/json, */*;q=0.5";
  return { url: url.toString(), method: plan.method.toUpperCase(), headers, body };
}

function bodyText(kind: "json" | "form" | "text", value: unknown, key: string): string {
  if (kind === "json") return JSON.stringify(value);
  if (kind === "text") return scalar(value, key);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ArgumentError(`argument ${key} must be an object of form fields`);
  // application/x-www-form-urlencoded (OAS 3.1 §4.8.15.3): nested values are sent as JSON text.
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(value)) {
    if (Array.isArray(v)) for (const item of v) form.append(k, typeof item === "object" && item !== null ? JSON.stringify(item) : scalar(item, key));
    else form.append(k, typeof v === "object" && v !== null ? JSON.stringify(v) : scalar(v, key));
  }
  return form.toString();
}
