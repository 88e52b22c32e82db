/**
 * ⑥ Dispatch, stateless: 2026-07-28 requests of a tenant whose backends all speak 2026-07-28 are
 * served in the Worker, with no Durable Object hop (issue 5; DESIGN "Two protocol eras").
 *
 * Why this is safe: a modern client holds no session, and a modern backend holds none either,
 * so nothing has to outlive the request. The decisions are the session object's own
 * (durable-objects/session/dispatch.ts, serveModern.ts); what differs is where the pieces live:
 *
 * - **Era.** A backend declared `era: "modern"` is taken at its word. One on `auto` is probed
 *   with `server/discover` once; the answer is remembered in the isolate for ERA_MEMO_TTL_MS,
 *   keyed by tenant, config version and URL. Any legacy backend (declared, detected, or on the
 *   2024-11-05 SSE transport) sends the tenant's modern requests to the session object, as does
 *   a probe that could not decide (a backend down).
 * - **Catalog.** Backend lists and upstream infos are cached in the isolate per tenant,
 *   principal and declared capabilities (what a principal sees is policy-filtered, and what
 *   backends offer may depend on the capabilities), dropped on a new config version, bounded to
 *   CONTEXT_MAX entries (least recently used first), and expired by the backends' `ttlMs`
 *   (2026-07-28 server/utilities/caching) or LIST_TTL_MS when a backend gives none: with no
 *   listen stream open, nothing else would tell this isolate a list changed.
 * - **Sealed requestState.** The key is derived from the `STATE_SECRET` secret, so a state
 *   issued by one isolate opens in any other. Without that secret the path is off and the
 *   session object serves every modern request, as before.
 * - **Listen.** `subscriptions/listen` is held by this invocation: one listen stream per backend,
 *   merged, closed when the client goes away; a new tenant config version while it is open is
 *   announced as list changes, as a session object announces it.
 */
import type { Env } from "../env.ts";
import { canonicalJson, fnv1a } from "../protocol/encoding.ts";
import { StateSealer, type SealedState } from "../broker/sealed.ts";
import { MODERN_VERSION } from "../protocol/modern.ts";
import { encodeComment, encodeEvent, SSE_HEADERS } from "../protocol/sse.ts";
import type { JsonRpcMessage } from "../protocol/jsonrpc.ts";
import type { BackendConfig, TenantConfig } from "../tenant/schema.ts";
import { tenantObject } from "../tenant/store.ts";
import { UpstreamError } from "../upstream/errors.ts";
import { OutboundCredentials } from "../upstream/credentials.ts";
import { SessionObserver } from "../observe/session.ts";
import { logger } from "../observe/log.ts";
import { Backends, type CredentialSource } from "../engine/backends.ts";
import { Catalog } from "../engine/catalog.ts";
import { Dispatcher, maxTimeout } from "../engine/handler.ts";
import { bounded, failureReason, fanOut } from "../engine/fanout.ts";
import { honoured, LIST_TTL_MS, listenFilter, tagged, wanted } from "../engine/listen.ts";
import { KEEPALIVE_INTERVAL_MS } from "../../durable-objects/session/outbox.ts";
import { Relay } from "../engine/relay.ts";
import type { ModernInput } from "../engine/inputs.ts";
import { serveModern } from "../engine/modern.ts";
import { POLICY_CHECK_INTERVAL_MS } from "../../durable-objects/session/SessionObject.ts";
import { MemoryStore } from "../engine/store.ts";

/** How long a backend's detected era is trusted before it is probed again. */
export const ERA_MEMO_TTL_MS = 5 * 60_000;
/** How long a probe that could not decide (a backend down or slow) sends the tenant to session objects before probing again. */
export const ERA_UNDECIDED_TTL_MS = 30_000;
const ERA_MEMO_MAX = 1_000;
/** Cached catalogs per isolate (tenant × principal × capabilities). */
export const CONTEXT_MAX = 256;
/** Pass-through states remembered as spent, per isolate. */
const SPENT_MAX = 10_000;
/** What audit rows and logs of this path name as the session. */
export const STATELESS_SESSION = "stateless";

type WaitUntil = (promise: Promise<unknown>) => void;

/** What one principal's modern requests share in this isolate. */
interface Context {
  version: number;
  store: MemoryStore;
  backends: Backends;
  catalog: Catalog;
  /** The bearer token of the latest request, for RFC 8693 exchanges (never stored beyond this). */
  subjectToken: string | null;
}

const eraMemo = new Map<string, { modern: boolean; until: number }>();
const contexts = new Map<string, Context>();
const spent = new Map<string, number>();
/** Outbound token cache of this isolate (replaced if the bindings object ever changes, never grown). */
let credentials: { env: Env; source: OutboundCredentials } | null = null;
let sealer: { secret: string; sealer: StateSealer } | null = null;

/** The secret the stateless path seals with, or null when it is not configured (the path is then off). */
export function stateSecret(env: Env): string | null {
  const secret = env.STATE_SECRET;
  return typeof secret === "string" && secret !== "" ? secret : null;
}

/**
 * The tenant config as this path runs it (every backend's era fixed to modern), or null when
 * the tenant's modern requests belong to a session object.
 */
export async function statelessTenant(env: Env, config: TenantConfig, subjectToken: string | null): Promise<TenantConfig | null> {
  if (stateSecret(env) === null || config.backends.length === 0) return null;
  const now = Date.now();
  const unknown: BackendConfig[] = [];
  for (const backend of config.backends) {
    if (backend.transport === "sse" || backend.era === "legacy") return null;
    if (backend.era === "modern") continue;
    const memo = eraMemo.get(eraKey(config, backend));
    if (memo && memo.until > now) {
      if (!memo.modern) return null;
      continue;
    }
    unknown.push(backend);
  }
  if (unknown.length > 0 && !(await probe(env, config, unknown, subjectToken))) return null;
  return { ...config, backends: config.backends.map((b) => ({ ...b, era: "modern" as const })) };
}

/** Serves one modern request of a tenant statelessTenant() accepted. */
export async function serveStateless(env: Env, waitUntil: WaitUntil, config: TenantConfig, input: ModernInput): Promise<Response> {
  const context = contextFor(env, config, input);
  const observer = new SessionObserver(env, waitUntil, STATELESS_SESSION);
  // A relay per request: it keys calls in flight by the client's id, which only one request owns.
  const relay = new Relay({
    storage: context.store,
    backends: context.backends,
    catalog: context.catalog,
    nextId: () => context.store.nextCounter(),
    clientCapabilities: () => input.clientCapabilities,
    clientIsModern: () => true,
    now: () => Date.now(),
    observer,
  });
  // The config a running call is judged by: the request's, replaced by a newer version while a
  // reply is in progress (watch below), so a revoked tool stops as it does in a session object.
  let current = config;
  const dispatcher = new Dispatcher({
    env,
    catalog: context.catalog,
    backends: context.backends,
    relay,
    observer,
    config: () => current,
    principal: () => input.principal,
    caller: () => input,
    tenantObject: () => tenantObject(env, config.id),
    waitUntil,
    sessionId: STATELESS_SESSION,
    clientName: () => (typeof input.clientInfo.name === "string" ? input.clientInfo.name : undefined),
    logLevel: () => input.logLevel ?? undefined,
  });
  return serveModern(input, {
    dispatcher,
    sealer: sealerFor(stateSecret(env)!),
    config,
    nextStream: () => `w${context.store.nextCounter()}`,
    waitUntil,
    cancel: (id) => waitUntil(relay.cancel(id, "client closed the stream")),
    subscribe: (listenInput) => listen(env, waitUntil, config, listenInput, relay, dispatcher),
    spend,
    watch: () => {
      const authority = tenantObject(env, config.id);
      const timer = setInterval(() => {
        void authority
          .version()
          .then(async (version) => {
            if (version <= current.version) return;
            const fresh = (await authority.config()) as TenantConfig | null;
            if (fresh && fresh.version > current.version) current = fresh;
          })
          .catch((error) => logger.warn("policy_check_failed", { tenant: config.id, error: String(error) }));
      }, POLICY_CHECK_INTERVAL_MS);
      return () => clearInterval(timer);
    },
  });
}

/** Forgets every cached catalog and detected era (tests; a config change does this per tenant by itself). */
export function clearStatelessCache(): void {
  eraMemo.clear();
  contexts.clear();
  spent.clear();
}

function eraKey(config: TenantConfig, backend: BackendConfig): string {
  return `${config.id}\u0000${config.version}\u0000${backend.url ?? `service:${backend.service ?? ""}`}`;
}

/** `server/discover` against each backend of unknown era; true when every one is modern. */
async function probe(env: Env, config: TenantConfig, backends: BackendConfig[], subjectToken: string | null): Promise<boolean> {
  const asModern = backends.map((b) => ({ ...b, era: "modern" as const }));
  const prober = new Backends(new MemoryStore(), env, credentialSource(env, () => subjectToken));
  prober.restore({ ...config, backends: asModern }, {});
  const settled = await bounded(maxTimeout(config), (signal) => fanOut(asModern, signal, (backend, s) => prober.get(backend, s)));
  if (eraMemo.size + backends.length > ERA_MEMO_MAX) eraMemo.clear();
  const until = Date.now() + ERA_MEMO_TTL_MS;
  for (const { backend } of settled.ok) eraMemo.set(eraKey(config, backends.find((b) => b.name === backend)!), { modern: true, until });
  for (const { backend, error } of settled.failed) {
    // A refused server/discover is a legacy backend (2026-07-28 basic/versioning "Backward
    // Compatibility"). A backend that is down or slow decides nothing: the session object (which
    // copes with either era) serves the tenant for a short while, so modern requests do not
    // each wait for a probe of a dead backend, then the probe runs again.
    const legacy = error instanceof UpstreamError && error.kind === "bad_response";
    eraMemo.set(eraKey(config, backends.find((b) => b.name === backend)!), { modern: false, until: legacy ? until : Date.now() + ERA_UNDECIDED_TTL_MS });
  }
  void prober.terminateAll(AbortSignal.timeout(1_000)).catch(() => {});
  return settled.failed.length === 0;
}

function contextFor(env: Env, config: TenantConfig, input: ModernInput): Context {
  const key = `${config.id}\u0000${input.principal.sub}\u0000${fnv1a(canonicalJson(input.clientCapabilities))}`;
  let context = contexts.get(key);
  contexts.delete(key);
  if (!context || context.version !== config.version) {
    const store = new MemoryStore();
    const holder: { context: Context | null } = { context: null };
    const backends = new Backends(store, env, credentialSource(env, () => holder.context?.subjectToken ?? null));
    const catalog = new Catalog(store, backends, () => store.nextCounter(), (tools) => tenantObject(env, config.id).pin(tools), { defaultTtlMs: LIST_TTL_MS });
    context = { version: config.version, store, backends, catalog, subjectToken: null };
    holder.context = context;
  }
  // Map order is recency order: the entry just used goes last, the least recently used goes first.
  contexts.set(key, context);
  while (contexts.size > CONTEXT_MAX) contexts.delete(contexts.keys().next().value!);
  context.subjectToken = input.subjectToken;
  context.backends.restore(config, input.clientCapabilities);
  return context;
}

function credentialSource(env: Env, subjectToken: () => string | null): CredentialSource {
  if (credentials?.env !== env) credentials = { env, source: new OutboundCredentials(env) };
  const outbound = credentials.source;
  return (backend, signal) => outbound.headers(backend, subjectToken(), signal);
}

function sealerFor(secret: string): StateSealer {
  if (sealer?.secret !== secret) sealer = { secret, sealer: new StateSealer(secret) };
  return sealer.sealer;
}

/**
 * Single use of a pass-through state, as far as this isolate can tell (2026-07-28
 * basic/patterns/mrtr "Security Considerations"). Another isolate has no record of it: there the
 * state is still bound to its tenant, principal, method and item and expires after
 * REQUEST_STATE_TTL_MS, and the backend, which owns the state inside, judges the replay.
 */
function spend(state: SealedState): boolean {
  if (state.j === undefined) return true;
  const now = Date.now();
  if (spent.has(state.j)) return false;
  if (spent.size >= SPENT_MAX) {
    for (const [id, exp] of spent) if (exp <= now) spent.delete(id);
    if (spent.size >= SPENT_MAX) spent.delete(spent.keys().next().value!);
  }
  spent.set(state.j, state.exp);
  return true;
}

/**
 * `subscriptions/listen` (2026-07-28 basic/patterns/subscriptions): the acknowledgement first,
 * then every backend's change notifications the client opted in to, tagged with the
 * subscription. Each backend's own listen stream is opened for this stream alone, so it asks
 * for exactly the client's resource subscriptions, and closed with it.
 */
async function listen(env: Env, waitUntil: WaitUntil, config: TenantConfig, input: ModernInput, relay: Relay, dispatcher: Dispatcher): Promise<Response> {
  const asked = listenFilter(input.request.params ?? {});
  // Only resources some backend serves and this principal may read are followed, each on its owner's stream.
  const owners = await dispatcher.resourceOwners(asked.resourceSubscriptions, config).catch(() => new Map<string, string>());
  const filter = { ...asked, resourceSubscriptions: asked.resourceSubscriptions.filter((uri) => owners.has(uri)) };
  const subscriptionId = input.request.id;
  const controller = new AbortController();
  const backends = new Backends(new MemoryStore(), env, credentialSource(env, () => input.subjectToken));
  backends.restore(config, input.clientCapabilities);
  for (const [uri, owner] of owners) backends.subscribeResource(owner, uri, true);
  let keepalive: ReturnType<typeof setInterval> | null = null;
  let policyWatch: ReturnType<typeof setInterval> | null = null;
  const body = new ReadableStream<Uint8Array>({
    start: (stream) => {
      const send = (chunk: Uint8Array): void => {
        try {
          stream.enqueue(chunk);
        } catch {
          // the client went away; cancel() stops the rest
        }
      };
      send(encodeEvent({ data: JSON.stringify(tagged({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { notifications: honoured(filter) } }, subscriptionId)) }));
      keepalive = setInterval(() => send(encodeComment("keepalive")), KEEPALIVE_INTERVAL_MS);
      // As a session object does for its streams: while this one is open, the tenant's version is
      // checked every POLICY_CHECK_INTERVAL_MS, and a new one (policy, backends, naming) tells the
      // client its lists may have changed.
      let version = config.version;
      policyWatch = setInterval(() => {
        void tenantObject(env, config.id)
          .version()
          .then((current) => {
            if (current <= version) return;
            version = current;
            for (const method of ["notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed"]) {
              const change = { jsonrpc: "2.0" as const, method };
              if (wanted(filter, change)) send(encodeEvent({ data: JSON.stringify(tagged(change, subscriptionId)) }));
            }
          })
          .catch((error) => logger.warn("policy_check_failed", { tenant: config.id, error: String(error) }));
      }, POLICY_CHECK_INTERVAL_MS);
      const tasks = config.backends.map(async (backend) => {
        try {
          const upstream = await backends.get(backend, controller.signal);
          const messages = await upstream.listen(controller.signal);
          if (!messages) return;
          for await (const message of messages) {
            // The relay drops the backend's cached list on its list_changed (this principal's catalog).
            const mapped = await relay.inbound(backend, message, "listen");
            const filtered: JsonRpcMessage | null = mapped && dispatcher.toClient(mapped, undefined, MODERN_VERSION);
            if (!filtered || !wanted(filter, filtered) || !("method" in filtered)) continue;
            send(encodeEvent({ data: JSON.stringify(tagged(filtered as JsonRpcMessage & { method: string }, subscriptionId)) }));
          }
        } catch (error) {
          if (!controller.signal.aborted) logger.warn("backend_listen_failed", { tenant: config.id, backend: backend.name, reason: failureReason(error) });
        }
      });
      waitUntil(Promise.all(tasks));
    },
    cancel: () => {
      if (keepalive) clearInterval(keepalive);
      if (policyWatch) clearInterval(policyWatch);
      controller.abort();
      void backends.terminateAll(AbortSignal.timeout(1_000)).catch(() => {});
    },
  });
  return new Response(body, { status: 200, headers: SSE_HEADERS });
}
