/**
 * ⑧ The answer to a legacy client's POST (2025-11-25 basic/transports "Sending Messages"), and
 * the resume of its streams.
 *
 * - A POST with one routed request: its first message decides the form. When that is the
 *   response, nothing else can follow, so it goes back as JSON (the server may answer with JSON
 *   or SSE when the client accepts both), with no stream, event log or priming event: there is
 *   nothing to resume. Anything else first (progress, a server-to-client request), or nothing
 *   within SINGLE_REPLY_WAIT_MS, and the reply is an SSE stream.
 * - An SSE reply is an Outbox (outbox.ts): every event logged before it is sent, so a client
 *   that lost its connection resumes with GET + Last-Event-ID. A client that goes away leaves
 *   its calls running for RESUME_GRACE_MS, then they are cancelled upstream.
 * - A running call is re-decided on every message under the newest config (the policy watch
 *   keeps it current while streams are open): revoked, it is cancelled and answered as gone.
 * - Without SSE, the answer carries responses only; other messages go to the GET stream.
 */
import type { Handler, Produced } from "../../worker/engine/handler.ts";
import { goneAnswer } from "../../worker/engine/answers.ts";
import type { PostInput } from "../../worker/engine/inputs.ts";
import type { Relay } from "../../worker/engine/relay.ts";
import { jsonResponse, prepend, SINGLE_REPLY_WAIT_MS, sseResponse } from "../../worker/engine/reply.ts";
import { GatewayError } from "../../worker/protocol/errors.ts";
import { isResponse, type JsonRpcMessage, type JsonRpcRequest } from "../../worker/protocol/jsonrpc.ts";
import { atLeast } from "../../worker/protocol/versions.ts";
import { logger } from "../../worker/observe/log.ts";
import { foldedCallsHeader } from "../../worker/observe/requests.ts";
import type { SessionObserver } from "../../worker/engine/observer.ts";
import { Outbox, parseEventId } from "./outbox.ts";
import type { SessionMeta, SessionStorage } from "./storage.ts";

/** How long a POST with one routed request waits for the backend's first message before it opens an SSE stream. */
/** How long a reply stream whose client went away keeps its backend call alive for a resume. */
export const RESUME_GRACE_MS = 60_000;

/** The answer to a call whose stream died with the process before its response (resume). */
const INTERRUPTED = new GatewayError("backend_unavailable", { publicMessage: "Backend unavailable: the call was interrupted by a gateway restart" });

export interface LegacyReplyHost {
  storage: SessionStorage;
  handler: Handler;
  relay: Relay;
  observer: SessionObserver;
  waitUntil(promise: Promise<unknown>): void;
  /** Keeps the session's config current while a stream is open (engine/policyWatch.ts). */
  watch(): () => void;
  /** The session's GET stream, where a JSON reply's notifications go. */
  standalone(): Outbox | null;
}

export class LegacyReplies {
  readonly #host: LegacyReplyHost;
  /** Reply streams still producing, by stream id (a resume attaches to the live one). */
  readonly #outboxes = new Map<string, Outbox>();

  constructor(host: LegacyReplyHost) {
    this.#host = host;
  }

  /** The reply to a POST whose requests produced `produced` (one entry per request, in order). */
  async answer(stream: string, produced: Produced[], requests: JsonRpcRequest[], meta: SessionMeta, input: PostInput): Promise<Response> {
    const routed = produced.some((p) => p.routed);
    const hasNotes = produced.some((p) => !p.routed && p.messages.some((m) => !isResponse(m)));
    if (input.acceptsSse && (routed || hasNotes)) {
      const only = produced[0]!;
      if (requests.length === 1 && only.routed) {
        const single = await this.#single(stream, only, requests[0]!, meta, input.batch);
        if (single instanceof Response) return single;
        produced[0] = single;
      }
      return this.#sse(stream, produced, requests, meta);
    }
    const responses: JsonRpcMessage[] = [];
    for (const [i, p] of produced.entries()) {
      for await (const message of p.messages) {
        const filtered = this.#host.handler.toClient(message, requests[i]!.method, meta.clientVersion);
        if (!filtered) continue;
        if (isResponse(filtered)) responses.push(filtered);
        else this.#host.standalone()?.push(filtered);
      }
    }
    return jsonResponse(input.batch ? responses : (responses[0] ?? null));
  }

  /**
   * GET with Last-Event-ID: the live stream it names, or its replay from storage when its
   * producer is gone; null when the id names no stream of this session.
   */
  resume(lastEventId: string, standalone: Outbox | null): Response | null {
    const resume = parseEventId(lastEventId);
    if (!resume) return null;
    const live = this.#outboxes.get(resume.stream) ?? (standalone?.id === resume.stream ? standalone : undefined);
    if (live) return sseResponse(live.attach(resume.seq));
    const state = this.#host.storage.streamState(resume.stream);
    if (!state) return null;
    // The stream's producer is gone (finished, or lost with an eviction): replay what was logged.
    const replay = new Outbox(this.#host.storage, resume.stream, { prime: false, now: Date.now(), resumeFrom: this.#host.storage.lastSeq(resume.stream) });
    // Unfinished, it died with the process (a restart, an eviction): its calls can never be
    // answered now, so they end with an error, logged like any event so every resume agrees.
    if (!state.done) for (const id of this.#host.storage.unansweredRequests(resume.stream)) replay.push(INTERRUPTED.toRpc(id));
    replay.close(Date.now());
    return sseResponse(replay.attach(resume.seq));
  }

  /** Ends every reply stream (the session ends). */
  closeAll(now: number): void {
    for (const outbox of this.#outboxes.values()) outbox.close(now);
    this.#outboxes.clear();
  }

  async #single(stream: string, p: Extract<Produced, { routed: true }>, request: JsonRpcRequest, meta: SessionMeta, batch: boolean): Promise<Response | Produced> {
    // A JSON reply's backend call goes on the request's one log line (observe/requests.ts).
    this.#host.observer.hold(stream);
    const iterator = p.messages[Symbol.asyncIterator]();
    const first = iterator.next();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = await Promise.race([first, new Promise<null>((resolve) => (timer = setTimeout(resolve, SINGLE_REPLY_WAIT_MS, null)))])
      .catch(() => null) // a failure surfaces in the stream's pump
      .finally(() => clearTimeout(timer));
    const handler = this.#host.handler;
    if (waited && !waited.done && isResponse(waited.value) && waited.value.id === request.id && handler.stillAllowed(p.about)) {
      const response = handler.toClient(waited.value, request.method, meta.clientVersion);
      // The call's generators end after its response (the audit row and backend metric are written then).
      for (let step = await iterator.next(); !step.done; step = await iterator.next()) {
        const filtered = handler.toClient(step.value, request.method, meta.clientVersion);
        if (filtered && !isResponse(filtered)) this.#host.standalone()?.push(filtered);
      }
      return jsonResponse(batch ? (response ? [response] : []) : response, foldedCallsHeader(this.#host.observer.release(stream)));
    }
    this.#host.observer.release(stream, true);
    return { ...p, messages: prepend(first, iterator) };
  }

  #sse(stream: string, produced: Produced[], requests: JsonRpcRequest[], meta: SessionMeta): Response {
    const host = this.#host;
    const openedAt = Date.now(); // observed: the stream's duration
    const outbox = new Outbox(host.storage, stream, { prime: atLeast(meta.clientVersion, "2025-11-25"), now: openedAt });
    host.storage.recordRequests(stream, requests.map((r) => r.id));
    this.#outboxes.set(stream, outbox);
    const unwatch = host.watch();
    const body = outbox.attach(null);
    let graceTimer: ReturnType<typeof setTimeout> | null = null;
    outbox.onDetach = () => {
      // The client went away: keep the call running for a resume, then cancel it upstream.
      graceTimer = setTimeout(() => {
        if (!outbox.attached && !outbox.done) for (const r of requests) void host.relay.cancel(r.id, "client disconnected");
      }, RESUME_GRACE_MS);
    };
    const pump = Promise.all(
      produced.map(async (p, i) => {
        const request = requests[i]!;
        for await (const message of p.messages) {
          if (p.routed && !host.handler.stillAllowed(p.about)) {
            // The policy changed under a running call: stop it, and answer as for an item that is gone.
            await host.relay.cancel(request.id, "no longer allowed by policy");
            // The routed request: for search mode's call_tool, the call of the tool it named.
            outbox.push(goneAnswer({ ...p.about.request, id: request.id }));
            return;
          }
          const filtered = host.handler.toClient(message, request.method, meta.clientVersion);
          if (filtered) outbox.push(filtered);
        }
      }),
    )
      .catch((error) => logger.error("stream_bug", { error: String(error) }))
      .finally(() => {
        if (graceTimer) clearTimeout(graceTimer);
        unwatch();
        host.observer.stream(meta.tenant, requests.length > 1 ? "batch" : requests[0]!.method, Date.now() - openedAt, host.storage.lastSeq(stream));
        outbox.close(Date.now());
        this.#outboxes.delete(stream);
        host.storage.prune(Date.now());
      });
    host.waitUntil(pump);
    return sseResponse(body);
  }
}
