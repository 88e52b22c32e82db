/**
 * Accept and Content-Type are parsed (RFC 9110 §8.3.1, §12.5.1), never substring-matched.
 * MCP 2025-11-25 basic/transports "Sending Messages" 2: a POST's Accept lists both
 * application/json and text/event-stream; "Listening for Messages" 2: a GET's lists
 * text/event-stream.
 */
import { describe, expect, it } from "vitest";
import { accepts, isContentType, JSON_TYPE, parseAccept, parseMediaType, SSE_TYPE } from "../../../worker/protocol/mediaType.ts";

describe("parseMediaType", () => {
  it("splits type, subtype and parameters and defaults q to 1", () => {
    expect(parseMediaType("application/json; charset=utf-8")).toEqual({
      type: "application",
      subtype: "json",
      params: { charset: "utf-8" },
      q: 1,
    });
  });

  it("lowercases type, subtype and parameter names but keeps parameter values", () => {
    expect(parseMediaType("Text/Event-Stream; Foo=Bar")).toEqual({ type: "text", subtype: "event-stream", params: { foo: "Bar" }, q: 1 });
  });

  it("unquotes quoted parameter values", () => {
    expect(parseMediaType('text/plain; charset="utf-8"')?.params).toEqual({ charset: "utf-8" });
  });

  it("reads q as a weight, not as a parameter", () => {
    expect(parseMediaType("application/json;q=0.3")).toMatchObject({ params: {}, q: 0.3 });
    expect(parseMediaType("application/json; Q=0")).toMatchObject({ q: 0 });
  });

  it("treats an out-of-range or non-numeric q as the default weight", () => {
    expect(parseMediaType("application/json;q=2")?.q).toBe(1);
    expect(parseMediaType("application/json;q=-1")?.q).toBe(1);
    expect(parseMediaType("application/json;q=abc")?.q).toBe(1);
  });

  it("ignores parameters without '='", () => {
    expect(parseMediaType("application/json; broken")?.params).toEqual({});
  });

  it.each(["", "json", "application/", "/json", "application/json/extra", "application json", "appli cation/json", "a/b, c/d"])(
    "returns null for the malformed value %j",
    (value) => {
      expect(parseMediaType(value)).toBeNull();
    },
  );
});

describe("parseAccept", () => {
  it("returns no ranges for a missing or blank header", () => {
    expect(parseAccept(null)).toEqual([]);
    expect(parseAccept("")).toEqual([]);
    expect(parseAccept("   ")).toEqual([]);
  });

  it("parses each comma-separated range in order", () => {
    const ranges = parseAccept("application/json, text/event-stream;q=0.5");
    expect(ranges.map((r) => `${r.type}/${r.subtype};q=${r.q}`)).toEqual(["application/json;q=1", "text/event-stream;q=0.5"]);
  });

  it("skips malformed entries and keeps the rest", () => {
    const ranges = parseAccept("garbage, , application/json, /, text/event-stream");
    expect(ranges.map((r) => `${r.type}/${r.subtype}`)).toEqual(["application/json", "text/event-stream"]);
  });
});

describe("accepts", () => {
  const ok = (header: string | null, type: string) => accepts(parseAccept(header), type);

  it("accepts a type listed exactly (the transports Accept requirement)", () => {
    const header = "application/json, text/event-stream";
    expect(ok(header, JSON_TYPE)).toBe(true);
    expect(ok(header, SSE_TYPE)).toBe(true);
  });

  it("refuses a type that is not listed", () => {
    expect(ok("application/json", SSE_TYPE)).toBe(false);
  });

  it("refuses everything when there is no Accept header", () => {
    expect(ok(null, JSON_TYPE)).toBe(false);
  });

  it("refuses a type listed with q=0 ('not acceptable', RFC 9110 §12.4.2)", () => {
    expect(ok("application/json, text/event-stream;q=0", SSE_TYPE)).toBe(false);
    expect(ok("application/json;q=0.0, text/event-stream", JSON_TYPE)).toBe(false);
  });

  it("accepts a type listed with a small positive q", () => {
    expect(ok("text/event-stream;q=0.001", SSE_TYPE)).toBe(true);
  });

  it("honours */* and type/* wildcards", () => {
    expect(ok("*/*", JSON_TYPE)).toBe(true);
    expect(ok("*/*", SSE_TYPE)).toBe(true);
    expect(ok("text/*", SSE_TYPE)).toBe(true);
    expect(ok("text/*", JSON_TYPE)).toBe(false);
    expect(ok("application/*", JSON_TYPE)).toBe(true);
  });

  it("does not treat */subtype as a wildcard (not a valid media range in RFC 9110)", () => {
    expect(ok("*/json", JSON_TYPE)).toBe(false);
  });

  it("lets the most specific range decide (RFC 9110 §12.5.1): an exact q=0 beats */*", () => {
    expect(ok("*/*, text/event-stream;q=0", SSE_TYPE)).toBe(false);
    expect(ok("text/event-stream;q=0, */*", SSE_TYPE)).toBe(false);
    expect(ok("*/*, text/event-stream;q=0", JSON_TYPE)).toBe(true);
  });

  it("lets the most specific range decide: type/*;q=0 beats */*, and an exact listing beats type/*;q=0", () => {
    expect(ok("*/*, text/*;q=0", SSE_TYPE)).toBe(false);
    expect(ok("text/*;q=0, text/event-stream", SSE_TYPE)).toBe(true);
    expect(ok("*/*;q=0, application/json", JSON_TYPE)).toBe(true);
    expect(ok("*/*;q=0, application/json", SSE_TYPE)).toBe(false);
  });

  it("ignores media type parameters when matching", () => {
    expect(ok("application/json; charset=utf-8", JSON_TYPE)).toBe(true);
    expect(ok("text/event-stream;charset=utf-8;q=0.9", SSE_TYPE)).toBe(true);
  });

  it("matches case-insensitively (RFC 9110 §8.3.1)", () => {
    expect(ok("APPLICATION/JSON, Text/Event-Stream", JSON_TYPE)).toBe(true);
    expect(ok("application/json", "Application/JSON")).toBe(true);
  });

  it("is not fooled by types that merely contain the wanted one as a substring", () => {
    expect(ok("application/json-seq", JSON_TYPE)).toBe(false);
    expect(ok("application/jsonx, text/event-streams", SSE_TYPE)).toBe(false);
    expect(ok("application/vnd.api+json", JSON_TYPE)).toBe(false);
  });

  it("still decides on the valid ranges when malformed ones are mixed in", () => {
    expect(ok("nonsense;;, application/json , text/event-stream", SSE_TYPE)).toBe(true);
  });
});

describe("isContentType", () => {
  it("accepts the exact type, with or without parameters such as charset", () => {
    expect(isContentType("application/json", JSON_TYPE)).toBe(true);
    expect(isContentType("application/json; charset=utf-8", JSON_TYPE)).toBe(true);
    expect(isContentType("application/json;charset=UTF-8", JSON_TYPE)).toBe(true);
  });

  it("is case-insensitive for the type", () => {
    expect(isContentType("Application/JSON; Charset=UTF-8", JSON_TYPE)).toBe(true);
    expect(isContentType("TEXT/EVENT-STREAM", SSE_TYPE)).toBe(true);
  });

  it("refuses application/json-seq, which a substring check would accept", () => {
    const header = "application/json-seq";
    expect(header.includes(JSON_TYPE)).toBe(true); // the trap
    expect(isContentType(header, JSON_TYPE)).toBe(false);
  });

  it("refuses other types, a missing header and malformed values", () => {
    expect(isContentType("text/plain", JSON_TYPE)).toBe(false);
    expect(isContentType("application/vnd.api+json", JSON_TYPE)).toBe(false);
    expect(isContentType(null, JSON_TYPE)).toBe(false);
    expect(isContentType("", JSON_TYPE)).toBe(false);
    expect(isContentType("application/json, text/plain", JSON_TYPE)).toBe(false);
    expect(isContentType("*/*", JSON_TYPE)).toBe(false);
  });
});
