/**
 * Who is calling: what authentication (worker/auth/) establishes once per request and every
 * later decision reads, from the policy engine (engine.ts) and rate limits to sessions and audit.
 */
export interface Principal {
  /** Stable subject id: the JWT `sub`, an API key entry's `sub`, or "anonymous". */
  sub: string;
  roles: string[];
  scopes: string[];
  /**
   * The grant behind a token the gateway issued itself (worker/oauth/): a session running under
   * it ends when an operator revokes the grant or its client.
   */
  grant?: string;
}
