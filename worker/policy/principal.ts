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
  /**
   * The agent acting for the user: the OAuth client its token was issued to (a gateway token's
   * `client_id`; else the token's `azp` or `client_id` claim, RFC 9068 §2.2). Audit only.
   */
  agent?: string;
  /** Who acts for the subject when the token says so (RFC 8693 §4.1 `act`, its `sub`). Audit only. */
  actor?: string;
}

/** At most this many characters of an agent or actor id are kept (they come from tokens). */
const MAX_CHAIN_ID = 200;

/** The agent and actor a verified token's claims name (see Principal); absent claims give nothing. */
export function actorChain(claims: Record<string, unknown>): Pick<Principal, "agent" | "actor"> {
  const chain: Pick<Principal, "agent" | "actor"> = {};
  const agent = [claims.client_id, claims.azp].find((v): v is string => typeof v === "string" && v !== "");
  if (agent !== undefined) chain.agent = agent.slice(0, MAX_CHAIN_ID);
  const act = claims.act;
  if (typeof act === "object" && act !== null && !Array.isArray(act)) {
    const sub = (act as Record<string, unknown>).sub;
    if (typeof sub === "string" && sub !== "") chain.actor = sub.slice(0, MAX_CHAIN_ID);
  }
  return chain;
}
