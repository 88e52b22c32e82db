/**
 * Pagination cursors (MCP 2025-11-25 server/utilities/pagination): opaque strings; an invalid
 * cursor is refused (the session answers -32602), never misread as a position.
 */
import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../../worker/broker/cursor.ts";

const raw = (value: unknown) => btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");

describe("encodeCursor / decodeCursor", () => {
  it("round-trip offsets and generations (generations are ASCII: the session uses an fnv1a hash)", () => {
    for (const cursor of [
      { offset: 0, generation: "" },
      { offset: 500, generation: "9f86d081" },
      { offset: 123456789, generation: "gen with spaces/+=?" },
      { offset: Number.MAX_SAFE_INTEGER, generation: "ffffffff" },
    ]) {
      expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    }
  });

  it("produce URL-safe text without padding", () => {
    for (let offset = 0; offset < 300; offset += 7) {
      expect(encodeCursor({ offset, generation: `g${offset}?>>` })).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  it("are opaque: the encoded text does not show the offset as such", () => {
    expect(encodeCursor({ offset: 500, generation: "abc" })).not.toContain("500");
  });

  it("reject what is not a non-empty string", () => {
    for (const value of [undefined, null, 5, {}, [], ""]) expect(decodeCursor(value)).toBeNull();
  });

  it("reject garbage that is not base64 JSON", () => {
    for (const value of ["!!!", "not a cursor", "%%%%", raw("x").slice(0, 3), "e30"]) {
      // "e30" is base64 of "{}": valid JSON, but no offset or generation.
      expect(decodeCursor(value)).toBeNull();
    }
  });

  it("reject cursors longer than 256 characters", () => {
    const long = encodeCursor({ offset: 1, generation: "g".repeat(300) });
    expect(long.length).toBeGreaterThan(256);
    expect(decodeCursor(long)).toBeNull();
  });

  it("reject negative, fractional, non-finite and non-numeric offsets", () => {
    expect(decodeCursor(raw({ o: -1, g: "x" }))).toBeNull();
    expect(decodeCursor(raw({ o: 1.5, g: "x" }))).toBeNull();
    expect(decodeCursor(btoa('{"o":1e400,"g":"x"}'))).toBeNull();
    expect(decodeCursor(raw({ o: "10", g: "x" }))).toBeNull();
    expect(decodeCursor(raw({ g: "x" }))).toBeNull();
  });

  it("reject a missing or non-string generation", () => {
    expect(decodeCursor(raw({ o: 1 }))).toBeNull();
    expect(decodeCursor(raw({ o: 1, g: 7 }))).toBeNull();
  });

  it("reject JSON that is not an object", () => {
    for (const value of [null, 3, "s", true]) expect(decodeCursor(raw(value))).toBeNull();
  });

  it("accept the standard base64 alphabet too", () => {
    const cursor = { offset: 62, generation: "??>>" };
    const standard = btoa(JSON.stringify({ o: cursor.offset, g: cursor.generation }));
    expect(decodeCursor(standard)).toEqual(cursor);
  });
});
