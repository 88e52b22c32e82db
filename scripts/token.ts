/**
 * Prints a bearer token the local gateway accepts, signed with the local development key.
 *
 *   npm run -s token -- --tenant demo --sub alice [--role R ...] [--scope S ...] [--ttl SECONDS] [--aud URL]
 */
import { parseArgs } from "node:util";
import { importJWK, SignJWT } from "jose";
import { DEV_ISSUER, DEV_ORIGIN, ensureDevKeys } from "./devState.ts";

export async function mintDevToken(options: {
  tenant: string;
  sub: string;
  roles?: string[];
  scopes?: string[];
  ttlSeconds?: number;
  audience?: string;
}): Promise<string> {
  const keys = await ensureDevKeys();
  const key = await importJWK(keys.privateJwk, "ES256");
  const claims: Record<string, unknown> = { tenant: options.tenant };
  if (options.roles?.length) claims.roles = options.roles;
  if (options.scopes?.length) claims.scope = options.scopes.join(" ");
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: keys.kid, typ: "JWT" })
    .setIssuer(DEV_ISSUER)
    .setAudience(options.audience ?? `${DEV_ORIGIN}/t/${options.tenant}/mcp`)
    .setSubject(options.sub)
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds ?? 3600}s`)
    .sign(key);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      tenant: { type: "string", default: "demo" },
      sub: { type: "string", default: "alice" },
      role: { type: "string", multiple: true, default: [] },
      scope: { type: "string", multiple: true, default: [] },
      ttl: { type: "string", default: "3600" },
      aud: { type: "string" },
    },
  });
  const ttlSeconds = Number(values.ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    console.error("--ttl must be a positive number of seconds");
    process.exit(2);
  }
  process.stdout.write(
    `${await mintDevToken({ tenant: values.tenant, sub: values.sub, roles: values.role, scopes: values.scope, ttlSeconds, ...(values.aud ? { audience: values.aud } : {}) })}\n`,
  );
}
