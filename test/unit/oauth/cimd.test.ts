/**
 * Client ID Metadata Documents (worker/oauth/cimd.ts) against a real HTTP server on 127.0.0.1:
 * what is fetched, what is refused and why, and what the cache keeps.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { CimdError, clearCimdCache, fetchClientMetadata, isCimdClientId } from "../../../worker/oauth/cimd.ts";

/** RFC 6749 §5.2: the characters an error_description may hold. */
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;
/** Written into every refused body: no reason may repeat it. */
const MARKER = "BODY-MARKER-7f3a";

let server: Server;
let base: string;
const hits = new Map<string, number>();
/** Whether the server saw the client hang up on /big-stream before it had written everything. */
let bigStreamAborted = false;

function doc(path: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: `${base}${path}`,
    client_name: "Example MCP Client",
    client_uri: "https://app.example.com",
    logo_uri: "https://app.example.com/logo.png",
    redirect_uris: ["http://127.0.0.1:3000/callback", "http://localhost:3000/callback"],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    ...extra,
  };
}

function json(res: ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(200, { "content-type": "application/json", ...headers });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? "/";
  hits.set(path, (hits.get(path) ?? 0) + 1);
  switch (path) {
    case "/good.json":
    case "/again.json":
      return json(res, doc(path));
    case "/vendor.json":
      return json(res, doc(path), { "content-type": "application/vnd.example.client+json; charset=utf-8" });
    case "/messy.json":
      return json(res, doc(path, { client_name: "  \u0007Messy\u0000 Client  ", client_uri: "javascript:alert(1)", logo_uri: "http://evil.example/logo.png", extra_member: { anything: true } }));
    case "/long-name.json":
      return json(res, doc(path, { client_name: "x".repeat(500) }));
    case "/mismatch.json":
      return json(res, doc(path, { client_id: `${base}/other.json` }));
    case "/redirect":
      res.writeHead(302, { location: `${base}/good.json` });
      return void res.end();
    case "/not-found":
      res.writeHead(404, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ error: MARKER }));
    case "/big-declared":
      // Announces 6000 bytes, sends a few and stalls: only the Content-Length check refuses it
      // in time (counting the stream would wait for the deadline).
      res.writeHead(200, { "content-type": "application/json", "content-length": "6000" });
      res.write('{"padding":"');
      return;
    case "/big-stream": {
      // No Content-Length (chunked): 64 KiB in 1 KiB chunks, slowly enough to notice a cancel.
      res.writeHead(200, { "content-type": "application/json" });
      res.on("close", () => {
        if (!res.writableEnded) bigStreamAborted = true;
      });
      let sent = 0;
      const write = () => {
        if (res.destroyed) return;
        if (sent >= 64) return void res.end("}");
        res.write(sent === 0 ? `{"padding":"${"x".repeat(1000)}` : "x".repeat(1024));
        sent++;
        setTimeout(write, 5);
      };
      return write();
    }
    case "/slow":
      setTimeout(() => json(res, doc(path)), 2000).unref();
      return;
    case "/slow-body":
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"client_id":');
      return; // never ends
    case "/text":
      res.writeHead(200, { "content-type": "text/html" });
      return void res.end(JSON.stringify(doc(path)));
    case "/bad-json":
      return json(res, `{"client_id": "${MARKER}", oops`);
    case "/array.json":
      return json(res, [doc(path)]);
    case "/bad-redirect.json":
      return json(res, doc(path, { redirect_uris: ["http://127.0.0.1:3000/callback", `javascript:alert('${MARKER}')`] }));
    case "/no-redirects.json":
      return json(res, doc(path, { redirect_uris: [] }));
    case "/pkjwt.json":
      return json(res, doc(path, { token_endpoint_auth_method: "private_key_jwt", jwks_uri: "https://app.example.com/jwks.json" }));
    case "/basic.json":
      return json(res, doc(path, { token_endpoint_auth_method: "client_secret_basic" }));
    case "/secret.json":
      return json(res, doc(path, { client_secret: MARKER }));
    case "/secret-expiry.json":
      return json(res, doc(path, { client_secret_expires_at: 0 }));
    case "/no-name.json": {
      const body = doc(path);
      delete body.client_name;
      return json(res, body);
    }
    case "/blank-name.json":
      return json(res, doc(path, { client_name: " \t " }));
    case "/max-age.json":
      return json(res, doc(path), { "cache-control": "public, max-age=60" });
    case "/huge-max-age.json":
      return json(res, doc(path), { "cache-control": "max-age=31536000" });
    case "/no-store.json":
      return json(res, doc(path), { "cache-control": "no-store" });
    case "/max-age-zero.json":
      return json(res, doc(path), { "cache-control": "max-age=0" });
    default:
      res.writeHead(500);
      return void res.end();
  }
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  clearCimdCache();
  hits.clear();
});

let clock = 1_700_000_000_000;
const now = () => clock;
const local = { allowPrivate: true, now };

/** The CimdError `promise` rejects with; fails the test when it resolves or throws something else. */
async function refusal(promise: Promise<unknown>): Promise<CimdError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a CimdError, got metadata");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CimdError);
  const reason = (error as CimdError).reason;
  expect(reason).toMatch(DESCRIPTION_CHARS);
  expect(reason).not.toContain(MARKER);
  return error as CimdError;
}

describe("isCimdClientId", () => {
  it.each([
    "https://app.example.com/oauth/client-metadata.json",
    "https://app.example.com/client",
    "https://app.example.com/client?v=2",
    "https://app.example.com:8443/client.json",
  ])("accepts %s", (id) => {
    expect(isCimdClientId(id, false)).toBe(true);
  });

  it.each([
    "https://app.example.com",
    "https://app.example.com/",
    "https://app.example.com/?x=1",
    "https://app.example.com/client#frag",
    "https://app.example.com/client#",
    "https://user:pw@app.example.com/client",
    "https://user@app.example.com/client",
    "https://app.example.com/a/../client",
    "https://app.example.com/a/./client",
    "https://app.example.com/a/%2e%2e/client",
    "https://app.example.com/a/.%2E/client",
    "https://APP.example.com/client",
    "https://app.example.com:443/client",
    "https://app.example.com/cli ent",
    "https://app.example.com\\client",
    "http://app.example.com/client",
    "http://127.0.0.1:3000/client.json",
    "ftp://app.example.com/client",
    "client-123",
    "",
    `https://app.example.com/${"a".repeat(2100)}`,
  ])("refuses %j", (id) => {
    expect(isCimdClientId(id, false)).toBe(false);
  });

  it("allows http on a loopback host only when allowPrivate", () => {
    expect(isCimdClientId("http://127.0.0.1:3000/client.json", true)).toBe(true);
    expect(isCimdClientId("http://localhost:3000/client.json", true)).toBe(true);
    expect(isCimdClientId("http://[::1]:3000/client.json", true)).toBe(true);
    expect(isCimdClientId("http://10.0.0.5/client.json", true)).toBe(false);
    expect(isCimdClientId("http://app.example.com/client.json", true)).toBe(false);
    expect(isCimdClientId("http://127.0.0.1:3000/", true)).toBe(false);
  });
});

describe("fetchClientMetadata", () => {
  it("fetches, checks and returns a good document", async () => {
    const metadata = await fetchClientMetadata(`${base}/good.json`, local);
    expect(metadata).toEqual({
      clientId: `${base}/good.json`,
      clientName: "Example MCP Client",
      redirectUris: ["http://127.0.0.1:3000/callback", "http://localhost:3000/callback"],
      clientUri: "https://app.example.com",
      logoUri: "https://app.example.com/logo.png",
      tokenEndpointAuthMethod: "none",
    });
    expect(hits.get("/good.json")).toBe(1);
  });

  it("accepts application/<x>+json with parameters", async () => {
    expect((await fetchClientMetadata(`${base}/vendor.json`, local)).clientName).toBe("Example MCP Client");
  });

  it("cleans client_name, drops non-https display URLs and ignores unknown members", async () => {
    const metadata = await fetchClientMetadata(`${base}/messy.json`, local);
    expect(metadata.clientName).toBe("Messy Client");
    expect(metadata).not.toHaveProperty("clientUri");
    expect(metadata).not.toHaveProperty("logoUri");
    expect(metadata).not.toHaveProperty("extra_member");
    expect((await fetchClientMetadata(`${base}/long-name.json`, local)).clientName).toBe("x".repeat(100));
  });

  it("refuses a document whose client_id is not its URL", async () => {
    expect((await refusal(fetchClientMetadata(`${base}/mismatch.json`, local))).reason).toMatch(/does not match/);
  });

  it("does not follow a redirect", async () => {
    expect((await refusal(fetchClientMetadata(`${base}/redirect`, local))).reason).toMatch(/redirect/);
    expect(hits.get("/redirect")).toBe(1);
    expect(hits.get("/good.json")).toBeUndefined();
  });

  it("refuses a status other than 200 without repeating the body", async () => {
    expect((await refusal(fetchClientMetadata(`${base}/not-found`, local))).reason).toMatch(/HTTP 404/);
  });

  it("refuses a body over 5 KiB announced by Content-Length", async () => {
    const started = Date.now();
    expect((await refusal(fetchClientMetadata(`${base}/big-declared`, { ...local, timeoutMs: 3000 }))).reason).toMatch(/larger than 5 KiB/);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("refuses a body over 5 KiB without Content-Length, and stops reading it", async () => {
    expect((await refusal(fetchClientMetadata(`${base}/big-stream`, local))).reason).toMatch(/larger than 5 KiB/);
    await vi.waitFor(() => expect(bigStreamAborted).toBe(true), { timeout: 2000 });
  });

  it("gives up on a server that does not answer in time", async () => {
    const started = Date.now();
    const error = await refusal(fetchClientMetadata(`${base}/slow`, { ...local, timeoutMs: 200 }));
    expect(error.reason).toMatch(/did not arrive within 0\.2 s/);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("gives up on a body that never ends", async () => {
    const started = Date.now();
    expect((await refusal(fetchClientMetadata(`${base}/slow-body`, { ...local, timeoutMs: 200 }))).reason).toMatch(/did not arrive/);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("refuses a document not served as JSON, bad JSON and a non-object", async () => {
    expect((await refusal(fetchClientMetadata(`${base}/text`, local))).reason).toMatch(/application\/json/);
    expect((await refusal(fetchClientMetadata(`${base}/bad-json`, local))).reason).toMatch(/not valid JSON/);
    expect((await refusal(fetchClientMetadata(`${base}/array.json`, local))).reason).toMatch(/not a JSON object/);
  });

  it("refuses invalid or missing redirect URIs", async () => {
    expect((await refusal(fetchClientMetadata(`${base}/bad-redirect.json`, local))).reason).toMatch(/^redirect_uris\[1\]: .*scheme/);
    expect((await refusal(fetchClientMetadata(`${base}/no-redirects.json`, local))).reason).toMatch(/no redirect_uris/);
  });

  it("refuses confidential clients: private_key_jwt, client secrets", async () => {
    expect((await refusal(fetchClientMetadata(`${base}/pkjwt.json`, local))).reason).toMatch(/only public clients.*private_key_jwt/);
    expect((await refusal(fetchClientMetadata(`${base}/basic.json`, local))).reason).toMatch(/only public clients/);
    expect((await refusal(fetchClientMetadata(`${base}/secret.json`, local))).reason).toMatch(/client_secret/);
    expect((await refusal(fetchClientMetadata(`${base}/secret-expiry.json`, local))).reason).toMatch(/client_secret/);
  });

  it("requires a non-empty client_name", async () => {
    expect((await refusal(fetchClientMetadata(`${base}/no-name.json`, local))).reason).toMatch(/client_name/);
    expect((await refusal(fetchClientMetadata(`${base}/blank-name.json`, local))).reason).toMatch(/empty client_name/);
  });

  it("refuses a client_id that is not a metadata URL before fetching", async () => {
    const fetcher = vi.fn<typeof fetch>();
    for (const id of ["client-123", "https://app.example.com/", "https://app.example.com/c#x", `${base}/good.json#x`]) {
      expect((await refusal(fetchClientMetadata(id, { allowPrivate: true, fetcher }))).reason).toMatch(/not a valid client metadata document URL/);
    }
    expect(fetcher).not.toHaveBeenCalled();
  });

  it("without allowPrivate, refuses private, loopback and link-local hosts without fetching", async () => {
    const fetcher = vi.fn<typeof fetch>();
    for (const id of [
      "https://127.0.0.1/client.json",
      "https://10.1.2.3/client.json",
      "https://169.254.169.254/latest/meta-data/client.json",
      "https://[::1]/client.json",
      "https://localhost/client.json",
      "https://192.168.0.10:8443/client.json",
      "https://[::ffff:a9fe:a9fe]/client.json",
    ]) {
      expect((await refusal(fetchClientMetadata(id, { allowPrivate: false, fetcher }))).reason, id).toMatch(/private, loopback or link-local/);
    }
    // The local test server itself: http, and loopback.
    await refusal(fetchClientMetadata(`${base}/good.json`, { allowPrivate: false, fetcher }));
    expect(fetcher).not.toHaveBeenCalled();
    expect(hits.size).toBe(0);
  });

  it("passes a manual redirect mode and a deadline to the fetcher", async () => {
    const fetcher = vi.fn<typeof fetch>(async () => Response.json(doc("/x.json", { client_id: "https://app.example.com/x.json" })));
    await fetchClientMetadata("https://app.example.com/x.json", { allowPrivate: false, fetcher, now });
    expect(fetcher).toHaveBeenCalledTimes(1);
    const init = fetcher.mock.calls[0]![1]!;
    expect(init.redirect).toBe("manual");
    expect(init.signal).toBeInstanceOf(AbortSignal);
  });
});

describe("the metadata cache", () => {
  it("serves a second request from the cache (5 minutes without Cache-Control)", async () => {
    const first = await fetchClientMetadata(`${base}/good.json`, local);
    first.redirectUris.push("https://evil.example/cb"); // a caller's change does not reach the cache
    const second = await fetchClientMetadata(`${base}/good.json`, local);
    expect(second.redirectUris).toEqual(["http://127.0.0.1:3000/callback", "http://localhost:3000/callback"]);
    expect(hits.get("/good.json")).toBe(1);
    clock += 5 * 60 * 1000 - 1;
    await fetchClientMetadata(`${base}/good.json`, local);
    expect(hits.get("/good.json")).toBe(1);
    clock += 2;
    await fetchClientMetadata(`${base}/good.json`, local);
    expect(hits.get("/good.json")).toBe(2);
  });

  it("honors max-age", async () => {
    await fetchClientMetadata(`${base}/max-age.json`, local);
    clock += 59_000;
    await fetchClientMetadata(`${base}/max-age.json`, local);
    expect(hits.get("/max-age.json")).toBe(1);
    clock += 2_000;
    await fetchClientMetadata(`${base}/max-age.json`, local);
    expect(hits.get("/max-age.json")).toBe(2);
  });

  it("caps max-age at one day", async () => {
    await fetchClientMetadata(`${base}/huge-max-age.json`, local);
    clock += 24 * 60 * 60 * 1000 - 1000;
    await fetchClientMetadata(`${base}/huge-max-age.json`, local);
    expect(hits.get("/huge-max-age.json")).toBe(1);
    clock += 2000;
    await fetchClientMetadata(`${base}/huge-max-age.json`, local);
    expect(hits.get("/huge-max-age.json")).toBe(2);
  });

  it("does not cache no-store or max-age=0", async () => {
    await fetchClientMetadata(`${base}/no-store.json`, local);
    await fetchClientMetadata(`${base}/no-store.json`, local);
    expect(hits.get("/no-store.json")).toBe(2);
    await fetchClientMetadata(`${base}/max-age-zero.json`, local);
    await fetchClientMetadata(`${base}/max-age-zero.json`, local);
    expect(hits.get("/max-age-zero.json")).toBe(2);
  });

  it("does not cache failures", async () => {
    await refusal(fetchClientMetadata(`${base}/mismatch.json`, local));
    await refusal(fetchClientMetadata(`${base}/mismatch.json`, local));
    expect(hits.get("/mismatch.json")).toBe(2);
  });

  it("keeps a cached private client from being served without allowPrivate", async () => {
    await fetchClientMetadata(`${base}/good.json`, local);
    await refusal(fetchClientMetadata(`${base}/good.json`, { allowPrivate: false, now }));
  });

  it("is bounded: the least recently used entry goes first", async () => {
    const fetcher = vi.fn<typeof fetch>(async (input) => Response.json(doc("", { client_id: String(input) })));
    const id = (n: number) => `https://app.example.com/clients/${n}.json`;
    const options = { allowPrivate: false, fetcher, now };
    for (let n = 0; n < 256; n++) await fetchClientMetadata(id(n), options);
    await fetchClientMetadata(id(0), options); // 0 is now the most recently used
    await fetchClientMetadata(id(256), options); // evicts 1
    expect(fetcher).toHaveBeenCalledTimes(257);
    await fetchClientMetadata(id(0), options);
    expect(fetcher).toHaveBeenCalledTimes(257);
    await fetchClientMetadata(id(1), options);
    expect(fetcher).toHaveBeenCalledTimes(258);
  });
});
