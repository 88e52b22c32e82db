/**
 * For tests of backends that act for each user (docs/connections.md): such a backend's entry, the
 * link an error -32042 carries, and a user connecting their account through a connect link.
 */
import { expect } from "vitest";
import { DEMO_USERS } from "./idp.ts";
import { loginWithFetch } from "./oauthLogin.ts";

/** The demo calendar as a `user_oauth` backend: the gateway is the IdP's client `clientId`, its secret the Worker secret `secretName`. */
export function userOAuthBackend(url: string, clientId = "gateway-calendar", secretName = "CAL_SECRET") {
  return { name: "calendar", url, auth: { type: "user_oauth", clientId, clientSecret: secretName, scopes: ["openid", "offline_access", "calendar"] } };
}

/** Expects error -32042 (URL elicitation required, MCP 2025-11-25 client/elicitation) and returns the URL it names. */
export async function urlElicitationLink(call: Promise<unknown>): Promise<string> {
  const error = (await call.then(
    (r) => {
      throw new Error(`expected -32042, got ${JSON.stringify(r)}`);
    },
    (e: unknown) => e,
  )) as { code?: number; data?: { elicitations?: { mode?: string; url?: string }[] } };
  expect(error.code).toBe(-32042);
  expect(error.data?.elicitations?.[0]?.mode).toBe("url");
  return error.data?.elicitations?.[0]?.url ?? "";
}

/**
 * Opens a connect link (`…/t/<tenant>/connect?link=…`) as a demo IdP user, as a browser would:
 * the IdP's login, then the gateway's callback next to the link, whose page is returned.
 */
export async function connectAccount(link: string, user: keyof typeof DEMO_USERS): Promise<Response> {
  const callback = new URL(link);
  callback.pathname += "/callback";
  callback.search = "";
  const login = await loginWithFetch(link, { user: DEMO_USERS[user].login, password: DEMO_USERS[user].password, redirectPrefix: callback.href });
  return fetch(login.finalUrl, { headers: { cookie: login.jar.header(login.finalUrl) ?? "" }, redirect: "manual" });
}
