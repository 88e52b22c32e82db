/**
 * Redirect URIs: which are acceptable to register, and exact matching with the loopback port
 * exemption (RFC 8252 §7.3, extended to `localhost`: worker/oauth/redirects.ts).
 */
import { describe, expect, it } from "vitest";
import { isLoopbackHost, redirectAllowed, validRedirectUri } from "../../../worker/oauth/redirects.ts";

/** RFC 6749 §5.2: the characters an error_description may hold. */
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;

describe("validRedirectUri", () => {
  it.each([
    "https://app.example.com/callback",
    "https://app.example.com/cb?tenant=acme",
    "https://app.example.com",
    "http://127.0.0.1:3000/callback",
    "http://127.0.0.1/callback",
    "http://127.5.6.7:8080/cb",
    "http://[::1]:51234/oauth/callback",
    "http://localhost:3334/oauth/callback",
    "http://LOCALHOST:3334/oauth/callback",
  ])("accepts %s", (uri) => {
    expect(validRedirectUri(uri)).toBeNull();
  });

  it.each([
    ["", /empty/],
    ["/callback", /absolute/],
    ["callback", /absolute/],
    ["http://app.example.com/callback", /loopback/],
    ["http://192.168.1.10/callback", /loopback/],
    ["http://10.0.0.1/callback", /loopback/],
    ["http://localhost.evil.com/callback", /loopback/],
    ["http://foo.localhost/callback", /loopback/],
    ["https://app.example.com/cb#frag", /fragment/],
    ["https://app.example.com/cb#", /fragment/],
    ["http://127.0.0.1:3000/cb#x", /fragment/],
    ["https://user:pass@app.example.com/cb", /userinfo/],
    ["https://user@app.example.com/cb", /userinfo/],
    ["http://evil.com@127.0.0.1/cb", /userinfo/],
    ["javascript:alert(1)", /scheme/],
    ["JavaScript:alert(1)//https://x", /scheme/],
    ["data:text/html,<script>alert(1)</script>", /scheme/],
    ["file:///etc/passwd", /scheme/],
    ["vbscript:msgbox", /scheme/],
    ["blob:https://app.example.com/uuid", /scheme/],
    ["ftp://app.example.com/cb", /scheme/],
    ["com.example.app:/oauth2redirect", /scheme/],
    ["cursor://anysphere.cursor-retrieval/oauth/callback", /scheme/],
    [" https://app.example.com/cb", /whitespace/],
    ["https://app.example.com/c b", /whitespace/],
    ["https://app.example.com/cb\n", /whitespace/],
    ["https://app.example.com\\@evil.com/cb", /backslash/],
    ["http://127.0.0.1:99999/cb", /absolute/],
  ])("refuses %j", (uri, reason) => {
    const why = validRedirectUri(uri);
    expect(why).toMatch(reason);
    expect(why).toMatch(DESCRIPTION_CHARS);
    if (uri.length > 8) expect(why).not.toContain(uri);
  });
});

describe("isLoopbackHost", () => {
  it("knows 127.0.0.0/8, [::1] and localhost, nothing else", () => {
    expect(["127.0.0.1", "127.255.0.9", "[::1]", "localhost", "LocalHost"].every(isLoopbackHost)).toBe(true);
    expect(["128.0.0.1", "10.0.0.1", "[::2]", "localhost.example", "example.com", "1127.0.0.1"].some(isLoopbackHost)).toBe(false);
  });
});

describe("redirectAllowed", () => {
  it("accepts an exact match and refuses any other https URI", () => {
    const registered = ["https://app.example.com/callback", "https://app.example.com/cb?x=1"];
    expect(redirectAllowed(registered, "https://app.example.com/callback")).toBe(true);
    expect(redirectAllowed(registered, "https://app.example.com/cb?x=1")).toBe(true);
    for (const presented of [
      "https://app.example.com/callback/",
      "https://app.example.com/Callback",
      "https://APP.example.com/callback",
      "https://app.example.com:443/callback",
      "https://app.example.com/callback?x=1",
      "https://app.example.com/cb?x=2",
      "https://app.example.com/cb?x=1&y=2",
      "https://app.example.com/callback#x",
      "https://app.example.com:8443/callback",
      "https://app.example.com/callback/../callback",
      "http://app.example.com/callback",
    ]) {
      expect(redirectAllowed(registered, presented), presented).toBe(false);
    }
  });

  it("ignores the port of an http loopback IP redirect (RFC 8252 §7.3), path and query still exact", () => {
    const registered = ["http://127.0.0.1:3000/callback", "http://[::1]/cb?x=1"];
    expect(redirectAllowed(registered, "http://127.0.0.1:51234/callback")).toBe(true);
    expect(redirectAllowed(registered, "http://127.0.0.1/callback")).toBe(true);
    expect(redirectAllowed(registered, "http://[::1]:4000/cb?x=1")).toBe(true);
    expect(redirectAllowed(registered, "http://127.0.0.1:51234/callback/")).toBe(false);
    expect(redirectAllowed(registered, "http://127.0.0.1:51234/other")).toBe(false);
    expect(redirectAllowed(registered, "http://127.0.0.1:51234/callback?x=1")).toBe(false);
    expect(redirectAllowed(registered, "http://[::1]:4000/cb?x=2")).toBe(false);
    expect(redirectAllowed(registered, "http://127.0.0.1:51234/callback#frag")).toBe(false);
    expect(redirectAllowed(registered, "http://127.0.0.1:99999/callback")).toBe(false);
  });

  it("gives localhost the same port exemption, but never swaps hosts", () => {
    const registered = ["http://localhost:3334/oauth/callback"];
    expect(redirectAllowed(registered, "http://localhost:41234/oauth/callback")).toBe(true);
    expect(redirectAllowed(registered, "http://127.0.0.1:3334/oauth/callback")).toBe(false);
    expect(redirectAllowed(["http://127.0.0.1:3000/cb"], "http://localhost:3000/cb")).toBe(false);
    expect(redirectAllowed(["http://127.0.0.1:3000/cb"], "http://127.0.0.2:3000/cb")).toBe(false);
    expect(redirectAllowed(["http://[::1]:3000/cb"], "http://127.0.0.1:3000/cb")).toBe(false);
  });

  it("does not extend the exemption to https, other hosts or tricks in the authority", () => {
    expect(redirectAllowed(["https://127.0.0.1:3000/cb"], "https://127.0.0.1:4000/cb")).toBe(false);
    expect(redirectAllowed(["https://localhost:3000/cb"], "https://localhost:4000/cb")).toBe(false);
    expect(redirectAllowed(["http://127.0.0.1:3000/cb"], "http://127.0.0.1:4000@evil.com/cb")).toBe(false);
    expect(redirectAllowed(["http://127.0.0.1:3000/cb"], "http://evil.com@127.0.0.1:4000/cb")).toBe(false);
    expect(redirectAllowed(["http://localhost:3000/cb"], "http://localhost.evil.com:3000/cb")).toBe(false);
    expect(redirectAllowed(["http://127.0.0.1:3000/cb"], "http://127.0.0.1:4000\\@evil.com/cb")).toBe(false);
  });

  it("refuses when nothing is registered", () => {
    expect(redirectAllowed([], "http://127.0.0.1:3000/cb")).toBe(false);
    expect(redirectAllowed([], "https://app.example.com/cb")).toBe(false);
  });
});
