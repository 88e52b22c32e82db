/**
 * The signing keys of one tenant's authorization server, in its AuthorizationObject's SQLite
 * (table `keys`): ES256 pairs, the newest unretired one signs. A key older than the tenant's
 * `keyRotationDays` is retired the next time a token is signed or the keys are read, and a new
 * one takes over; a retired key stays published until every token it may have signed has
 * expired. Private halves never leave the object.
 */
import { exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from "jose";
import { logger } from "../../worker/observe/log.ts";
import { randomToken } from "../../worker/oauth/crypto.ts";
import type { IssueSettings } from "../../worker/oauth/types.ts";

/** A retired key stays published this long past the longest access token it may have signed. */
const RETIRED_KEY_GRACE_MS = 5 * 60 * 1000;
/** The longest access-token lifetime a tenant may configure (schema: accessTokenTtlSeconds). */
const MAX_ACCESS_TTL_MS = 3600 * 1000;

interface KeyRow {
  kid: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  retired_at: number | null;
  [column: string]: SqlStorageValue;
}

export class SigningKeys {
  readonly #sql: SqlStorage;
  /** Imported private keys by kid (the import is the costly part of signing). */
  readonly #signers = new Map<string, CryptoKey>();

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  async published(rotationDays: number, now: number): Promise<{ keys: JWK[] }> {
    await this.#current(rotationDays, now);
    const rows = this.#sql.exec<KeyRow>("SELECT * FROM keys WHERE retired_at IS NULL OR retired_at > ? ORDER BY created_at DESC", now - MAX_ACCESS_TTL_MS - RETIRED_KEY_GRACE_MS).toArray();
    return { keys: rows.map((row) => JSON.parse(row.public_jwk) as JWK) };
  }

  async rotate(now: number): Promise<{ kid: string }> {
    this.#sql.exec("UPDATE keys SET retired_at = ? WHERE retired_at IS NULL", now);
    return { kid: (await this.#create(now)).kid };
  }

  /** An access token with these claims, typed at+jwt (RFC 9068) so it cannot pass for an ID token. */
  async sign(claims: Record<string, unknown>, settings: IssueSettings, now: number): Promise<string> {
    const key = await this.#current(settings.keyRotationDays, now);
    let signer = this.#signers.get(key.kid);
    if (!signer) {
      signer = (await importJWK(JSON.parse(key.private_jwk) as JWK, "ES256")) as CryptoKey;
      this.#signers.set(key.kid, signer);
    }
    const iat = Math.floor(now / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "at+jwt" })
      .setIssuedAt(iat)
      .setExpirationTime(iat + settings.accessTokenTtlSeconds)
      .sign(signer);
  }

  async #current(rotationDays: number, now: number): Promise<KeyRow> {
    const current = this.#sql.exec<KeyRow>("SELECT * FROM keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1").toArray()[0];
    if (current && now - current.created_at < rotationDays * 86_400_000) return current;
    if (current) this.#sql.exec("UPDATE keys SET retired_at = ? WHERE kid = ?", now, current.kid);
    return this.#create(now);
  }

  async #create(now: number): Promise<KeyRow> {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const kid = `gw-${now.toString(36)}-${randomToken(4)}`;
    const row: KeyRow = {
      kid,
      private_jwk: JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: "ES256" }),
      public_jwk: JSON.stringify({ ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" }),
      created_at: now,
      retired_at: null,
    };
    this.#sql.exec("INSERT INTO keys (kid, private_jwk, public_jwk, created_at) VALUES (?, ?, ?, ?)", row.kid, row.private_jwk, row.public_jwk, row.created_at);
    logger.info("oauth_key_created", { kid });
    return row;
  }
}
