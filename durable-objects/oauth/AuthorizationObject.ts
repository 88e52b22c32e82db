/**
 * One tenant's authorization server state (worker/oauth/, docs/oauth.md): signing keys, clients
 * registered dynamically, login transactions in progress, authorization codes, grants and their
 * refresh tokens. One object per tenant, named by the tenant id.
 *
 * Why a Durable Object and not KV: an authorization code must be redeemable exactly once, a
 * rotated refresh token must be caught when it comes back (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2),
 * and a revoked grant must stop working within seconds everywhere. KV is eventually consistent
 * (a write takes up to a minute to be seen elsewhere), so it can promise none of the three; one
 * object per tenant serialises them. Token traffic is one request per client per access-token
 * lifetime, far below what one object serves.
 *
 * Secrets are stored only as SHA-256 hashes (codes, refresh tokens, transaction ids); the signing
 * keys' private halves never leave the object: access tokens are signed here.
 *
 * Storage layout (SQLite)
 *   keys(kid, private_jwk, public_jwk, created_at, retired_at)      ES256, newest unretired signs
 *   clients(client_id, name, redirect_uris, metadata, created_at)   RFC 7591 registrations
 *   blocked(client_id, blocked_at)                                  clients an operator revoked
 *   pending(id_hash, data, expires_at)                              login transactions (10 min)
 *   codes(hash, data, expires_at, used_at, grant_id)                authorization codes (60 s)
 *   grants(id, client_id, client_name, sub, roles, scope, resource, created_at, used_at, expires_at, revoked_at, revoked_reason)
 *   refresh(hash, grant_id, expires_at, rotated_at)                 the current and rotated refresh tokens
 */
import { DurableObject } from "cloudflare:workers";
import type { JWK } from "jose";
import { logger } from "../../worker/observe/log.ts";
import { pkceMatches, randomToken, sha256Hex } from "../../worker/oauth/crypto.ts";
import { SigningKeys } from "./keys.ts";
import type {
  AuthorizationCodeData,
  ClientRecord,
  CodeExchange,
  GrantSummary,
  IssueSettings,
  OAuthFailure,
  PendingLogin,
  RefreshExchange,
  TokenSuccess,
} from "../../worker/oauth/types.ts";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS keys (kid TEXT PRIMARY KEY, private_jwk TEXT NOT NULL, public_jwk TEXT NOT NULL, created_at INTEGER NOT NULL, retired_at INTEGER);
  CREATE TABLE IF NOT EXISTS clients (client_id TEXT PRIMARY KEY, name TEXT NOT NULL, redirect_uris TEXT NOT NULL, metadata TEXT NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS blocked (client_id TEXT PRIMARY KEY, blocked_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS pending (id_hash TEXT PRIMARY KEY, data TEXT NOT NULL, expires_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS codes (hash TEXT PRIMARY KEY, data TEXT NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER, grant_id TEXT);
  CREATE TABLE IF NOT EXISTS grants (id TEXT PRIMARY KEY, client_id TEXT NOT NULL, client_name TEXT NOT NULL, sub TEXT NOT NULL, roles TEXT NOT NULL,
    scope TEXT NOT NULL, resource TEXT NOT NULL, created_at INTEGER NOT NULL, used_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    revoked_at INTEGER, revoked_reason TEXT);
  CREATE INDEX IF NOT EXISTS grants_client ON grants (client_id);
  CREATE TABLE IF NOT EXISTS refresh (hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, expires_at INTEGER NOT NULL, rotated_at INTEGER);
  CREATE INDEX IF NOT EXISTS refresh_grant ON refresh (grant_id);
`;

/** A login (IdP round trip and consent) must finish within this. */
export const PENDING_TTL_MS = 10 * 60 * 1000;
/** Authorization codes live this long (OAuth 2.1 §4.1.2: short; 10 min at most). */
export const CODE_TTL_MS = 60 * 1000;
/** Clients registered dynamically per tenant: a cap against registration floods. */
export const MAX_REGISTERED_CLIENTS = 5_000;
/** Expired rows are swept at most this often. */
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;

interface GrantRow {
  id: string;
  client_id: string;
  client_name: string;
  sub: string;
  roles: string;
  scope: string;
  resource: string;
  created_at: number;
  used_at: number;
  expires_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
  [column: string]: SqlStorageValue;
}

const failure = (error: OAuthFailure["error"], description: string): OAuthFailure => ({ error, description });

export class AuthorizationObject extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #keys: SigningKeys;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(SCHEMA);
    this.#keys = new SigningKeys(this.#sql);
  }

  // ---- signing keys -------------------------------------------------------------------------

  /** The published keys: the signing one and those retired recently enough to verify live tokens. */
  async jwks(rotationDays: number, now = Date.now()): Promise<{ keys: JWK[] }> {
    return this.#keys.published(rotationDays, now);
  }

  /** Retires the signing key now (an operator's rotation); tokens it signed stay valid until they expire. */
  async rotateKeys(now = Date.now()): Promise<{ kid: string }> {
    return this.#keys.rotate(now);
  }

  // ---- clients --------------------------------------------------------------------------------

  /** RFC 7591: stores a new public client and returns its generated id. */
  async registerClient(metadata: Omit<ClientRecord, "clientId" | "createdAt" | "source">, now = Date.now()): Promise<ClientRecord | null> {
    const count = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM clients").one().n;
    if (count >= MAX_REGISTERED_CLIENTS) return null;
    const record: ClientRecord = { ...metadata, clientId: `dcr-${randomToken(16)}`, createdAt: now, source: "registered" };
    this.#sql.exec(
      "INSERT INTO clients (client_id, name, redirect_uris, metadata, created_at) VALUES (?, ?, ?, ?, ?)",
      record.clientId,
      record.clientName,
      JSON.stringify(record.redirectUris),
      JSON.stringify(record),
      now,
    );
    this.#scheduleSweep(now);
    return record;
  }

  async registeredClient(clientId: string): Promise<ClientRecord | null> {
    const row = this.#sql.exec<{ metadata: string }>("SELECT metadata FROM clients WHERE client_id = ?", clientId).toArray()[0];
    return row ? (JSON.parse(row.metadata) as ClientRecord) : null;
  }

  async isBlocked(clientId: string): Promise<boolean> {
    return this.#sql.exec("SELECT 1 FROM blocked WHERE client_id = ?", clientId).toArray().length > 0;
  }

  // ---- login transactions -------------------------------------------------------------------

  async putPending(idHash: string, data: PendingLogin, now = Date.now()): Promise<void> {
    this.#sql.exec("INSERT OR REPLACE INTO pending (id_hash, data, expires_at) VALUES (?, ?, ?)", idHash, JSON.stringify(data), now + PENDING_TTL_MS);
    this.#scheduleSweep(now);
  }

  async pending(idHash: string, now = Date.now()): Promise<PendingLogin | null> {
    const row = this.#sql.exec<{ data: string; expires_at: number }>("SELECT data, expires_at FROM pending WHERE id_hash = ?", idHash).toArray()[0];
    return row && row.expires_at > now ? (JSON.parse(row.data) as PendingLogin) : null;
  }

  /** Reads and deletes a transaction: each one ends in at most one decision. */
  async takePending(idHash: string, now = Date.now()): Promise<PendingLogin | null> {
    const found = await this.pending(idHash, now);
    this.#sql.exec("DELETE FROM pending WHERE id_hash = ?", idHash);
    return found;
  }

  // ---- codes and tokens -----------------------------------------------------------------------

  /** Stores an authorization code for a login the user approved; returns the code. */
  async issueCode(data: AuthorizationCodeData, now = Date.now()): Promise<string> {
    const code = randomToken(32);
    this.#sql.exec("INSERT INTO codes (hash, data, expires_at) VALUES (?, ?, ?)", await sha256Hex(code), JSON.stringify(data), now + CODE_TTL_MS);
    this.#scheduleSweep(now);
    return code;
  }

  /**
   * The token endpoint's authorization_code grant (OAuth 2.1 §4.1.3), atomically: the code is
   * spent before anything else can read it. A code presented a second time is refused and the
   * grant issued for its first use is revoked (§4.1.3: the AS SHOULD revoke tokens issued on it).
   */
  async exchangeCode(request: CodeExchange, settings: IssueSettings, now = Date.now()): Promise<TokenSuccess | OAuthFailure> {
    const hash = await sha256Hex(request.code);
    const row = this.#sql.exec<{ data: string; expires_at: number; used_at: number | null; grant_id: string | null }>(
      "SELECT data, expires_at, used_at, grant_id FROM codes WHERE hash = ?",
      hash,
    ).toArray()[0];
    if (!row) return failure("invalid_grant", "authorization code is not valid");
    if (row.used_at !== null) {
      if (row.grant_id) this.#revokeGrant(row.grant_id, "authorization code replayed", now);
      logger.warn("oauth_code_replayed", { tenant: settings.tenant, grant: row.grant_id });
      return failure("invalid_grant", "authorization code was already used");
    }
    this.#sql.exec("UPDATE codes SET used_at = ? WHERE hash = ?", now, hash);
    if (row.expires_at <= now) return failure("invalid_grant", "authorization code has expired");
    const code = JSON.parse(row.data) as AuthorizationCodeData;
    if (code.clientId !== request.clientId) return failure("invalid_grant", "authorization code was issued to another client");
    if (code.redirectUri !== request.redirectUri) return failure("invalid_grant", "redirect_uri does not match the authorization request");
    if (request.resource !== undefined && request.resource !== code.resource) return failure("invalid_target", "resource does not match the authorization request");
    if (!(await pkceMatches(request.codeVerifier, code.codeChallenge))) return failure("invalid_grant", "code_verifier does not match the code_challenge");
    if (await this.isBlocked(code.clientId)) return failure("invalid_client", "client has been revoked");

    const grantId = `g-${randomToken(12)}`;
    this.#sql.exec(
      "INSERT INTO grants (id, client_id, client_name, sub, roles, scope, resource, created_at, used_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      grantId,
      code.clientId,
      code.clientName,
      code.sub,
      JSON.stringify(code.roles),
      code.scope,
      code.resource,
      now,
      now,
      now + settings.refreshTokenTtlSeconds * 1000,
    );
    this.#sql.exec("UPDATE codes SET grant_id = ? WHERE hash = ?", grantId, hash);
    logger.info("oauth_grant_created", { tenant: settings.tenant, grant: grantId, client: code.clientId, sub: code.sub });
    return this.#tokens(this.#grant(grantId)!, code.scope, settings, now);
  }

  /**
   * The refresh_token grant: the token is rotated (OAuth 2.1 §4.3.1 for public clients). A
   * rotated token presented again means it leaked: the whole grant is revoked (RFC 9700 §4.14.2).
   */
  async refresh(request: RefreshExchange, settings: IssueSettings, now = Date.now()): Promise<TokenSuccess | OAuthFailure> {
    const hash = await sha256Hex(request.refreshToken);
    const token = this.#sql.exec<{ grant_id: string; expires_at: number; rotated_at: number | null }>(
      "SELECT grant_id, expires_at, rotated_at FROM refresh WHERE hash = ?",
      hash,
    ).toArray()[0];
    if (!token) return failure("invalid_grant", "refresh token is not valid");
    const grant = this.#grant(token.grant_id);
    if (!grant || grant.revoked_at !== null) return failure("invalid_grant", "refresh token is not valid");
    if (grant.client_id !== request.clientId) return failure("invalid_grant", "refresh token was issued to another client");
    if (token.rotated_at !== null) {
      this.#revokeGrant(grant.id, "rotated refresh token reused", now);
      logger.warn("oauth_refresh_reused", { tenant: settings.tenant, grant: grant.id, client: grant.client_id });
      return failure("invalid_grant", "refresh token was already used");
    }
    if (token.expires_at <= now || grant.expires_at <= now) return failure("invalid_grant", "refresh token has expired");
    if (request.resource !== undefined && request.resource !== grant.resource) return failure("invalid_target", "resource does not match the grant");
    if (await this.isBlocked(grant.client_id)) return failure("invalid_client", "client has been revoked");
    // A narrower scope may be asked for (RFC 6749 §6); never a wider one.
    const granted = grant.scope.split(" ");
    const scope = request.scope === undefined ? grant.scope : request.scope;
    if (!scope.split(" ").every((s) => granted.includes(s))) return failure("invalid_scope", "scope exceeds what was granted");
    this.#sql.exec("UPDATE refresh SET rotated_at = ? WHERE hash = ?", now, hash);
    this.#sql.exec("UPDATE grants SET used_at = ?, expires_at = ? WHERE id = ?", now, now + settings.refreshTokenTtlSeconds * 1000, grant.id);
    return this.#tokens(this.#grant(grant.id)!, scope, settings, now);
  }

  async #tokens(grant: GrantRow, scope: string, settings: IssueSettings, now: number): Promise<TokenSuccess> {
    const refreshToken = randomToken(32);
    this.#sql.exec("INSERT INTO refresh (hash, grant_id, expires_at) VALUES (?, ?, ?)", await sha256Hex(refreshToken), grant.id, grant.expires_at);
    const accessToken = await this.#keys.sign(
      {
        iss: settings.issuer,
        sub: grant.sub,
        aud: grant.resource,
        client_id: grant.client_id,
        scope,
        roles: JSON.parse(grant.roles) as string[],
        tenant: settings.tenant,
        gid: grant.id,
        jti: randomToken(12),
      },
      settings,
      now,
    );
    this.#scheduleSweep(now);
    return { access_token: accessToken, token_type: "Bearer", expires_in: settings.accessTokenTtlSeconds, refresh_token: refreshToken, scope };
  }

  /** RFC 7009 for a refresh token: its grant ends (with every token issued under it). Unknown tokens are ignored (§2.2). */
  async revokeRefreshToken(refreshToken: string, clientId: string | null, now = Date.now()): Promise<void> {
    const token = this.#sql.exec<{ grant_id: string }>("SELECT grant_id FROM refresh WHERE hash = ?", await sha256Hex(refreshToken)).toArray()[0];
    const grant = token ? this.#grant(token.grant_id) : null;
    if (grant && (clientId === null || grant.client_id === clientId)) this.#revokeGrant(grant.id, "revoked by the client", now);
  }

  // ---- grants ---------------------------------------------------------------------------------

  /** Whether tokens of this grant are still good: the check every gateway token passes (cached briefly per isolate). */
  async grantActive(grantId: string, now = Date.now()): Promise<boolean> {
    const grant = this.#grant(grantId);
    return grant !== null && grant.revoked_at === null && grant.expires_at > now;
  }

  async revokeGrant(grantId: string, reason = "revoked by an operator", now = Date.now()): Promise<boolean> {
    const grant = this.#grant(grantId);
    if (!grant || grant.revoked_at !== null) return false;
    this.#revokeGrant(grantId, reason, now);
    return true;
  }

  /**
   * Revokes every grant of a client and refuses it from now on (a registered client is deleted
   * too). Returns how many grants ended.
   */
  async revokeClient(clientId: string, now = Date.now()): Promise<number> {
    const ids = this.#sql.exec<{ id: string }>("SELECT id FROM grants WHERE client_id = ? AND revoked_at IS NULL", clientId).toArray();
    for (const { id } of ids) this.#revokeGrant(id, "client revoked by an operator", now);
    this.#sql.exec("INSERT OR REPLACE INTO blocked (client_id, blocked_at) VALUES (?, ?)", clientId, now);
    this.#sql.exec("DELETE FROM clients WHERE client_id = ?", clientId);
    return ids.length;
  }

  /** Lets a revoked client in again (its grants stay revoked). */
  async unblockClient(clientId: string): Promise<boolean> {
    return this.#sql.exec("DELETE FROM blocked WHERE client_id = ?", clientId).rowsWritten > 0;
  }

  async grants(now = Date.now()): Promise<GrantSummary[]> {
    return this.#sql
      .exec<GrantRow>("SELECT * FROM grants WHERE expires_at > ? OR (revoked_at IS NOT NULL AND revoked_at > ?) ORDER BY created_at DESC LIMIT 1000", now, now - 86_400_000)
      .toArray()
      .map((row) => ({
        id: row.id,
        clientId: row.client_id,
        clientName: row.client_name,
        sub: row.sub,
        roles: JSON.parse(row.roles) as string[],
        scope: row.scope,
        resource: row.resource,
        createdAt: new Date(row.created_at).toISOString(),
        lastUsedAt: new Date(row.used_at).toISOString(),
        expiresAt: new Date(row.expires_at).toISOString(),
        revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
        revokedReason: row.revoked_reason,
      }));
  }

  /** Clients seen in grants or registered here, with their grant counts, and the blocked ones. */
  async clients(): Promise<{ clientId: string; clientName: string; registered: boolean; blocked: boolean; activeGrants: number }[]> {
    const now = Date.now();
    const rows = this.#sql
      .exec<{ client_id: string; client_name: string; active: number }>(
        `SELECT client_id, MAX(client_name) AS client_name, SUM(CASE WHEN revoked_at IS NULL AND expires_at > ? THEN 1 ELSE 0 END) AS active
         FROM grants GROUP BY client_id`,
        now,
      )
      .toArray();
    const byId = new Map(rows.map((r) => [r.client_id, { clientId: r.client_id, clientName: r.client_name, registered: false, blocked: false, activeGrants: r.active }]));
    for (const r of this.#sql.exec<{ client_id: string; name: string }>("SELECT client_id, name FROM clients").toArray()) {
      const entry = byId.get(r.client_id) ?? { clientId: r.client_id, clientName: r.name, registered: false, blocked: false, activeGrants: 0 };
      entry.registered = true;
      byId.set(r.client_id, entry);
    }
    for (const r of this.#sql.exec<{ client_id: string }>("SELECT client_id FROM blocked").toArray()) {
      const entry = byId.get(r.client_id) ?? { clientId: r.client_id, clientName: r.client_id, registered: false, blocked: false, activeGrants: 0 };
      entry.blocked = true;
      byId.set(r.client_id, entry);
    }
    return [...byId.values()];
  }

  #grant(id: string): GrantRow | null {
    return this.#sql.exec<GrantRow>("SELECT * FROM grants WHERE id = ?", id).toArray()[0] ?? null;
  }

  #revokeGrant(id: string, reason: string, now: number): void {
    this.#sql.exec("UPDATE grants SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL", now, reason, id);
    this.#sql.exec("DELETE FROM refresh WHERE grant_id = ?", id);
    logger.info("oauth_grant_revoked", { grant: id, reason });
  }

  // ---- housekeeping ---------------------------------------------------------------------------

  #scheduleSweep(now: number): void {
    void this.ctx.storage.getAlarm().then((at) => {
      if (at === null) return this.ctx.storage.setAlarm(now + SWEEP_INTERVAL_MS);
    });
  }

  /** Drops what can no longer be used: expired transactions, codes, refresh tokens and long-ended grants. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.#sql.exec("DELETE FROM pending WHERE expires_at <= ?", now);
    this.#sql.exec("DELETE FROM codes WHERE expires_at <= ?", now - CODE_TTL_MS);
    this.#sql.exec("DELETE FROM refresh WHERE expires_at <= ?", now);
    this.#sql.exec("DELETE FROM grants WHERE expires_at <= ? AND (revoked_at IS NULL OR revoked_at <= ?)", now - 86_400_000, now - 86_400_000);
    const left = this.#sql.exec<{ n: number }>("SELECT (SELECT COUNT(*) FROM pending) + (SELECT COUNT(*) FROM codes) + (SELECT COUNT(*) FROM grants) AS n").one().n;
    if (left > 0) await this.ctx.storage.setAlarm(now + SWEEP_INTERVAL_MS);
  }
}
