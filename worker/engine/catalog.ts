/**
 * The session's merged view of its backends' tools, prompts, resources and templates.
 *
 * Each backend's complete list is fetched (following its own pagination), cached in memory and
 * dropped when that backend says the list changed, when the tenant config changes, or when the
 * `ttlMs` the backend put on it runs out (2026-07-28 server/utilities/caching; a backend that
 * gives none is cached until a change, or for the owner's default where nothing would tell it
 * of one). The merged list
 * is paged to the client with opaque cursors. The name table that routes calls is persisted, so
 * a call after an eviction still reaches the right backend without listing again.
 */
import { encodeCursor, decodeCursor } from "../broker/cursor.ts";
import { curateList } from "../broker/curation.ts";
import { LISTS, mergeList, offers, type BackendList, type Item, type ListKind, type MergedList } from "../broker/merge.ts";
import { mentionsUris, UriMap, withResultUris, withUiResource } from "../broker/uris.ts";
import { resolveName, type NameEntry } from "../broker/naming.ts";
import { fnv1a } from "../protocol/encoding.ts";
import { isErrorResponse, isResponse, type JsonRpcMessage, type JsonRpcRequest, type RequestId } from "../protocol/jsonrpc.ts";
import type { Upstream } from "../upstream/types.ts";
import { GatewayError } from "../protocol/errors.ts";
import type { BackendConfig, TenantConfig } from "../tenant/schema.ts";
import { DEFAULT_CATALOG } from "../tenant/catalog.ts";
import { GrantRequiredError, UpstreamError } from "../upstream/errors.ts";
import type { Backends } from "./backends.ts";
import { fanOut, failureReason, maxTimeout } from "./fanout.ts";
import type { SessionStore } from "./store.ts";
import type { PinInput, PinStatus } from "../policy/pinning.ts";
import { toolHash } from "../policy/pinning.ts";
import { logger } from "../observe/log.ts";

/** A backend listing more pages than this is cut off: a loop guard, far above real catalogs. */
export const MAX_PAGES_PER_BACKEND = 50;

export interface ListOutcome {
  /** The page; `ttlMs` is the shortest freshness any contributing backend gave, absent when none gave one. */
  result: Record<string, unknown>;
  /** Backends left out of the result (fail-open), with a log-safe reason. */
  failed: { backend: string; reason: string }[];
}

/** Records tool definitions with the tenant's pin store and says which ones changed. */
export type Pinner = (tools: PinInput[]) => Promise<Record<string, PinStatus>>;

/** Whether the client may see an item, by the backend it comes from and its name (or URI) there. */
export type Visibility = (kind: ListKind, origin: { backend: string; original: string }) => boolean;

export interface CatalogOptions {
  /** How long a list whose backend gave no `ttlMs` is cached; null: until a change is heard of. */
  defaultTtlMs?: number | null;
  now?: () => number;
}

/** A backend's complete list as fetched, with the freshness it claimed. */
interface Cached {
  items: Item[];
  /** The backend's `ttlMs` (the smallest over its pages), when it gave one. */
  ttlMs: number | undefined;
  /** When the cached copy stops being used (Infinity: until a change). */
  until: number;
}

export class Catalog {
  readonly #storage: SessionStore;
  readonly #backends: Backends;
  readonly #nextId: () => number;
  readonly #pinner: Pinner;
  /** kind -> backend -> that backend's complete list */
  readonly #cache = new Map<ListKind, Map<string, Cached>>();
  readonly #defaultTtlMs: number | null;
  readonly #now: () => number;
  /** backend -> tool -> pin status, from the last time the backend's tools were fetched */
  readonly #pins = new Map<string, Map<string, PinStatus>>();
  #configVersion = 0;
  /** The last merged (and, for tools, curated) list of each kind, with what it was built from. */
  readonly #merged = new Map<ListKind, { version: number; lists: BackendList[]; merged: MergedList }>();
  /** The tenant's pinning mode as last seen; until a config is seen, tools are pinned. */
  #pinning: TenantConfig["policy"]["pinning"] = "flag";

  constructor(storage: SessionStore, backends: Backends, nextId: () => number, pinner: Pinner, options: CatalogOptions = {}) {
    this.#defaultTtlMs = options.defaultTtlMs ?? null;
    this.#now = options.now ?? Date.now;
    this.#storage = storage;
    this.#backends = backends;
    this.#nextId = nextId;
    this.#pinner = pinner;
  }

  /** The pin status of a backend tool as last seen ("approved" when never seen or pinning is off). */
  pinStatus(backend: string, tool: string): PinStatus {
    return this.#pins.get(backend)?.get(tool) ?? "approved";
  }

  /** Drops every cache built on another config version (backends or naming may have changed). */
  useConfig(config: TenantConfig): void {
    this.#pinning = config.policy.pinning;
    if (config.version !== this.#configVersion) {
      this.#cache.clear();
      this.#configVersion = config.version;
    }
  }

  invalidate(backend: string, kinds: readonly ListKind[]): void {
    for (const kind of kinds) this.#cache.get(kind)?.delete(backend);
  }

  /** Answers a list request: one page of the merged list. */
  async list(
    kind: ListKind,
    params: Record<string, unknown> | undefined,
    config: TenantConfig,
    signal: AbortSignal,
    visible: Visibility = () => true,
  ): Promise<ListOutcome> {
    const cursor = params?.cursor;
    const position = cursor === undefined ? { offset: 0, generation: null } : decodeCursor(cursor);
    if (position === null) throw new GatewayError("invalid_params", { publicMessage: "Invalid cursor" });
    const { merged, failed, ttlMs } = await this.merged(kind, config, signal);
    // Hidden items are left out before paging, so pages and cursors only ever see visible ones.
    const shown = merged.items.filter((_, i) => visible(kind, merged.origins[i]!));
    const generation = fnv1a(JSON.stringify(shown.map((i) => i.name ?? i.uri ?? i.uriTemplate)));
    if (position.generation !== null && position.generation !== generation) {
      // The list changed under the client's feet; it must start over (the client was told by list_changed).
      throw new GatewayError("invalid_params", { publicMessage: "Invalid cursor: the list changed" });
    }
    const pageSize = config.limits.pageSize;
    const page = shown.slice(position.offset, position.offset + pageSize);
    const result: Record<string, unknown> = { [LISTS[kind].field]: page };
    if (position.offset + pageSize < shown.length) {
      result.nextCursor = encodeCursor({ offset: position.offset + pageSize, generation });
    }
    // The merged answer is no fresher than its stalest part (2026-07-28 server/utilities/caching).
    // Legacy clients never see it (worker/broker/filter.ts drops ttlMs for them).
    if (ttlMs !== undefined) result.ttlMs = ttlMs;
    return { result, failed };
  }

  /**
   * The complete merged list of a kind (tools curated: broker/curation.ts), before policy. The
   * same object comes back while no backend's list and not the config changed, so what is built
   * on it (search mode's index) is built once per catalog version.
   */
  async merged(kind: ListKind, config: TenantConfig, signal: AbortSignal): Promise<{ merged: MergedList; failed: ListOutcome["failed"]; ttlMs: number | undefined }> {
    const { lists, failed, ttlMs } = await this.#load(kind, config, signal);
    const last = this.#merged.get(kind);
    const same = last && last.version === config.version && last.lists.length === lists.length && last.lists.every((l, i) => l.backend === lists[i]!.backend && l.items === lists[i]!.items);
    if (same) {
      // Written on every list as before: the store may be newer than this catalog (an eviction).
      if (LISTS[kind].named) this.#storage.writeNames(kind, last.merged.names);
      return { merged: last.merged, failed, ttlMs };
    }
    let merged = mergeList(kind, lists, config.naming);
    if (kind === "tools") {
      const curated = curateList(merged, config.catalog ?? DEFAULT_CATALOG, config.naming.separator);
      for (const y of curated.yielded) logger.warn("alias_yielded", { tenant: config.id, alias: y.alias, backend: y.backend, tool: y.original });
      merged = { ...curated, items: await this.#withUiUris(curated.items, curated.origins, config, signal) };
    }
    if (LISTS[kind].named) this.#storage.writeNames(kind, merged.names);
    this.#merged.set(kind, { version: config.version, lists, merged });
    return { merged, failed, ttlMs };
  }

  /** Which backend owns an exposed tool or prompt name, listing first if the name is not known yet. */
  async resolve(kind: "tools" | "prompts", exposed: string, config: TenantConfig, signal: AbortSignal): Promise<NameEntry | undefined> {
    let entry = resolveName(this.#storage.readNames(kind), exposed);
    if (entry === undefined && !this.#complete(kind, config)) {
      await this.list(kind, undefined, config, signal);
      entry = resolveName(this.#storage.readNames(kind), exposed);
    }
    return entry !== undefined && config.backends.some((b) => b.name === entry!.backend) ? entry : undefined;
  }

  /**
   * Fetches (and so pins) a backend's tools when they are not in hand: after the backend said its
   * list changed, or after an eviction. A call under quarantine is then decided on a fresh pin
   * status, never on one from before a change the client may have ignored.
   */
  /** The backend's definition of an exposed tool (for its `x-mcp-header` annotations), if known. */
  async definition(exposed: string, config: TenantConfig, signal: AbortSignal): Promise<Item | undefined> {
    const entry = await this.resolve("tools", exposed, config, signal);
    if (!entry) return undefined;
    return this.#cache.get("tools")?.get(entry.backend)?.items.find((tool) => tool.name === entry.original);
  }

  /** A backend tool's definition from the cache (no fetch), for headers computed at call time. */
  cachedDefinition(backend: string, tool: string): Item | undefined {
    return this.#cache.get("tools")?.get(backend)?.items.find((t) => t.name === tool);
  }

  /** Records a pin status learned elsewhere (the tenant's pin store). */
  notePin(backend: string, tool: string, status: PinStatus): void {
    let statuses = this.#pins.get(backend);
    if (!statuses) this.#pins.set(backend, (statuses = new Map()));
    statuses.set(tool, status);
  }

  async ensureTools(backend: BackendConfig, signal: AbortSignal): Promise<void> {
    let cached = this.#cache.get("tools");
    if (this.#fresh(cached?.get(backend.name))) return;
    // Bounded by the backend's own deadline, as every list fetch is (fanout.ts).
    const settled = await fanOut([backend], signal, (b, s) => this.#fetchAll("tools", b, s));
    const fetched = settled.ok[0];
    if (!fetched) throw settled.failed[0]!.error;
    if (!cached) this.#cache.set("tools", (cached = new Map()));
    cached.set(backend.name, fetched.value);
  }

  /** Which backend serves a resource URI a client sent, and the URI as that backend knows it (broker/uris.ts). */
  async resolveUri(uri: string, config: TenantConfig, signal: AbortSignal): Promise<{ backend: string; original: string } | undefined> {
    return (await this.uris(config, signal)).resolve(uri);
  }

  /** The resource URI map over the lists in hand (fetched when they are not). */
  async uris(config: TenantConfig, signal: AbortSignal): Promise<UriMap> {
    const resources = await this.#load("resources", config, signal);
    const templates = await this.#load("resourceTemplates", config, signal);
    const backends = config.backends.map((b) => b.name);
    return new UriMap(config.naming.resources, config.naming.separator, backends, resources.lists, templates.lists);
  }

  /**
   * A backend's message with the resource URIs in it as the client knows them: a result of
   * resources/read, tools/call or prompts/get (contents, resource links, embedded resources), or
   * notifications/resources/updated. Most mention no URI and cost nothing.
   */
  async exposeUris<T extends JsonRpcMessage>(backend: string, message: T, config: TenantConfig | null): Promise<T> {
    if (!config || config.naming.resources === "never") return message;
    const params = "method" in message ? message.params : undefined;
    if (params && typeof params.uri === "string") {
      const uri = params.uri;
      const map = await this.uris(config, AbortSignal.timeout(maxTimeout(config))).catch(() => null);
      return map ? ({ ...message, params: { ...params, uri: map.expose(backend, uri) } } as T) : message;
    }
    if (!("result" in message) || !mentionsUris(message.result)) return message;
    const map = await this.uris(config, AbortSignal.timeout(maxTimeout(config))).catch(() => null);
    return map ? ({ ...message, result: withResultUris(message.result, (uri) => map.expose(backend, uri)) } as T) : message;
  }

  /** Tools that name an MCP App's UI resource name it as the client can read it. */
  async #withUiUris(items: Item[], origins: { backend: string }[], config: TenantConfig, signal: AbortSignal): Promise<Item[]> {
    if (config.naming.resources === "never" || !items.some((item) => withUiResource(item, (u) => u) !== item)) return items;
    const map = await this.uris(config, signal).catch(() => null);
    return map ? items.map((item, i) => withUiResource(item, (uri) => map.expose(origins[i]!.backend, uri))) : items;
  }

  #complete(kind: ListKind, config: TenantConfig): boolean {
    const cached = this.#cache.get(kind);
    return cached !== undefined && config.backends.every((b) => this.#fresh(cached.get(b.name)));
  }

  #fresh(entry: Cached | undefined): entry is Cached {
    return entry !== undefined && entry.until > this.#now();
  }

  async #load(kind: ListKind, config: TenantConfig, signal: AbortSignal): Promise<{ lists: BackendList[]; failed: ListOutcome["failed"]; ttlMs: number | undefined }> {
    this.useConfig(config);
    let cached = this.#cache.get(kind);
    if (!cached) this.#cache.set(kind, (cached = new Map()));
    const missing = config.backends.filter((b) => !this.#fresh(cached!.get(b.name)));
    const settled = await fanOut(missing, signal, (backend, s) => this.#fetchAll(kind, backend, s));
    for (const { backend, value } of settled.ok) cached.set(backend, value);
    // A backend that acts for the user, who has not connected their account there: it offers
    // one tool that answers with the connect link (docs/connections.md), and is asked again on
    // the next list, so its own tools appear once the user has connected.
    const unconnected = new Map<string, Item[]>();
    settled.failed = settled.failed.filter((f) => {
      if (!(f.error instanceof GrantRequiredError)) return true;
      unconnected.set(f.backend, kind === "tools" ? [connectTool(f.backend)] : []);
      return false;
    });
    const failed = settled.failed.map((f) => ({ backend: f.backend, reason: failureReason(f.error) }));
    for (const f of settled.failed) {
      logger.warn("backend_list_failed", { tenant: config.id, backend: f.backend, kind, reason: failureReason(f.error), detail: String(f.error) });
    }
    if (failed.length > 0) {
      // Failure semantics (engine/README.md): with nothing left the answer is "No backend is
      // available" in either mode; fail-closed refuses a partial answer, fail-open gives it.
      if (failed.length === config.backends.length) throw new GatewayError("all_backends_failed", { detail: `${kind}: every backend failed` });
      if (config.failureMode === "closed") throw new GatewayError("backend_unavailable", { detail: `${kind}: ${failed.map((f) => f.backend).join(", ")}` });
    }
    // A backend that failed this time is left out, even when an expired copy of its list is at hand.
    const failedNames = new Set(failed.map((f) => f.backend));
    const contributing = config.backends.filter((b) => cached!.has(b.name) && !failedNames.has(b.name)).map((b) => cached!.get(b.name)!);
    const lists = config.backends
      .filter((b) => (cached!.has(b.name) || unconnected.has(b.name)) && !failedNames.has(b.name))
      .map((b) => ({ backend: b.name, items: unconnected.get(b.name) ?? cached!.get(b.name)!.items }));
    const ttls = contributing.map((c) => c.ttlMs).filter((t): t is number => t !== undefined);
    return { lists, failed, ttlMs: ttls.length > 0 ? Math.min(...ttls) : undefined };
  }

  /** A backend's complete list; an empty one when it does not offer this kind. */
  async #fetchAll(kind: ListKind, backend: BackendConfig, signal: AbortSignal): Promise<Cached> {
    const fetchedAt = this.#now();
    const { items, ttlMs } = await this.#backends.withUpstream(backend, signal, async (upstream) => {
      const list = await fetchList(upstream, kind, signal, this.#nextId);
      // With pinning off nothing reads the pins: hashing every definition and the pin store's
      // round trip were a large share of a listing's CPU time (docs/benchmarks.md).
      if (kind === "tools" && this.#pinning !== "off") await this.#pin(backend.name, list.items);
      return list;
    });
    const lifetime = ttlMs ?? this.#defaultTtlMs;
    return { items, ttlMs, until: lifetime === null ? Infinity : fetchedAt + lifetime };
  }

  /** Pins the backend's tool definitions; a pin store failure leaves the last known statuses. */
  async #pin(backend: string, tools: Item[]): Promise<void> {
    const named = tools.filter((t): t is Item & { name: string } => typeof t.name === "string");
    try {
      const inputs = await Promise.all(named.map(async (t) => ({ backend, tool: t.name, hash: await toolHash(t) })));
      const statuses = await this.#pinner(inputs);
      this.#pins.set(backend, new Map(named.map((t) => [t.name, statuses[`${backend}\u0000${t.name}`] ?? "approved"])));
    } catch (error) {
      logger.warn("pinning_failed", { backend, error: String(error) });
    }
  }
}

/**
 * A backend's complete list of one kind, following its own pagination (at most
 * MAX_PAGES_PER_BACKEND pages), with the shortest `ttlMs` its pages gave. Empty when the
 * backend does not offer the kind, or answers "method not found" after all.
 */
export async function fetchList(upstream: Upstream, kind: ListKind, signal: AbortSignal, nextId: () => RequestId): Promise<{ items: Item[]; ttlMs: number | undefined }> {
  const items: Item[] = [];
  let ttlMs: number | undefined;
  if (!offers(upstream.info?.capabilities ?? {}, kind)) return { items, ttlMs };
  const { method, field } = LISTS[kind];
  let cursor: unknown;
  for (let page = 0; page < MAX_PAGES_PER_BACKEND; page++) {
    const request: JsonRpcRequest = { jsonrpc: "2.0", id: nextId(), method, ...(cursor === undefined ? {} : { params: { cursor } }) };
    let reply: Record<string, unknown> | undefined;
    for await (const message of upstream.request(request, signal)) {
      if (!isResponse(message) || message.id !== request.id) continue;
      if (isErrorResponse(message)) {
        if (message.error.code === -32601) return { items, ttlMs };
        throw new UpstreamError("bad_response", upstream.backend, `${method} failed: ${message.error.code}`);
      }
      reply = message.result;
    }
    if (!reply) throw new UpstreamError("bad_response", upstream.backend, `${method}: no response`);
    if (typeof reply.ttlMs === "number" && Number.isFinite(reply.ttlMs) && reply.ttlMs >= 0) ttlMs = Math.min(ttlMs ?? Infinity, reply.ttlMs);
    const pageItems = reply[field];
    if (Array.isArray(pageItems)) items.push(...pageItems.filter((i): i is Item => typeof i === "object" && i !== null));
    cursor = reply.nextCursor;
    if (typeof cursor !== "string" || cursor === "") break;
  }
  return { items, ttlMs };
}

/** The backend's own name of the tool an unconnected user-OAuth backend offers. */
export const CONNECT_TOOL = "connect";

/** What a user sees of a backend they have not connected yet: one tool that gives them the link. */
function connectTool(backend: string): Item {
  return {
    name: CONNECT_TOOL,
    title: `Connect your ${backend} account`,
    description: `The ${backend} tools act with your own ${backend} account, which is not connected yet. Call this tool to get the link where you connect it; the ${backend} tools appear once you have.`,
    inputSchema: { type: "object", properties: {} },
    annotations: { readOnlyHint: true, openWorldHint: false },
  };
}
