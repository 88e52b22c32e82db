/**
 * The actor chain's pure parts: which agent and actor a token's claims name (policy/principal.ts),
 * which credential mode a backend uses upstream (upstream/credentials.ts), and how a row too
 * large for a queue message is exported (audit/audit.ts).
 */
import { describe, expect, it } from "vitest";
import { exportable, MAX_EXPORT_ROW_BYTES, type AuditEvent } from "../../../worker/audit/audit.ts";
import { actorChain } from "../../../worker/policy/principal.ts";
import { BackendSchema } from "../../../worker/tenant/schema.ts";
import { credentialMode } from "../../../worker/upstream/credentials.ts";

describe("actorChain", () => {
  it("takes the agent from client_id, else azp (RFC 9068 §2.2), and the actor from act.sub (RFC 8693 §4.1)", () => {
    expect(actorChain({ sub: "alice", azp: "claude-desktop" })).toEqual({ agent: "claude-desktop" });
    expect(actorChain({ sub: "alice", client_id: "cursor", azp: "other" })).toEqual({ agent: "cursor" });
    expect(actorChain({ sub: "alice", act: { sub: "build-agent", act: { sub: "scheduler" } } })).toEqual({ actor: "build-agent" });
    expect(actorChain({ sub: "alice", azp: "vscode", act: { sub: "copilot" } })).toEqual({ agent: "vscode", actor: "copilot" });
  });

  it("ignores claims of the wrong type or empty, and caps what it keeps", () => {
    expect(actorChain({ sub: "alice" })).toEqual({});
    expect(actorChain({ azp: 7, client_id: "", act: "agent" })).toEqual({});
    expect(actorChain({ act: ["x"] })).toEqual({});
    expect(actorChain({ act: { sub: 5 } })).toEqual({});
    expect(actorChain({ azp: "a".repeat(1000) }).agent).toHaveLength(200);
  });
});

describe("credentialMode", () => {
  const backend = (extra: Record<string, unknown>) => BackendSchema.parse({ name: "b", url: "https://b.example/mcp", ...extra });
  it("names the outbound auth type, static secret headers, or none", () => {
    expect(credentialMode(backend({}))).toBe("none");
    expect(credentialMode(backend({ headers: { "x-team": "blue" } }))).toBe("none");
    expect(credentialMode(backend({ secretHeaders: { authorization: "B_TOKEN" } }))).toBe("static");
    const auth = { tokenUrl: "https://idp.example/token", clientId: "gw", clientSecret: "GW_SECRET" };
    expect(credentialMode(backend({ auth: { type: "client_credentials", ...auth } }))).toBe("client_credentials");
    expect(credentialMode(backend({ auth: { type: "token_exchange", audience: "b", ...auth }, secretHeaders: { "x-key": "K" } }))).toBe("token_exchange");
  });
});

describe("exportable", () => {
  const row: AuditEvent = { at: 1, tenant: "t", principal: "p", method: "tools/call", decision: "allow", policyVersion: 1, outcome: "ok" };
  it("keeps a row as it is, and drops a detail too large for a queue message (keeping the rule)", () => {
    const small = { ...row, detail: { rule: "r", arguments: { q: "x" } } };
    expect(exportable(small)).toBe(small);
    const large = exportable({ ...row, detail: { rule: "r", result: "x".repeat(MAX_EXPORT_ROW_BYTES) } });
    expect(large.detail).toEqual({ rule: "r", omitted: expect.stringMatching(/too large to export/) });
    expect(JSON.stringify(large).length).toBeLessThan(1_000);
  });
});
