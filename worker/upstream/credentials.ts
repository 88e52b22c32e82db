/**
 * Outbound credentials: the `Authorization` header the gateway presents to a backend whose config
 * has `auth`. The gateway speaks for itself, never with the client's token:
 *
 * - `client_credentials`: the client credentials grant (OAuth 2.1 §4.2, RFC 6749 §4.4) at
 *   `tokenUrl`; the backend sees a token issued to the gateway.
 * - `token_exchange`: RFC 8693. The client's token goes to the token endpoint, and only there, as
 *   `subject_token`; the backend sees the token issued for its `audience`, which names the same
 *   principal without being usable anywhere else.
 *
 * The gateway authenticates to the token endpoint with HTTP Basic (RFC 6749 §2.3.1). The secret
 * comes from the Worker secret named by `clientSecret`; no message this module produces contains
 * it, the client's token or an issued token, because messages end up in logs.
 *
 * Cache: tokens live in this instance's memory until `expires_in` minus a margin, keyed by every
 * config field that shapes the token and, for token exchange, a SHA-256 of the subject token (not
 * the token itself). Concurrent callers with one key share one request to the token endpoint; a
 * failure is remembered briefly, so one fan-out does not turn into a burst of failing requests.
 *
 * Trade-offs: nothing is persisted, so no token is ever written to Durable Object storage, and a
 * restarted object fetches its tokens again. Tokens without `expires_in` are not cached at all
 * (their lifetime is unknown); each call fetches one.
 */
import { z } from "zod";
import type { BackendConfig, ServiceAuth } from "../tenant/schema.ts";
import { BodyTooLargeError, readCapped } from "../protocol/body.ts";
import { sha256Hex, toBase64 } from "../protocol/encoding.ts";
import { UpstreamError } from "./errors.ts";
import type { Fetcher } from "./types.ts";
import { secretNamed } from "../env.ts";

/** How the gateway authenticates to a backend, as the audit trail names it. */
export type CredentialMode = "none" | "static" | "client_credentials" | "token_exchange" | "user_oauth";

/**
 * The credential mode of a backend: its `auth` type, else "static" when secret headers carry a
 * credential from Worker secrets, else "none" (plain `headers` are configuration, not secrets).
 */
export function credentialMode(backend: BackendConfig): CredentialMode {
  if (backend.auth) return backend.auth.type;
  return Object.keys(backend.secretHeaders).length > 0 ? "static" : "none";
}

/** The token endpoint is a quick lookup; a stuck one must fail the call well before the backend's own timeout would. */
export const TOKEN_ENDPOINT_TIMEOUT_MS = 5_000;
/** A token response is a few hundred bytes (a few KiB with a JWT access token); anything near this cap is not one. */
export const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;
/**
 * A cached token is dropped this long before it expires: it covers clock skew between us and the
 * issuer plus a request still in flight. A token that lives less than twice this keeps half of
 * its life as the margin instead, so short-lived tokens are still cached, briefly.
 */
export const TOKEN_EXPIRY_MARGIN_MS = 30_000;
/** No token is cached longer than this, whatever `expires_in` says, so a revoked grant or a rotated secret takes effect within the hour. */
export const MAX_TOKEN_CACHE_MS = 60 * 60 * 1000;
/** After a failure the token endpoint is not asked again for this long (per cache key); calls in between get the same error. */
export const FAILURE_RETRY_AFTER_MS = 1_000;
/** Cached tokens (and remembered failures) per instance; the least recently used goes first. Bounds memory to a few MiB when subjects rotate their tokens. */
export const MAX_CACHED_TOKENS = 1_000;

/** RFC 8693 §2.1. */
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
/** RFC 8693 §3: the client's token is an access token, and an access token is what we ask for. */
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

/** RFC 6750 §2.1 `b64token`: also guarantees the value is safe to put in a header (no CR, LF or spaces). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** RFC 6749 §5.2: the `error` code's character set; bounded so a hostile endpoint cannot flood the log line. */
const ERROR_CODE = /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/;

/** RFC 6749 §5.1 (and RFC 8693 §2.2.1): the fields we rely on; anything else is ignored. */
const TokenResponseSchema = z.object({
  access_token: z.string().regex(B64TOKEN, "is not a bearer token (RFC 6750 §2.1)"),
  // RFC 6749 §7.1: the token type is case-insensitive.
  token_type: z.string().refine((type) => type.toLowerCase() === "bearer", "must be Bearer"),
  // Some servers send the number as a string; both mean seconds.
  expires_in: z.union([z.number().nonnegative(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
});

const TokenErrorSchema = z.object({ error: z.string().regex(ERROR_CODE) });

export interface CredentialOptions {
  /** Token endpoint timeout; defaults to TOKEN_ENDPOINT_TIMEOUT_MS (tests shorten it). */
  timeoutMs?: number;
  /** The clock for expiry, in epoch milliseconds; defaults to Date.now (tests move it). */
  now?: () => number;
}

interface CachedToken {
  authorization: string;
  expiresAt: number;
}

interface Failure {
  detail: string;
  expiresAt: number;
}

/** Who a call is for, when a backend acts for the user: enough to find their grant and to link them to the connect page. */
export interface CallingUser {
  tenant: string;
  principal: string;
  /** The gateway origin the client reached (for the connect link). */
  origin: string;
}

/** The Authorization header for a `user_oauth` backend: the user's grant, or GrantRequiredError. */
export type UserTokenSource = (backend: BackendConfig, user: CallingUser, signal: AbortSignal) => Promise<Record<string, string>>;

export class OutboundCredentials {
  readonly #env: Env;
  readonly #fetcher: Fetcher;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  /** Map order is recency order: a hit moves its entry to the end, eviction takes the first. */
  readonly #tokens = new Map<string, CachedToken>();
  readonly #failures = new Map<string, Failure>();
  readonly #pending = new Map<string, Promise<string>>();
  readonly #userTokens: UserTokenSource | null;

  constructor(env: Env, fetcher?: Fetcher, options: CredentialOptions = {}, userTokens?: UserTokenSource) {
    this.#env = env;
    this.#userTokens = userTokens ?? null;
    this.#fetcher = fetcher ?? ((request) => fetch(request));
    this.#timeoutMs = options.timeoutMs ?? TOKEN_ENDPOINT_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The Authorization header for this backend ({} when it has no `auth`). `subjectToken` is the
   * client's own token, used only as the RFC 8693 subject_token sent to the token endpoint, never
   * to the backend. Failures are UpstreamErrors naming the backend, so the call fails like any
   * other unreachable backend.
   */
  async headers(backend: BackendConfig, subjectToken: string | null, signal: AbortSignal, user: CallingUser | null = null): Promise<Record<string, string>> {
    if (!backend.auth) return {};
    if (backend.auth.type === "user_oauth") {
      // The user's own grant (worker/connections/userTokens.ts); without a user (a probe), none.
      if (!this.#userTokens || !user) throw new UpstreamError("unreachable", backend.name, "outbound auth: this backend acts for a user, and there is none here");
      return this.#userTokens(backend, user, signal);
    }
    const auth: ServiceAuth = backend.auth;
    const fail = (detail: string) => new UpstreamError("unreachable", backend.name, `outbound auth: ${detail}`);
    if (signal.aborted) throw cancelled(backend.name);
    const secret = secretNamed(this.#env, auth.clientSecret);
    // Only the secret's name: its value must never reach a message.
    if (typeof secret !== "string" || secret === "") throw fail(`Worker secret ${auth.clientSecret} is not set`);
    const endpointProblem = tokenEndpointProblem(auth.tokenUrl);
    if (endpointProblem) throw fail(endpointProblem);
    let subjectHash: string | null = null;
    if (auth.type === "token_exchange") {
      if (!subjectToken) throw fail("token exchange needs the client's bearer token, and this request has none");
      subjectHash = await sha256Hex(subjectToken);
    }
    const key = JSON.stringify([auth.type, backend.name, auth.tokenUrl, auth.clientId, auth.clientSecret, auth.scope ?? null, auth.audience ?? null, subjectHash]);

    // No await from here until the pending request is registered: concurrent callers must find it.
    const now = this.#now();
    const cached = this.#tokens.get(key);
    if (cached) {
      this.#tokens.delete(key);
      if (cached.expiresAt > now) {
        this.#tokens.set(key, cached);
        return { authorization: cached.authorization };
      }
    }
    const failed = this.#failures.get(key);
    if (failed && failed.expiresAt > now) throw new UpstreamError("unreachable", backend.name, failed.detail);
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#issue(backend.name, auth, secret, subjectToken, key).finally(() => this.#pending.delete(key));
      // Every caller may have given up (aborted) before it settles; the rejection is still handled.
      pending.catch(() => {});
      this.#pending.set(key, pending);
    }
    return { authorization: await untilAborted(pending, signal, backend.name) };
  }

  /** One request to the token endpoint, under its own timeout (not a caller's signal: the result is shared). */
  async #issue(backendName: string, auth: ServiceAuth, secret: string, subjectToken: string | null, key: string): Promise<string> {
    const sentAt = this.#now();
    try {
      const { token, expiresInS } = await this.#request(auth, secret, subjectToken);
      const authorization = `Bearer ${token}`;
      const lifetimeMs = cacheLifetimeMs(expiresInS);
      this.#failures.delete(key);
      // Counted from when the request left, so the margin also covers the time it took.
      if (lifetimeMs > 0) remember(this.#tokens, key, { authorization, expiresAt: sentAt + lifetimeMs }, this.#now());
      return authorization;
    } catch (error) {
      // Anything but an expected endpoint failure is a bug and stays visible as it is.
      if (!(error instanceof TokenEndpointError)) throw error;
      const detail = `outbound auth: ${error.message}`;
      const now = this.#now();
      remember(this.#failures, key, { detail, expiresAt: now + FAILURE_RETRY_AFTER_MS }, now);
      throw new UpstreamError("unreachable", backendName, detail);
    }
  }

  async #request(auth: ServiceAuth, secret: string, subjectToken: string | null): Promise<{ token: string; expiresInS: number | undefined }> {
    const form = new URLSearchParams();
    if (auth.type === "client_credentials") {
      form.set("grant_type", "client_credentials");
    } else {
      form.set("grant_type", TOKEN_EXCHANGE_GRANT);
      form.set("subject_token", subjectToken ?? "");
      form.set("subject_token_type", ACCESS_TOKEN_TYPE);
      form.set("requested_token_type", ACCESS_TOKEN_TYPE);
    }
    if (auth.audience !== undefined) {
      form.set("audience", auth.audience);
      // RFC 8707 §2 (which MCP 2025-11-25 basic/authorization requires): a URI audience is also
      // sent as `resource`, the parameter most OAuth 2.1 servers read.
      if (isResourceIndicator(auth.audience)) form.set("resource", auth.audience);
    }
    if (auth.scope !== undefined) form.set("scope", auth.scope);

    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const timedOut = () => new TokenEndpointError(`token endpoint did not answer within ${this.#timeoutMs} ms`);
    let response: Response;
    try {
      response = await this.#fetcher(
        new Request(auth.tokenUrl, {
          method: "POST",
          headers: {
            authorization: basicCredentials(auth.clientId, secret),
            "content-type": "application/x-www-form-urlencoded",
            accept: "application/json",
          },
          body: form.toString(),
          // A redirect would resend the Basic credentials and the subject token somewhere else.
          redirect: "manual",
          signal: timeout,
        }),
      );
    } catch (error) {
      if (timeout.aborted) throw timedOut();
      throw new TokenEndpointError(`token endpoint unreachable (${error instanceof Error ? error.name : "error"})`);
    }

    let text: string;
    try {
      text = await readCapped(response.body, MAX_TOKEN_RESPONSE_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw new TokenEndpointError(`token endpoint answer exceeds ${MAX_TOKEN_RESPONSE_BYTES} bytes`);
      if (timeout.aborted) throw timedOut();
      throw new TokenEndpointError("token endpoint answer broke off");
    }
    const json = parseJson(text);
    if (!response.ok) {
      // RFC 6749 §5.2: only the registered error code is kept; `error_description` is free text.
      const code = TokenErrorSchema.safeParse(json);
      throw new TokenEndpointError(`token endpoint answered HTTP ${response.status}${code.success ? ` (${code.data.error})` : ""}`);
    }
    if (json === undefined) throw new TokenEndpointError("token endpoint answer is not JSON");
    const parsed = TokenResponseSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      // Zod messages name the field and the expected type, never the received value.
      throw new TokenEndpointError(`token endpoint answer is invalid: ${issue?.path.join(".") || "document"}: ${issue?.message ?? "invalid"}`);
    }
    return { token: parsed.data.access_token, expiresInS: parsed.data.expires_in };
  }
}

/** A problem worth logging, phrased so that it contains no credential. */
class TokenEndpointError extends Error {}

/** How long a token that lives `expiresInS` seconds may be served from the cache (0: not at all). */
export function cacheLifetimeMs(expiresInS: number | undefined): number {
  if (expiresInS === undefined || !Number.isFinite(expiresInS) || expiresInS <= 0) return 0;
  const lifeMs = expiresInS * 1000;
  return Math.min(MAX_TOKEN_CACHE_MS, lifeMs - Math.min(TOKEN_EXPIRY_MARGIN_MS, lifeMs / 2));
}

/**
 * RFC 6749 §2.3.1: client id and secret are each form-urlencoded (Appendix B) before they are
 * joined and base64-encoded (standard alphabet, RFC 7617 §2).
 */
export function basicCredentials(clientId: string, secret: string): string {
  return `Basic ${toBase64(`${formEncode(clientId)}:${formEncode(secret)}`)}`;
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** RFC 6749 §3.2: the token endpoint requires TLS; plain http is allowed on loopback only, for local development. */
function tokenEndpointProblem(tokenUrl: string): string | null {
  const url = new URL(tokenUrl);
  if (url.username !== "" || url.password !== "") return "tokenUrl must not carry credentials";
  if (url.protocol === "https:") return null;
  const host = url.hostname;
  if (host === "localhost" || host === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(host)) return null;
  return "tokenUrl must use https (RFC 6749 §3.2) unless it is on loopback";
}

/** RFC 8707 §2: a resource indicator is an absolute URI without a fragment. */
function isResourceIndicator(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.hash === "" && !value.includes("#");
  } catch {
    return false;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Inserts as most recent, dropping expired entries first and then the least recently used. */
function remember<V extends { expiresAt: number }>(map: Map<string, V>, key: string, value: V, now: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size <= MAX_CACHED_TOKENS) return;
  for (const [k, v] of map) {
    if (v.expiresAt <= now) map.delete(k);
  }
  for (const k of map.keys()) {
    if (map.size <= MAX_CACHED_TOKENS) break;
    map.delete(k);
  }
}

function cancelled(backend: string): UpstreamError {
  return new UpstreamError("cancelled", backend, "cancelled while waiting for the token endpoint");
}

/** The shared request keeps going when one caller gives up; only that caller stops waiting. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, backend: string): Promise<T> {
  if (signal.aborted) return Promise.reject(cancelled(backend));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled(backend));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
