/**
 * The gateway as a backend's OAuth client (worker/connections/oauthClient.ts), against a real HTTP
 * server on 127.0.0.1: discovery from the backend's RFC 9728 metadata and the issuer's RFC 8414
 * metadata; the guards (no private address unless allowed, no redirects, the issuer must match);
 * the token request's client authentication and its errors.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authServerFor, OAuthClientError, tokenRequest } from "../../../worker/connections/oauthClient.ts";
import type { Env } from "../../../worker/env.ts";
import { BackendSchema, type UserOAuth } from "../../../worker/tenant/schema.ts";

let server: Server;
let base = "";
const tokenRequests: { headers: IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      const json = (status: number, value: unknown) => response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
      const url = request.url ?? "";
      if (url.startsWith("/.well-known/oauth-protected-resource/good/mcp")) return json(200, { resource: `${base}/good/mcp`, authorization_servers: [`${base}/as`] });
      if (url === "/.well-known/oauth-authorization-server/as") return json(200, { issuer: `${base}/as`, authorization_endpoint: `${base}/as/authorize`, token_endpoint: `${base}/as/token`, authorization_response_iss_parameter_supported: true });
      if (url === "/.well-known/oauth-authorization-server/liar") return json(200, { issuer: "https://someone-else.example", authorization_endpoint: `${base}/x`, token_endpoint: `${base}/y` });
      if (url.startsWith("/.well-known/oauth-protected-resource/moved/mcp")) return void response.writeHead(302, { location: `${base}/.well-known/oauth-protected-resource/good/mcp` }).end();
      if (url === "/as/token") {
        tokenRequests.push({ headers: request.headers, body });
        const form = new URLSearchParams(body);
        if (form.get("code") === "bad") return json(400, { error: "invalid_grant", error_description: `you sent ${body}` });
        // A refresh answer without a refresh token: the client keeps the one it has.
        if (form.get("grant_type") === "refresh_token") return json(200, { access_token: "at-2", token_type: "Bearer" });
        return json(200, { access_token: "at-1", token_type: "Bearer", expires_in: 60, refresh_token: "rt-1", scope: "calendar" });
      }
      response.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const allowPrivate = { ALLOW_PRIVATE_BACKENDS: "true", CAL_SECRET: "s3cr:et" } as unknown as Env;
const auth = (extra: Partial<UserOAuth> = {}): UserOAuth => ({ type: "user_oauth", clientId: "gw client", scopes: [], ...extra });
const backend = (path: string) => BackendSchema.parse({ name: "cal", url: `${base}${path}` });

describe("authorization server discovery", () => {
  it("follows the backend's RFC 9728 metadata to the issuer's RFC 8414 metadata", async () => {
    expect(await authServerFor(allowPrivate, backend("/good/mcp"), auth())).toEqual({
      authorizationEndpoint: `${base}/as/authorize`,
      tokenEndpoint: `${base}/as/token`,
      issuer: `${base}/as`,
      sendsIss: true,
    });
  });

  it("refuses a private address unless the gateway allows private backends", async () => {
    await expect(authServerFor({} as Env, backend("/good/mcp?private"), auth())).rejects.toThrow(/private address/);
  });

  it("follows no redirect", async () => {
    await expect(authServerFor(allowPrivate, backend("/moved/mcp"), auth())).rejects.toThrow(OAuthClientError);
  });

  it("refuses metadata that names another issuer (RFC 8414 §3.3)", async () => {
    await expect(authServerFor(allowPrivate, backend("/any/mcp"), auth({ issuer: `${base}/liar` }))).rejects.toThrow(/another issuer/);
  });

  it("takes configured endpoints as they are", async () => {
    expect(await authServerFor({} as Env, backend("/conf/mcp"), auth({ authorizationUrl: "https://as.example/a", tokenUrl: "https://as.example/t" }))).toMatchObject({ tokenEndpoint: "https://as.example/t", sendsIss: false });
  });
});

describe("token requests", () => {
  it("authenticate a confidential client with form-encoded Basic credentials (RFC 6749 §2.3.1) and keep what the server gave", async () => {
    const grant = await tokenRequest(allowPrivate, auth({ clientSecret: "CAL_SECRET" }), `${base}/as/token`, new URLSearchParams({ grant_type: "authorization_code", code: "good" }));
    expect(grant).toMatchObject({ accessToken: "at-1", tokenType: "Bearer", refreshToken: "rt-1", scope: "calendar" });
    expect(grant.expiresAt).toBeGreaterThan(Date.now());
    const sent = tokenRequests.at(-1)!;
    expect(Buffer.from(String(sent.headers.authorization).replace(/^Basic /, ""), "base64").toString()).toBe("gw+client:s3cr%3Aet");
    expect(new URLSearchParams(sent.body).get("client_id")).toBeNull();
  });

  it("name a public client in the body, and report a refusal by its error code only", async () => {
    const refused = tokenRequest(allowPrivate, auth(), `${base}/as/token`, new URLSearchParams({ grant_type: "authorization_code", code: "bad" }));
    await expect(refused).rejects.toThrow(/answered 400 invalid_grant$/);
    expect(new URLSearchParams(tokenRequests.at(-1)!.body).get("client_id")).toBe("gw client");
  });

  it("keep the previous refresh token when a refresh answer has none", async () => {
    const grant = await tokenRequest(allowPrivate, auth(), `${base}/as/token`, new URLSearchParams({ grant_type: "refresh_token" }), { accessToken: "old", tokenType: "Bearer", refreshToken: "rt-0", scope: "calendar" });
    expect(grant).toEqual({ accessToken: "at-2", tokenType: "Bearer", refreshToken: "rt-0", scope: "calendar" });
  });
});
