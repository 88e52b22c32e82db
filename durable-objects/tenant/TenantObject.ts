/**
 * The authority on one tenant's configuration: the current config and its version, and the
 * pinned tool definitions. One object per tenant, named by the tenant id.
 *
 * Why besides KV: KV replicates configs worldwide but takes a minute or more to propagate. This
 * object answers "which version is current?" at once, so a change reaches every live session
 * within seconds; KV stays the cheap bulk read for the document itself.
 *
 * Storage layout
 *   config(k = 'current', v)            the tenant document (JSON), version inside
 *   pins(backend, tool, hash, approved_hash, status, first_seen, changed_at)
 *                                       status: approved | changed; approved_hash is what an admin
 *                                       (or first sight) accepted
 */
import { DurableObject } from "cloudflare:workers";
import type { TenantConfig } from "../../worker/tenant/schema.ts";
import { logger } from "../../worker/observe/log.ts";
import type { PinInput, PinRecord, PinStatus } from "../../worker/policy/pinning.ts";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS config (k TEXT PRIMARY KEY, v TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS pins (backend TEXT NOT NULL, tool TEXT NOT NULL, hash TEXT NOT NULL, approved_hash TEXT NOT NULL,
    status TEXT NOT NULL, first_seen INTEGER NOT NULL, changed_at INTEGER, PRIMARY KEY (backend, tool));
`;

export class TenantObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA);
  }

  /** The current version, 0 when the tenant does not exist. */
  async version(): Promise<number> {
    return this.#current()?.version ?? 0;
  }

  async config(): Promise<TenantConfig | null> {
    return this.#current();
  }

  /** Stores a new config; its version must be newer than the stored one (writes never go back). */
  async put(config: TenantConfig): Promise<boolean> {
    const current = this.#current();
    if (current && current.version >= config.version) return false;
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO config (k, v) VALUES ('current', ?)", JSON.stringify(config));
    return true;
  }

  /** Deletes the tenant. Pins go too: a tenant created again under this id starts fresh. */
  async remove(): Promise<void> {
    await this.ctx.storage.deleteAll();
    // deleteAll() drops the tables too, and this instance goes on answering: without them every
    // later call (a GET, a PUT creating the tenant again, any request naming it) was a 500.
    this.ctx.storage.sql.exec(SCHEMA);
  }

  /**
   * Records what backends say their tools are. A tool seen for the first time is approved as it
   * is (trust on first use); a definition that differs from the approved one is marked changed
   * until an admin approves it; returning to the approved definition clears the mark.
   */
  async pin(tools: PinInput[], now = Date.now()): Promise<Record<string, PinStatus>> {
    const sql = this.ctx.storage.sql;
    const statuses: Record<string, PinStatus> = {};
    for (const t of tools) {
      const row = sql.exec<{ approved_hash: string; hash: string; status: string }>(
        "SELECT approved_hash, hash, status FROM pins WHERE backend = ? AND tool = ?",
        t.backend,
        t.tool,
      ).toArray()[0];
      let status: PinStatus;
      if (!row) {
        sql.exec("INSERT INTO pins (backend, tool, hash, approved_hash, status, first_seen) VALUES (?, ?, ?, ?, 'approved', ?)", t.backend, t.tool, t.hash, t.hash, now);
        status = "approved";
      } else if (row.approved_hash === t.hash) {
        if (row.status !== "approved" || row.hash !== t.hash) sql.exec("UPDATE pins SET hash = ?, status = 'approved', changed_at = NULL WHERE backend = ? AND tool = ?", t.hash, t.backend, t.tool);
        status = "approved";
      } else {
        if (row.hash !== t.hash || row.status !== "changed") {
          sql.exec("UPDATE pins SET hash = ?, status = 'changed', changed_at = ? WHERE backend = ? AND tool = ?", t.hash, now, t.backend, t.tool);
          logger.warn("tool_definition_changed", { tenant: this.#current()?.id, backend: t.backend, tool: t.tool });
        }
        status = "changed";
      }
      statuses[`${t.backend}\u0000${t.tool}`] = status;
    }
    return statuses;
  }

  /** One tool's status as the tenant knows it (any session may have seen its definition change). */
  async status(backend: string, tool: string): Promise<PinStatus | null> {
    const row = this.ctx.storage.sql.exec<{ status: string }>("SELECT status FROM pins WHERE backend = ? AND tool = ?", backend, tool).toArray()[0];
    return row ? (row.status as PinStatus) : null;
  }

  async pins(): Promise<PinRecord[]> {
    return this.ctx.storage.sql
      .exec<{ backend: string; tool: string; hash: string; approved_hash: string; status: string; first_seen: number; changed_at: number | null }>(
        "SELECT * FROM pins ORDER BY backend, tool",
      )
      .toArray()
      .map((r) => ({ backend: r.backend, tool: r.tool, hash: r.hash, approvedHash: r.approved_hash, status: r.status as PinStatus, firstSeen: r.first_seen, changedAt: r.changed_at }));
  }

  /**
   * An admin accepts a tool's current definition. Bumps nothing in the config, but sessions learn
   * of it through the version: the caller (admin API) bumps the tenant version after approving.
   */
  async approve(backend: string, tool: string): Promise<boolean> {
    const cursor = this.ctx.storage.sql.exec("UPDATE pins SET approved_hash = hash, status = 'approved', changed_at = NULL WHERE backend = ? AND tool = ?", backend, tool);
    return cursor.rowsWritten > 0;
  }

  #current(): TenantConfig | null {
    const row = this.ctx.storage.sql.exec<{ v: string }>("SELECT v FROM config WHERE k = 'current'").toArray()[0];
    return row ? (JSON.parse(row.v) as TenantConfig) : null;
  }
}
