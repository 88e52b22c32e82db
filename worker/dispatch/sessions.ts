/**
 * ④ Dispatch: which Durable Object holds a session. The object's name joins tenant and session
 * id, so an id presented under another tenant names an empty object and gets 404.
 */
import type { Env } from "../env.ts";

/** 256 random bits, base64url: unguessable (2025-11-25 basic/security_best_practices "Session Hijacking"). */
export function mintSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

export function sessionStub(env: Env, tenant: string, sessionId: string) {
  return env.SESSIONS.get(env.SESSIONS.idFromName(`${tenant}:${sessionId}`));
}
