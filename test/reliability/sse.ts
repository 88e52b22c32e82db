/**
 * A small text/event-stream reader (HTML Living Standard §9.2.6) for the Node-side reliability
 * suites and scripts/soak.ts; independent of the gateway's own encoder. Reports events with an id
 * and empty data too (2025-11-25 priming events).
 */

export interface Event {
  id?: string;
  data: string;
}

export class EventReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  #queue: Event[] = [];
  #done = false;
  #id: string | undefined;
  #data: string[] = [];
  #seen = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** The next event, or null at the end of the stream (or when the connection breaks). */
  async next(): Promise<Event | null> {
    while (this.#queue.length === 0 && !this.#done) {
      let read: ReadableStreamReadResult<Uint8Array>;
      try {
        read = await this.#reader.read();
      } catch {
        read = { done: true, value: undefined };
      }
      if (read.done) {
        this.#done = true;
        this.#feed(this.#decoder.decode());
      } else {
        this.#feed(this.#decoder.decode(read.value, { stream: true }));
      }
    }
    return this.#queue.shift() ?? null;
  }

  /** Every remaining event. */
  async rest(): Promise<Event[]> {
    const events: Event[] = [];
    for (let event = await this.next(); event !== null; event = await this.next()) events.push(event);
    return events;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }

  #feed(text: string): void {
    this.#buffer += text;
    for (let match = /\r\n|\r|\n/.exec(this.#buffer); match; match = /\r\n|\r|\n/.exec(this.#buffer)) {
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      this.#line(line);
    }
  }

  #line(line: string): void {
    if (line === "") {
      if (this.#seen) {
        const event: Event = { data: this.#data.join("\n") };
        if (this.#id !== undefined) event.id = this.#id;
        this.#queue.push(event);
      }
      this.#id = undefined;
      this.#data = [];
      this.#seen = false;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      this.#data.push(value);
      this.#seen = true;
    } else if (field === "id") {
      this.#id = value;
      this.#seen = true;
    }
  }
}

/** The sequence number of a gateway event id (`<stream>_<seq>`). */
export function seqOf(event: Event): number {
  return Number(/_(\d+)$/.exec(event.id ?? "")?.[1] ?? Number.NaN);
}

/** The JSON-RPC messages of events that carry one. */
export function messagesOf(events: Event[]): Record<string, unknown>[] {
  return events.filter((e) => e.data !== "").map((e) => JSON.parse(e.data) as Record<string, unknown>);
}
