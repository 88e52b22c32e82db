/**
 * The session's connections to its backends: one upstream session per backend, created lazily,
 * persisted, re-created when the backend forgets it (404), and closed with the session.
 */
import type { BackendConfig, TenantConfig } from "../tenant/schema.ts";
import { StreamableHttpUpstream } from "../upstream/streamableHttp.ts";
import { LegacySseUpstream } from "../upstream/legacySse.ts";
import { tunnelFetcher } from "../upstream/tunnel.ts";
import { OpenApiUpstream } from "../upstream/openapi.ts";
import { UpstreamError } from "../upstream/errors.ts";
import type { Fetcher, Upstream, UpstreamInfo } from "../upstream/types.ts";
import type { SessionStore } from "./store.ts";
import { GATEWAY_INFO } from "../protocol/identity.ts";
import { fnv1a } from "../protocol/encoding.ts";
import { logger } from "../observe/log.ts";
import { eraKeyOf } from "../upstream/era.ts";
import { Breakers } from "./breaker.ts";
import { secretNamed, serviceNamed, type Env } from "../env.ts";

export type RefusedGrant = (backend: string) => Promise<Error>;

/** Outbound credentials for a backend with `auth` (worker/upstream/credentials.ts). */
export type CredentialSource = (backend: BackendConfig, signal: AbortSignal) => Promise<Record<string, string>>;

export class Backends {
  readonly #storage: SessionStore;
  readonly #env: Env;
  readonly #upstreams = new Map<string, Upstream>();
  readonly #initializing = new Map<string, Promise<Upstream>>();
  /** backend -> the entry (as JSON) its upstream was built from; a changed entry needs a new upstream. */
  readonly #builtFrom = new Map<string, string>();
  /** The tenant config of the current request: its backend entries win over older ones callers hold. */
  #config: TenantConfig | null = null;
  #clientCapabilities: Record<string, unknown> = {};
  /** The client's log level (`logging/setLevel`), sent per request to modern backends. */
  logLevel: string | undefined;
  /**
   * URIs subscribed to on modern backends, by owning backend: each backend's listen stream asks
   * for its own URIs only, so no backend hears of another's resources.
   */
  readonly #resourceSubscriptions = new Map<string, Set<string>>();
  readonly #credentials: CredentialSource | null;
  readonly #breakers = new Breakers();
  /** A user-OAuth backend answered 401 to the user's token: what to throw instead (connections/userTokens.ts grantRefused). */
  readonly #refused: RefusedGrant | null;

  constructor(storage: SessionStore, env: Env, credentials: CredentialSource | null = null, refused: RefusedGrant | null = null) {
    this.#storage = storage;
    this.#env = env;
    this.#credentials = credentials;
    this.#refused = refused;
  }

  /** A 401 from a backend that acts for the user means the user's grant is gone: they are asked to connect again. */
  async #mapRefusal(backend: BackendConfig, error: unknown): Promise<unknown> {
    if (this.#refused && backend.auth?.type === "user_oauth" && error instanceof UpstreamError && error.status === 401) return this.#refused(backend.name);
    return error;
  }

  /** Restores upstream connections from storage (after an eviction or restart). */
  restore(config: TenantConfig, clientCapabilities: Record<string, unknown>): void {
    this.#config = config;
    this.#clientCapabilities = clientCapabilities;
    if (this.#upstreams.size > 0) return;
    const byName = new Map(config.backends.map((b) => [b.name, b]));
    for (const info of this.#storage.readUpstreams()) {
      const backend = byName.get(info.backend);
      // An upstream session opened under another version of the backend's entry is not resumed.
      if (!backend || (info as StoredInfo).builtFrom !== entryOf(backend)) continue;
      this.#upstreams.set(info.backend, this.#create(backend, info));
      this.#builtFrom.set(info.backend, entryOf(backend));
    }
  }

  /** Infos of the backends that completed initialize, in config order. */
  infos(config: TenantConfig): UpstreamInfo[] {
    return config.backends.map((b) => this.#upstreams.get(b.name)?.info).filter((i): i is UpstreamInfo => !!i);
  }

  /** The backend's upstream, initialized if it is not yet. Concurrent callers share one handshake. */
  async get(backend: BackendConfig, signal: AbortSignal): Promise<Upstream> {
    const current = this.#current(backend);
    const existing = this.#upstreams.get(current.name);
    if (existing?.info) {
      if (this.#builtFrom.get(current.name) === entryOf(current)) return existing;
      // The tenant changed this backend (URL, headers, credentials...) since the upstream session
      // was opened: live sessions follow config changes, so that session ends and a new one starts.
      this.#upstreams.delete(current.name);
      this.#storage.deleteUpstream(current.name);
      void existing.terminate(AbortSignal.timeout(5_000)).catch(() => {});
    }
    return this.#initialize(current, signal);
  }

  /** Starts a fresh upstream session after the backend answered 404 for the old one. */
  async reinitialize(backend: BackendConfig, signal: AbortSignal): Promise<Upstream> {
    this.#upstreams.delete(backend.name);
    this.#storage.deleteUpstream(backend.name);
    return this.#initialize(this.#current(backend), signal);
  }

  /**
   * Runs `fn` against the backend's upstream; when the backend says the upstream session expired,
   * re-initializes once and runs `fn` again (2025-11-25 basic/transports "Session Management" 4).
   */
  async withUpstream<T>(backend: BackendConfig, signal: AbortSignal, fn: (u: Upstream) => Promise<T>): Promise<T> {
    const upstream = await this.get(backend, signal);
    try {
      return await fn(upstream);
    } catch (error) {
      if (!(error instanceof UpstreamError) || error.kind !== "session_expired") throw await this.#mapRefusal(backend, error);
      return fn(await this.reinitialize(backend, signal));
    }
  }

  /** Adds (or with `on` false removes) a URI the backend's listen stream asks updates for; true when that changed anything. */
  subscribeResource(backend: string, uri: string, on: boolean): boolean {
    let uris = this.#resourceSubscriptions.get(backend);
    if (!uris) this.#resourceSubscriptions.set(backend, (uris = new Set()));
    if (uris.has(uri) === on) return false;
    if (on) uris.add(uri);
    else uris.delete(uri);
    return true;
  }

  /** Ends every upstream session (client DELETE, idle expiry). */
  async terminateAll(signal: AbortSignal): Promise<void> {
    const all = [...this.#upstreams.values()];
    this.#upstreams.clear();
    await Promise.allSettled(all.map((u) => u.terminate(signal)));
  }

  /** The tenant's current entry for a backend (a caller may hold one from an older config). */
  #current(backend: BackendConfig): BackendConfig {
    return this.#config?.backends.find((b) => b.name === backend.name) ?? backend;
  }

  #initialize(backend: BackendConfig, signal: AbortSignal): Promise<Upstream> {
    const running = this.#initializing.get(backend.name);
    if (running) return running;
    const upstream = this.#create(backend, null);
    const promise = upstream
      .initialize({ capabilities: this.#clientCapabilities, clientInfo: GATEWAY_INFO }, signal)
      .then((info) => {
        const builtFrom = entryOf(backend);
        const stored: StoredInfo = { ...info, builtFrom };
        this.#storage.writeUpstream(stored);
        this.#upstreams.set(backend.name, upstream);
        this.#builtFrom.set(backend.name, builtFrom);
        return upstream;
      })
      .catch(async (error: unknown) => {
        throw await this.#mapRefusal(backend, error);
      })
      .finally(() => this.#initializing.delete(backend.name));
    this.#initializing.set(backend.name, promise);
    return promise;
  }

  #create(backend: BackendConfig, info: UpstreamInfo | null): Upstream {
    const upstream = connect(this.#env, backend, {
      tenant: this.#config?.id,
      info,
      credentials: this.#credentials,
      // A modern backend hears, on every request, what a legacy one learned at initialize.
      client: () => ({ capabilities: this.#clientCapabilities, info: GATEWAY_INFO, logLevel: this.logLevel }),
      resourceSubscriptions: () => [...(this.#resourceSubscriptions.get(backend.name) ?? [])],
    });
    // A backend that keeps failing is skipped for a cool-down instead of tried on every request.
    return this.#breakers.guard(backend.name, entryOf(backend), upstream);
  }
}

export interface ConnectOptions {
  /** The tenant whose backend this is: a tunnel backend's connectors are the tenant's own. */
  tenant?: string | undefined;
  /** The upstream session to resume (from storage), or null for a new one. */
  info?: UpstreamInfo | null;
  credentials?: CredentialSource | null;
  /** What a modern backend is told about the client (default: the gateway itself, no capabilities). */
  client?: () => { capabilities: Record<string, unknown>; info: Record<string, unknown>; logLevel?: string | undefined };
  resourceSubscriptions?: () => string[];
  /** Shorter than the backend's own timeout (an admin probe must stay responsive). */
  timeoutMs?: number;
}

/**
 * An upstream for a backend entry: its transport, where it is (URL or service binding), its
 * static and secret headers, and outbound credentials. Sessions, the stateless home and the
 * admin API's probes all build their upstreams here. The client's own headers never enter.
 */
export function connect(env: Env, backend: BackendConfig, options: ConnectOptions = {}): Upstream {
  const credentials = options.credentials;
  const upstreamOptions = {
    backend: backend.name,
    url: backend.url,
    eraKey: backend.transport === "tunnel" ? `tunnel:${options.tenant ?? ""}/${backend.name}` : eraKeyOf(backend),
    fetcher: backend.transport === "tunnel" ? tunnelFetcher(env, options.tenant, backend.name) : fetcherOf(env, backend),
    headers: headersOf(env, backend),
    timeoutMs: Math.min(backend.timeoutMs, options.timeoutMs ?? Infinity),
    info: options.info ?? null,
    era: backend.era,
    client: options.client ?? (() => ({ capabilities: {}, info: GATEWAY_INFO })),
    ...(options.resourceSubscriptions ? { resourceSubscriptions: options.resourceSubscriptions } : {}),
    ...(backend.auth && credentials ? { dynamicHeaders: (signal: AbortSignal) => credentials(backend, signal) } : {}),
  };
  if (backend.transport === "openapi") {
    // The gateway answers for a REST API itself (docs/openapi.md); its spec and calls use the same headers and credentials.
    const source = { spec: backend.spec ?? {}, baseUrl: backend.baseUrl, operations: backend.operations, allowPrivate: env.ALLOW_PRIVATE_BACKENDS === "true" };
    return new OpenApiUpstream({ ...upstreamOptions, source, query: secretsOf(env, backend.name, backend.secretQuery ?? {}) });
  }
  return backend.transport === "sse" ? new LegacySseUpstream(upstreamOptions) : new StreamableHttpUpstream(upstreamOptions);
}

function fetcherOf(env: Env, backend: BackendConfig): Fetcher {
  if (backend.transport !== "service") return (request) => fetch(request);
  const binding = backend.service ? serviceNamed(env, backend.service) : undefined;
  if (!binding) {
    return async () => {
      throw new UpstreamError("unreachable", backend.name, `service binding ${backend.service ?? "?"} is not bound`);
    };
  }
  return (request) => binding.fetch(request);
}

/** Static headers plus secret-backed ones. */
function headersOf(env: Env, backend: BackendConfig): Record<string, string> {
  return { ...backend.headers, ...secretsOf(env, backend.name, backend.secretHeaders) };
}

/** Values of Worker secrets by the names a backend entry gives (header or query parameter -> secret). */
function secretsOf(env: Env, backend: string, names: Record<string, string>): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, secret] of Object.entries(names)) {
    const value = secretNamed(env, secret);
    if (typeof value === "string") values[key] = value;
    else logger.warn("backend_secret_missing", { backend, variable: secret }); // the name, never a value
  }
  return values;
}

/** What an upstream's stored info also records: the backend entry it was built from. */
type StoredInfo = UpstreamInfo & { builtFrom?: string };

/** A short fingerprint of the entry: stored with every upstream, so it must stay small (an idle session stays a few KiB: docs/benchmarks.md). */
function entryOf(backend: BackendConfig): string {
  return fnv1a(JSON.stringify(backend));
}

