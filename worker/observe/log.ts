/**
 * The gateway's one logger: one JSON object per line, `{"level", "event", ...fields}`.
 *
 * Where it goes: Workers Logs (`[observability] enabled = true` in wrangler.toml) keeps every
 * console line of the Worker and its Durable Objects and indexes a JSON line's fields, so
 * `event = "backend_call" AND tenant = "acme"` is a query, not a grep. Locally the lines are on
 * the `wrangler dev` console. The console method follows the level, which is what Workers Logs
 * files the line under.
 *
 * Secrets never reach a line, whoever wrote the call: a field whose name says it holds a
 * credential is replaced, and strings are scrubbed of bearer tokens, JWTs and gateway API keys.
 * Long strings and deep objects are cut, so a backend's error text cannot flood the log.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

/** What replaces a secret. */
export const REDACTED = "[redacted]";
/** A longer string is cut here (a log line is for finding things, not for payloads). */
export const MAX_LOG_STRING_CHARS = 1_024;
/** Nested objects below this depth are replaced by "[…]". */
export const MAX_LOG_DEPTH = 4;
/** Arrays keep this many entries. */
export const MAX_LOG_ARRAY_ITEMS = 20;

/**
 * Field names that hold credentials (matched case-insensitively). `key` alone is not here, since
 * it names harmless things (cache keys, `_meta` keys); the credential forms are.
 */
const SECRET_FIELD = /authorization|cookie|passw|secret|token|api[-_]?key|credential|assertion|private[-_]?key|^jwt$|^bearer$/i;

/** Credentials inside free text: `Bearer …`, JWS compact serialisations, gateway API keys. */
const SECRET_TEXT: readonly RegExp[] = [
  /\bBearer\s+[A-Za-z0-9._~+/=-]+/gi,
  /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
  /\bmgw_[A-Za-z0-9_-]{20,}/g,
];

/** A string none of SECRET_TEXT can match lacks all of these; one scan rules the three out. */
const MAYBE_SECRET_TEXT = /bearer|eyJ|mgw_/i;

/** Scrubs one value for the log (exported for tests). */
export function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === "string") {
    let text = value.length > MAX_LOG_STRING_CHARS ? `${value.slice(0, MAX_LOG_STRING_CHARS)}…` : value;
    if (MAYBE_SECRET_TEXT.test(text)) for (const pattern of SECRET_TEXT) text = text.replace(pattern, REDACTED);
    return text;
  }
  if (value === null || typeof value !== "object") {
    return typeof value === "bigint" || typeof value === "function" || typeof value === "symbol" ? String(value) : value;
  }
  if (value instanceof Error) return scrub(`${value.name}: ${value.message}`, depth);
  if (depth >= MAX_LOG_DEPTH) return "[…]";
  if (Array.isArray(value)) return value.slice(0, MAX_LOG_ARRAY_ITEMS).map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) {
    if (v === undefined) continue;
    out[name] = SECRET_FIELD.test(name) ? REDACTED : scrub(v, depth + 1);
  }
  return out;
}

/** The line itself: `level` and `event` first, then the scrubbed fields. */
export function formatLine(level: LogLevel, event: string, fields: LogFields = {}): string {
  const scrubbed = scrub(fields) as Record<string, unknown>;
  return JSON.stringify({ level, event, ...scrubbed });
}

export function log(level: LogLevel, event: string, fields?: LogFields): void {
  const line = formatLine(level, event, fields);
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else if (level === "debug") console.debug(line);
  else console.log(line);
}

export const logger = {
  debug: (event: string, fields?: LogFields) => log("debug", event, fields),
  info: (event: string, fields?: LogFields) => log("info", event, fields),
  warn: (event: string, fields?: LogFields) => log("warn", event, fields),
  error: (event: string, fields?: LogFields) => log("error", event, fields),
};
