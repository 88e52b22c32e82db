/**
 * The tenant's ApprovalObject (durable-objects/approvals/ApprovalObject.ts) in workerd: what
 * makes an approval worth having. It is for one principal, tool, argument digest and policy
 * version; spent once; void after its expiry; given by a holder of an approver role other than
 * the caller, or by the caller for a confirmation; and a flood of open requests is capped.
 * The whole flow through the gateway, with a real IdP and real clients, is test/e2e/approvals.test.ts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ApprovalRequest } from "../../worker/approvals/types.ts";
import { callDigest } from "../../worker/engine/approvals.ts";

let n = 0;
const store = () => env.APPROVALS.get(env.APPROVALS.idFromName(`approvals-${n++}`));

async function request(overrides: Partial<ApprovalRequest> = {}): Promise<ApprovalRequest> {
  const args = { amount: 100, to: "acct-1" };
  return {
    principal: "bob",
    approvers: ["finance"],
    backend: "bank",
    tool: "transfer",
    exposedName: "bank__transfer",
    digest: await callDigest("bank", "transfer", args),
    args,
    policyVersion: 3,
    ttlSeconds: 600,
    ...overrides,
  };
}

const approver = { sub: "alice", roles: ["finance"] };

describe("approval gates", () => {
  it("waits, then lets exactly one identical call through once approved", async () => {
    const s = store();
    const first = await s.gate(await request());
    expect(first.state).toBe("pending");
    const id = (first as { id: string }).id;
    // Asking again before a decision is the same request, not a new one.
    expect(await s.gate(await request())).toMatchObject({ state: "pending", id });
    expect(await s.decide(id, approver, "approve")).toMatchObject({ ok: true, approval: { state: "approved", decidedBy: "alice" } });
    expect(await s.gate(await request())).toMatchObject({ state: "approved", id, decidedBy: "alice" });
    // Spent: the next identical call asks anew.
    const again = await s.gate(await request());
    expect(again.state).toBe("pending");
    expect((again as { id: string }).id).not.toBe(id);
  });

  it("binds the approval to the arguments, the tool, the principal and the policy version", async () => {
    const s = store();
    const { id } = (await s.gate(await request())) as { id: string };
    await s.decide(id, approver, "approve");
    const changedArgs = { amount: 100_000, to: "acct-1" };
    expect((await s.gate(await request({ args: changedArgs, digest: await callDigest("bank", "transfer", changedArgs) }))).state).toBe("pending");
    expect((await s.gate(await request({ tool: "close_account" }))).state).toBe("pending");
    expect((await s.gate(await request({ principal: "mallory" }))).state).toBe("pending");
    expect((await s.gate(await request({ policyVersion: 4 }))).state).toBe("pending");
    // The approved one is still there for the exact call.
    expect(await s.gate(await request())).toMatchObject({ state: "approved", id });
  });

  it("the digest does not depend on key order, but on every value", async () => {
    expect(await callDigest("b", "t", { a: 1, b: { c: 2, d: 3 } })).toBe(await callDigest("b", "t", { b: { d: 3, c: 2 }, a: 1 }));
    expect(await callDigest("b", "t", { a: 1 })).not.toBe(await callDigest("b", "t", { a: 2 }));
    expect(await callDigest("b", "t", { a: 1 })).not.toBe(await callDigest("b", "u", { a: 1 }));
  });

  it("a denial refuses the next identical call once, then it asks again", async () => {
    const s = store();
    const { id } = (await s.gate(await request())) as { id: string };
    expect(await s.decide(id, approver, "deny")).toMatchObject({ ok: true, approval: { state: "denied" } });
    expect(await s.gate(await request())).toMatchObject({ state: "denied", id, decidedBy: "alice" });
    expect((await s.gate(await request())).state).toBe("pending");
  });

  it("cannot be decided twice, or after it expired, and an expired approval lets nothing through", async () => {
    const s = store();
    const start = Date.now();
    const { id } = (await s.gate(await request({ ttlSeconds: 60 }), start)) as { id: string };
    expect(await s.decide(id, approver, "approve", start + 1_000)).toMatchObject({ ok: true });
    expect(await s.decide(id, approver, "deny", start + 2_000)).toMatchObject({ ok: false, status: 409 });
    // Approved but not used in time: the call after the expiry asks again.
    expect((await s.gate(await request({ ttlSeconds: 60 }), start + 61_000)).state).toBe("pending");
    const late = (await s.gate(await request({ ttlSeconds: 60, tool: "other" }), start)) as { id: string };
    expect(await s.decide(late.id, approver, "approve", start + 61_000)).toMatchObject({ ok: false, status: 409, reason: expect.stringMatching(/expired/) });
  });

  it("four eyes: not by the caller, only by a holder of an approver role; a confirmation only by the caller", async () => {
    const s = store();
    const { id } = (await s.gate(await request())) as { id: string };
    expect(await s.decide(id, { sub: "bob", roles: ["finance"] }, "approve")).toMatchObject({ ok: false, status: 403 });
    expect(await s.decide(id, { sub: "carol", roles: ["sales"] }, "approve")).toMatchObject({ ok: false, status: 403 });
    expect(await s.decide("ap-unknownunknownunknown", approver, "approve")).toMatchObject({ ok: false, status: 404 });
    expect(await s.decide(id, { sub: "ops", roles: [], operator: true }, "approve")).toMatchObject({ ok: true, approval: { decidedBy: "operator:ops" } });

    const confirm = (await s.gate(await request({ approvers: [], tool: "delete_repo" }))) as { id: string };
    expect(await s.decide(confirm.id, approver, "approve")).toMatchObject({ ok: false, status: 403 });
    expect(await s.decide(confirm.id, { sub: "bob", roles: [] }, "approve")).toMatchObject({ ok: true });
  });

  it("caps the requests one principal may have open", async () => {
    const s = store();
    for (let i = 0; i < 50; i++) expect((await s.gate(await request({ tool: `t${i}` }))).state).toBe("pending");
    expect((await s.gate(await request({ tool: "t50" }))).state).toBe("too_many");
    // Others are not affected.
    expect((await s.gate(await request({ principal: "erin", tool: "t50" }))).state).toBe("pending");
  });
});

describe("a caller's confirmation answered in the client (engine/approvals.ts)", () => {
  const call = async (overrides: Partial<ApprovalRequest> = {}) => {
    const r = await request({ approvers: [], ...overrides });
    return { principal: r.principal, backend: r.backend, tool: r.tool, digest: r.digest, policyVersion: r.policyVersion };
  };

  it("records a yes as the caller's decision and spends it at once; the next identical call asks anew", async () => {
    const s = store();
    const { id } = (await s.gate(await request({ approvers: [] }))) as { id: string };
    expect(await s.confirm(id, await call(), "approve")).toEqual({ state: "approved", id, decidedBy: "bob" });
    expect(await s.get(id)).toMatchObject({ state: "approved", decidedBy: "bob", usedAt: expect.any(Number) });
    const next = (await s.gate(await request({ approvers: [] }))) as { state: string; id: string };
    expect(next.state).toBe("pending");
    expect(next.id).not.toBe(id);
  });

  it("records a no as denied and spent", async () => {
    const s = store();
    const { id } = (await s.gate(await request({ approvers: [] }))) as { id: string };
    expect(await s.confirm(id, await call(), "deny")).toEqual({ state: "denied", id, decidedBy: "bob" });
    expect((await s.gate(await request({ approvers: [] }))).state).toBe("pending");
  });

  it("takes no answer for another call, another principal, another policy version, a four-eyes approval, or twice", async () => {
    const s = store();
    const { id } = (await s.gate(await request({ approvers: [] }))) as { id: string };
    const otherArgs = { amount: 1, to: "acct-2" };
    expect(await s.confirm(id, await call({ digest: await callDigest("bank", "transfer", otherArgs) }), "approve")).toBeNull();
    expect(await s.confirm(id, await call({ principal: "mallory" }), "approve")).toBeNull();
    expect(await s.confirm(id, await call({ policyVersion: 4 }), "approve")).toBeNull();
    expect(await s.confirm(id, await call({ tool: "close_account" }), "approve")).toBeNull();
    expect(await s.confirm("ap-unknown", await call(), "approve")).toBeNull();
    expect(await s.get(id)).toMatchObject({ state: "pending" });
    const gated = (await s.gate(await request({ tool: "close_account" }))) as { id: string };
    expect(await s.confirm(gated.id, await call({ tool: "close_account" }), "approve")).toBeNull();
    expect(await s.confirm(id, await call(), "approve")).toMatchObject({ state: "approved" });
    expect(await s.confirm(id, await call(), "approve")).toBeNull();
  });
});
