/**
 * The demo tenant `npm start` installs: two demo backends behind one endpoint, tokens from the
 * local development key and, when an IdP is given, OAuth logins through it (the gateway as the
 * tenant's authorization server, docs/oauth.md). A real tenant document looks the same, with
 * real URLs, keys and identity provider.
 */
import type { JWK } from "jose";
import type { TenantInput } from "../../worker/tenant/schema.ts";

export interface DemoIdp {
  issuer: string;
  clientId: string;
  /** The name of the Worker secret holding the client secret. */
  clientSecret: string;
}

/** A backend that acts for each user with their own grant at the demo IdP (docs/connections.md). */
export interface DemoCalendar {
  url: string;
  clientId: string;
  /** The name of the Worker secret holding the calendar client's secret at the IdP. */
  clientSecret: string;
}

export function demoTenant(options: { weatherUrl: string; notesUrl: string; publicJwk: JWK; issuer: string; audience: string; idp?: DemoIdp; calendar?: DemoCalendar; tunnel?: boolean }): TenantInput {
  return {
    id: "demo",
    backends: [
      { name: "weather", url: options.weatherUrl, timeoutMs: 10_000 },
      { name: "notes", url: options.notesUrl, timeoutMs: 10_000, headers: { "x-gateway-tenant": "demo" } },
      // Each user connects their own calendar account (the demo IdP is its authorization server,
      // found from the calendar's RFC 9728 metadata): the first call gives a connect link.
      ...(options.calendar
        ? [
            {
              name: "calendar",
              url: options.calendar.url,
              timeoutMs: 10_000,
              auth: { type: "user_oauth" as const, clientId: options.calendar.clientId, clientSecret: options.calendar.clientSecret, scopes: ["openid", "offline_access", "calendar"] },
            },
          ]
        : []),
      // A server on this machine that the gateway cannot reach itself: `npm run connect` serves
      // it through an outbound tunnel (docs/tunnels.md). Down, and left out, until a connector attaches.
      ...(options.tunnel ? [{ name: "local", transport: "tunnel" as const, timeoutMs: 30_000 }] : []),
    ],
    naming: { mode: "always", separator: "__" },
    failureMode: "open",
    // With the IdP: deleting a note waits for an admin's yes (docs/approvals.md). Sign in as bob
    // (role user) to call it; the client gets a link, alice (role admin) approves there.
    ...(options.idp
      ? {
          policy: {
            rules: [
              { id: "deleting-notes-needs-an-admin", effect: "allow" as const, items: { backends: ["notes"], names: ["delete_note"] }, requireApproval: { approvers: ["admin"] } },
              { id: "everything-else", effect: "allow" as const },
            ],
          },
        }
      : {}),
    auth: {
      jwt: {
        issuer: options.issuer,
        audience: options.audience,
        jwks: { keys: [options.publicJwk as Record<string, unknown>] },
        algorithms: ["ES256"],
      },
      ...(options.idp
        ? {
            oauth: {
              idp: { ...options.idp, scopes: ["openid", "profile", "email"], rolesClaim: "roles" },
              scopes: ["mcp"],
              // MCP clients that predate Client ID Metadata Documents (mcp-remote, older SDKs) register.
              dynamicRegistration: true,
              clientIdMetadataDocuments: true,
            },
          }
        : {}),
    },
  };
}
