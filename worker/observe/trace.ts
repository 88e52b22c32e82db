/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): an incoming `traceparent` is
 * continued with a new span id; a missing or malformed one starts a new trace.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function hex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function continueTrace(incoming: string | null): string {
  const match = incoming === null ? null : TRACEPARENT.exec(incoming.trim());
  // All-zero ids are invalid (§3.2.2.3, §3.2.2.4).
  if (match && !/^0+$/.test(match[1]!) && !/^0+$/.test(match[2]!)) return `00-${match[1]}-${hex(8)}-${match[3]}`;
  return `00-${hex(16)}-${hex(8)}-01`;
}

/** The trace id part, for logs and audit rows. */
export function traceId(traceparent: string): string {
  return traceparent.split("-")[1] ?? "";
}
