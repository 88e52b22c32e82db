/**
 * A session's life: created by `initialize` (or, for a 2026-07-28 client's object, by its first
 * request), touched by every request, expired by alarm after the tenant's idle time, ended by
 * DELETE. The session answers only the tenant and principal that created it.
 *
 * lastSeenAt is written at most every TOUCH_INTERVAL_MS (a quarter of the idle time when that is
 * shorter): the idle expiry needs no finer time. The alarm adds the same slack, so a session is
 * never expired while its last request is younger than the idle time.
 */
import type { InitializeInput, ModernInput } from "../../worker/engine/inputs.ts";
import { asRecord } from "../../worker/protocol/jsonrpc.ts";
import { MODERN_VERSION } from "../../worker/protocol/modern.ts";
import { negotiateVersion } from "../../worker/protocol/versions.ts";
import type { Caller } from "../../worker/engine/inputs.ts";
import type { SessionMeta, SessionStorage } from "./storage.ts";
import type { TenantConfig } from "../../worker/tenant/schema.ts";

/** The longest lastSeenAt may lag behind the last request. */
export const TOUCH_INTERVAL_MS = 5_000;

export class SessionLifecycle {
  readonly #storage: SessionStorage;
  readonly #state: DurableObjectState;
  #meta: SessionMeta | null;

  constructor(state: DurableObjectState, storage: SessionStorage) {
    this.#state = state;
    this.#storage = storage;
    this.#meta = storage.readMeta();
  }

  /** The session's facts; null before it began and after it ended. */
  get meta(): SessionMeta | null {
    return this.#meta;
  }

  /** The facts a legacy client's `initialize` negotiates (2025-11-25 basic/lifecycle). */
  static negotiate(input: InitializeInput, config: TenantConfig, now: number): SessionMeta {
    const params = input.request.params ?? {};
    return {
      tenant: config.id,
      principal: input.principal.sub,
      clientVersion: negotiateVersion(params.protocolVersion),
      clientCapabilities: asRecord(params.capabilities),
      clientInfo: asRecord(params.clientInfo),
      createdAt: now,
      lastSeenAt: now,
      idleMs: config.limits.sessionIdleMs,
    };
  }

  /** Stores the facts of a new session and sets its expiry. */
  async begin(meta: SessionMeta): Promise<void> {
    this.#meta = meta;
    this.#storage.writeMeta(meta);
    await this.#state.storage.setAlarm(meta.lastSeenAt + meta.idleMs);
  }

  /**
   * A 2026-07-28 client's object has no initialize: its first request creates the state (keyed
   * by tenant, principal and capabilities, which its name already encodes).
   */
  beginModern(input: ModernInput, config: TenantConfig): void {
    if (this.#meta) return;
    const now = Date.now();
    const meta: SessionMeta = {
      tenant: config.id,
      principal: input.principal.sub,
      clientVersion: MODERN_VERSION,
      clientCapabilities: input.clientCapabilities,
      clientInfo: input.clientInfo,
      createdAt: now,
      lastSeenAt: now,
      idleMs: config.limits.sessionIdleMs,
    };
    this.#meta = meta;
    this.#storage.writeMeta(meta);
    this.#state.waitUntil(this.#state.storage.setAlarm(now + meta.idleMs));
  }

  /**
   * The session's facts when `caller` may use it, touched; null otherwise. Anyone but its own
   * tenant and principal is told it does not exist (404), exactly as for an unknown id, so ids
   * cannot be probed (2025-11-25 basic/security_best_practices "Session Hijacking").
   */
  authorize(caller: Caller, now = Date.now()): SessionMeta | null {
    const meta = this.#meta;
    if (!meta || meta.tenant !== caller.tenant.id || meta.principal !== caller.principal.sub) return null;
    if (now - meta.lastSeenAt > touchInterval(meta)) {
      meta.lastSeenAt = now;
      this.#storage.writeMeta(meta);
    }
    return meta;
  }

  /** `logging/setLevel`: kept with the session, so it survives an eviction. */
  setLogLevel(level: string): void {
    if (!this.#meta) return;
    this.#meta.logLevel = level;
    this.#storage.writeMeta(this.#meta);
  }

  /** The alarm fired: true when the session has been idle long enough to end; else the alarm is set again. */
  async expired(now = Date.now()): Promise<boolean> {
    const meta = this.#meta;
    if (!meta) return false;
    const due = meta.lastSeenAt + meta.idleMs + touchInterval(meta);
    if (now >= due) return true;
    this.#storage.prune(now);
    await this.#state.storage.setAlarm(due);
    return false;
  }

  /** Forgets everything: the facts, the alarm, every row. */
  async forget(): Promise<void> {
    this.#meta = null;
    await this.#state.storage.deleteAlarm();
    await this.#state.storage.deleteAll();
  }
}

function touchInterval(meta: SessionMeta): number {
  return Math.min(TOUCH_INTERVAL_MS, Math.floor(meta.idleMs / 4));
}
