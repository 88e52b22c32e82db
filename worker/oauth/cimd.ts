/**
 * OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, "CIMD"; MCP
 * 2025-11-25 and 2026-07-28 "Client Registration": authorization servers SHOULD support them).
 * A client without a registration uses an https URL as its `client_id`; the gateway fetches the
 * JSON document at that URL and takes the client's name and redirect URIs from it.
 *
 * The gateway only supports public CIMD clients (token_endpoint_auth_method "none", PKCE): a
 * document asking for private_key_jwt (CIMD §6.2, which MCP allows clients to use) is refused
 * with a reason that says so, and so is one carrying a client secret (CIMD "Client Metadata
 * Document": no shared secret can exist for such a client, so client_secret and
 * client_secret_expires_at MUST NOT be used).
 *
 * The fetch is the authorization server fetching a URL an unknown party chose (CIMD security
 * considerations, "Server Side Request Forgery"; MCP "Authorization Server Abuse Protection"):
 * - literal private, loopback and link-local hosts are refused before any fetch, with the
 *   admin API's rule (privateAddress in worker/admin/destinations.ts), unless `allowPrivate`
 *   (local development and tests); DNS names are not resolved (see that module);
 * - redirects are not followed (CIMD: the server MUST NOT automatically follow HTTP redirects),
 *   and any 3xx is an error; only 200 is a document;
 * - 5 s to answer and finish the body, at most 5 KiB of body (CIMD suggests a 5 kilobyte
 *   limit; a real document is a few hundred bytes), `application/json` or
 *   `application/<x>+json` only;
 * - errors (CimdError.reason) are short, fixed sentences: they become the error_description
 *   of `invalid_client`, so they never carry the response body or anything the document said,
 *   and use only the characters RFC 6749 §5.2 allows there (no `"` or `\`).
 *
 * Cache (MCP: authorization servers SHOULD cache metadata respecting HTTP cache headers): a
 * bounded in-memory map per isolate, least recently used evicted first; `Cache-Control:
 * max-age` is honored up to one day, `no-store`, `no-cache` and `max-age=0` mean not cached,
 * no header means 5 minutes. Failures are not cached: a client fixing its document should not
 * have to wait, and how often a client may make the gateway fetch is the token endpoint's and
 * the authorize endpoint's rate limits' business. Concurrent misses for the same URL each fetch:
 * workerd does not let one request await I/O started by another, so in-flight fetches are not
 * shared; only settled metadata (plain data) is.
 */
import { z } from "zod";
import { privateAddress } from "../admin/destinations.ts";
import { httpsDisplayUrl, isLoopbackHost, validRedirectUri } from "./redirects.ts";

/** What the gateway keeps of a client's metadata document. */
export interface ClientMetadata {
  clientId: string;
  clientName: string;
  redirectUris: string[];
  clientUri?: string;
  logoUri?: string;
  tokenEndpointAuthMethod: "none";
}

/** Why a client metadata document cannot be used; `reason` is safe to show the client. */
export class CimdError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`client metadata document refused: ${reason}`);
    this.name = "CimdError";
    this.reason = reason;
  }
}

export interface FetchClientMetadataOptions {
  /** Local development and tests: http on loopback, and private addresses, are allowed. */
  allowPrivate: boolean;
  fetcher?: typeof fetch;
  /** Milliseconds since the epoch (cache expiry); Date.now by default. */
  now?: () => number;
  /** How long the whole fetch (headers and body) may take; 5000 ms by default. */
  timeoutMs?: number;
}

const MAX_CLIENT_ID_LENGTH = 2048;
const MAX_BODY_BYTES = 5 * 1024;
const DEFAULT_TIMEOUT_MS = 5000;
const MAX_REDIRECT_URIS = 20;
const MAX_NAME_LENGTH = 100;
const CACHE_ENTRIES = 256;
const DEFAULT_TTL_MS = 5 * 60 * 1000;
const MAX_TTL_MS = 24 * 60 * 60 * 1000;

/** Characters that must not appear in a client_id as written (the parser would drop or rewrite them). */
const UNSAFE_CHARS = /[\u0000-\u0020\u007f-\u009f\\\s]/u;

/**
 * Whether `clientId` is a URL this gateway treats as a Client ID Metadata Document (CIMD §3):
 * https, a path other than "/", no fragment, no userinfo, no "." or ".." path segments (also
 * percent-encoded). It must also be written in the URL parser's canonical form (lower-case host,
 * no default port, nothing the parser would re-encode), since the document's `client_id` must
 * equal it by simple string comparison and the fetch goes to the parsed URL: one spelling per
 * client. With `allowPrivate` (local development, tests) http on a loopback host also counts.
 */
export function isCimdClientId(clientId: string, allowPrivate: boolean): boolean {
  if (typeof clientId !== "string" || clientId.length > MAX_CLIENT_ID_LENGTH || UNSAFE_CHARS.test(clientId)) return false;
  if (clientId.includes("#")) return false;
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return false;
  }
  const scheme = url.protocol === "https:" || (allowPrivate && url.protocol === "http:" && isLoopbackHost(url.hostname));
  if (!scheme || url.username !== "" || url.password !== "") return false;
  if (url.href !== clientId || url.pathname === "/" || url.pathname === "") return false;
  // The path as written, before the parser resolves dot segments (it already did: href equal
  // means none were there unencoded; encoded ones survive the parser, so look for them too).
  const rawPath = clientId.slice(url.origin.length).split(/[?]/, 1)[0]!;
  return rawPath.split("/").every((segment) => !/^(\.|%2e){1,2}$/i.test(segment));
}

interface CacheEntry {
  metadata: ClientMetadata;
  expires: number;
}

const cache = new Map<string, CacheEntry>();

/** Empties the metadata cache (tests). */
export function clearCimdCache(): void {
  cache.clear();
}

function cached(clientId: string, now: number): ClientMetadata | null {
  const entry = cache.get(clientId);
  if (!entry) return null;
  cache.delete(clientId);
  if (entry.expires <= now) return null;
  cache.set(clientId, entry); // most recently used goes last
  return structuredClone(entry.metadata);
}

function remember(clientId: string, metadata: ClientMetadata, ttl: number, now: number): void {
  if (ttl <= 0) return;
  cache.delete(clientId);
  while (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(clientId, { metadata: structuredClone(metadata), expires: now + ttl });
}

/** How long a response may be cached, in ms, from its Cache-Control header. */
function freshness(header: string | null): number {
  if (header === null) return DEFAULT_TTL_MS;
  const directives = header.toLowerCase().split(",").map((d) => d.trim());
  if (directives.some((d) => d === "no-store" || d === "no-cache" || d.startsWith("no-cache="))) return 0;
  const maxAge = directives.map((d) => /^max-age\s*=\s*"?(\d+)"?$/.exec(d)).find((m) => m !== null);
  if (!maxAge) return DEFAULT_TTL_MS;
  return Math.min(Number(maxAge[1]) * 1000, MAX_TTL_MS);
}

/** CIMD: `application/json` or a more specific `application/<AS-defined>+json`. */
function jsonContentType(header: string | null): boolean {
  const type = (header ?? "").split(";", 1)[0]!.trim().toLowerCase();
  return type === "application/json" || /^application\/[a-z0-9!#$&^_.-]+\+json$/.test(type);
}

/** Reads at most MAX_BODY_BYTES of a body, cancelling it past that. */
async function readBody(response: Response): Promise<Uint8Array> {
  const declared = response.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) {
    await response.body?.cancel().catch(() => {});
    throw new CimdError("client metadata document is larger than 5 KiB");
  }
  if (!response.body) return new Uint8Array();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw new CimdError("client metadata document is larger than 5 KiB");
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}

/** An optional display URL (client_uri, logo_uri): kept when it is an https URL, else dropped. */
const displayUrl = z.unknown().transform(httpsDisplayUrl).optional();

/** The members the gateway reads; others are ignored (RFC 7591 §2, whose metadata names CIMD documents use). */
const Document = z.object({
  client_id: z.string(),
  client_name: z.string(),
  redirect_uris: z.array(z.string()),
  client_uri: displayUrl,
  logo_uri: displayUrl,
  token_endpoint_auth_method: z.string().optional(),
});

/** The document's JSON judged against the rules above; throws CimdError. */
function judge(clientId: string, json: unknown): ClientMetadata {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new CimdError("client metadata document is not a JSON object");
  // CIMD: no shared secret can exist between such a client and the server.
  if ("client_secret" in json || "client_secret_expires_at" in json) throw new CimdError("client metadata document must not contain client_secret or client_secret_expires_at");
  const parsed = Document.safeParse(json);
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path[0];
    const known = ["client_id", "client_name", "redirect_uris", "token_endpoint_auth_method"];
    throw new CimdError(typeof field === "string" && known.includes(field) ? `client metadata document has a missing or invalid ${field}` : "client metadata document is malformed");
  }
  const doc = parsed.data;
  // CIMD and MCP: the document's client_id MUST equal its URL (simple string comparison).
  if (doc.client_id !== clientId) throw new CimdError("client_id in the client metadata document does not match its URL");
  if (doc.token_endpoint_auth_method !== undefined && doc.token_endpoint_auth_method !== "none") {
    throw new CimdError("only public clients are supported: token_endpoint_auth_method must be none (private_key_jwt and client secrets are not)");
  }
  if (doc.redirect_uris.length === 0) throw new CimdError("client metadata document has no redirect_uris");
  if (doc.redirect_uris.length > MAX_REDIRECT_URIS) throw new CimdError(`client metadata document has more than ${MAX_REDIRECT_URIS} redirect_uris`);
  doc.redirect_uris.forEach((uri, i) => {
    const why = validRedirectUri(uri);
    if (why) throw new CimdError(`redirect_uris[${i}]: ${why}`);
  });
  // MCP: client_name is required. Control characters go; the consent page escapes the rest.
  const name = doc.client_name.replace(/[\u0000-\u001f\u007f-\u009f]/gu, "").trim();
  if (name === "") throw new CimdError("client metadata document has an empty client_name");
  const metadata: ClientMetadata = {
    clientId,
    clientName: [...name].slice(0, MAX_NAME_LENGTH).join(""),
    redirectUris: [...new Set(doc.redirect_uris)],
    tokenEndpointAuthMethod: "none",
  };
  if (doc.client_uri !== undefined) metadata.clientUri = doc.client_uri;
  if (doc.logo_uri !== undefined) metadata.logoUri = doc.logo_uri;
  return metadata;
}

/**
 * The metadata of the client whose `client_id` is `clientId`, from the cache or fetched and
 * judged (see the module comment). Throws CimdError on any failure.
 */
export async function fetchClientMetadata(clientId: string, options: FetchClientMetadataOptions): Promise<ClientMetadata> {
  const { allowPrivate, now = Date.now, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
  const fetcher = options.fetcher ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  if (!isCimdClientId(clientId, allowPrivate)) throw new CimdError("client_id is not a valid client metadata document URL");
  if (!allowPrivate && privateAddress(clientId) !== null) throw new CimdError("client_id points at a private, loopback or link-local address");
  const hit = cached(clientId, now());
  if (hit) return hit;

  let response: Response;
  let body: Uint8Array;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    response = await fetcher(clientId, { method: "GET", redirect: "manual", signal, headers: { accept: "application/json" } });
    // A browser-style fetch would answer a redirect with an opaque one (status 0).
    if ((response.status >= 300 && response.status < 400) || response.status === 0) {
      await response.body?.cancel().catch(() => {});
      throw new CimdError("client metadata document URL answered with a redirect, which is not followed");
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new CimdError(`client metadata document URL answered HTTP ${response.status}`);
    }
    if (!jsonContentType(response.headers.get("content-type"))) {
      await response.body?.cancel().catch(() => {});
      throw new CimdError("client metadata document is not served as application/json");
    }
    body = await readBody(response);
  } catch (error) {
    if (error instanceof CimdError) throw error;
    if (signal.aborted) throw new CimdError(`client metadata document did not arrive within ${Math.round(timeoutMs / 100) / 10} s`);
    throw new CimdError("client metadata document could not be fetched");
  }

  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(body));
  } catch {
    throw new CimdError("client metadata document is not valid JSON");
  }
  const metadata = judge(clientId, json);
  remember(clientId, metadata, freshness(response.headers.get("cache-control")), now());
  return metadata;
}
