/**
 * The pure parts of a caller's confirmation in the client (worker/engine/approvals.ts): who is
 * asked by form, the form itself (checked against the MCP SDK's own schema of elicitation/create),
 * and what an answer decides. The flow with real clients of both eras is test/e2e/approvals.test.ts.
 */
import { describe, expect, it } from "vitest";
import { ElicitRequestSchema, ElicitResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { acceptsFormElicitation, confirmationForm, decisionOf } from "../../../worker/engine/approvals.ts";

describe("acceptsFormElicitation (2025-11-25 client/elicitation capabilities)", () => {
  it("is true for an empty elicitation capability (form only) and for an explicit form mode", () => {
    expect(acceptsFormElicitation({ elicitation: {} })).toBe(true);
    expect(acceptsFormElicitation({ elicitation: { form: {} } })).toBe(true);
    expect(acceptsFormElicitation({ elicitation: { form: {}, url: {} } })).toBe(true);
  });

  it("is false for a client that takes URL mode only, or declared no elicitation", () => {
    expect(acceptsFormElicitation({ elicitation: { url: {} } })).toBe(false);
    expect(acceptsFormElicitation({})).toBe(false);
    expect(acceptsFormElicitation({ elicitation: null })).toBe(false);
    expect(acceptsFormElicitation({ elicitation: true })).toBe(false);
  });
});

describe("the confirmation form", () => {
  it("is a valid elicitation/create request with one required boolean", () => {
    const params = confirmationForm("Confirm the call bank__transfer with these arguments: {\"amount\":5}", "bank__transfer");
    const parsed = ElicitRequestSchema.parse({ method: "elicitation/create", params });
    expect(parsed.params).toMatchObject({ requestedSchema: { required: ["confirm"], properties: { confirm: { type: "boolean", title: "Run bank__transfer" } } } });
  });
});

describe("decisionOf", () => {
  const answer = (value: unknown) => decisionOf(ElicitResultSchema.parse(value));

  it("approves only an accepted form with the box ticked", () => {
    expect(answer({ action: "accept", content: { confirm: true } })).toBe("approve");
    expect(answer({ action: "accept", content: { confirm: false } })).toBe("deny");
    expect(answer({ action: "accept", content: {} })).toBe("deny");
    expect(answer({ action: "accept" })).toBe("deny");
  });

  it("denies on decline, and decides nothing on cancel or nonsense", () => {
    expect(answer({ action: "decline" })).toBe("deny");
    expect(answer({ action: "cancel" })).toBeNull();
    expect(decisionOf(undefined)).toBeNull();
    expect(decisionOf({ action: "maybe" })).toBeNull();
    expect(decisionOf({ action: "accept", content: { confirm: "true" } })).toBe("deny");
  });
});
