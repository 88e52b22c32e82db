/**
 * ⑥ Dispatch: which Durable Object holds a session. The object's name joins tenant and session
 * id, so an id presented under another tenant names an empty object and gets 404.
 */
import type { Env } from "../env.ts";
import { canonicalJson, fnv1a, toBase64Url } from "../protocol/encoding.ts";

/** 256 random bits, base64url: unguessable (2025-11-25 basic/security_best_practices "Session Hijacking"). */
export function mintSessionId(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

export function sessionStub(env: Env, tenant: string, sessionId: string) {
  return env.SESSIONS.get(env.SESSIONS.idFromName(`${tenant}:${sessionId}`));
}

/**
 * The object that serves a 2026-07-28 client: one per tenant, principal and declared
 * capabilities, because legacy backends behind it hold upstream sessions initialized with those
 * capabilities. The client never sees it: no session id is minted or echoed.
 */
export function modernStub(env: Env, tenant: string, principal: string, capabilities: Record<string, unknown>) {
  return env.SESSIONS.get(env.SESSIONS.idFromName(`modern:${tenant}:${principal}:${fnv1a(canonicalJson(capabilities))}`));
}
