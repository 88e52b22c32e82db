/** Connect links (worker/connections/links.ts): signed, bound to tenant, principal and backend, expiring. */
import { describe, expect, it } from "vitest";
import { signLink, verifyLink, type LinkClaims } from "../../../worker/connections/links.ts";

const SECRET = "unit-test-vault-secret";
const claims: LinkClaims = { tenant: "acme", principal: "alice", backend: "calendar", expiresAt: Date.now() + 60_000, nonce: "n-1" };

describe("connect links", () => {
  it("round-trip the claims they were signed with", async () => {
    expect(await verifyLink(await signLink(claims, SECRET), SECRET)).toEqual(claims);
  });

  it("refuse another secret, a changed payload, a changed mac, and garbage", async () => {
    const link = await signLink(claims, SECRET);
    expect(await verifyLink(link, "another-secret")).toBeNull();
    const [payload, mac] = link.split(".") as [string, string];
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, "base64url").toString()), p: "mallory" })).toString("base64url");
    expect(await verifyLink(`${forged}.${mac}`, SECRET)).toBeNull();
    expect(await verifyLink(`${payload}.${mac.slice(0, -2)}AA`, SECRET)).toBeNull();
    for (const bad of ["", "x", "a.b", `${payload}.`, `.${mac}`, `${payload}.${mac}.x`]) expect(await verifyLink(bad, SECRET)).toBeNull();
  });

  it("expire", async () => {
    const link = await signLink({ ...claims, expiresAt: 1_000 }, SECRET);
    expect(await verifyLink(link, SECRET, 999)).not.toBeNull();
    expect(await verifyLink(link, SECRET, 1_000)).toBeNull();
  });

  it("refuse a correctly signed payload of the wrong shape", async () => {
    const link = await signLink({ ...claims, principal: 7 as unknown as string }, SECRET);
    expect(await verifyLink(link, SECRET)).toBeNull();
  });
});
