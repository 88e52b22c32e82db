/**
 * Local development state, created on first use and never committed (.gitignore):
 *   .dev/signing-key.json  an ES256 key pair; `npm run token` signs with the private half, the
 *                          demo tenant trusts the public half
 *   .dev.vars              Worker secrets for `wrangler dev` (ADMIN_TOKEN, STATE_SECRET,
 *                          DEMO_IDP_CLIENT_SECRET: the gateway's client secret at the demo IdP)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { exportJWK, generateKeyPair, type JWK } from "jose";

export const DEV_ISSUER = "urn:edge-mcp-gateway:dev";
export const DEV_PORT = 8787;
export const DEV_ORIGIN = `http://127.0.0.1:${DEV_PORT}`;
/** The demo OpenID provider `npm start` runs next to the gateway (test/support/idp.ts). */
export const DEV_IDP_PORT = 8788;
/** The gateway's client id at the demo IdP for the calendar backend (docs/connections.md). */
export const DEV_CALENDAR_CLIENT_ID = "edge-mcp-gateway-calendar";
export const DEV_IDP_CLIENT_ID = "edge-mcp-gateway-demo";

export interface DevKeys {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export function repoRoot(): string {
  return new URL("..", import.meta.url).pathname;
}

export async function ensureDevKeys(root = repoRoot()): Promise<DevKeys> {
  const file = join(root, ".dev", "signing-key.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as DevKeys;
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = `dev-${randomBytes(4).toString("hex")}`;
  const keys: DevKeys = {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: "ES256" },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" },
  };
  mkdirSync(join(root, ".dev"), { recursive: true });
  writeFileSync(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return keys;
}

/**
 * Reads ADMIN_TOKEN and DEMO_IDP_CLIENT_SECRET from .dev.vars, and STATE_SECRET (the sealing key
 * of the stateless modern path, worker/dispatch/stateless.ts), each created at random when the
 * file has none.
 */
export function ensureDevVars(root = repoRoot()): { adminToken: string; idpClientSecret: string; calendarClientSecret: string } {
  const file = join(root, ".dev.vars");
  const append = (line: string): void => {
    const previous = existsSync(file) ? readFileSync(file, "utf8") : "";
    writeFileSync(file, `${previous}${previous && !previous.endsWith("\n") ? "\n" : ""}${line}\n`, { mode: 0o600 });
  };
  const value = (name: string): string => {
    const match = new RegExp(`^${name}\\s*=\\s*"?([^"\\n]+)"?$`, "m").exec(existsSync(file) ? readFileSync(file, "utf8") : "");
    if (match) return match[1]!;
    const created = randomBytes(name === "ADMIN_TOKEN" ? 24 : 32).toString("base64url");
    append(`${name}="${created}"`);
    return created;
  };
  value("STATE_SECRET");
  value("VAULT_SECRET");
  return { adminToken: value("ADMIN_TOKEN"), idpClientSecret: value("DEMO_IDP_CLIENT_SECRET"), calendarClientSecret: value("DEMO_CALENDAR_CLIENT_SECRET") };
}
