/**
 * A tenant's remote key set (`auth.jwt.jwksUrl`): fetched with a time and a size limit, parsed
 * with zod, cached per isolate per URL, and refetched on an unknown key id at most once per
 * cooldown. Keys are then selected by jose's `createLocalJWKSet` over the cached document.
 *
 * jose's `createRemoteJWKSet` is not used: it reads the whole response with no size cap, so a
 * hostile or broken endpoint could make every isolate buffer an arbitrary body.
 *
 * Cache rules, per URL:
 * - a fresh set (younger than JWKS_CACHE_TTL_MS) is used as is;
 * - a stale or missing set is fetched; concurrent requests share one fetch;
 * - a token whose key is not in the set forces a refetch, at most once per
 *   JWKS_REFETCH_COOLDOWN_MS (key rotation is seen at once; a flood of random kids costs the
 *   key server one request per cooldown per isolate);
 * - a failed fetch keeps the last good set, and the next attempt waits for the cooldown, so a
 *   down key server neither locks out tenants with a cached set nor gets hammered.
 */
import { createLocalJWKSet, errors as joseErrors, type CryptoKey, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from "jose";
import { z } from "zod";
import { BodyTooLargeError, readCapped } from "../protocol/body.ts";
import { logger } from "../observe/log.ts";

/** Key endpoints answer in milliseconds; 3 s covers a slow one without letting a hung one hold requests. */
export const JWKS_FETCH_TIMEOUT_MS = 3_000;
/** Real key sets are 1-5 KiB (a few RSA keys); 64 KiB leaves room for dozens and bounds memory per URL. */
export const JWKS_MAX_BYTES = 64 * 1024;
/** Key servers publish new keys ahead of use and keep retired ones for hours: 10 min keeps fetches rare and removals timely. */
export const JWKS_CACHE_TTL_MS = 10 * 60 * 1000;
/** Unknown-kid refetches and retries after a failure, at most this often per URL per isolate (jose's default cooldown). */
export const JWKS_REFETCH_COOLDOWN_MS = 30_000;
/** URLs cached per isolate; with the size cap the cache holds at most 100 × 64 KiB = 6.4 MiB of the 128 MB isolate. */
export const JWKS_MAX_CACHED_URLS = 100;

/** RFC 7517 §5: a JWK Set is an object with a `keys` array of JWKs; each JWK has at least `kty`. */
const JwksDocumentSchema = z.object({
  keys: z.array(z.looseObject({ kty: z.string().min(1), kid: z.string().optional() })),
});

/** The key set of a URL could not be obtained (and none is cached). */
export class JwksUnavailableError extends Error {
  constructor(reason: string) {
    super(`key set unavailable: ${reason}`);
    this.name = "JwksUnavailableError";
  }
}

type KeyResolver = (protectedHeader: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

interface Entry {
  /** jose's resolver over the last good document; null until a fetch succeeded. */
  keys: KeyResolver | null;
  /** When `keys` was fetched (ms since the epoch). */
  fetchedAt: number;
  /** The last unknown-kid refetch. */
  refetchedAt: number;
  /** The last failed fetch. */
  failedAt: number;
  /** The fetch under way, shared by concurrent requests. */
  inflight: { done: Promise<void>; startedAt: number } | null;
}

/** Seams for tests; by default the runtime's fetch, clock and console. */
export interface JwksCacheOptions {
  fetch?: typeof fetch;
  now?: () => number;
  log?: (line: Record<string, unknown>) => void;
}

export interface JwksCache {
  /** A jose key resolver (for `jwtVerify`) over the key set at `url`. */
  resolver(url: string): KeyResolver;
}

export function createJwksCache(options: JwksCacheOptions = {}): JwksCache {
  const httpFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  const log = options.log ?? (({ event, ...fields }) => logger.info(String(event), fields));
  const cache = new Map<string, Entry>();

  function entryOf(url: string): Entry {
    let entry = cache.get(url);
    if (entry) {
      // Least recently used goes first: re-insert on use.
      cache.delete(url);
    } else {
      entry = { keys: null, fetchedAt: 0, refetchedAt: -Infinity, failedAt: -Infinity, inflight: null };
      if (cache.size >= JWKS_MAX_CACHED_URLS) cache.delete(cache.keys().next().value!);
    }
    cache.set(url, entry);
    return entry;
  }

  /** Waits for the entry's fetch, never longer than its own deadline (see `keysOf`). */
  async function settle(entry: Entry): Promise<void> {
    const inflight = entry.inflight;
    if (!inflight) return;
    const remaining = inflight.startedAt + JWKS_FETCH_TIMEOUT_MS - now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, remaining) + 50)));
    await Promise.race([inflight.done, deadline]).finally(() => clearTimeout(timer));
  }

  async function load(url: string, entry: Entry): Promise<void> {
    const started = now();
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`no complete answer within ${JWKS_FETCH_TIMEOUT_MS} ms`));
      }, JWKS_FETCH_TIMEOUT_MS);
    });
    try {
      // The race bounds the body read too, whether or not the runtime aborts a body mid-read.
      const document = await Promise.race([download(url, controller.signal), timeout]);
      entry.keys = createLocalJWKSet(document as JSONWebKeySet) as KeyResolver;
      entry.fetchedAt = started;
    } catch (error) {
      entry.failedAt = started;
      log({ event: "jwks_fetch_failed", url: printable(url), reason: reasonOf(error), cached: entry.keys !== null });
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  }

  async function download(url: string, signal: AbortSignal): Promise<z.infer<typeof JwksDocumentSchema>> {
    const response = await httpFetch(url, {
      headers: { accept: "application/jwk-set+json, application/json" },
      signal,
      // A refetch after rotation must see the key server's current document, not a cached one.
      cache: "no-store",
    });
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`status ${response.status}`);
    }
    const declared = Number(response.headers.get("content-length") ?? "0");
    if (declared > JWKS_MAX_BYTES) {
      await response.body?.cancel().catch(() => {});
      throw new BodyTooLargeError(JWKS_MAX_BYTES);
    }
    const text = await readCapped(response.body, JWKS_MAX_BYTES);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error("not JSON");
    }
    const parsed = JwksDocumentSchema.safeParse(json);
    if (!parsed.success) throw new Error(`not a JWK Set: ${parsed.error.issues[0]?.path.join(".") || "document"}`);
    return parsed.data;
  }

  /**
   * The key set of `url`, fetching it when due. With `unknownKid`, the caller's token named a key
   * the current set lacks: a refetch is due once the cooldown since the last one has passed.
   * `fresh` says the set arrived during this call, so refetching it at once is pointless.
   */
  async function keysOf(url: string, unknownKid: boolean): Promise<{ keys: KeyResolver; fresh: boolean }> {
    const entry = entryOf(url);
    const t = now();
    // A fetch whose request was cancelled never settles; past its deadline it is forgotten.
    if (entry.inflight && t - entry.inflight.startedAt > JWKS_FETCH_TIMEOUT_MS + 1_000) entry.inflight = null;
    const coolingDown = t - entry.failedAt < JWKS_REFETCH_COOLDOWN_MS;
    const due = unknownKid
      ? t - entry.refetchedAt >= JWKS_REFETCH_COOLDOWN_MS && !coolingDown
      : (entry.keys === null || t - entry.fetchedAt >= JWKS_CACHE_TTL_MS) && !coolingDown;
    const before = entry.keys;
    let started = false;
    if (due && !entry.inflight) {
      if (unknownKid) entry.refetchedAt = t;
      const done = load(url, entry).finally(() => {
        if (entry.inflight?.done === done) entry.inflight = null;
      });
      entry.inflight = { done, startedAt: t };
      started = true;
    }
    // A request that did not start the fetch and has a usable set does not wait for a routine
    // refresh; one that lacks a set or a key waits, since the fetch under way may bring it.
    if (started || entry.keys === null || unknownKid) await settle(entry);
    if (!entry.keys) throw new JwksUnavailableError(coolingDown ? "the last fetch failed; next attempt after the cooldown" : "fetch failed");
    return { keys: entry.keys, fresh: entry.keys !== before };
  }

  return {
    resolver(url) {
      return async (protectedHeader, token) => {
        const { keys, fresh } = await keysOf(url, false);
        try {
          return await keys(protectedHeader, token);
        } catch (error) {
          if (!(error instanceof joseErrors.JWKSNoMatchingKey) || fresh) throw error;
          const refreshed = await keysOf(url, true);
          if (refreshed.keys === keys) throw error;
          return refreshed.keys(protectedHeader, token);
        }
      };
    },
  };
}

/** The isolate's cache: every tenant's `jwksUrl` goes through it. */
export const jwksCache = createJwksCache();

/** The URL for logs: no query string or credentials (a key server URL may carry a token). */
function printable(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "(invalid url)";
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof BodyTooLargeError) return `larger than ${JWKS_MAX_BYTES} bytes`;
  if (error instanceof Error) return error.name === "AbortError" ? "aborted" : error.message;
  return String(error);
}
