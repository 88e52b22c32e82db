/** What the authorization server's Worker routes and its Durable Object (AuthorizationObject) exchange. */

/** RFC 6749 §5.2 / §4.1.2.1 error codes the gateway answers with (plus RFC 8707's invalid_target). */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "unsupported_response_type"
  | "invalid_scope"
  | "invalid_target"
  | "access_denied"
  | "server_error"
  | "temporarily_unavailable"
  | "invalid_redirect_uri"
  | "invalid_client_metadata";

export interface OAuthFailure {
  error: OAuthErrorCode;
  description: string;
}

/** A client as the authorize and token endpoints see it, wherever it came from. */
export interface ClientRecord {
  clientId: string;
  clientName: string;
  redirectUris: string[];
  clientUri?: string;
  /** configured: the tenant's `clients`; registered: RFC 7591; metadata-document: CIMD. */
  source: "configured" | "registered" | "metadata-document";
  /** SHA-256 (hex) of the secret of a confidential configured client. */
  clientSecretSha256?: string;
  createdAt?: number;
}

/** One login in progress: the client's authorization request, then the user the IdP named. */
export interface PendingLogin {
  client: { clientId: string; clientName: string };
  redirectUri: string;
  /** The client's `state`, returned untouched. */
  state: string | null;
  codeChallenge: string;
  resource: string;
  scope: string;
  /** The gateway's own `state`, PKCE verifier and nonce towards the IdP. */
  idpState: string;
  idpVerifier: string;
  nonce: string;
  /** Set once the IdP has answered: who logged in, and the token the consent form must carry. */
  user?: { sub: string; roles: string[]; name?: string };
  consentToken?: string;
  /**
   * Set when this login is an approver's, not a client's (worker/approvals/routes.ts): the
   * approval it is for. The client fields above then name no real client and are not used.
   */
  approval?: string;
  /** Set when this login proves who opens a connect link (worker/connections/routes.ts): the link. */
  connect?: string;
}

export interface AuthorizationCodeData {
  clientId: string;
  clientName: string;
  redirectUri: string;
  codeChallenge: string;
  resource: string;
  scope: string;
  sub: string;
  roles: string[];
}

export interface CodeExchange {
  code: string;
  clientId: string;
  redirectUri: string;
  codeVerifier: string;
  resource?: string;
}

export interface RefreshExchange {
  refreshToken: string;
  clientId: string;
  scope?: string;
  resource?: string;
}

/** What tokens are issued with: the tenant's settings and the issuer the client used. */
export interface IssueSettings {
  tenant: string;
  issuer: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  keyRotationDays: number;
}

/** RFC 6749 §5.1. */
export interface TokenSuccess {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  scope: string;
}

export interface GrantSummary {
  id: string;
  clientId: string;
  clientName: string;
  sub: string;
  roles: string[];
  scope: string;
  resource: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  revokedAt: string | null;
  revokedReason: string | null;
}
