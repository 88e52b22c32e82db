/**
 * The stdio transport's framing (MCP 2025-11-25 basic/transports "stdio"): one JSON-RPC message
 * per line, newline-delimited, no embedded newlines. Lines are bounded: a server that writes a
 * longer one is misbehaving, and the caller ends it rather than buffer without limit.
 */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export class LineTooLongError extends Error {}

export class LineSplitter {
  readonly #max: number;
  #parts: Buffer[] = [];
  #size = 0;

  constructor(max = MAX_LINE_BYTES) {
    this.#max = max;
  }

  /** The complete lines in `chunk` (with what was buffered before), without their newlines; blank lines skipped. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      if (this.#size + piece.length > this.#max) throw new LineTooLongError(`a line longer than ${this.#max} bytes`);
      this.#parts.push(piece);
      const line = Buffer.concat(this.#parts).toString("utf8").replace(/\r$/, "");
      this.#parts = [];
      this.#size = 0;
      if (line.trim() !== "") lines.push(line);
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (this.#size + rest.length > this.#max) throw new LineTooLongError(`a line longer than ${this.#max} bytes`);
    if (rest.length > 0) {
      // Copied: the caller may reuse its buffer.
      this.#parts.push(Buffer.from(rest));
      this.#size += rest.length;
    }
    return lines;
  }
}
