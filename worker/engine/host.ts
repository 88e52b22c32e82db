/**
 * The contract between the engine and a home. A home (the session Durable Object, or the
 * Worker's stateless home) provides storage, the request's facts and a way to keep background
 * work alive; createEngine (engine.ts) wires the engine's parts over it, the same way for both
 * homes. See README.md beside this file for the pipeline and the failure semantics.
 */
import type { Env } from "../env.ts";
import type { SessionObserver } from "./observer.ts";
import type { PinInput, PinStatus } from "../policy/pinning.ts";
import type { BackendConfig, TenantConfig } from "../tenant/schema.ts";
import type { Caller } from "./inputs.ts";
import type { ConfigAuthority } from "./policyWatch.ts";
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
