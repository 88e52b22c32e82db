/** Reading bodies with a byte cap: any read that must buffer has one, so no body can exhaust an isolate's memory. */

export class BodyTooLargeError extends Error {
  readonly limit: number;

  constructor(limit: number) {
    super(`body exceeds ${limit} bytes`);
    this.limit = limit;
    this.name = "BodyTooLargeError";
  }
}

/**
 * Reads a body as UTF-8 text, giving up as soon as it passes `limit` bytes, so an oversized
 * body costs at most `limit` bytes of memory however large it claims (or fails to claim) to be.
 * Invalid UTF-8 becomes U+FFFD: between JSON tokens that fails parsing (a parse error); inside a
 * JSON string it stays as U+FFFD.
 *
 * `cancel`: whether a body past the cap is cancelled. Yes for a response (its connection is
 * freed); no for a request (see readTextCapped).
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, limit: number, { cancel = true }: { cancel?: boolean } = {}): Promise<string> {
  if (body === null) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        if (cancel) await reader.cancel().catch(() => {});
        throw new BodyTooLargeError(limit);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * A request's or response's body as text under `limit`. When the message declares its length
 * (Content-Length, no Content-Encoding) within the limit, the runtime reads it in one native
 * call; otherwise the capped reader above does. From the network a declaration cannot lie: the
 * runtime's HTTP framing ends the body at the declared length. A body handed over in-process
 * (a Request built in code) has no framing, so a text longer than declared is refused after
 * the read. Measured: the chunk-by-chunk reader cost about 0.3 ms of workerd CPU per call for a
 * small body (docs/benchmarks-fixes.md).
 *
 * Past the cap, a response's body is cancelled so its upstream connection is freed, and a
 * request's is left unread: the runtime drops it once the answer is sent. Cancelling a request
 * body made wrangler 4.164's dev server (its proxy worker in miniflare) lose the connection, so
 * up to one in 25 of the client's next requests on it failed with a 500 "Network connection
 * lost" (pinned in test/e2e/oauth-security.test.ts).
 */
export async function readTextCapped(message: Request | Response, limit: number): Promise<string> {
  const isRequest = message instanceof Request;
  const declared = message.headers.get("content-length");
  if (declared !== null && /^\d{1,15}$/.test(declared) && message.headers.get("content-encoding") === null) {
    const length = Number(declared);
    if (length > limit) {
      if (!isRequest) await message.body?.cancel().catch(() => {});
      throw new BodyTooLargeError(limit);
    }
    const text = await message.text();
    // UTF-16 code units never outnumber UTF-8 bytes, so this holds for every honest body.
    if (text.length > length) throw new BodyTooLargeError(limit);
    return text;
  }
  return readCapped(message.body, limit, { cancel: !isRequest });
}
