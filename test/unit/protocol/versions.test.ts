/**
 * Protocol revisions: negotiation (MCP 2025-11-25 basic/lifecycle "Version Negotiation"),
 * batches (2025-03-26 changelog added them, 2025-06-18 changelog removed them) and the default
 * assumed without a header (basic/transports "Protocol Version Header").
 */
import { describe, expect, it } from "vitest";
import {
  allowsBatches,
  atLeast,
  DEFAULT_HEADER_VERSION,
  isSupportedLegacyVersion,
  LATEST_LEGACY_VERSION,
  LEGACY_VERSIONS,
  negotiateVersion,
} from "../../../worker/protocol/versions.ts";

describe("supported revisions", () => {
  it("lists every revision from 2024-11-05 to 2025-11-25, newest first", () => {
    expect([...LEGACY_VERSIONS]).toEqual(["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]);
    expect(LATEST_LEGACY_VERSION).toBe(LEGACY_VERSIONS[0]);
  });

  it("recognises exactly the listed revisions", () => {
    for (const v of LEGACY_VERSIONS) expect(isSupportedLegacyVersion(v)).toBe(true);
    for (const v of ["2024-10-07", "2025-11-26", "2026-07-28", "DRAFT-2026-v1", "", " 2025-06-18", "latest"]) {
      expect(isSupportedLegacyVersion(v)).toBe(false);
    }
  });

  it("assumes 2025-03-26 when a request carries no version header (transports 'Protocol Version Header')", () => {
    expect(DEFAULT_HEADER_VERSION).toBe("2025-03-26");
  });
});

describe("negotiateVersion (lifecycle 'Version Negotiation')", () => {
  it("answers with the client's version when the gateway supports it", () => {
    for (const v of LEGACY_VERSIONS) expect(negotiateVersion(v)).toBe(v);
  });

  it("answers with the latest supported version when the client's is unknown", () => {
    expect(negotiateVersion("2099-01-01")).toBe("2025-11-25");
    expect(negotiateVersion("2024-01-01")).toBe("2025-11-25");
    expect(negotiateVersion("garbage")).toBe("2025-11-25");
  });

  it("answers with the latest supported version when the client sent no string", () => {
    for (const v of [undefined, null, 20251125, {}, ["2025-06-18"]]) expect(negotiateVersion(v)).toBe("2025-11-25");
  });
});

describe("allowsBatches", () => {
  it("allows JSON-RPC batches for 2025-03-26, which added them", () => {
    expect(allowsBatches("2025-03-26")).toBe(true);
  });

  it("allows batches for 2024-11-05, which is plain JSON-RPC 2.0", () => {
    expect(allowsBatches("2024-11-05")).toBe(true);
  });

  it("refuses batches from 2025-06-18 on, which removed them", () => {
    expect(allowsBatches("2025-06-18")).toBe(false);
    expect(allowsBatches("2025-11-25")).toBe(false);
  });

  it("refuses batches for unknown versions", () => {
    expect(allowsBatches("2099-01-01")).toBe(false);
    expect(allowsBatches("")).toBe(false);
  });
});

describe("atLeast", () => {
  it("orders revisions by date", () => {
    expect(atLeast("2025-06-18", "2025-06-18")).toBe(true);
    expect(atLeast("2025-11-25", "2025-06-18")).toBe(true);
    expect(atLeast("2025-03-26", "2025-06-18")).toBe(false);
    expect(atLeast("2024-11-05", "2025-03-26")).toBe(false);
  });
});
