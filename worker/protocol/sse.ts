/**
 * Server-Sent Events, both ways (HTML Living Standard §9.2 "Server-sent events").
 *
 * Decoding uses `eventsource-parser`, a well-kept parser, rather than hand-written line
 * splitting: SSE has enough corner cases (CR/LF variants, multi-line data, BOM, comments) to
 * deserve one. Encoding is simple enough to write here.
 */
import { createParser, type EventSourceParser } from "eventsource-parser";

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
  retry?: number;
}

const encoder = new TextEncoder();

/** One SSE event as bytes. `data` may contain newlines; each line gets its own `data:` field. */
export function encodeEvent(event: SseEvent): Uint8Array {
  let text = "";
  if (event.id !== undefined) text += `id: ${event.id}\n`;
  if (event.event !== undefined) text += `event: ${event.event}\n`;
  if (event.retry !== undefined) text += `retry: ${event.retry}\n`;
  for (const line of event.data.split(/\r\n|\r|\n/)) text += `data: ${line}\n`;
  return encoder.encode(`${text}\n`);
}

/** A comment line: ignored by clients, keeps idle connections open through proxies. */
export function encodeComment(text: string): Uint8Array {
  return encoder.encode(`: ${text}\n\n`);
}

/**
 * Bytes in, parsed SSE events out. Cancelling the result cancels the source.
 *
 * A `retry` field (the reconnection time, which a client MUST respect: 2025-11-25
 * basic/transports "Sending Messages" 5) is reported on the next event dispatched after it, or,
 * when the stream ends first, on an event with empty data at its end: a server that closes the
 * stream early sends one just before it closes (basic/transports "Resumability and Redelivery").
 * The parser is driven directly rather than through its stream wrapper so that a retry field is
 * seen in order with the events around it.
 */
export function decodeEvents(body: ReadableStream<Uint8Array>): ReadableStream<SseEvent> {
  let parser: EventSourceParser;
  let endsWithCr = false;
  let retry: number | undefined;
  return body.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, SseEvent>({
      start(controller) {
        parser = createParser({
          onRetry(ms) {
            retry = ms;
          },
          onEvent(message) {
            const event: SseEvent = { data: message.data };
            if (message.id !== undefined) event.id = message.id;
            if (message.event !== undefined) event.event = message.event;
            if (retry !== undefined) event.retry = retry;
            retry = undefined;
            controller.enqueue(event);
          },
        });
      },
      transform(chunk) {
        if (chunk.length > 0) endsWithCr = chunk.endsWith("\r");
        parser.feed(chunk);
      },
      flush(controller) {
        // A CR may be the first half of CR LF, so the parser holds it back; at the end of the
        // stream it can only have ended its line (HTML §9.2.6), possibly the event's blank line.
        if (endsWithCr) parser.feed("\n");
        if (retry !== undefined) controller.enqueue({ data: "", retry });
      },
    }),
  );
}

export const SSE_HEADERS: Record<string, string> = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache, no-transform",
  // Stops buffering proxies (nginx and friends) from holding events back.
  "x-accel-buffering": "no",
};
