/**
 * Redaction: every string of a tool result or resource content, at any depth, has the policy's
 * patterns replaced; base64 payloads are left alone; nothing is copied when nothing matches.
 */
import { describe, expect, it } from "vitest";
import { redact } from "../../../worker/policy/redact.ts";
import { PolicySchema, type Policy } from "../../../worker/policy/schema.ts";

const policy = (redactions: { pattern: string; replacement?: string }[]): Policy => PolicySchema.parse({ redact: redactions });

const cards = policy([{ pattern: "\\b\\d{4}-\\d{4}-\\d{4}-\\d{4}\\b", replacement: "[CARD]" }, { pattern: "secret-[a-z0-9]+" }]);

describe("redact", () => {
  it("replaces every match in text content, with the default replacement when none is given", () => {
    const result = {
      content: [{ type: "text", text: "card 4111-1111-1111-1111 and 5500-0000-0000-0004, key secret-abc123, again secret-zz" }],
      isError: false,
    };
    expect(redact(cards, result)).toEqual({
      content: [{ type: "text", text: "card [CARD] and [CARD], key [REDACTED], again [REDACTED]" }],
      isError: false,
    });
  });

  it("reaches nested objects, arrays and structuredContent", () => {
    const result = {
      content: [
        { type: "text", text: "nothing here" },
        { type: "resource", resource: { uri: "notes://1", mimeType: "text/plain", text: "owner secret-owner1" } },
      ],
      structuredContent: {
        customer: { name: "Ada", cards: ["4111-1111-1111-1111", { number: "4012-8888-8888-1881", note: "ok" }] },
        tags: [["secret-deep"]],
        count: 4111,
        active: true,
        missing: null,
      },
    };
    const out = redact(cards, result);
    expect(out).toEqual({
      content: [
        { type: "text", text: "nothing here" },
        { type: "resource", resource: { uri: "notes://1", mimeType: "text/plain", text: "owner [REDACTED]" } },
      ],
      structuredContent: {
        customer: { name: "Ada", cards: ["[CARD]", { number: "[CARD]", note: "ok" }] },
        tags: [["[REDACTED]"]],
        count: 4111,
        active: true,
        missing: null,
      },
    });
    // The input is not modified in place.
    expect(result.structuredContent.customer.cards[0]).toBe("4111-1111-1111-1111");
    // Untouched branches are shared, not copied.
    expect(out.content[0]).toBe(result.content[0]);
    expect(out.structuredContent.customer.cards[1]).not.toBe(result.structuredContent.customer.cards[1]);
  });

  it("redacts resource contents (resources/read) and prompt messages (prompts/get)", () => {
    const read = { contents: [{ uri: "db://row/1", mimeType: "application/json", text: '{"card":"4111-1111-1111-1111"}' }] };
    expect(redact(cards, read)).toEqual({ contents: [{ uri: "db://row/1", mimeType: "application/json", text: '{"card":"[CARD]"}' }] });
    const prompt = { messages: [{ role: "user", content: { type: "text", text: "use secret-k1" } }] };
    expect(redact(cards, prompt)).toEqual({ messages: [{ role: "user", content: { type: "text", text: "use [REDACTED]" } }] });
  });

  it("leaves base64 `blob` and `data` untouched, even when they match", () => {
    const match = policy([{ pattern: "AAAA" }, { pattern: "secret-[a-z]+" }]);
    const result = {
      content: [
        { type: "image", mimeType: "image/png", data: "AAAAsecret-x" },
        { type: "resource", resource: { uri: "file://x", mimeType: "application/octet-stream", blob: "AAAAAAAA" } },
        { type: "text", text: "AAAA secret-y" },
      ],
    };
    const out = redact(match, result);
    expect(out.content[0]).toBe(result.content[0]);
    expect(out.content[1]).toBe(result.content[1]);
    expect(out.content[2]).toEqual({ type: "text", text: "[REDACTED] [REDACTED]" });
  });

  it("still redacts fields named `data` or `blob` that are not the protocol's binary payloads", () => {
    const result = {
      content: [{ type: "text", text: "see structured" }],
      structuredContent: { data: "card 4111-1111-1111-1111", blob: "secret-b", rows: [{ data: "secret-row" }] },
    };
    expect(redact(cards, result).structuredContent).toEqual({ data: "card [CARD]", blob: "[REDACTED]", rows: [{ data: "[REDACTED]" }] });
    const audio = { content: [{ type: "audio", mimeType: "audio/wav", data: "secret-notreally" }] };
    expect(redact(cards, audio)).toBe(audio);
  });

  it("returns the very same object when nothing matches, or when the policy has no patterns", () => {
    const result = { content: [{ type: "text", text: "Forecast for Lisbon" }], structuredContent: { city: "Lisbon", days: [{ day: 1 }] } };
    expect(redact(cards, result)).toBe(result);
    expect(redact(policy([]), result)).toBe(result);
  });

  it("applies patterns in order, each to the previous one's output, and every match of each (global)", () => {
    const chained = policy([{ pattern: "alice", replacement: "bob" }, { pattern: "bob", replacement: "[USER]" }]);
    expect(redact(chained, { text: "alice alice bob" })).toEqual({ text: "[USER] [USER] [USER]" });
  });

  it("supports replacement references to groups", () => {
    const mask = policy([{ pattern: "(\\d{4})-\\d{4}-\\d{4}-(\\d{4})", replacement: "$1-****-****-$2" }]);
    expect(redact(mask, { text: "4111-1111-1111-1234" })).toEqual({ text: "4111-****-****-1234" });
  });

  it("redacts the same way on every call (no regex state is carried between calls)", () => {
    const value = { text: "secret-one secret-two" };
    expect(redact(cards, value)).toEqual({ text: "[REDACTED] [REDACTED]" });
    expect(redact(cards, value)).toEqual({ text: "[REDACTED] [REDACTED]" });
    expect(redact(cards, "secret-top")).toBe("[REDACTED]");
  });
});
