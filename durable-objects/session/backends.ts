/**
 * The session's connections to its backends: one upstream session per backend, created lazily,
 * persisted, re-created when the backend forgets it (404), and closed with the session.
 */
import type { BackendConfig, TenantConfig } from "../../worker/tenant/schema.ts";
import { StreamableHttpUpstream } from "../../worker/upstream/streamableHttp.ts";
import { LegacySseUpstream } from "../../worker/upstream/legacySse.ts";
import { UpstreamError } from "../../worker/upstream/errors.ts";
import type { Fetcher, Upstream, UpstreamInfo } from "../../worker/upstream/types.ts";
import type { SessionStorage } from "./storage.ts";
import { GATEWAY_INFO } from "../../worker/protocol/identity.ts";

/** Outbound credentials for a backend with `auth` (worker/upstream/credentials.ts). */
export type CredentialSource = (backend: BackendConfig, signal: AbortSignal) => Promise<Record<string, string>>;

export class Backends {
  readonly #storage: SessionStorage;
  readonly #env: Record<string, unknown>;
  readonly #upstreams = new Map<string, Upstream>();
  readonly #initializing = new Map<string, Promise<Upstream>>();
  #clientCapabilities: Record<string, unknown> = {};
  readonly #credentials: CredentialSource | null;

  constructor(storage: SessionStorage, env: Record<string, unknown>, credentials: CredentialSource | null = null) {
    this.#storage = storage;
    this.#env = env;
    this.#credentials = credentials;
  }

  /** Restores upstream connections from storage (after an eviction or restart). */
  restore(config: TenantConfig, clientCapabilities: Record<string, unknown>): void {
    this.#clientCapabilities = clientCapabilities;
    if (this.#upstreams.size > 0) return;
    const byName = new Map(config.backends.map((b) => [b.name, b]));
    for (const info of this.#storage.readUpstreams()) {
      const backend = byName.get(info.backend);
      if (backend) this.#upstreams.set(info.backend, this.#create(backend, info));
    }
  }

  /** Infos of the backends that completed initialize, in config order. */
  infos(config: TenantConfig): UpstreamInfo[] {
    return config.backends.map((b) => this.#upstreams.get(b.name)?.info).filter((i): i is UpstreamInfo => !!i);
  }

  /** The backend's upstream, initialized if it is not yet. Concurrent callers share one handshake. */
  async get(backend: BackendConfig, signal: AbortSignal): Promise<Upstream> {
    const existing = this.#upstreams.get(backend.name);
    if (existing?.info) return existing;
    return this.#initialize(backend, signal);
  }

  /** Starts a fresh upstream session after the backend answered 404 for the old one. */
  async reinitialize(backend: BackendConfig, signal: AbortSignal): Promise<Upstream> {
    this.#upstreams.delete(backend.name);
    this.#storage.deleteUpstream(backend.name);
    return this.#initialize(backend, signal);
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
      if (!(error instanceof UpstreamError) || error.kind !== "session_expired") throw error;
      return fn(await this.reinitialize(backend, signal));
    }
  }

  /** Ends every upstream session (client DELETE, idle expiry). */
  async terminateAll(signal: AbortSignal): Promise<void> {
    const all = [...this.#upstreams.values()];
    this.#upstreams.clear();
    await Promise.allSettled(all.map((u) => u.terminate(signal)));
  }

  #initialize(backend: BackendConfig, signal: AbortSignal): Promise<Upstream> {
    const running = this.#initializing.get(backend.name);
    if (running) return running;
    const upstream = this.#create(backend, null);
    const promise = upstream
      .initialize({ capabilities: this.#clientCapabilities, clientInfo: GATEWAY_INFO }, signal)
      .then((info) => {
        this.#storage.writeUpstream(info);
        this.#upstreams.set(backend.name, upstream);
        return upstream;
      })
      .finally(() => this.#initializing.delete(backend.name));
    this.#initializing.set(backend.name, promise);
    return promise;
  }

  #create(backend: BackendConfig, info: UpstreamInfo | null): Upstream {
    const options = {
      backend: backend.name,
      url: backend.url,
      fetcher: this.#fetcher(backend),
      headers: this.#headers(backend),
      timeoutMs: backend.timeoutMs,
      info,
      ...(backend.auth && this.#credentials ? { dynamicHeaders: (signal: AbortSignal) => this.#credentials!(backend, signal) } : {}),
    };
    return backend.transport === "sse" ? new LegacySseUpstream(options) : new StreamableHttpUpstream(options);
  }

  #fetcher(backend: BackendConfig): Fetcher {
    if (backend.transport === "service") {
      const binding = backend.service ? this.#env[backend.service] : undefined;
      if (!isFetcher(binding)) {
        return async () => {
          throw new UpstreamError("unreachable", backend.name, `service binding ${backend.service ?? "?"} is not bound`);
        };
      }
      return (request) => binding.fetch(request);
    }
    return (request) => fetch(request);
  }

  /** Static headers plus secret-backed ones; the client's own headers never enter here. */
  #headers(backend: BackendConfig): Record<string, string> {
    const headers: Record<string, string> = { ...backend.headers };
    for (const [header, secret] of Object.entries(backend.secretHeaders)) {
      const value = this.#env[secret];
      if (typeof value === "string") headers[header] = value;
      else console.warn(JSON.stringify({ event: "backend_secret_missing", backend: backend.name, secret }));
    }
    return headers;
  }
}

function isFetcher(value: unknown): value is { fetch: (request: Request) => Promise<Response> } {
  return typeof value === "object" && value !== null && typeof (value as { fetch?: unknown }).fetch === "function";
}
