/**
 * Per-user connections to backends (the gateway as the user's OAuth client at a backend,
 * docs/connections.md): the shapes the engine, the connect pages and the tenant's
 * ConnectionVault share. A leaf: it imports nothing.
 */

/** What the backend's authorization server gave for one user (kept encrypted at rest). */
export interface StoredGrant {
  accessToken: string;
  tokenType: string;
  refreshToken?: string;
  /** Unix ms; absent when the server gave no lifetime. */
  expiresAt?: number;
  scope?: string;
}

/** What may be shown about a connection: never a token. */
export interface ConnectionInfo {
  principal: string;
  backend: string;
  connectedAt: number;
  updatedAt: number;
  expiresAt: number | null;
  scope: string | null;
}

/** A connect flow between its start and the authorization server's answer. */
export interface ConnectFlow {
  principal: string;
  backend: string;
  /** PKCE verifier towards the backend's authorization server. */
  verifier: string;
  redirectUri: string;
  tokenEndpoint: string;
  expiresAt: number;
  /** RFC 9207: the issuer whose `iss` the answer must carry, when the server sends one. */
  expectedIss?: string;
}
