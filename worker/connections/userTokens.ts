/**
 * The Authorization header for a backend that acts for the user (`auth.type: "user_oauth"`,
 * docs/connections.md): the calling user's own grant from the tenant's ConnectionVault, refreshed
 * when it is about to expire. No grant, or one that cannot be refreshed: GrantRequiredError with
 * a fresh connect link for this user, which the call answers as error -32042.
 */
import { logger } from "../observe/log.ts";
import { randomToken } from "../oauth/crypto.ts";
import type { BackendConfig } from "../tenant/schema.ts";
import type { CallingUser, UserTokenSource } from "../upstream/credentials.ts";
import { GrantRequiredError, UpstreamError } from "../upstream/errors.ts";
import { LINK_TTL_MS, signLink } from "./links.ts";
import type { ConnectionInfo, StoredGrant } from "./types.ts";

/** The tenant's vault, typed by hand (the generated RPC types cannot express every member). */
export interface Vault {
  put(tenant: string, principal: string, backend: string, grant: StoredGrant): Promise<void>;
  get(tenant: string, principal: string, backend: string): Promise<StoredGrant | null>;
  /** The grant, refreshed first when it is about to expire (one refresh at a time per user and backend); null when none or it could not be refreshed. */
  fresh(tenant: string, principal: string, backend: BackendConfig): Promise<StoredGrant | null>;
  delete(principal: string, backend: string): Promise<boolean>;
  list(principal?: string): Promise<ConnectionInfo[]>;
}

export const vaultOf = (env: Env, tenant: string) => env.CONNECTIONS.get(env.CONNECTIONS.idFromName(tenant)) as unknown as Vault;

/** The link this user opens to connect their account at `backend`. */
export async function grantRequired(env: Env, backend: string, user: CallingUser): Promise<GrantRequiredError | UpstreamError> {
  const secret = env.VAULT_SECRET;
  if (!secret) return new UpstreamError("unreachable", backend, "outbound auth: VAULT_SECRET is not set, so users cannot connect");
  const nonce = randomToken(16);
  const link = await signLink({ tenant: user.tenant, principal: user.principal, backend, expiresAt: Date.now() + LINK_TTL_MS, nonce }, secret);
  return new GrantRequiredError(backend, `${user.origin}/t/${encodeURIComponent(user.tenant)}/connect?link=${link}`, nonce);
}

/** A backend answered 401 to the user's token: it is forgotten, and the user linked to connect again. */
export async function grantRefused(env: Env, backend: string, user: CallingUser): Promise<Error> {
  await vaultOf(env, user.tenant).delete(user.principal, backend).catch(() => false);
  logger.info("connection_refused_by_backend", { tenant: user.tenant, backend, principal: user.principal });
  return grantRequired(env, backend, user);
}

export function userTokenSource(env: Env): UserTokenSource {
  return async (backend: BackendConfig, user: CallingUser) => {
    const grant = await vaultOf(env, user.tenant).fresh(user.tenant, user.principal, backend);
    if (!grant) throw await grantRequired(env, backend.name, user);
    return { authorization: `Bearer ${grant.accessToken}` };
  };
}
