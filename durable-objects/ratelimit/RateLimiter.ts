/**
 * Exact request counters: one object per counted key (a tenant, a tenant's principal, or a
 * principal's tool), fixed windows, in SQLite so a counter survives eviction.
 *
 * Storage layout: counters(key, window_start, count), one row per limit the key is counted
 * under. Lifecycle: rows of past windows are overwritten by the next window; an alarm clears the
 * object a day after its last use. Trade-off: fixed windows allow up to twice the limit across a
 * window edge; in return a check is one row read and write, and the answer is exact.
 */
import { DurableObject } from "cloudflare:workers";
import type { LimitCheck, LimitResult } from "../../worker/limits/rate.ts";

/** An unused limiter deletes itself after this long. */
const IDLE_CLEANUP_MS = 24 * 3600 * 1000;
/**
 * The alarm is moved forward only when it is this much older than a day from now: setting it
 * on every hit was a storage write per request, the limiter's largest cost (docs/benchmarks.md).
 * alarm() checks the newest window before deleting, so a limiter in use is never cleared early.
 */
const ALARM_SLACK_MS = 3600 * 1000;

export class RateLimiter extends DurableObject<Env> {
  /** When the alarm was last set for (in memory; 0 after an eviction, so the next hit sets it). */
  #alarmAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS counters (id TEXT PRIMARY KEY, window_start INTEGER NOT NULL, count INTEGER NOT NULL)");
  }

  /**
   * Counts one request against every limit, unless one of them is already exhausted: a refused
   * request consumes nothing, so a client that backs off is not punished further.
   */
  async hit(checks: LimitCheck[], now = Date.now()): Promise<LimitResult> {
    const sql = this.ctx.storage.sql;
    const rows = checks.map((check) => {
      const windowMs = check.windowSeconds * 1000;
      const start = Math.floor(now / windowMs) * windowMs;
      const row = sql.exec<{ window_start: number; count: number }>("SELECT window_start, count FROM counters WHERE id = ?", check.id).toArray()[0];
      const count = row && row.window_start === start ? row.count : 0;
      return { check, start, count, windowMs };
    });
    const exhausted = rows.find((r) => r.count >= r.check.limit);
    if (exhausted) {
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((exhausted.start + exhausted.windowMs - now) / 1000)), limit: exhausted.check.id };
    }
    for (const r of rows) {
      sql.exec("INSERT OR REPLACE INTO counters (id, window_start, count) VALUES (?, ?, ?)", r.check.id, r.start, r.count + 1);
    }
    if (now + IDLE_CLEANUP_MS - this.#alarmAt > ALARM_SLACK_MS) {
      this.#alarmAt = now + IDLE_CLEANUP_MS;
      await this.ctx.storage.setAlarm(this.#alarmAt);
    }
    return { ok: true };
  }

  override async alarm(): Promise<void> {
    // Hits since the alarm was set did not move it: clear only when the newest window is a day old.
    const newest = this.ctx.storage.sql.exec<{ m: number | null }>("SELECT MAX(window_start) AS m FROM counters").one().m;
    if (newest !== null && newest + IDLE_CLEANUP_MS > Date.now()) {
      this.#alarmAt = newest + IDLE_CLEANUP_MS;
      await this.ctx.storage.setAlarm(this.#alarmAt);
      return;
    }
    await this.ctx.storage.deleteAll();
  }
}
