/**
 * One per tenant (`idFromName(tenantId)`): each user's tokens at backends that act for the user
 * (`auth.type: "user_oauth"`, docs/connections.md), their connect flows in progress, and the
 * nonces of connect links already used.
 *
 * Tokens are encrypted at rest with AES-256-GCM under a key derived per tenant (HKDF-SHA256) from
 * the VAULT_SECRET Worker secret; the associated data binds each ciphertext to its tenant,
 * principal and backend, so a row copied to another user's place does not open. Without the
 * secret the vault stores nothing and reads nothing. Tokens leave this object only towards the
 * engine, which sends them to their backend; listings carry no token.
 */
import { DurableObject } from "cloudflare:workers";
import { needsRefresh, refreshGrant } from "../../worker/connections/oauthClient.ts";
import type { ConnectFlow, ConnectionInfo, StoredGrant } from "../../worker/connections/types.ts";
import { logger } from "../../worker/observe/log.ts";
import type { BackendConfig } from "../../worker/tenant/schema.ts";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS grants (principal TEXT NOT NULL, backend TEXT NOT NULL, iv BLOB NOT NULL, sealed BLOB NOT NULL,
    connected_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER, scope TEXT, PRIMARY KEY (principal, backend));
  CREATE TABLE IF NOT EXISTS flows (state_hash TEXT PRIMARY KEY, data TEXT NOT NULL, expires_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
`;
const SWEEP_INTERVAL_MS = 3600 * 1000;

export class VaultLockedError extends Error {}

export class ConnectionVault extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #key: Promise<CryptoKey> | null = null;
  /** Refreshes under way, by principal and backend: callers that arrive meanwhile wait for the same one. */
  readonly #refreshing = new Map<string, Promise<StoredGrant | null>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(SCHEMA);
  }

  /** Stores (or replaces) a user's grant at a backend. */
  async put(tenant: string, principal: string, backend: string, grant: StoredGrant, now = Date.now()): Promise<void> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(tenant, principal, backend) }, await this.#keyFor(tenant), new TextEncoder().encode(JSON.stringify(grant)));
    const existing = this.#sql.exec<{ connected_at: number }>("SELECT connected_at FROM grants WHERE principal = ? AND backend = ?", principal, backend).toArray()[0];
    this.#sql.exec(
      "INSERT OR REPLACE INTO grants (principal, backend, iv, sealed, connected_at, updated_at, expires_at, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      principal,
      backend,
      iv,
      new Uint8Array(sealed),
      existing?.connected_at ?? now,
      now,
      grant.expiresAt ?? null,
      grant.scope ?? null,
    );
  }

  /** A user's grant at a backend, or null (none, or it no longer opens). */
  async get(tenant: string, principal: string, backend: string): Promise<StoredGrant | null> {
    const row = this.#sql.exec<{ iv: ArrayBuffer; sealed: ArrayBuffer }>("SELECT iv, sealed FROM grants WHERE principal = ? AND backend = ?", principal, backend).toArray()[0];
    if (!row) return null;
    try {
      const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(row.iv), additionalData: aad(tenant, principal, backend) }, await this.#keyFor(tenant), row.sealed);
      return JSON.parse(new TextDecoder().decode(plain)) as StoredGrant;
    } catch (error) {
      if (error instanceof VaultLockedError) throw error;
      // A row that does not open (another secret, tampering) is as good as none.
      return null;
    }
  }

  /**
   * A user's grant, refreshed first when it is about to expire. One refresh at a time per user and
   * backend: the sessions that find the token expiring together all wait for the same refresh. An
   * authorization server that rotates refresh tokens refuses a second use of the old one and may
   * revoke the whole grant (RFC 9700 §4.14.2 reuse detection; oidc-provider does), so refreshes
   * racing from several sessions would disconnect the user. Null: no grant, or it could not be
   * refreshed (it is then deleted, and the user is asked to connect again).
   */
  async fresh(tenant: string, principal: string, backend: BackendConfig): Promise<StoredGrant | null> {
    const grant = await this.get(tenant, principal, backend.name);
    if (!grant || !needsRefresh(grant)) return grant;
    const key = `${principal}\u0000${backend.name}`;
    let running = this.#refreshing.get(key);
    if (!running) {
      running = this.#refresh(tenant, principal, backend).finally(() => this.#refreshing.delete(key));
      this.#refreshing.set(key, running);
    }
    return running;
  }

  async #refresh(tenant: string, principal: string, backend: BackendConfig): Promise<StoredGrant | null> {
    // Read again: a refresh that ended between the caller's read and now has already stored a new grant.
    const grant = await this.get(tenant, principal, backend.name);
    if (!grant || !needsRefresh(grant)) return grant;
    if (grant.refreshToken) {
      try {
        const next = await refreshGrant(this.env, backend, grant);
        await this.put(tenant, principal, backend.name, next);
        return next;
      } catch (error) {
        logger.info("connection_refresh_failed", { tenant, backend: backend.name, principal, error: error instanceof Error ? error.message : "error" });
      }
    }
    await this.delete(principal, backend.name);
    return null;
  }

  async delete(principal: string, backend: string): Promise<boolean> {
    return this.#sql.exec("DELETE FROM grants WHERE principal = ? AND backend = ?", principal, backend).rowsWritten > 0;
  }

  /** Connections without tokens: one principal's, or all (for operators). */
  async list(principal?: string): Promise<ConnectionInfo[]> {
    const rows =
      principal === undefined
        ? this.#sql.exec<Row>("SELECT principal, backend, connected_at, updated_at, expires_at, scope FROM grants ORDER BY principal, backend LIMIT 1000")
        : this.#sql.exec<Row>("SELECT principal, backend, connected_at, updated_at, expires_at, scope FROM grants WHERE principal = ? ORDER BY backend", principal);
    return rows.toArray().map((r) => ({ principal: r.principal, backend: r.backend, connectedAt: r.connected_at, updatedAt: r.updated_at, expiresAt: r.expires_at, scope: r.scope }));
  }

  /** Marks a connect link's nonce used: true the first time, false after (links are single-use). */
  async claimNonce(nonce: string, expiresAt: number, now = Date.now()): Promise<boolean> {
    if (expiresAt <= now) return false;
    if (this.#sql.exec("SELECT 1 FROM nonces WHERE nonce = ?", nonce).toArray().length > 0) return false;
    this.#sql.exec("INSERT INTO nonces (nonce, expires_at) VALUES (?, ?)", nonce, expiresAt);
    this.#scheduleSweep(now);
    return true;
  }

  async putFlow(stateHash: string, flow: ConnectFlow, now = Date.now()): Promise<void> {
    this.#sql.exec("INSERT OR REPLACE INTO flows (state_hash, data, expires_at) VALUES (?, ?, ?)", stateHash, JSON.stringify(flow), flow.expiresAt);
    this.#scheduleSweep(now);
  }

  /** Reads and deletes a flow: each ends in at most one token exchange. */
  async takeFlow(stateHash: string, now = Date.now()): Promise<ConnectFlow | null> {
    const row = this.#sql.exec<{ data: string; expires_at: number }>("SELECT data, expires_at FROM flows WHERE state_hash = ?", stateHash).toArray()[0];
    this.#sql.exec("DELETE FROM flows WHERE state_hash = ?", stateHash);
    return row && row.expires_at > now ? (JSON.parse(row.data) as ConnectFlow) : null;
  }

  #keyFor(tenant: string): Promise<CryptoKey> {
    // One tenant per object, so one key; derived on first use.
    this.#key ??= deriveKey(this.env, tenant);
    this.#key.catch(() => (this.#key = null));
    return this.#key;
  }

  #scheduleSweep(now: number): void {
    void this.ctx.storage.getAlarm().then((at) => {
      if (at === null) return this.ctx.storage.setAlarm(now + SWEEP_INTERVAL_MS);
    });
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.#sql.exec("DELETE FROM flows WHERE expires_at <= ?", now);
    this.#sql.exec("DELETE FROM nonces WHERE expires_at <= ?", now);
    const left = this.#sql.exec<{ n: number }>("SELECT (SELECT COUNT(*) FROM flows) + (SELECT COUNT(*) FROM nonces) AS n").one().n;
    if (left > 0) await this.ctx.storage.setAlarm(now + SWEEP_INTERVAL_MS);
  }
}

interface Row extends Record<string, SqlStorageValue> {
  principal: string;
  backend: string;
  connected_at: number;
  updated_at: number;
  expires_at: number | null;
  scope: string | null;
}

function aad(tenant: string, principal: string, backend: string): Uint8Array {
  return new TextEncoder().encode(`${tenant}\u0000${principal}\u0000${backend}`);
}

async function deriveKey(env: Env, tenant: string): Promise<CryptoKey> {
  const secret = (env as { VAULT_SECRET?: string }).VAULT_SECRET;
  if (!secret) throw new VaultLockedError("the VAULT_SECRET Worker secret is not set");
  const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new TextEncoder().encode("edge-mcp-gateway connection vault v1"), info: new TextEncoder().encode(tenant) },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}
