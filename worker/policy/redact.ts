/**
 * Redaction of tool results and resource contents on their way to the client. Applied to every
 * string in the result (text blocks, structured content, embedded resources), message by message
 * on the stream, so nothing matching a pattern reaches the client whatever its shape.
 */
import type { Policy } from "./schema.ts";

const compiled = new WeakMap<Policy, { re: RegExp; replacement: string }[]>();

function patterns(policy: Policy): { re: RegExp; replacement: string }[] {
  let list = compiled.get(policy);
  if (!list) {
    list = policy.redact.map((r) => ({ re: new RegExp(r.pattern, "g"), replacement: r.replacement }));
    compiled.set(policy, list);
  }
  return list;
}

/** Returns `value` with every string redacted; the same object when nothing matched. */
export function redact<T>(policy: Policy, value: T): T {
  const list = patterns(policy);
  if (list.length === 0) return value;
  return walk(value, list) as T;
}

function walk(value: unknown, list: { re: RegExp; replacement: string }[]): unknown {
  if (typeof value === "string") {
    let out = value;
    for (const { re, replacement } of list) out = out.replace(re, replacement);
    return out;
  }
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      const w = walk(v, list);
      if (w !== v) changed = true;
      return w;
    });
    return changed ? out : value;
  }
  if (typeof value === "object" && value !== null) {
    let changed = false;
    const out: Record<string, unknown> = {};
    const record = value as Record<string, unknown>;
    for (const [k, v] of Object.entries(record)) {
      // Binary payloads are base64: patterns over them would corrupt data without hiding anything.
      // Only the protocol's own binary fields are skipped (a resource's `blob`, an image or audio
      // block's `data`), so a tool's structured output with a field named `data` is still redacted.
      const w = isBinary(record, k) ? v : walk(v, list);
      if (w !== v) changed = true;
      out[k] = w;
    }
    return changed ? out : value;
  }
  return value;
}

/** Whether `record[key]` is base64 binary by the spec: BlobResourceContents.blob, ImageContent / AudioContent.data. */
function isBinary(record: Record<string, unknown>, key: string): boolean {
  if (key === "blob") return typeof record.uri === "string";
  if (key === "data") return record.type === "image" || record.type === "audio";
  return false;
}
