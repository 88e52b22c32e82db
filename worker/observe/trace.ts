/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): an incoming `traceparent` is
 * continued with a new span id (the gateway's hop); a missing or malformed one starts a new trace.
 *
 * The gateway's span travels on to every backend call twice, always: as the `traceparent` HTTP
 * header, and as `_meta.traceparent` of the JSON-RPC request, the key the 2026-07-28 revision
 * reserves for OpenTelemetry trace context (basic/index "OpenTelemetry trace context"; the same
 * key is a valid `_meta` name in earlier revisions). It is also in the request's log line and in
 * the audit row's `detail.traceparent`, so one tool call can be followed from the agent through
 * the gateway to the backend.
 */
import { toHex } from "../protocol/encoding.ts";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The `_meta` key of W3C trace context (2026-07-28 basic/index: reserved, without a prefix). */
export const TRACE_META_KEY = "traceparent";

/** Random ids come from one 24-byte draw per trace (16 trace id, 8 span id), not one per id. */
function randomIds(): { trace: string; span: string } {
  const hex = toHex(crypto.getRandomValues(new Uint8Array(24)));
  return { trace: hex.slice(0, 32), span: hex.slice(32) };
}

/** The trace id of a traceparent the gateway made (continueTrace), or undefined. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent === undefined ? undefined : TRACEPARENT.exec(traceparent)?.[1];
}

export function continueTrace(incoming: string | null): string {
  const match = incoming === null ? null : TRACEPARENT.exec(incoming.trim());
  // All-zero ids are invalid (§3.2.2.3, §3.2.2.4).
  const ids = randomIds();
  if (match && !/^0+$/.test(match[1]!) && !/^0+$/.test(match[2]!)) return `00-${match[1]}-${ids.span}-${match[3]}`;
  return `00-${ids.trace}-${ids.span}-01`;
}
