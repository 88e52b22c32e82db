/**
 * The contract between the engine and a home. A home (the session Durable Object, or the
 * Worker's stateless home) provides storage, the request's facts and a way to keep background
 * work alive; createEngine wires the engine's parts over it, the same way for both homes.
 * See README.md beside this file for the pipeline and the failure semantics.
 */
import type { Env } from "../env.ts";
import type { SessionObserver } from "../observe/session.ts";
import type { PinInput, PinStatus } from "../policy/pinning.ts";
import type { BackendConfig, TenantConfig } from "../tenant/schema.ts";
import { Backends, type CredentialSource } from "./backends.ts";
import { Catalog, type CatalogOptions } from "./catalog.ts";
import { Handler } from "./handler.ts";
import type { Caller } from "./inputs.ts";
import type { ConfigAuthority } from "./policyWatch.ts";
import { Relay } from "./relay.ts";
import type { SessionStore } from "./store.ts";

/** What the engine knows of the client behind the request it serves. */
export interface ClientFacts {
  /** The protocol revision the client speaks (negotiated, or 2026-07-28). */
  version: string;
  capabilities: Record<string, unknown>;
  /** `clientInfo.name`, when the client gave one (audit rows). */
  name: string | undefined;
  /**
   * The level below which the gateway's own log messages are dropped: a legacy session's
   * `logging/setLevel`, or a 2026-07-28 request's own `_meta` (never another request's).
   */
  logLevel: string | undefined;
}

/** The tenant's authority (its TenantObject): the config version, and the pin store. */
export interface TenantAuthority extends ConfigAuthority {
  pin(tools: PinInput[]): Promise<Record<string, PinStatus>>;
  status(backend: string, tool: string): Promise<PinStatus | null>;
}

export interface EngineHost {
  readonly env: Env;
  /** Ids, upstream sessions, name tables, pending server-to-client requests (store.ts). */
  readonly store: SessionStore;
  /** What audit rows and log lines call the session. */
  readonly sessionId: string;
  readonly observer: SessionObserver;
  /** Keeps work alive past the response (audit rows, metrics, a stream's pump). */
  waitUntil(promise: Promise<unknown>): void;
  /** The newest tenant config the home holds (a running call is re-decided on it). */
  config(): TenantConfig | null;
  /** Who sent the request being served. */
  caller(): Caller;
  client(): ClientFacts;
  tenant(): TenantAuthority | null;
  /** A legacy client's resources/subscribe changed what a modern backend's listen stream must ask for. */
  resubscribe?(backend: BackendConfig): void;
}

export interface Engine {
  backends: Backends;
  catalog: Catalog;
  relay: Relay;
  handler: Handler;
}

export interface EngineOptions {
  /** Outbound credentials per backend (worker/upstream/credentials.ts), or none. */
  credentials: CredentialSource | null;
  catalog?: CatalogOptions;
  /** Parts a home keeps for longer than one engine (the stateless home's per-principal cache). */
  shared?: { backends: Backends; catalog: Catalog };
}

export function createEngine(host: EngineHost, options: EngineOptions): Engine {
  const backends = options.shared?.backends ?? new Backends(host.store, host.env, options.credentials);
  const catalog = options.shared?.catalog ?? new Catalog(host.store, backends, () => host.store.nextCounter(), pinnerOf(host), options.catalog);
  const relay = new Relay(host, { backends, catalog });
  const handler = new Handler(host, { backends, catalog, relay });
  return { backends, catalog, relay, handler };
}

/** Records tool definitions with the tenant's pin store (catalog.ts pins what it lists). */
export function pinnerOf(host: Pick<EngineHost, "tenant">): (tools: PinInput[]) => Promise<Record<string, PinStatus>> {
  return async (tools) => {
    const authority = host.tenant();
    if (!authority) throw new Error("no tenant authority to pin with");
    return authority.pin(tools);
  };
}
