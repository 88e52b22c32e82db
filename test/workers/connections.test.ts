/**
 * The tenant's ConnectionVault (durable-objects/connections/ConnectionVault.ts) in workerd: users'
 * tokens at backends are encrypted at rest and bound to tenant, user and backend; listings carry
 * no token; link nonces and connect flows are single-use. The whole connect flow with a real
 * authorization server and backend is test/e2e/connections.test.ts.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ConnectionVault } from "../../durable-objects/connections/ConnectionVault.ts";

let n = 0;
const fresh = () => env.CONNECTIONS.get(env.CONNECTIONS.idFromName(`vault-${n++}`));
const grant = { accessToken: "at-secret-value-123", tokenType: "Bearer", refreshToken: "rt-secret-value-456", expiresAt: 2_000_000_000_000, scope: "calendar" };

describe("connection vault", () => {
  it("stores tokens encrypted: the raw row holds neither token", async () => {
    const vault = fresh();
    await vault.put("acme", "alice", "calendar", grant);
    expect(await vault.get("acme", "alice", "calendar")).toEqual(grant);
    await runInDurableObject(vault, async (_instance: ConnectionVault, state) => {
      const rows = state.storage.sql.exec("SELECT * FROM grants").toArray();
      expect(rows).toHaveLength(1);
      const raw = JSON.stringify(rows, (_k, v) => (v instanceof ArrayBuffer ? new TextDecoder().decode(v) : v));
      expect(raw).not.toContain("at-secret-value-123");
      expect(raw).not.toContain("rt-secret-value-456");
    });
  });

  it("binds a ciphertext to its tenant, user and backend: moved to another user's row, it does not open", async () => {
    const vault = fresh();
    await vault.put("acme", "alice", "calendar", grant);
    await runInDurableObject(vault, async (_instance: ConnectionVault, state) => {
      state.storage.sql.exec("INSERT INTO grants (principal, backend, iv, sealed, connected_at, updated_at) SELECT 'mallory', backend, iv, sealed, connected_at, updated_at FROM grants WHERE principal = 'alice'");
    });
    expect(await vault.get("acme", "mallory", "calendar")).toBeNull();
    // Read as another tenant (another key and associated data): nothing.
    expect(await vault.get("other", "alice", "calendar")).toBeNull();
    expect(await vault.get("acme", "alice", "calendar")).toEqual(grant);
  });

  it("lists connections without tokens, per user or all, and forgets one on delete", async () => {
    const vault = fresh();
    await vault.put("acme", "alice", "calendar", grant);
    await vault.put("acme", "bob", "calendar", { accessToken: "b", tokenType: "Bearer" });
    const all = await vault.list();
    expect(all.map((c) => `${c.principal}/${c.backend}`)).toEqual(["alice/calendar", "bob/calendar"]);
    expect(JSON.stringify(all)).not.toMatch(/secret-value/);
    expect((await vault.list("bob")).map((c) => c.principal)).toEqual(["bob"]);
    expect(await vault.delete("alice", "calendar")).toBe(true);
    expect(await vault.delete("alice", "calendar")).toBe(false);
    expect(await vault.get("acme", "alice", "calendar")).toBeNull();
  });

  it("spends a link nonce once, and refuses an expired one", async () => {
    const vault = fresh();
    const later = Date.now() + 60_000;
    expect(await vault.claimNonce("n1", later)).toBe(true);
    expect(await vault.claimNonce("n1", later)).toBe(false);
    expect(await vault.claimNonce("n2", Date.now() - 1)).toBe(false);
  });

  it("hands a connect flow out once, and not after it expired", async () => {
    const vault = fresh();
    const flow = { principal: "alice", backend: "calendar", verifier: "v", redirectUri: "https://gw/cb", tokenEndpoint: "https://as/token", expiresAt: Date.now() + 60_000 };
    await vault.putFlow("h1", flow);
    expect(await vault.takeFlow("h1")).toEqual(flow);
    expect(await vault.takeFlow("h1")).toBeNull();
    await vault.putFlow("h2", { ...flow, expiresAt: Date.now() + 1_000 });
    expect(await vault.takeFlow("h2", Date.now() + 2_000)).toBeNull();
  });
});
