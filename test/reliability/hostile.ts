/**
 * Hostile requests for the client-facing MCP endpoint, generated with fast-check, and the model
 * that says what each one must get.
 *
 * A case is a request described field by field (HTTP method, host, tenant, Origin, credentials,
 * Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id, junk headers, body). Each field is
 * drawn mostly from valid values, so faults often come alone and reach the deeper checks, and
 * sometimes several at once. `expected()` is the model: MCP 2025-11-25 basic/transports and
 * JSON-RPC 2.0, with the order of checks the gateway documents (README "The request's path",
 * docs/architecture.md "Failure semantics"): host (403), tenant (404), Origin (403), credentials
 * (401), HTTP method (405), media types (415, 406), protocol version (400), body size (413), JSON
 * (400/-32700), JSON-RPC shape (400/-32600), nesting depth (400/-32700), session id (404 when
 * malformed), batching (400), session (400 when missing, 404 when unknown or another
 * principal's), and then each message's JSON-RPC answer (-32601, -32602, -32002, -32600).
 *
 * Requests with the 2026-07-28 version header take the stateless path (worker/ingress/modern.ts,
 * another part of the project); for them the model asks only what every refusal must be: a 4xx
 * with a JSON-RPC error (or 202 for a notification), never a 5xx, never a backend call.
 *
 * The model never reads the gateway's code; where it needs a fact about the tenant or session
 * (body cap, listed origins, which session allows batches) the suite states it.
 *
 * Everything generated is meant to be refused or answered by the gateway itself. Cases the model
 * sees would legitimately reach a backend (a valid initialize without a session, a valid GET or
 * DELETE of a live session, a roots/list_changed notification) are filtered out, so "zero
 * backend calls" is a claim about every generated request.
 */
import fc from "fast-check";

export type RpcId = string | number;

/** Facts about the target the model needs. */
export interface Target {
  /** limits.maxBodyBytes of the fuzzed tenant. */
  maxBodyBytes: number;
  /** The deepest nesting a body may have (worker/ingress/guard.ts MAX_JSON_DEPTH). */
  maxDepth: number;
  /** Exposed names that would route to a backend: never generated as a call's name. */
  knownNames: readonly string[];
}

export type AuthChoice = "alice" | "bob" | "none" | "expired" | "foreign-key" | "other-tenant" | "basic" | "garbage" | "huge" | "apikey-garbage";
export type SessionChoice = "none" | "main" | "old" | "unknown" | "malformed";

export type Body =
  | { kind: "none" }
  | { kind: "text"; text: string; stream: boolean; label: string }
  | { kind: "bytes"; bytes: Uint8Array; stream: boolean; label: string };

export interface Case {
  method: string;
  host: "ok" | "foreign";
  tenant: "fuzz" | string;
  origin: { value: string | null; allowed: boolean };
  auth: AuthChoice;
  contentType: { value: string | null; json: boolean };
  accept: { value: string | null; json: boolean; sse: boolean };
  version: { value: string | null; ok: boolean; modern?: boolean };
  session: SessionChoice;
  sessionValue: string;
  lastEventId: string | null;
  junk: [string, string][];
  body: Body;
}

export type Answer = { id: RpcId; code: number } | { id: RpcId; result: true };

export type Expectation =
  | { kind: "error"; status: number; code: number; id?: RpcId | null; challenge?: boolean; allow?: boolean; why: string }
  | { kind: "accepted"; why: string }
  | { kind: "empty"; status: 202; why: string }
  | { kind: "modern"; why: string }
  | { kind: "answers"; status: 200; batch: boolean; answers: Answer[]; why: string };

// --- vocabularies: each value with the truth the spec gives it --------------------------------

const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });

const CONTENT_TYPES: { value: string | null; json: boolean }[] = [
  { value: "application/json", json: true },
  { value: "application/json; charset=utf-8", json: true },
  { value: "APPLICATION/JSON", json: true },
  { value: 'application/json;charset="utf-8"', json: true },
  { value: `application/json; x=${"a".repeat(20_000)}`, json: true }, // oversized, still JSON
  { value: null, json: false },
  { value: "", json: false },
  { value: "text/plain", json: false },
  { value: "application/x-www-form-urlencoded", json: false },
  { value: "application/jsonx", json: false },
  { value: "application/json-rpc", json: false },
  { value: "multipart/form-data; boundary=x", json: false },
  { value: "json", json: false },
  { value: `application/${"a".repeat(20_000)}`, json: false },
];

const ACCEPTS: { value: string | null; json: boolean; sse: boolean }[] = [
  { value: "application/json, text/event-stream", json: true, sse: true },
  { value: "text/event-stream, application/json", json: true, sse: true },
  { value: "*/*", json: true, sse: true },
  { value: "application/*, text/*", json: true, sse: true },
  { value: "application/json;q=0.5, text/event-stream;q=0.1", json: true, sse: true },
  { value: `application/json, text/event-stream, ${"x/y, ".repeat(4_000)}z/z`, json: true, sse: true },
  { value: "application/json", json: true, sse: false },
  { value: "application/json, text/event-stream;q=0", json: true, sse: false },
  { value: "application/*", json: true, sse: false },
  { value: "text/event-stream", json: false, sse: true },
  { value: "text/*", json: false, sse: true },
  { value: "*/*, application/json;q=0", json: false, sse: true },
  { value: null, json: false, sse: false },
  { value: "", json: false, sse: false },
  { value: "text/html", json: false, sse: false },
  { value: "application/json-seq, text/event-streams", json: false, sse: false },
  { value: "\u00e9t\u00e9", json: false, sse: false },
];

const VERSIONS: { value: string | null; ok: boolean; modern?: boolean }[] = [
  { value: null, ok: true },
  { value: "2025-11-25", ok: true },
  { value: "2025-06-18", ok: true },
  { value: "2025-03-26", ok: true },
  { value: "2024-11-05", ok: true },
  // Header values are trimmed by the Fetch standard before anyone reads them.
  { value: " 2025-11-25 ", ok: true },
  { value: "", ok: false },
  { value: "2025-13-45", ok: false },
  { value: "2025-11-25-beta", ok: false },
  { value: "1.0", ok: false },
  { value: "2025-11-25, 2025-06-18", ok: false },
  { value: "2025-11-25\u00e9", ok: false },
  { value: "1".repeat(12_000), ok: false },
  { value: "2026-07-28", ok: true, modern: true },
];

/** The fuzzed tenant lists https://app.example; its MCP URL's own origin is http://127.0.0.1. */
const ORIGINS: { value: string | null; allowed: boolean }[] = [
  { value: null, allowed: true },
  { value: "http://127.0.0.1", allowed: true },
  { value: "https://app.example", allowed: true },
  { value: "http://127.0.0.1:8787", allowed: false },
  { value: "https://evil.example", allowed: false },
  { value: "null", allowed: false },
  { value: "http://localhost", allowed: false },
  { value: "https://app.example.evil.example", allowed: false },
];

const AUTHS: AuthChoice[] = ["none", "expired", "foreign-key", "other-tenant", "basic", "garbage", "huge", "apikey-garbage"];

const VALID_SESSION_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const unknownSession = fc.string({ unit: fc.constantFrom(...VALID_SESSION_CHARS), minLength: 43, maxLength: 43 });
const malformedSession = fc.oneof(
  fc.constant("short"),
  fc.constant("has a space inside the session id value"),
  fc.constant("x".repeat(129)),
  fc.constant("s".repeat(16_000)),
  fc.constant("caf\u00e9caf\u00e9caf\u00e9caf\u00e9caf\u00e9"),
  fc.string({ unit: fc.constantFrom(...VALID_SESSION_CHARS), minLength: 1, maxLength: 15 }),
);

const JUNK_HEADER_NAMES = ["x-junk", "cookie", "x-forwarded-for", "x-real-ip", "forwarded", "x-mcp-tenant", "x-api-version", "traceparent", "mcp-session-idd"];
const junkHeaders = fc.array(
  fc.tuple(
    fc.constantFrom(...JUNK_HEADER_NAMES),
    fc.oneof(fc.string({ unit: "grapheme-ascii", maxLength: 40 }).map((s) => s.replace(/[\r\n\0]/g, "").trim()), fc.nat({ max: 64 * 1024 }).map((n) => "j".repeat(n))),
  ),
  { maxLength: 3 },
);

// --- JSON-RPC messages -------------------------------------------------------------------------

const LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/** Methods the model knows the gateway's answer for, plus unknown ones. */
const METHODS = [
  "ping",
  "initialize",
  "tools/call",
  "prompts/get",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "logging/setLevel",
  "completion/complete",
  "tools/list",
  "prompts/list",
  "resources/list",
  "resources/templates/list",
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
  "rpc.discover",
  "tools/Call",
  "TOOLS/CALL",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "sampling/createMessage",
  "elicitation/create",
  "roots/list",
  "tools/call/",
  "/tools/call",
];

const anyJson = fc.jsonValue({ maxDepth: 3 });
const nonObject = fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 8 }), fc.array(fc.integer(), { maxLength: 3 }), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }));
const validId: fc.Arbitrary<RpcId> = fc.oneof(fc.integer(), fc.string({ maxLength: 12 }), fc.constant(""), fc.constant(0), fc.constant(Number.MAX_SAFE_INTEGER), fc.string({ minLength: 200, maxLength: 400 }));
const invalidId = fc.oneof(fc.constant(null), fc.double({ min: 0.1, max: 1e6, noNaN: true }).filter((n) => !Number.isInteger(n)), fc.boolean(), fc.constant({}), fc.constant([1]), fc.constant(1e20), fc.constant(-1e300));

function nameArb(knownNames: readonly string[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    w(6, fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom("count__", "__echo", "count__echo ", "COUNT__ECHO", "count_echo", "__proto__", "constructor", "x".repeat(2_000), "count__progress\u0000")).filter((n) => !knownNames.includes(n))),
    w(2, nonObject),
  );
}

function paramsFor(method: string, knownNames: readonly string[]): fc.Arbitrary<unknown> {
  const args = fc.oneof(w(3, fc.dictionary(fc.string({ maxLength: 6 }), anyJson, { maxKeys: 4 })), w(2, nonObject), w(1, fc.constant(undefined)));
  switch (method) {
    case "tools/call":
    case "prompts/get":
      return fc.record({ name: nameArb(knownNames), arguments: args }, { requiredKeys: [] });
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe":
      return fc.record({ uri: fc.oneof(fc.webUrl(), fc.string({ maxLength: 20 }), fc.constantFrom("weather://stations", "count://x", "file:///etc/passwd"), nonObject) }, { requiredKeys: [] });
    case "logging/setLevel":
      return fc.record({ level: fc.oneof(fc.constantFrom(...LEVELS), fc.string({ maxLength: 10 }), nonObject) }, { requiredKeys: [] });
    case "completion/complete":
      return fc.record(
        {
          ref: fc.oneof(
            fc.record({ type: fc.constantFrom("ref/prompt", "ref/resource", "ref/other"), name: nameArb(knownNames), uri: fc.oneof(fc.string({ maxLength: 20 }), nonObject) }, { requiredKeys: [] }),
            nonObject,
          ),
          argument: fc.record({ name: fc.string({ maxLength: 5 }), value: fc.string({ maxLength: 5 }) }),
        },
        { requiredKeys: [] },
      );
    case "tools/list":
    case "prompts/list":
    case "resources/list":
    case "resources/templates/list":
      // Only invalid cursors: a list with no cursor is a valid request the model does not need.
      return fc.record({ cursor: fc.constantFrom("not-a-cursor!", "", "x".repeat(300), 42, null, {}, "e30") });
    default:
      return fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), anyJson, { maxKeys: 4 }), fc.constant(undefined));
  }
}

/** A JSON-RPC-ish message: usually well formed, sometimes with fields of the wrong type or missing. */
export function message(target: Target): fc.Arbitrary<unknown> {
  const method = fc.oneof(w(8, fc.constantFrom(...METHODS)), w(2, fc.string({ maxLength: 30 })), w(1, nonObject), w(1, fc.constant("")));
  const request = method.chain((m) =>
    fc.record(
      {
        jsonrpc: fc.oneof(w(12, fc.constant("2.0")), w(1, fc.constantFrom("1.0", "2", 2, null, "2.0 "))),
        id: fc.oneof(w(8, validId), w(2, invalidId)),
        method: fc.constant(m),
        params: typeof m === "string" ? fc.oneof(w(6, paramsFor(m, target.knownNames)), w(1, nonObject)) : anyJson,
        _extra: fc.constant(undefined),
      },
      { requiredKeys: ["method"] },
    ),
  );
  const response = fc.record(
    {
      jsonrpc: fc.constant("2.0"),
      id: fc.oneof(validId, invalidId),
      result: fc.oneof(fc.dictionary(fc.string({ maxLength: 5 }), anyJson, { maxKeys: 3 }), nonObject),
      error: fc.oneof(fc.record({ code: fc.oneof(fc.integer(), nonObject), message: fc.oneof(fc.string({ maxLength: 10 }), nonObject) }, { requiredKeys: [] }), nonObject),
    },
    { requiredKeys: [] },
  );
  return fc.oneof(w(10, request), w(2, response), w(1, anyJson)).map(clean);
}

/** Drops keys whose value is undefined (JSON has no undefined). */
function clean(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}

// --- bodies ------------------------------------------------------------------------------------

const encoder = new TextEncoder();

/** Byte sequences no UTF-8 decoder may accept (RFC 3629 §3, §10). */
const INVALID_UTF8 = [[0xff], [0xfe], [0xc0, 0x80], [0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80]];

function withInvalidUtf8(text: string, position: number, which: number): Uint8Array {
  const bytes = encoder.encode(text);
  const at = Math.min(position, bytes.length);
  const bad = INVALID_UTF8[which % INVALID_UTF8.length]!;
  const out = new Uint8Array(bytes.length + bad.length);
  out.set(bytes.subarray(0, at), 0);
  out.set(bad, at);
  out.set(bytes.subarray(at), at + bad.length);
  return out;
}

function nested(depth: number, kind: "array" | "object"): string {
  return kind === "array" ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

export function body(target: Target): fc.Arbitrary<Body> {
  const one = message(target);
  const stream = fc.boolean();
  const text = (label: string, arbitrary: fc.Arbitrary<string>) => fc.tuple(arbitrary, stream).map(([t, s]): Body => ({ kind: "text", text: t, stream: s, label }));
  return fc.oneof(
    w(30, text("message", one.map((m) => JSON.stringify(m)))),
    w(10, text("batch", fc.array(one, { maxLength: 6 }).map((ms) => JSON.stringify(ms)))),
    w(6, text("broken-json", fc.tuple(one, fc.nat(), fc.constantFrom("", "}", "{", ",", '"', "\\", "\u0000", "NaN", "undefined", "'")).map(([m, at, junk]) => {
      const json = JSON.stringify(m) ?? "null";
      const cut = at % (json.length + 1);
      return `${json.slice(0, cut)}${junk}${junk === "" ? "" : json.slice(cut)}`;
    }))),
    w(4, text("any-json", anyJson.map((v) => JSON.stringify(v)))),
    w(3, text("text", fc.string({ maxLength: 60 }))),
    w(4, text("deep", fc.tuple(fc.oneof(fc.integer({ min: 1, max: 2 * target.maxDepth }), fc.integer({ min: 1, max: Math.floor(target.maxBodyBytes / 6) })), fc.constantFrom<"array" | "object">("array", "object"), fc.constantFrom("params", "top", "id")).map(([depth, kind, where]) => {
      const inner = nested(depth, kind);
      if (where === "top") return inner;
      if (where === "id") return `{"jsonrpc":"2.0","id":${inner},"method":"ping"}`;
      return `{"jsonrpc":"2.0","id":1,"method":"zz/deep","params":{"x":${inner}}}`;
    }))),
    w(3, text("huge", fc.tuple(fc.integer({ min: 1, max: 3 * target.maxBodyBytes }), fc.constantFrom("a", "\u00e9", "\u{1F600}")).map(([n, ch]) => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "zz/huge", params: { pad: ch.repeat(Math.ceil(n / encoder.encode(ch).length)) } })))),
    w(5, fc.tuple(one, fc.nat(), fc.nat(), stream).map(([m, at, which, s]): Body => ({ kind: "bytes", bytes: withInvalidUtf8(JSON.stringify(m) ?? "null", at % ((JSON.stringify(m) ?? "null").length + 1), which), stream: s, label: "invalid-utf8" }))),
    w(1, fc.constant<Body>({ kind: "none" })),
  );
}

// --- cases -------------------------------------------------------------------------------------

export function hostileCase(target: Target): fc.Arbitrary<Case> {
  return fc.record({
    method: fc.oneof(w(40, fc.constant("POST")), w(4, fc.constant("GET")), w(4, fc.constant("DELETE")), w(2, fc.constantFrom("PUT", "PATCH", "OPTIONS"))),
    host: fc.oneof(w(40, fc.constant<"ok">("ok")), w(1, fc.constant<"foreign">("foreign"))),
    tenant: fc.oneof(w(40, fc.constant("fuzz")), w(1, fc.constantFrom("no-such-tenant", "UPPER", "a%2Fb", "x".repeat(300), "t\u00e9"))),
    origin: fc.oneof(w(20, fc.constant(ORIGINS[0]!)), w(4, fc.constantFrom(...ORIGINS))),
    auth: fc.oneof(w(30, fc.constant<AuthChoice>("alice")), w(3, fc.constant<AuthChoice>("bob")), w(5, fc.constantFrom(...AUTHS))),
    contentType: fc.oneof(w(25, fc.constant(CONTENT_TYPES[0]!)), w(5, fc.constantFrom(...CONTENT_TYPES))),
    accept: fc.oneof(w(25, fc.constant(ACCEPTS[0]!)), w(5, fc.constantFrom(...ACCEPTS))),
    version: fc.oneof(w(25, fc.constant(VERSIONS[1]!)), w(5, fc.constantFrom(...VERSIONS))),
    session: fc.oneof(w(24, fc.constant<SessionChoice>("main")), w(8, fc.constant<SessionChoice>("old")), w(3, fc.constantFrom<SessionChoice>("none", "unknown", "malformed"))),
    sessionValue: fc.oneof(unknownSession, malformedSession),
    lastEventId: fc.option(fc.oneof(fc.string({ unit: "grapheme-ascii", maxLength: 30 }).map((s) => s.replace(/[\r\n\0]/g, "")), fc.constantFrom("p1_0", "g999_1", "p0_999999999999999")), { freq: 3 }),
    junk: junkHeaders,
    body: body(target),
  }).map((c) => {
    // Keep sessionValue coherent with the choice it stands for.
    if (c.session === "unknown" && !/^[\x21-\x7e]{16,128}$/.test(c.sessionValue)) c.session = "malformed";
    if (c.session === "malformed" && /^[\x21-\x7e]{16,128}$/.test(c.sessionValue.trim())) c.session = "unknown";
    return c;
  });
}

// --- the model ---------------------------------------------------------------------------------

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is RpcId => typeof v === "string" || (typeof v === "number" && Number.isSafeInteger(v));

type Parsed =
  | { kind: "request"; id: RpcId; method: string; params: Record<string, unknown> | undefined }
  | { kind: "notification"; method: string }
  | { kind: "response"; id: RpcId | null }
  | { kind: "invalid"; id: RpcId | null };

/** JSON-RPC 2.0 §4-5 as MCP 2025-11-25 basic/index narrows it (no null request ids; params and results are objects). */
function parseMessage(value: unknown): Parsed {
  if (!isObject(value)) return { kind: "invalid", id: null };
  const rawId = value.id;
  const id = typeof rawId === "string" || (typeof rawId === "number" && Number.isInteger(rawId)) ? rawId : null;
  if (value.jsonrpc !== "2.0") return { kind: "invalid", id };
  if ("method" in value) {
    const method = value.method;
    const paramsOk = !("params" in value) || isObject(value.params);
    if (typeof method !== "string" || method === "" || !paramsOk) return { kind: "invalid", id: "id" in value ? id : null };
    if (!("id" in value)) return { kind: "notification", method };
    if (!isId(rawId)) return { kind: "invalid", id };
    return { kind: "request", id: rawId, method, params: value.params as Record<string, unknown> | undefined };
  }
  const hasResult = "result" in value;
  const hasError = "error" in value;
  if (hasResult === hasError) return { kind: "invalid", id };
  if (hasResult) return isId(rawId) && isObject(value.result) ? { kind: "response", id: rawId } : { kind: "invalid", id };
  const error = value.error;
  const errorOk = isObject(error) && typeof error.code === "number" && Number.isSafeInteger(error.code) && typeof error.message === "string";
  const idOk = rawId === undefined || rawId === null || isId(rawId);
  return errorOk && idOk ? { kind: "response", id: isId(rawId) ? rawId : null } : { kind: "invalid", id };
}

/** The gateway's own answer to one request inside a live session whose lists are all cached. */
function answerFor(request: Extract<Parsed, { kind: "request" }>, target: Target): Answer | "accepted" {
  const { id, method } = request;
  const params = request.params ?? {};
  const error = (code: number): Answer => ({ id, code });
  switch (method) {
    case "ping":
      return { id, result: true };
    case "initialize":
      return error(-32600); // already initialized
    case "logging/setLevel":
      return typeof params.level === "string" && LEVELS.includes(params.level) ? { id, result: true } : error(-32602);
    case "tools/call":
    case "prompts/get": {
      if (typeof params.name !== "string") return error(-32602);
      if (params.arguments !== undefined && !isObject(params.arguments)) return error(-32602);
      if (target.knownNames.includes(params.name)) return "accepted";
      return error(-32602); // unknown tool / unknown prompt
    }
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe":
      // The fuzzed backends list no resources, so every URI is unknown.
      return typeof params.uri === "string" ? error(-32002) : error(-32602);
    case "completion/complete": {
      const ref = isObject(params.ref) ? params.ref : {};
      if (ref.type === "ref/prompt" && typeof ref.name === "string") return target.knownNames.includes(ref.name) ? "accepted" : error(-32602);
      if (ref.type === "ref/resource" && typeof ref.uri === "string") return error(-32002);
      return error(-32602);
    }
    case "tools/list":
    case "prompts/list":
    case "resources/list":
    case "resources/templates/list":
      return params.cursor === undefined ? "accepted" : error(-32602); // only invalid cursors are generated
    default:
      return error(-32601);
  }
}

function decodeBody(body: Body): { bytes: number; text: string } {
  if (body.kind === "none") return { bytes: 0, text: "" };
  if (body.kind === "text") return { bytes: encoder.encode(body.text).length, text: body.text };
  return { bytes: body.bytes.length, text: new TextDecoder().decode(body.bytes) };
}

const err = (status: number, code: number, why: string, extra: Partial<Extract<Expectation, { kind: "error" }>> = {}): Expectation => ({ kind: "error", status, code, why, ...extra });

/** Nesting depth of a JSON value (top level = 1), walked without recursion. */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== "object" || current === null) continue;
    deepest = Math.max(deepest, depth);
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** What the spec says `c` must get from the gateway (see the header for the order of checks). */
export function expected(c: Case, target: Target): Expectation {
  if (c.host === "foreign") return err(403, -32600, "host not served");
  if (c.tenant !== "fuzz") return err(404, -32600, "unknown tenant");
  if (!c.origin.allowed) return err(403, -32600, "origin not allowed");
  if (c.auth !== "alice" && c.auth !== "bob") return err(401, -32600, "no valid credentials", { challenge: true });
  const owner = c.auth === "alice";
  const live = c.session === "main" || c.session === "old";

  if (c.method === "GET" || c.method === "DELETE") {
    // 2026-07-28 has no GET stream and no session to delete.
    if (c.version.modern) return err(405, -32600, `${c.method} in 2026-07-28`, { allow: true });
    if (c.method === "GET" && !c.accept.sse) return err(406, -32600, "GET must accept SSE");
    if (!c.version.ok) return err(400, -32600, "unsupported protocol version");
    if (c.session === "none") return err(400, -32600, "session id required");
    if (!live || !owner) return err(404, -32600, "no such session for this principal");
    return { kind: "accepted", why: `${c.method} of a live session` };
  }
  if (c.method !== "POST") return err(405, -32600, "method not allowed", { allow: true });

  if (!c.contentType.json) return err(415, -32600, "Content-Type must be JSON");
  if (!c.accept.json || !c.accept.sse) return err(406, -32600, "Accept must list JSON and SSE");
  if (!c.version.ok) return err(400, -32600, "unsupported protocol version");
  const { bytes, text } = decodeBody(c.body);
  if (bytes > target.maxBodyBytes) return err(413, -32600, "body over the cap");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return err(400, -32700, "not JSON");
  }
  const batch = Array.isArray(value);
  const values = batch ? (value as unknown[]) : [value];
  if (values.length === 0) return err(400, -32600, "empty batch");
  const messages = values.map(parseMessage);
  const invalid = messages.find((m) => m.kind === "invalid");
  if (invalid) return err(400, -32600, "not a JSON-RPC message", batch ? {} : { id: invalid.id });
  if (depthOf(value) > target.maxDepth) return err(400, -32700, "nested deeper than the parser's limit");
  if (c.version.modern) return { kind: "modern", why: "2026-07-28 stateless request" };
  if (c.session === "malformed") return err(404, -32600, "malformed session id");
  const initialize = messages.find((m) => m.kind === "request" && m.method === "initialize");
  if (initialize && batch) return err(400, -32600, "initialize in a batch", { id: (initialize as { id: RpcId }).id });
  if (c.session === "none") return initialize ? { kind: "accepted", why: "initialize: a new session" } : err(400, -32600, "session id required");
  if (!live || !owner) return err(404, -32600, "no such session for this principal");
  if (batch && c.session === "main") return err(400, -32600, "batches are not in 2025-11-25");

  if (messages.some((m) => m.kind === "notification" && m.method === "notifications/roots/list_changed")) return { kind: "accepted", why: "roots changed: told to every backend" };
  if (!batch && messages[0]!.kind === "response") return err(400, -32600, "a response to nothing asked");
  const answers: Answer[] = [];
  for (const m of messages) {
    if (m.kind !== "request") continue;
    const answer = answerFor(m, target);
    if (answer === "accepted") return { kind: "accepted", why: `${m.method} would reach a backend` };
    answers.push(answer);
  }
  if (answers.length === 0) return { kind: "empty", status: 202, why: "notifications and responses only" };
  return { kind: "answers", status: 200, batch, answers, why: "answered by the gateway" };
}
