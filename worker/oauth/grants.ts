/**
 * Whether a grant of the gateway's own authorization server still holds, asked of the tenant's
 * AuthorizationObject (no cache): what a running session or listen stream checks when a new
 * tenant version arrives (an operator's revocation bumps it, worker/admin/oauth.ts). An object
 * that cannot answer counts as "holds": the stream goes on, and the next request's token check
 * (oauth/verify.ts) decides. A leaf both homes may import.
 */
import { logger } from "../observe/log.ts";

export async function grantHolds(env: Env, tenantId: string, grantId: string): Promise<boolean> {
  try {
    return await env.AUTHORIZATION.get(env.AUTHORIZATION.idFromName(tenantId)).grantActive(grantId);
  } catch (error) {
    logger.warn("grant_check_failed", { tenant: tenantId, error: String(error) });
    return true;
  }
}
