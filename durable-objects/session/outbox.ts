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
import { encodeComment, encodeEvent } from "../../worker/protocol/sse.ts";
import type { SessionStorage } from "./storage.ts";

/** Comment keepalive period: the Cloudflare edge cuts SSE streams idle for minutes (FACTS.md). */
export const KEEPALIVE_INTERVAL_MS = 15_000;
/** Reconnect delay suggested to clients in the `retry` field when the gateway closes a stream. */
export const CLIENT_RETRY_MS = 1_000;

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
  #controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  #keepalive: ReturnType<typeof setInterval> | null = null;
  readonly #storage: SessionStorage;
  readonly #prime: boolean;
  /** Called when the client goes away while the stream is still open. */
  onDetach: (() => void) | null = null;

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
    return this.#controller !== null;
  }

  /** Logs the message, then sends it if a client is attached. */
  push(message: JsonRpcMessage): void {
    if (this.#done) return;
    const seq = ++this.#seq;
    const data = JSON.stringify(message);
    this.#storage.appendEvent(this.id, seq, data);
    this.#send(encodeEvent({ id: eventId(this.id, seq), data }));
  }

  /** Ends the stream: the client's connection closes once everything was sent. */
  close(now: number): void {
    if (this.#done) return;
    this.#done = true;
    this.#storage.finishStream(this.id, now);
    const controller = this.#controller;
    this.#stopKeepalive();
    this.#controller = null;
    try {
      controller?.close();
    } catch {
      // already closed by the client
    }
  }

  /**
   * A body for an HTTP response: events after `afterSeq` replayed from storage, then live ones
   * until the stream is done. A newer attach replaces an older one (one connection per stream).
   */
  attach(afterSeq: number | null): ReadableStream<Uint8Array> {
    this.#detachCurrent();
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        if (afterSeq === null) {
          // The priming event lets the client resume even before the first message (2025-11-25
          // basic/transports, POST item 6); only clients of that revision expect it.
          if (this.#prime) controller.enqueue(encodeEvent({ id: eventId(this.id, this.#seq), data: "", retry: CLIENT_RETRY_MS }));
        } else {
          for (const event of this.#storage.eventsAfter(this.id, afterSeq)) {
            controller.enqueue(encodeEvent({ id: eventId(this.id, event.seq), data: event.data }));
          }
        }
        if (this.#done) {
          controller.close();
          return;
        }
        this.#controller = controller;
        this.#keepalive = setInterval(() => this.#send(encodeComment("keepalive")), KEEPALIVE_INTERVAL_MS);
      },
      cancel: () => {
        // The client went away; the stream goes on being logged for a resume.
        this.#stopKeepalive();
        this.#controller = null;
        if (!this.#done) this.onDetach?.();
      },
    });
  }

  /** Closes the client's connection without ending the stream, so it can resume later. */
  #detachCurrent(): void {
    const previous = this.#controller;
    this.#stopKeepalive();
    this.#controller = null;
    try {
      previous?.close();
    } catch {
      // already closed
    }
  }

  #send(bytes: Uint8Array): void {
    if (!this.#controller) return;
    try {
      this.#controller.enqueue(bytes);
    } catch {
      this.#controller = null;
      this.#stopKeepalive();
    }
  }

  #stopKeepalive(): void {
    if (this.#keepalive !== null) clearInterval(this.#keepalive);
    this.#keepalive = null;
  }
}
