/**
 * RFC 7591 registration requests judged (worker/oauth/registration.ts): defaults, public
 * clients only, bounded redirect URIs, and the error codes of RFC 7591 §3.2.2.
 */
import { describe, expect, it } from "vitest";
import { parseRegistration } from "../../../worker/oauth/registration.ts";

/** RFC 6749 §5.2: the characters an error_description may hold. */
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;

function refused(body: unknown, error: "invalid_redirect_uri" | "invalid_client_metadata", description: RegExp): void {
  const result = parseRegistration(body);
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error).toBe(error);
  expect(result.description).toMatch(description);
  expect(result.description).toMatch(DESCRIPTION_CHARS);
}

describe("parseRegistration", () => {
  it("takes what mcp-remote sends, ignoring members it does not use", () => {
    const result = parseRegistration({
      redirect_uris: ["http://localhost:3334/oauth/callback"],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      client_name: "MCP CLI Client",
      client_uri: "https://github.com/modelcontextprotocol/mcp-cli",
      software_id: "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d",
      software_version: "0.1.29",
      scope: "openid email profile",
    });
    expect(result).toEqual({
      ok: true,
      metadata: {
        clientName: "MCP CLI Client",
        redirectUris: ["http://localhost:3334/oauth/callback"],
        clientUri: "https://github.com/modelcontextprotocol/mcp-cli",
        grantTypes: ["authorization_code", "refresh_token"],
        tokenEndpointAuthMethod: "none",
      },
    });
  });

  it("defaults: none, both grant types, a name from the first redirect URI's host", () => {
    const result = parseRegistration({ redirect_uris: ["https://app.example.com:8443/cb", "http://127.0.0.1/cb"] });
    expect(result).toEqual({
      ok: true,
      metadata: {
        clientName: "app.example.com:8443",
        redirectUris: ["https://app.example.com:8443/cb", "http://127.0.0.1/cb"],
        grantTypes: ["authorization_code", "refresh_token"],
        tokenEndpointAuthMethod: "none",
      },
    });
    const blank = parseRegistration({ redirect_uris: ["http://127.0.0.1:9000/cb"], client_name: "  \u0000 " });
    expect(blank.ok && blank.metadata.clientName).toBe("127.0.0.1:9000");
  });

  it("cleans and cuts the name, deduplicates lists, drops non-https display URLs", () => {
    const result = parseRegistration({
      redirect_uris: ["https://a.example/cb", "https://a.example/cb"],
      grant_types: ["authorization_code", "authorization_code"],
      client_name: `  Ev\u0007il\n ${"n".repeat(300)}`,
      client_uri: "javascript:alert(1)",
      logo_uri: "http://a.example/logo.png",
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.metadata.redirectUris).toEqual(["https://a.example/cb"]);
    expect(result.metadata.grantTypes).toEqual(["authorization_code"]);
    expect(result.metadata.clientName).toBe(`Evil ${"n".repeat(95)}`);
    expect(result.metadata).not.toHaveProperty("clientUri");
    expect(result.metadata).not.toHaveProperty("logoUri");
  });

  it("requires valid redirect URIs", () => {
    refused({}, "invalid_redirect_uri", /required/);
    refused({ redirect_uris: [] }, "invalid_redirect_uri", /non-empty/);
    refused({ redirect_uris: "https://a.example/cb" }, "invalid_redirect_uri", /non-empty array/);
    refused({ redirect_uris: [42] }, "invalid_redirect_uri", /redirect_uris\[0\] is not a string/);
    refused({ redirect_uris: ["https://a.example/cb", "http://a.example/cb"] }, "invalid_redirect_uri", /^redirect_uris\[1\]: .*loopback/);
    refused({ redirect_uris: ["javascript:alert(1)"] }, "invalid_redirect_uri", /scheme/);
    refused({ redirect_uris: ["https://a.example/cb#x"] }, "invalid_redirect_uri", /fragment/);
    refused({ redirect_uris: ["com.example.app:/cb"] }, "invalid_redirect_uri", /scheme/);
  });

  it("bounds the redirect URIs: 10 of at most 2 KiB", () => {
    const ten = Array.from({ length: 10 }, (_, i) => `https://a.example/cb${i}`);
    expect(parseRegistration({ redirect_uris: ten }).ok).toBe(true);
    refused({ redirect_uris: [...ten, "https://a.example/cb10"] }, "invalid_redirect_uri", /at most 10/);
    const long = `https://a.example/${"p".repeat(2048 - "https://a.example/".length)}`;
    expect(parseRegistration({ redirect_uris: [long] }).ok).toBe(true);
    refused({ redirect_uris: [`${long}p`] }, "invalid_redirect_uri", /longer than 2048/);
  });

  it("registers public clients only: a secret method is answered as none, a key method refused", () => {
    for (const method of ["none", "client_secret_basic", "client_secret_post"]) {
      const result = parseRegistration({ redirect_uris: ["https://a.example/cb"], token_endpoint_auth_method: method });
      expect(result.ok && result.metadata.tokenEndpointAuthMethod).toBe("none");
    }
    for (const method of ["private_key_jwt", "tls_client_auth", null, 1]) {
      refused({ redirect_uris: ["https://a.example/cb"], token_endpoint_auth_method: method }, "invalid_client_metadata", /only public clients/);
    }
  });

  it("limits grant and response types", () => {
    const redirect_uris = ["https://a.example/cb"];
    refused({ redirect_uris, grant_types: ["authorization_code", "client_credentials"] }, "invalid_client_metadata", /grant_types may only/);
    refused({ redirect_uris, grant_types: ["implicit"] }, "invalid_client_metadata", /grant_types may only/);
    refused({ redirect_uris, grant_types: [] }, "invalid_client_metadata", /grant_types may only/);
    refused({ redirect_uris, grant_types: "authorization_code" }, "invalid_client_metadata", /grant_types may only/);
    refused({ redirect_uris, grant_types: ["refresh_token"] }, "invalid_client_metadata", /must include authorization_code/);
    refused({ redirect_uris, response_types: ["token"] }, "invalid_client_metadata", /response_types/);
    refused({ redirect_uris, response_types: ["code", "id_token"] }, "invalid_client_metadata", /response_types/);
    expect(parseRegistration({ redirect_uris, response_types: ["code"] }).ok).toBe(true);
  });

  it("refuses a body that is not an object, and a name that is not a string", () => {
    for (const body of [null, "x", 3, [{ redirect_uris: ["https://a.example/cb"] }]]) {
      refused(body, "invalid_client_metadata", /JSON object/);
    }
    refused({ redirect_uris: ["https://a.example/cb"], client_name: { en: "x" } }, "invalid_client_metadata", /client_name must be a string/);
  });
});
