/**
 * A person signs in at the tenant's IdP for the gateway's own purposes, not a client's: an
 * approver opening an approval (worker/approvals/), a user opening a connect link
 * (worker/connections/). The same transaction as a client's login (state, PKCE, nonce, the
 * __Host- cookie; oauth/routes.ts checks the answer and `iss`), marked with what it is for; the
 * callback hands the signed-in user to that purpose. Null when the IdP cannot be reached.
 */
import type { OAuthServerConfig } from "../tenant/schema.ts";
import { randomToken, s256, sha256Hex } from "./crypto.ts";
import { loginCookie } from "./http.ts";
import { idpAuthorizationUrl, idpMetadata } from "./idp.ts";
import { authority } from "./server.ts";
import type { PendingLogin } from "./types.ts";

export async function startPurposeLogin(env: Env, tenantId: string, server: OAuthServerConfig, issuer: string, purpose: Pick<PendingLogin, "approval" | "connect">, returnTo: string): Promise<Response | null> {
  let metadata;
  try {
    metadata = await idpMetadata(server.idp);
  } catch {
    return null;
  }
  const loginId = randomToken(32);
  const pending: PendingLogin = {
    // No client: these fields serve client logins only.
    client: { clientId: "", clientName: "" },
    redirectUri: returnTo,
    state: null,
    codeChallenge: "",
    resource: "",
    scope: "",
    idpState: randomToken(16),
    idpVerifier: randomToken(32),
    nonce: randomToken(16),
    ...purpose,
  };
  await authority(env, tenantId).putPending(await sha256Hex(loginId), pending);
  const target = idpAuthorizationUrl(metadata, server.idp, { redirectUri: `${issuer}/oauth/callback`, state: pending.idpState, nonce: pending.nonce, codeChallenge: await s256(pending.idpVerifier) });
  return new Response(null, { status: 302, headers: { location: target, "set-cookie": loginCookie(loginId), "cache-control": "no-store" } });
}
