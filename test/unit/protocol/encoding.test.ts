/**
 * The encodings whose output someone else holds. Every vector below was computed from the
 * implementations as they stood at a344f74, before the helpers moved here, and must never
 * change: `fnv1a(canonicalJson(capabilities))` names the Durable Object of a live 2026-07-28
 * session; cursors, session ids, sealed requestStates, API key hashes and audit cursors are held
 * by clients and admins.
 */
import { describe, expect, it } from "vitest";
import { canonicalJson, fnv1a, fromBase64, sha256Hex, toBase64, toBase64Url, toHex } from "../../../worker/protocol/encoding.ts";
import { toolHash } from "../../../worker/policy/pinning.ts";
import { decodeCursor, encodeCursor } from "../../../worker/broker/cursor.ts";
import { StateSealer } from "../../../worker/broker/sealed.ts";
import { decodeAuditCursor, encodeAuditCursor } from "../../../worker/audit/query.ts";
import { encodeHeaderValue } from "../../../worker/protocol/modern.ts";
import { decodeHeaderValue } from "../../../worker/ingress/modern.ts";
import { apiKeyHash } from "../../../worker/auth/apiKeys.ts";
import { basicCredentials } from "../../../worker/upstream/credentials.ts";

/** [text, FNV-1a 32-bit over its UTF-16 code units]. */
const FNV1A: [string, string][] = [
  ["", "811c9dc5"],
  ["a", "e40c292c"],
  ["foobar", "bf9cf968"],
  ["tools/list", "0892bbd5"],
  ["github__search_repositories", "206a789d"],
  ["é", "6c0b6c44"],
  ["naïve café", "76745c95"],
  ["日本語", "5406374e"],
  ["😀", "cb31c4b8"],
  ["a\u0000b", "10f3abd2"],
  ["{}", "5465b825"],
  ["x".repeat(500), "22310915"],
];

const CAPABILITIES = { sampling: {}, roots: { listChanged: true }, elicitation: { form: {}, url: {} }, experimental: { b: [3, { z: 1, a: null }], a: "ü" } };

/** [value, canonical JSON]. */
const CANONICAL: [unknown, string][] = [
  [CAPABILITIES, '{"elicitation":{"form":{},"url":{}},"experimental":{"a":"ü","b":[3,{"a":null,"z":1}]},"roots":{"listChanged":true},"sampling":{}}'],
  [{}, "{}"],
  [[], "[]"],
  [{ b: 1, a: { y: [1, { q: 1, p: 2 }], x: "s" } }, '{"a":{"x":"s","y":[1,{"p":2,"q":1}]},"b":1}'],
  // Keys sort by UTF-16 code unit, not by locale and not numerically.
  [{ é: 1, z: 2, B: 3, a: 4, "10": 5, "9": 6, "": 7 }, '{"":7,"10":5,"9":6,"B":3,"a":4,"z":2,"é":1}'],
  [[[], {}, [{ b: [], a: {} }], 'x"y\n', -0, 1e21, 0.1, true, null], '[[],{},[{"a":{},"b":[]}],"x\\"y\\n",0,1e+21,0.1,true,null]'],
  [{ nested: { deeper: { deepest: [3, 2, 1] } }, undef: undefined, list: [{ k: 2, j: 1 }] }, '{"list":[{"j":1,"k":2}],"nested":{"deeper":{"deepest":[3,2,1]}}}'],
  ["naïve ☃ \u2028", '"naïve ☃ \u2028"'],
  [42, "42"],
];

/** [bytes, unpadded base64url], as the hand-written `btoa(…).replaceAll(…)` chains produced it. */
const BASE64URL: [number[], string][] = [
  [[], ""],
  [[0], "AA"],
  [[0xff], "_w"],
  [[0xfb, 0xff], "-_8"],
  [[0xfb, 0xff, 0xbf], "-_-_"],
  [[1, 2, 3, 4], "AQIDBA"],
  [[0, 0x10, 0x83, 0x10, 0x51], "ABCDEFE"],
  [Array.from({ length: 32 }, (_, i) => (i * 37 + 250) & 0xff), "-h9EaY6z2P0iR2yRttsAJUpvlLneAyhNcpe84QYrUHU"],
];

describe("toBase64Url / fromBase64", () => {
  it.each(BASE64URL)("encodes %j as %j and back", (bytes, text) => {
    expect(toBase64Url(new Uint8Array(bytes))).toBe(text);
    expect(Array.from(fromBase64(text)!)).toEqual(bytes);
  });

  it("encodes a string as its UTF-8", () => {
    expect(toBase64Url("naïve/☃?")).toBe("bmHDr3ZlL-KYgz8");
    expect(toBase64Url("")).toBe("");
  });

  it("decodes padded text, partly padded text and the standard alphabet to the same bytes", () => {
    const bytes = [0xfb, 0xff];
    for (const text of ["-_8", "-_8=", "+/8", "+/8="]) expect(Array.from(fromBase64(text)!)).toEqual(bytes);
    for (const text of ["_w", "_w=", "_w==", "/w==", "/w"]) expect(Array.from(fromBase64(text)!)).toEqual([0xff]);
  });

  it("refuses padding beyond the last group, impossible lengths, stray characters and whitespace", () => {
    for (const text of ["AQIDBA===", "_w===", "AA==A", "-_-_=", "A", "AAAAA", "A=", "-_8!", " -_8", "-_ 8", "-_8\n", "=", "a=b"]) {
      expect(fromBase64(text), text).toBeNull();
    }
  });
});

describe("toBase64", () => {
  it("is padded standard base64 of the same digits", () => {
    expect(toBase64(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe("+/+/");
    expect(toBase64(new Uint8Array([0xff]))).toBe("/w==");
    expect(toBase64(new Uint8Array([1, 2, 3, 4]))).toBe("AQIDBA==");
    expect(toBase64(new Uint8Array([0, 0x10, 0x83, 0x10, 0x51]))).toBe("ABCDEFE=");
    expect(toBase64("naïve café")).toBe("bmHDr3ZlIGNhZsOp");
    expect(toBase64("")).toBe("");
  });
});

describe("toHex / sha256Hex", () => {
  it("writes two lowercase digits a byte", () => {
    expect(toHex(new Uint8Array([]))).toBe("");
    expect(toHex(new Uint8Array([0, 1, 0x0f, 0x10, 0xab, 0xff]))).toBe("00010f10abff");
    expect(toHex(new Uint8Array([0xde, 0xad]).buffer)).toBe("dead");
  });

  it("hashes a string's UTF-8", async () => {
    expect(await sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(await sha256Hex(`mgw_${"A".repeat(43)}`)).toBe("17086775c7e812371aa35f3fb5dd9e9aaf70276800c5a13e006483db75287a07");
  });
});

describe("fnv1a", () => {
  it.each(FNV1A)("hashes %j to %s", (text, hash) => {
    expect(fnv1a(text)).toBe(hash);
  });
});

describe("canonicalJson", () => {
  it.each(CANONICAL)("writes %j as %s", (value, json) => {
    expect(canonicalJson(value)).toBe(json);
  });

  it("names a 2026-07-28 session's Durable Object as before (modern:<tenant>:<principal>:<hash>)", () => {
    expect(fnv1a(canonicalJson(CAPABILITIES))).toBe("4312abc0");
    expect(fnv1a(canonicalJson({}))).toBe("5465b825");
  });
});

describe("what clients hold, encoded as before", () => {
  it("pagination cursors: unpadded base64url of the JSON", () => {
    expect(encodeCursor({ offset: 0, generation: "811c9dc5" })).toBe("eyJvIjowLCJnIjoiODExYzlkYzUifQ");
    expect(encodeCursor({ offset: 50, generation: "bf9cf968" })).toBe("eyJvIjo1MCwiZyI6ImJmOWNmOTY4In0");
    expect(encodeCursor({ offset: 62, generation: "??>>" })).toBe("eyJvIjo2MiwiZyI6Ij8_Pj4ifQ");
    expect(encodeCursor({ offset: 123456789, generation: "gen with spaces/+=?" })).toBe("eyJvIjoxMjM0NTY3ODksImciOiJnZW4gd2l0aCBzcGFjZXMvKz0_In0");
  });

  it("pagination cursors decode unpadded, padded (also partly) and in the standard alphabet", () => {
    const cursor = { offset: 1, generation: "ab" };
    expect(decodeCursor("eyJvIjoxLCJnIjoiYWIifQ")).toEqual(cursor);
    expect(decodeCursor("eyJvIjoxLCJnIjoiYWIifQ==")).toEqual(cursor);
    expect(decodeCursor("eyJvIjoxLCJnIjoiYWIifQ=")).toEqual(cursor);
    expect(decodeCursor("eyJvIjo2MiwiZyI6Ij8/Pj4ifQ==")).toEqual({ offset: 62, generation: "??>>" });
    expect(decodeCursor("eyJvIjo2MiwiZyI6Ij8_Pj4ifQ")).toEqual({ offset: 62, generation: "??>>" });
  });

  it("pagination cursors refuse too much padding and impossible lengths", () => {
    for (const text of ["eyJvIjoxLCJnIjoiYWIifQ===", "eyJvIjoxLCJnIjoiYWIifQabc", "abcde", "a==="]) expect(decodeCursor(text)).toBeNull();
  });

  it("audit cursors: unpadded base64url of `<at>.<id>` in UTF-8, and only unpadded ones decode", () => {
    const cases: [{ at: number; id: string }, string][] = [
      [{ at: 1767225600000, id: "0b9f6c1e-8d7a-4f3b-9a7e-2c1d5e6f7a8b" }, "MTc2NzIyNTYwMDAwMC4wYjlmNmMxZS04ZDdhLTRmM2ItOWE3ZS0yYzFkNWU2ZjdhOGI"],
      [{ at: 1, id: "x" }, "MS54"],
      [{ at: 12, id: "ab" }, "MTIuYWI"],
      [{ at: 5, id: "naïve/☃?" }, "NS5uYcOvdmUv4piDPw"],
    ];
    for (const [cursor, text] of cases) {
      expect(encodeAuditCursor(cursor)).toBe(text);
      expect(decodeAuditCursor(text)).toEqual(cursor);
    }
    for (const text of ["MS54=", "MS54+", "MS5", "MTIuYWI="]) expect(decodeAuditCursor(text)).toBeNull();
  });

  it("a requestState sealed before opens after", async () => {
    const sealed =
      "FNTzoLzsJWRjBMhkLhuuJDt196kFpNI9VhI3xnhp6-nTGxDkUvoyjMc8Gxpm9qwx6u7UsO3UceqJzJbgbfTZ0xf2wOjrrQH4SOwyNR3y4RU60ZGWKgJQi5QoDtc4YPBXk1zPvmv0iASTKAHBOJjzkiyJalug0t4g";
    const sealer = new StateSealer("encoding-vector-secret");
    expect(await sealer.open(sealed, "tenant\u0000alice", 0)).toEqual({ park: "p1", exp: 4102444800000, bs: "backend-state", m: "tools/call", n: "echo", j: "j-1" });
    expect(await sealer.open(`${sealed}==`, "tenant\u0000alice", 0)).toBeNull();
    const again = await sealer.seal({ park: "p2", exp: 4102444800000 }, "t");
    expect(again).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(await sealer.open(again, "t", 0)).toEqual({ park: "p2", exp: 4102444800000 });
  });

  it("API key hashes and tool pins: SHA-256 as lowercase hex", async () => {
    expect(await apiKeyHash(`mgw_${"A".repeat(43)}`)).toBe("17086775c7e812371aa35f3fb5dd9e9aaf70276800c5a13e006483db75287a07");
    const tool = { name: "report", description: "Writes a report.", inputSchema: { type: "object", properties: { topic: { type: "string" } }, required: ["topic"] }, title: "Report" };
    expect(await toolHash(tool)).toBe("72ae3a5669b9a8f884c757930c2ccbcb7c4f66f93b55b6d83a706ab59b0adc1c");
  });
});

describe("standard base64 where a spec asks for it", () => {
  it("header values (2026-07-28 streamable-http 'Value Encoding'): padded base64 of UTF-8", () => {
    const cases: [string, string][] = [
      ["plain", "plain"],
      [" lead", "=?base64?IGxlYWQ=?="],
      ["naïve café", "=?base64?bmHDr3ZlIGNhZsOp?="],
      ["日本語", "=?base64?5pel5pys6Kqe?="],
      ["=?base64?x?=", "=?base64?PT9iYXNlNjQ/eD89?="],
      ["a\nb", "=?base64?YQpi?="],
      ["", "=?base64??="],
    ];
    for (const [value, header] of cases) {
      expect(encodeHeaderValue(value)).toBe(header);
      expect(decodeHeaderValue(header)).toBe(value);
    }
  });

  it("header values decode strictly: padding required, UTF-8 required", () => {
    expect(decodeHeaderValue("=?base64?YQ==?=")).toBe("a");
    expect(decodeHeaderValue("=?base64?YQ?=")).toBeNull();
    expect(decodeHeaderValue("=?base64?/w==?=")).toBeNull();
  });

  it("HTTP Basic client credentials (RFC 6749 §2.3.1)", () => {
    expect(basicCredentials("odd:client id", "pä ss+w%rd")).toBe("Basic b2RkJTNBY2xpZW50K2lkOnAlQzMlQTQrc3MlMkJ3JTI1cmQ=");
    expect(basicCredentials("client", "secret")).toBe("Basic Y2xpZW50OnNlY3JldA==");
  });
});
