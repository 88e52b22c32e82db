/**
 * The isolate's memo of backend eras (worker/upstream/era.ts): keyed by where a backend is, so
 * two service-binding backends (which share one placeholder URL) are never confused, and every
 * fact expires.
 */
import { describe, expect, it } from "vitest";
import { ERA_MEMO_TTL_MS, ERA_UNDECIDED_TTL_MS, eraKeyOf, knownEra, rememberEra } from "../../../worker/upstream/era.ts";

const PLACEHOLDER = "https://service.internal/mcp";

describe("era memo", () => {
  it("keys service backends by their binding, not by the placeholder URL they share", () => {
    const legacy = eraKeyOf({ transport: "service", url: PLACEHOLDER, service: "BACKEND_OLD" });
    const modern = eraKeyOf({ transport: "service", url: PLACEHOLDER, service: "BACKEND_NEW" });
    expect(legacy).not.toBe(modern);
    rememberEra(legacy, "legacy", 0);
    rememberEra(modern, "modern", 0);
    expect(knownEra(legacy, 1)).toBe("legacy");
    expect(knownEra(modern, 1)).toBe("modern");
    expect(eraKeyOf({ transport: "streamable-http", url: "https://a.example/mcp" })).toBe("https://a.example/mcp");
  });

  it("forgets a detected era after ERA_MEMO_TTL_MS and an undecided probe after ERA_UNDECIDED_TTL_MS", () => {
    rememberEra("https://b.example/mcp", "legacy", 1_000);
    rememberEra("https://c.example/mcp", "undecided", 1_000);
    expect(knownEra("https://b.example/mcp", 1_000 + ERA_MEMO_TTL_MS - 1)).toBe("legacy");
    expect(knownEra("https://b.example/mcp", 1_000 + ERA_MEMO_TTL_MS)).toBeUndefined();
    expect(knownEra("https://c.example/mcp", 1_000 + ERA_UNDECIDED_TTL_MS - 1)).toBe("undecided");
    expect(knownEra("https://c.example/mcp", 1_000 + ERA_UNDECIDED_TTL_MS)).toBeUndefined();
  });
});
