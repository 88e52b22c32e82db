/**
 * Without an explicit `audience`, a tenant's tokens must be issued for its canonical MCP URL as
 * the client reached it (MCP 2025-11-25 basic/authorization, RFC 8707): a token for another
 * resource, even another tenant of the same gateway, is refused.
 */
import { expect, it } from "vitest";
import { ISSUER, endpoint, gateway, putTenant, signingKey, token, uniqueTenantId, type Json } from "./helpers.ts";

const HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const INIT = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } } });

it("checks the audience against the tenant's canonical MCP URL when none is configured", async () => {
  const id = uniqueTenantId("aud");
  const { publicJwk } = await signingKey();
  await putTenant(id, { auth: { jwt: { issuer: ISSUER, jwks: { keys: [publicJwk as Json] }, algorithms: ["ES256"] } } });

  const own = await gateway(endpoint(id), { method: "POST", headers: { ...HEADERS, authorization: `Bearer ${await token(id)}` }, body: INIT });
  expect(own.status).toBe(200);

  const other = await gateway(endpoint(id), {
    method: "POST",
    headers: { ...HEADERS, authorization: `Bearer ${await token(id, { aud: endpoint("some-other-tenant") })}` },
    body: INIT,
  });
  expect(other.status).toBe(401);
  expect(other.headers.get("www-authenticate")).toContain('error="invalid_token"');
});
