/**
 * The storage contract of the engine (backends.ts, catalog.ts, relay.ts): the id counter, the
 * upstream sessions, the name tables and pending server-to-client requests.
 *
 * Each home brings its own implementation. The session Durable Object keeps these in SQLite
 * (durable-objects/session/storage.ts), because a legacy session must survive an eviction. The
 * Worker's stateless home keeps a MemoryStore for as long as its isolate cache entry lives,
 * because nothing a 2026-07-28 request leaves behind must outlive the isolate.
 */
import type { NameEntry } from "../broker/naming.ts";
import type { UpstreamInfo } from "../upstream/types.ts";

/** A server-to-client request (sampling, elicitation, roots) awaiting the client's answer. */
export interface PendingRequest {
  /** The id the client sees: `<backend>:<n>`. */
  gwId: string;
  backend: string;
  /** The backend's own id, JSON-encoded so numbers and strings survive the round trip. */
  upstreamId: string;
  stream: string;
  method: string;
}

export interface SessionStore {
  /** A fresh number, unique within the store (ids sent to backends, stream names). */
  nextCounter(): number;
  readUpstreams(): UpstreamInfo[];
  writeUpstream(info: UpstreamInfo): void;
  deleteUpstream(backend: string): void;
  /** The reversible name table of one list kind (broker/naming.ts). */
  readNames(kind: string): NameEntry[];
  writeNames(kind: string, entries: readonly NameEntry[]): void;
  addPending(pending: PendingRequest, now: number): void;
  takePending(gwId: string): PendingRequest | null;
  findPendingByUpstream(backend: string, upstreamId: string): PendingRequest | null;
}

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

  addPending(pending: PendingRequest): void {
    this.#pending.set(pending.gwId, pending);
  }

  takePending(gwId: string): PendingRequest | null {
    const pending = this.#pending.get(gwId) ?? null;
    this.#pending.delete(gwId);
    return pending;
  }

  findPendingByUpstream(backend: string, upstreamId: string): PendingRequest | null {
    for (const pending of this.#pending.values()) if (pending.backend === backend && pending.upstreamId === upstreamId) return pending;
    return null;
  }
}
