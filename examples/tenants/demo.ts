/**
 * The demo tenant `npm start` installs: two demo backends behind one endpoint, tokens from the
 * local development key. A real tenant document looks the same, with real URLs and keys.
 */
import type { JWK } from "jose";
import type { TenantInput } from "../../worker/tenant/schema.ts";

export function demoTenant(options: { weatherUrl: string; notesUrl: string; publicJwk: JWK; issuer: string; audience: string }): TenantInput {
  return {
    id: "demo",
    backends: [
      { name: "weather", url: options.weatherUrl, timeoutMs: 10_000 },
      { name: "notes", url: options.notesUrl, timeoutMs: 10_000, headers: { "x-gateway-tenant": "demo" } },
    ],
    naming: { mode: "always", separator: "__" },
    failureMode: "open",
    auth: {
      jwt: {
        issuer: options.issuer,
        audience: options.audience,
        jwks: { keys: [options.publicJwk as Record<string, unknown>] },
        algorithms: ["ES256"],
      },
    },
  };
}
