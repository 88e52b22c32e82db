/**
 * One client-facing SSE stream of a session: the reply stream of a POST, or the standalone
 * stream a GET opens. Every event is written to the session's storage before it is sent, so a
 * client that lost its connection resumes with GET + Last-Event-ID and misses nothing
 * (2025-11-25 basic/transports "Resumability and Redelivery").
 *
 * Event ids are `<stream>_<seq>`: unique across the session's streams, and they name the stream
 * they belong to, so a replay never crosses streams (the spec's MUST NOT).
 */
import type { JsonRpcMessage } from "../../worker/protocol/jsonrpc.ts";
import { sseStream, type SseSink } from "../../worker/engine/reply.ts";
import { logger } from "../../worker/observe/log.ts";
import type { SessionStorage } from "./storage.ts";
/** Reconnect delay suggested to clients in the `retry` field when the gateway closes a stream. */
export const CLIENT_RETRY_MS = 1_000;
/**
 * Notifications are logged (and then sent) in batches: at most this many, held at most this
 * long. Each storage write costs a commit, so a row per event made a stream of 10,000 progress
 * notifications spend three quarters of its CPU time logging (docs/benchmarks.md). Requests and
 * responses (messages with an id) flush at once, so replies are never held back.
 */
export const EVENT_BATCH_MAX = 64;
export const EVENT_BATCH_MS = 10;

export function eventId(stream: string, seq: number): string {
  return `${stream}_${seq}`;
}

export function parseEventId(text: string): { stream: string; seq: number } | null {
  const match = /^([a-z][0-9]+)_([0-9]{1,15})$/.exec(text);
  return match ? { stream: match[1]!, seq: Number(match[2]) } : null;
}

export class Outbox {
  readonly id: string;
  #seq: number;
  #done = false;
  /** The attached client's connection, if any (one per stream: a newer attach replaces it). */
  #sink: SseSink | null = null;
  readonly #storage: SessionStorage;
  readonly #prime: boolean;
  /** Called when the client goes away while the stream is still open. */
  onDetach: (() => void) | null = null;
  /** Events pushed but not yet logged (nor sent): logged first, then sent, in order. */
  readonly #unlogged: { seq: number; data: string }[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(storage: SessionStorage, id: string, options: { prime: boolean; now: number; resumeFrom?: number }) {
    this.#storage = storage;
    this.id = id;
    this.#prime = options.prime;
    this.#seq = options.resumeFrom ?? 0;
    storage.openStream(id, options.now);
  }

  get done(): boolean {
    return this.#done;
  }

  get attached(): boolean {
    return this.#sink?.open === true;
  }

  /** Logs the message, then sends it if a client is attached (notifications in short batches). */
  push(message: JsonRpcMessage): void {
    if (this.#done) return;
    const seq = ++this.#seq;
    this.#unlogged.push({ seq, data: JSON.stringify(message) });
    if ("id" in message || this.#unlogged.length >= EVENT_BATCH_MAX) this.#flush();
    else this.#flushTimer ??= setTimeout(() => this.#flushQuietly(), EVENT_BATCH_MS);
  }

  /**
   * Logs every pending event in one write, then sends them. When the write fails the batch is
   * neither logged nor sent, and push() throws; elsewhere the failure is logged.
   */
  #flush(): void {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    if (this.#unlogged.length === 0) return;
    const batch = this.#unlogged.splice(0);
    this.#storage.appendEvents(this.id, batch);
    for (const event of batch) this.#sink?.event({ id: eventId(this.id, event.seq), data: event.data });
  }

  #flushQuietly(): void {
    try {
      this.#flush();
    } catch (error) {
      logger.error("event_log_failed", { stream: this.id, error: String(error) });
    }
  }

  /** Ends the stream: the client's connection closes once everything was sent. */
  close(now: number): void {
    if (this.#done) return;
    this.#flushQuietly();
    this.#done = true;
    this.#storage.finishStream(this.id, now);
    this.#sink?.close();
    this.#sink = null;
  }

  /**
   * A body for an HTTP response: events after `afterSeq` replayed from storage, then live ones
   * until the stream is done. A newer attach replaces an older one (one connection per stream).
   */
  attach(afterSeq: number | null): ReadableStream<Uint8Array> {
    // A replay reads the log, so everything pushed so far is logged first.
    this.#flushQuietly();
    this.#detachCurrent();
    return sseStream({
      start: (sink) => {
        if (afterSeq === null) {
          // The priming event lets the client resume even before the first message (2025-11-25
          // basic/transports, POST item 6); only clients of that revision expect it.
          if (this.#prime) sink.event({ id: eventId(this.id, this.#seq), data: "", retry: CLIENT_RETRY_MS });
        } else {
          for (const event of this.#storage.eventsAfter(this.id, afterSeq)) sink.event({ id: eventId(this.id, event.seq), data: event.data });
        }
        if (this.#done) sink.close();
        else this.#sink = sink;
      },
      cancel: () => {
        // The client went away; the stream goes on being logged for a resume.
        if (this.#sink?.open === false) this.#sink = null;
        if (!this.#done) this.onDetach?.();
      },
    });
  }

  /** Closes the client's connection without ending the stream, so it can resume later. */
  #detachCurrent(): void {
    this.#sink?.close();
    this.#sink = null;
  }
}
