/**
 * What the engine reports, in either home: each relayed backend call, each decided call (the
 * audit event, so refusals are counted with their reason), each SSE reply stream. One instance
 * per session object, or per request in the stateless home; each report is a metric
 * (observe/metrics.ts) and, for backend calls, refusals and streams, a log line with tenant,
 * session, request id, backend, outcome and duration.
 */
import type { AuditEvent } from "../audit/audit.ts";
import { logger } from "../observe/log.ts";
import type { CallFolder, FoldedCall } from "../observe/requests.ts";
import { recordMetric, type MetricsBindings, type WaitUntil } from "../observe/metrics.ts";

export interface BackendCallFacts {
  tenant: string;
  backend: string;
  method: string;
  /** `params.name` of the request as the backend knows it (tools, prompts). */
  tool?: string | undefined;
  /** "ok", "rpc_error" (the backend answered with an error), or an upstream error kind. */
  outcome: string;
  durationMs: number;
  /** The client's JSON-RPC id. */
  requestId: string;
  traceparent: string;
  /** The reply stream the call belongs to (the relay's `stream`). */
  stream: string;
}


export class SessionObserver {
  readonly #env: MetricsBindings;
  readonly #waitUntil: WaitUntil;
  readonly #session: string;
  readonly #folder: CallFolder | null;
  /** Reply streams whose calls go on their request's line (a session's JSON replies), and what they gathered. */
  readonly #held = new Map<string, BackendCallFacts[]>();

  constructor(env: MetricsBindings, waitUntil: WaitUntil, session: string, folder: CallFolder | null = null) {
    this.#env = env;
    this.#waitUntil = waitUntil;
    this.#session = session;
    this.#folder = folder;
  }

  /** The calls of reply stream `stream` are gathered for its request's line until `release`. */
  hold(stream: string): void {
    this.#held.set(stream, []);
  }

  /**
   * What `stream` gathered since `hold`, for its request's line; with `log`, the reply turned
   * into a stream that outlives that line instead, so anything gathered gets its own line, as
   * every later call of the stream will.
   */
  release(stream: string, log = false): FoldedCall[] {
    const calls = this.#held.get(stream) ?? [];
    this.#held.delete(stream);
    if (log) for (const f of calls) this.#log(f);
    return log ? [] : calls.map(folded);
  }

  /**
   * One request relayed to a backend, from send to its final response (relay.ts). A successful
   * call is one more fact about the request that made it, so it goes on that request's line
   * when the home can put it there (one line per call); a failed one always has its own warning.
   */
  backendCall(f: BackendCallFacts): void {
    const ok = f.outcome === "ok" || f.outcome === "rpc_error";
    const held = ok ? this.#held.get(f.stream) : undefined;
    if (held) held.push(f);
    else if (!(ok && this.#folder?.(folded(f)))) this.#log(f);
    recordMetric(this.#env, this.#waitUntil, { kind: "backend", tenant: f.tenant, backend: f.backend, method: f.method, tool: f.tool, outcome: f.outcome, durationMs: f.durationMs, at: Date.now() });
  }

  #log(f: BackendCallFacts): void {
    const fields = { tenant: f.tenant, session: this.#session, requestId: f.requestId, backend: f.backend, method: f.method, tool: f.tool, outcome: f.outcome, durationMs: f.durationMs, traceparent: f.traceparent };
    if (f.outcome === "ok" || f.outcome === "rpc_error") logger.info("backend_call", fields);
    else logger.warn("backend_call", fields);
  }

  /** One decided call, as audited: allowed and run, or refused by policy or a tool rate limit. */
  call(event: AuditEvent): void {
    if (event.outcome === "denied" || event.outcome === "rate_limited") {
      logger.info("call_refused", {
        tenant: event.tenant,
        session: this.#session,
        principal: event.principal,
        requestId: event.requestId,
        backend: event.backend,
        method: event.method,
        tool: event.item,
        outcome: event.outcome,
        rule: event.detail?.rule,
        traceparent: event.detail?.traceparent,
      });
    }
    recordMetric(this.#env, this.#waitUntil, {
      kind: "call",
      tenant: event.tenant,
      backend: event.backend,
      method: event.method,
      // A resource's name is its URI: one series per URI would grow without bound.
      tool: event.method === "resources/read" ? undefined : event.item,
      outcome: event.outcome,
      durationMs: event.latencyMs,
      at: event.at,
    });
  }

  /** One SSE reply stream closed: how long it was open and how many events it carried. */
  stream(tenant: string, method: string, durationMs: number, events: number): void {
    logger.info("stream_closed", { tenant, session: this.#session, method, durationMs, events });
    recordMetric(this.#env, this.#waitUntil, { kind: "stream", tenant, method, outcome: "ok", durationMs, events, at: Date.now() });
  }
}

function folded(f: BackendCallFacts): FoldedCall {
  return { backend: f.backend, outcome: f.outcome, durationMs: f.durationMs };
}
