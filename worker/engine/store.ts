/**
 * What the shared session core (backends.ts, catalog.ts, relay.ts) needs from storage: the id
 * counter, the upstream sessions, the name tables and pending server-to-client requests. The
 * session object hands it its SQLite storage (storage.ts); the Worker's stateless path
 * (worker/dispatch/stateless.ts) hands it a MemoryStore that lives as long as the isolate's
 * cache entry, because nothing it holds there must survive an eviction.
 */
import type { NameEntry } from "../broker/naming.ts";
import type { UpstreamInfo } from "../upstream/types.ts";
import type { PendingRequest, SessionStorage } from "../../durable-objects/session/storage.ts";

export type SessionStore = Pick<
  SessionStorage,
  "nextCounter" | "readUpstreams" | "writeUpstream" | "deleteUpstream" | "readNames" | "writeNames" | "addPending" | "takePending" | "findPendingByUpstream"
>;

/** The same contract in memory: nothing persisted, nothing shared beyond the object that holds it. */
export class MemoryStore implements SessionStore {
  #counter = 0;
  readonly #upstreams = new Map<string, UpstreamInfo>();
  readonly #names = new Map<string, NameEntry[]>();
  readonly #pending = new Map<string, PendingRequest>();

  nextCounter(): number {
    return ++this.#counter;
  }

  readUpstreams(): UpstreamInfo[] {
    return [...this.#upstreams.values()];
  }

  writeUpstream(info: UpstreamInfo): void {
    this.#upstreams.set(info.backend, info);
  }

  deleteUpstream(backend: string): void {
    this.#upstreams.delete(backend);
  }

  readNames(kind: string): NameEntry[] {
    return this.#names.get(kind) ?? [];
  }

  writeNames(kind: string, entries: readonly NameEntry[]): void {
    this.#names.set(kind, [...entries]);
  }

  addPending(p: PendingRequest): void {
    this.#pending.set(p.gwId, p);
  }

  takePending(gwId: string): PendingRequest | null {
    const p = this.#pending.get(gwId) ?? null;
    this.#pending.delete(gwId);
    return p;
  }

  findPendingByUpstream(backend: string, upstreamId: string): PendingRequest | null {
    for (const p of this.#pending.values()) if (p.backend === backend && p.upstreamId === upstreamId) return p;
    return null;
  }
}
