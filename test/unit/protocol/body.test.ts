/**
 * readCapped: every buffered read has a byte cap, and an oversized body costs at most the cap
 * (it is refused as soon as the cap is passed, not after reading it all).
 */
import { describe, expect, it } from "vitest";
import { BodyTooLargeError, readCapped, readTextCapped } from "../../../worker/protocol/body.ts";

/** An endless (or `total`-chunk) body of `size`-byte chunks that counts how often it is pulled. */
function countingStream(size: number, total = Infinity) {
  const stats = { pulls: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (stats.pulls >= total) {
          controller.close();
          return;
        }
        stats.pulls++;
        controller.enqueue(new Uint8Array(size).fill(0x61)); // "aaaa…"
      },
      cancel() {
        stats.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, stats };
}

function streamOfChunks(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
}

describe("readCapped", () => {
  it("reads a null body as the empty string", async () => {
    expect(await readCapped(null, 10)).toBe("");
  });

  it("reads a body under the cap as text", async () => {
    expect(await readCapped(new Blob(['{"a":1}']).stream(), 1024)).toBe('{"a":1}');
  });

  it("reads a body exactly at the cap", async () => {
    const { stream } = countingStream(10, 10);
    const text = await readCapped(stream, 100);
    expect(text).toBe("a".repeat(100));
  });

  it("refuses a body one byte over the cap", async () => {
    const { stream } = countingStream(10, 10);
    await expect(readCapped(stream, 99)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it("reports the cap on the error", async () => {
    const { stream } = countingStream(10, 10);
    const error = await readCapped(stream, 50).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BodyTooLargeError);
    expect((error as BodyTooLargeError).limit).toBe(50);
    expect((error as BodyTooLargeError).message).toBe("body exceeds 50 bytes");
  });

  it("stops pulling as soon as the cap is passed and cancels the source, even for an endless body", async () => {
    const { stream, stats } = countingStream(100);
    await expect(readCapped(stream, 250)).rejects.toBeInstanceOf(BodyTooLargeError);
    // 3 chunks (300 bytes) pass the 250-byte cap; nothing more is read.
    expect(stats.pulls).toBe(3);
    expect(stats.cancelled).toBe(true);
  });

  it("refuses a single chunk larger than the cap", async () => {
    const { stream, stats } = countingStream(1_000_000);
    await expect(readCapped(stream, 1024)).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(stats.pulls).toBe(1);
  });

  it("counts bytes, not characters", async () => {
    const euro = new TextEncoder().encode("€€€"); // 9 bytes, 3 characters
    await expect(readCapped(streamOfChunks([euro]), 8)).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(await readCapped(streamOfChunks([new TextEncoder().encode("€€€")]), 9)).toBe("€€€");
  });

  it("joins a UTF-8 character split across chunks", async () => {
    const bytes = new TextEncoder().encode("é😀");
    expect(await readCapped(streamOfChunks([bytes.slice(0, 1), bytes.slice(1, 3), bytes.slice(3)]), 100)).toBe("é😀");
  });

  it("turns invalid UTF-8 into U+FFFD rather than failing", async () => {
    expect(await readCapped(streamOfChunks([new Uint8Array([0x7b, 0xff, 0x7d])]), 100)).toBe("{\uFFFD}");
  });

  it("releases the reader so the stream is not left locked", async () => {
    const stream = new Blob(["x"]).stream();
    await readCapped(stream, 10);
    expect(stream.locked).toBe(false);
  });
});

describe("readTextCapped", () => {
  const response = (body: ReadableStream<Uint8Array> | string, headers: Record<string, string>) => new Response(body, { headers });

  it("reads a body whose declared length is within the limit in one call", async () => {
    expect(await readTextCapped(response('{"a":1}', { "content-length": "7" }), 7)).toBe('{"a":1}');
  });

  it("refuses a declared length past the limit without reading a byte, and cancels the body", async () => {
    const { stream, stats } = countingStream(64);
    await expect(readTextCapped(response(stream, { "content-length": "1000" }), 999)).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(stats.pulls).toBe(0);
    expect(stats.cancelled).toBe(true);
  });

  it("leaves a request's oversized body unread and uncancelled, declared or not (the dev proxy lost the connection otherwise)", async () => {
    const request = (body: ReadableStream<Uint8Array>, headers: Record<string, string>) => new Request("https://gw.example/t/a/oauth/token", { method: "POST", body, headers, duplex: "half" } as RequestInit);
    const declared = countingStream(64);
    await expect(readTextCapped(request(declared.stream, { "content-length": "1000" }), 999)).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(declared.stats).toEqual({ pulls: 0, cancelled: false });
    const undeclared = countingStream(64);
    await expect(readTextCapped(request(undeclared.stream, {}), 200)).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(undeclared.stats.pulls).toBeLessThanOrEqual(4);
    expect(undeclared.stats.cancelled).toBe(false);
  });

  it("caps an undeclared length chunk by chunk", async () => {
    const { stream, stats } = countingStream(64);
    await expect(readTextCapped(response(stream, {}), 200)).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(stats.pulls).toBeLessThanOrEqual(4);
  });

  it("does not trust the length of an encoded body (it counts compressed bytes): capped chunk by chunk", async () => {
    const { stream, stats } = countingStream(64);
    await expect(readTextCapped(response(stream, { "content-length": "10", "content-encoding": "gzip" }), 200)).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(stats.pulls).toBeLessThanOrEqual(4);
  });

  it("does not trust a malformed length", async () => {
    const { stream } = countingStream(64);
    await expect(readTextCapped(response(stream, { "content-length": "10, 10" }), 200)).rejects.toBeInstanceOf(BodyTooLargeError);
  });
});

describe("readTextCapped with a body built in code (no HTTP framing)", () => {
  it("refuses a text longer than its declared length", async () => {
    await expect(readTextCapped(new Response("x".repeat(500), { headers: { "content-length": "10" } }), 100)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it("accepts multi-byte text whose byte length is as declared", async () => {
    const text = "é😀".repeat(10); // 60 UTF-8 bytes, 30 UTF-16 code units
    expect(await readTextCapped(new Response(text, { headers: { "content-length": "60" } }), 60)).toBe(text);
  });
});
