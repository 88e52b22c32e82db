/**
 * ⑦ Policy freshness while replies run. A home decides each request on the tenant config it
 * was handed, but a call, a reply stream or a listen stream can outlive that config: a tool
 * revoked by an admin must stop streaming within seconds even when the client sends nothing
 * (docs/policy.md "Changing it at runtime"). So while anything that depends on the config is
 * running, the tenant's version is asked of its authority (the TenantObject, strongly
 * consistent) every POLICY_CHECK_INTERVAL_MS, and a newer config is handed to `onNewer`.
 *
 * One timer per watch however many holders it has; it stops when the last one lets go (or,
 * for a home that tracks its open streams itself, when `needed()` says nothing is open).
 */
import type { TenantConfig } from "../tenant/schema.ts";
import { logger } from "../observe/log.ts";

/** How often a running reply checks the tenant's config version: "within seconds" of a change. */
export const POLICY_CHECK_INTERVAL_MS = 2_000;

/** The tenant's authority on its current config (the TenantObject's RPC surface, or a test's). */
export interface ConfigAuthority {
  version(): Promise<number>;
  config(): Promise<TenantConfig | null>;
}

export interface PolicyWatchOptions {
  /** The authority to ask; null while the home does not know its tenant yet (nothing is asked). */
  authority(): ConfigAuthority | null;
  /** The version the home runs now. */
  current(): number;
  /** A newer config arrived. */
  onNewer(config: TenantConfig): void;
  /** For a home that tracks what is open itself: the watch stops at a tick where this is false and nothing holds it. */
  needed?(): boolean;
  intervalMs?: number;
}

export class PolicyWatch {
  readonly #options: PolicyWatchOptions;
  #timer: ReturnType<typeof setInterval> | null = null;
  #holders = 0;
  #checking = false;

  constructor(options: PolicyWatchOptions) {
    this.#options = options;
  }

  /** Watches until the returned function is called (once per holder). */
  hold(): () => void {
    this.#holders++;
    this.start();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holders--;
      if (this.#holders === 0 && !this.#options.needed?.()) this.stop();
    };
  }

  /** Starts the timer if it is not running (a home with `needed()` calls this when it opens something). */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.#tick(), this.#options.intervalMs ?? POLICY_CHECK_INTERVAL_MS);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #tick(): void {
    if (this.#holders === 0 && this.#options.needed?.() !== true) {
      this.stop();
      return;
    }
    const authority = this.#options.authority();
    // One question at a time: a slow authority must not pile up overlapping checks.
    if (!authority || this.#checking) return;
    this.#checking = true;
    void this.#check(authority)
      .catch((error) => logger.warn("policy_check_failed", { error: String(error) }))
      .finally(() => (this.#checking = false));
  }

  async #check(authority: ConfigAuthority): Promise<void> {
    const version = await authority.version();
    if (version <= this.#options.current()) return;
    const fresh = await authority.config();
    if (fresh && fresh.version > this.#options.current()) this.#options.onNewer(fresh);
  }
}
