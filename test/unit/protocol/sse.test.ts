/**
 * Server-Sent Events both ways (HTML Living Standard §9.2 "Server-sent events"; MCP 2025-11-25
 * basic/transports uses SSE for streamed replies and the GET stream, with event ids for
 * resumption and `retry` for polling).
 */
import { describe, expect, it } from "vitest";
import { decodeEvents, encodeComment, encodeEvent, SSE_HEADERS, type SseEvent } from "../../../worker/protocol/sse.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytesOf = (s: string) => new TextEncoder().encode(s);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** A body that delivers `bytes` cut at the given offsets. */
function streamOf(bytes: Uint8Array, cuts: number[] = []): ReadableStream<Uint8Array> {
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < bytes.byteLength).sort((a, b) => a - b), bytes.byteLength];
  const chunks: Uint8Array[] = [];
  for (let i = 1; i < bounds.length; i++) if (bounds[i]! > bounds[i - 1]!) chunks.push(bytes.slice(bounds[i - 1], bounds[i]));
  return new ReadableStream({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
}

async function collect(stream: ReadableStream<SseEvent>): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

const decode = (bytes: Uint8Array, cuts: number[] = []) => collect(decodeEvents(streamOf(bytes, cuts)));

describe("encodeEvent", () => {
  it("writes a data field and ends the event with a blank line", () => {
    expect(text(encodeEvent({ data: '{"jsonrpc":"2.0"}' }))).toBe('data: {"jsonrpc":"2.0"}\n\n');
  });

  it("writes id, event and retry before the data", () => {
    expect(text(encodeEvent({ id: "s1-7", event: "message", retry: 1500, data: "x" }))).toBe(
      "id: s1-7\nevent: message\nretry: 1500\ndata: x\n\n",
    );
  });

  it("gives each line of multi-line data its own data field, whatever the line ending", () => {
    expect(text(encodeEvent({ data: "a\nb\r\nc\rd" }))).toBe("data: a\ndata: b\ndata: c\ndata: d\n\n");
  });

  it("writes an empty data field for empty data (a priming event, transports 'Sending Messages' 5)", () => {
    expect(text(encodeEvent({ id: "p", data: "" }))).toBe("id: p\ndata: \n\n");
  });
});

describe("encodeComment", () => {
  it("writes a comment line followed by a blank line", () => {
    expect(text(encodeComment("keepalive"))).toBe(": keepalive\n\n");
  });
});

describe("SSE_HEADERS", () => {
  it("declares text/event-stream and forbids caching and transformation", () => {
    expect(SSE_HEADERS["content-type"]).toBe("text/event-stream");
    expect(SSE_HEADERS["cache-control"]).toContain("no-cache");
    expect(SSE_HEADERS["cache-control"]).toContain("no-transform");
  });
});

describe("decodeEvents", () => {
  const events: SseEvent[] = [
    { id: "a-1", data: '{"jsonrpc":"2.0","id":1,"result":{}}' },
    { data: "line one\nline two\n\nline four" },
    { id: "a-2", event: "custom", data: "naïve café € 😀" },
    { data: "" },
    { data: "  leading spaces kept" },
    { id: "a-3", data: "last" },
  ];
  const wire = concat(events.map(encodeEvent));

  it("round-trips encodeEvent output delivered in one chunk", async () => {
    expect(await decode(wire)).toEqual(events);
  });

  it("round-trips when the bytes arrive one at a time (splitting lines and UTF-8 sequences)", async () => {
    const cuts = Array.from({ length: wire.byteLength }, (_, i) => i);
    expect(await decode(wire, cuts)).toEqual(events);
  });

  it("round-trips whatever single point the stream is cut at", async () => {
    for (let cut = 1; cut < wire.byteLength; cut++) {
      expect(await decode(wire, [cut])).toEqual(events);
    }
  });

  it("round-trips with chunk boundaries at deterministic odd offsets", async () => {
    let seed = 7;
    for (let run = 0; run < 25; run++) {
      const cuts: number[] = [];
      for (let at = 0; at < wire.byteLength; ) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        at += 1 + (seed % 13);
        cuts.push(at);
      }
      expect(await decode(wire, cuts)).toEqual(events);
    }
  });

  it("turns CR LF and CR line endings inside data into LF (an SSE data line cannot carry a CR)", async () => {
    expect(await decode(encodeEvent({ data: "a\r\nb\rc" }))).toEqual([{ data: "a\nb\nc" }]);
  });

  it("decodes streams written with CRLF line endings, even with the CR and LF in different chunks", async () => {
    const crlf = bytesOf("id: 1\r\ndata: first\r\ndata: second\r\n\r\nid: 2\r\nevent: message\r\ndata: x\r\n\r\n");
    const expected = [
      { id: "1", data: "first\nsecond" },
      { id: "2", event: "message", data: "x" },
    ];
    expect(await decode(crlf)).toEqual(expected);
    for (let cut = 1; cut < crlf.byteLength; cut++) expect(await decode(crlf, [cut])).toEqual(expected);
  });

  it("decodes streams written with bare CR line endings", async () => {
    expect(await decode(bytesOf("data: a\rdata: b\r\rid: 2\rdata: c\r\r"))).toEqual([{ data: "a\nb" }, { id: "2", data: "c" }]);
  });

  // Regression: the parser holds a trailing CR back (it may start a CR LF), so the last event of
  // a stream that ended in a bare CR was never dispatched.
  it("dispatches the last event of a stream that ends with a bare CR blank line", async () => {
    expect(await decode(bytesOf("data: a\r\r"))).toEqual([{ data: "a" }]);
    expect(await decode(bytesOf("data: a\r\r"), [8])).toEqual([{ data: "a" }]);
    expect(await decode(bytesOf("data: a\n\r"))).toEqual([{ data: "a" }]);
  });

  it("still drops an event whose blank line never came, when the stream ends in a CR", async () => {
    expect(await decode(bytesOf("data: a\r"))).toEqual([]);
    expect(await decode(bytesOf("data: a\n\ndata: b\r"))).toEqual([{ data: "a" }]);
  });

  it("ignores comments, including keepalives from encodeComment between events", async () => {
    const withComments = concat([encodeComment("keepalive"), encodeEvent({ data: "1" }), encodeComment("x"), bytesOf(":no space\n\n"), encodeEvent({ data: "2" })]);
    expect(await decode(withComments)).toEqual([{ data: "1" }, { data: "2" }]);
  });

  it("ignores a comment line inside an event", async () => {
    expect(await decode(bytesOf("data: a\n: note\ndata: b\n\n"))).toEqual([{ data: "a\nb" }]);
  });

  it("does not dispatch an event the stream ends in the middle of (HTML §9.2.6)", async () => {
    expect(await decode(bytesOf("data: complete\n\ndata: cut off"))).toEqual([{ data: "complete" }]);
  });

  it("accepts fields without the space after the colon", async () => {
    expect(await decode(bytesOf("id:7\nevent:message\ndata:x\n\n"))).toEqual([{ id: "7", event: "message", data: "x" }]);
  });

  // Regression: retry used to be dropped by the decoder, so a client of a backend could not
  // respect it (2025-11-25 basic/transports "Sending Messages" 5: the client MUST respect retry).
  it("round-trips the retry field of encodeEvent output", async () => {
    const primed: SseEvent[] = [
      { id: "p-0", retry: 2500, data: "" },
      { id: "p-1", data: "after" },
    ];
    expect(await decode(concat(primed.map(encodeEvent)), [3, 9, 17])).toEqual(primed);
  });

  it("reports a retry field on the next event dispatched, once, even when both share a chunk", async () => {
    const wireWithRetries = bytesOf("retry: 100\n\ndata: a\n\nretry: 200\ndata: b\n\ndata: c\n\nretry: nope\ndata: d\n\n");
    expect(await decode(wireWithRetries)).toEqual([{ data: "a", retry: 100 }, { data: "b", retry: 200 }, { data: "c" }, { data: "d" }]);
  });

  it("reports a retry field the stream ends after on an empty event at the end, since no event follows it", async () => {
    expect(await decode(bytesOf("id: 1\ndata:\n\nretry: 300\n\n"))).toEqual([{ id: "1", data: "" }, { data: "", retry: 300 }]);
    expect(await decode(bytesOf("data: a\n\nretry: 300\n"), [13])).toEqual([{ data: "a" }, { data: "", retry: 300 }]);
    expect(await decode(bytesOf("retry: 300\ndata: a\n\n"))).toEqual([{ data: "a", retry: 300 }]);
  });

  it("cancels the source when the decoded stream is cancelled", async () => {
    let cancelled = false;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(encodeEvent({ data: "tick" }));
      },
      cancel() {
        cancelled = true;
      },
    });
    const reader = decodeEvents(source).getReader();
    expect((await reader.read()).value).toEqual({ data: "tick" });
    await reader.cancel();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(cancelled).toBe(true);
  });
});
