/**
 * ⑥ The Worker's stateless home: 2026-07-28 requests of a tenant whose backends all speak
 * 2026-07-28 are served in the Worker, with no Durable Object hop.
 *
 * Why this is safe: a modern client holds no session, and a modern backend holds none either,
 * so nothing has to outlive the request. The engine is the session object's own
 * (worker/engine/); what differs is where its pieces live:
 *
 * - **Era** (era.ts): only tenants whose every backend is modern, declared or detected.
 * - **Catalog.** Backend lists and upstream infos are cached in the isolate per tenant,
 *   principal and declared capabilities (what a principal sees is policy-filtered, and what
 *   backends offer may depend on the capabilities), dropped on a new config version, bounded to
 *   CONTEXT_MAX entries (least recently used first), and expired by the backends' `ttlMs`
 *   (2026-07-28 server/utilities/caching) or LIST_TTL_MS when a backend gives none: with no
 *   listen stream open, nothing else would tell this isolate a list changed.
 * - **Sealed requestState.** The key is derived from the `STATE_SECRET` secret, so a state
 *   issued by one isolate opens in any other; single use is kept per isolate (spent.ts).
 *   Without that secret this home is off and session objects serve every modern request.
 * - **Listen.** `subscriptions/listen` is held by this invocation: one listen stream per backend,
 *   merged, closed when the client goes away; a new tenant config version while it is open is
 *   announced as list changes, as a session object announces it.
 */
import type { Env } from "../env.ts";
import { StateSealer } from "../broker/sealed.ts";
import { Backends, type CredentialSource } from "../engine/backends.ts";
import { Catalog } from "../engine/catalog.ts";
import type { EngineHost, TenantAuthority } from "../engine/host.ts";
import { createEngine, pinnerOf } from "../engine/engine.ts";
import type { ModernInput } from "../engine/inputs.ts";
import { BackendListeners, LIST_CHANGES, listenFilter, subscriptionStream } from "../engine/listen.ts";
import { LIST_TTL_MS, serveModern } from "../engine/modern.ts";
import { PolicyWatch } from "../engine/policyWatch.ts";
import { grantHolds } from "../oauth/grants.ts";
import { sseResponse } from "../engine/reply.ts";
import { MemoryStore } from "../engine/store.ts";
import { SessionObserver } from "../engine/observer.ts";
import type { CallFolder } from "../observe/requests.ts";
import { canonicalJson, fnv1a } from "../protocol/encoding.ts";
import { MODERN_VERSION } from "../protocol/modern.ts";
import type { TenantConfig } from "../tenant/schema.ts";
import { tenantObject } from "../tenant/store.ts";
import { OutboundCredentials, type CallingUser } from "../upstream/credentials.ts";
import { grantRefused, userTokenSource } from "../connections/userTokens.ts";
import { allModern } from "./era.ts";
import { spend } from "./spent.ts";

/** Cached catalogs per isolate (tenant × principal × capabilities). */
export const CONTEXT_MAX = 256;
/** What audit rows and logs of this home name as the session. */
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

const contexts = new Map<string, Context>();
/** Outbound token cache of this isolate (replaced if the bindings object ever changes, never grown). */
let credentials: { env: Env; source: OutboundCredentials } | null = null;
let sealer: { secret: string; sealer: StateSealer } | null = null;

/** The secret this home seals with, or null when it is not configured (the home is then off). */
function stateSecret(env: Env): string | null {
  const secret = env.STATE_SECRET;
  return typeof secret === "string" && secret !== "" ? secret : null;
}

/**
 * The tenant config as this home runs it (every backend's era fixed to modern), or null when
 * the tenant's modern requests belong to a session object.
 */
export async function statelessTenant(env: Env, config: TenantConfig, subjectToken: string | null): Promise<TenantConfig | null> {
  if (stateSecret(env) === null || config.backends.length === 0) return null;
  if (!(await allModern(env, config, credentialSource(env, () => subjectToken)))) return null;
  return { ...config, backends: config.backends.map((b) => ({ ...b, era: "modern" as const })) };
}

/** Serves one modern request of a tenant statelessTenant() accepted. */
export async function serveStateless(env: Env, waitUntil: WaitUntil, config: TenantConfig, input: ModernInput, folder: CallFolder | null = null): Promise<Response> {
  const context = contextFor(env, config, input);
  const authority = (): TenantAuthority => tenantObject(env, config.id);
  // The config a running call is judged by: the request's, replaced by a newer version while a
  // reply is in progress (the policy watch), so a revoked tool stops as it does in a session object.
  let current = config;
  const host: EngineHost = {
    env,
    store: context.store,
    sessionId: STATELESS_SESSION,
    observer: new SessionObserver(env, waitUntil, STATELESS_SESSION, folder),
    waitUntil,
    config: () => current,
    caller: () => input,
    client: () => ({
      version: MODERN_VERSION,
      capabilities: input.clientCapabilities,
      name: typeof input.clientInfo.name === "string" ? input.clientInfo.name : undefined,
      logLevel: input.logLevel ?? undefined,
    }),
    tenant: authority,
  };
  // A relay per request: it keys calls in flight by the client's id, which only one request owns.
  const { handler, relay } = createEngine(host, { credentials: null, shared: context });
  const watch = new PolicyWatch({ authority, current: () => current.version, onNewer: (fresh) => (current = fresh) });
  return serveModern(input, {
    handler,
    sealer: sealerFor(stateSecret(env)!),
    config,
    nextStream: () => `w${context.store.nextCounter()}`,
    waitUntil,
    cancel: (id) => waitUntil(relay.cancel(id, "client closed the stream")),
    subscribe: async (listenInput) => {
      // Only resources some backend serves and this principal may read are followed, each on its owner's stream.
      const asked = listenFilter(listenInput.request.params ?? {});
      const owners = await handler.resourceOwners(asked.resourceSubscriptions, config).catch(() => new Map<string, { backend: string; original: string }>());
      // Each backend's own listen stream is opened for this stream alone, so it asks for exactly
      // the client's resource subscriptions, and closed with it.
      const backends = new Backends(new MemoryStore(), env, credentialSource(env, () => listenInput.subjectToken, () => callingUser(config.id, listenInput)));
      backends.restore(config, listenInput.clientCapabilities);
      for (const owner of owners.values()) backends.subscribeResource(owner.backend, owner.original, true);
      const listeners = new BackendListeners({
        backends,
        relay,
        toClient: (message) => handler.toClient(message, undefined, MODERN_VERSION),
        deliver: (message) => subscription.push(message),
        stream: () => "listen",
        waitUntil,
        tenant: () => config.id,
      });
      // As a session object does for its streams: while this one is open, a new version (policy,
      // backends, naming) tells the client its lists may have changed.
      const announcer = new PolicyWatch({
        authority,
        current: () => current.version,
        onNewer: (fresh) => {
          current = fresh;
          for (const change of LIST_CHANGES) subscription.push(change);
          // A stream running under a grant of the gateway's own authorization server ends when
          // the grant is revoked, as a session object's streams do (docs/oauth.md).
          const grant = listenInput.principal.grant;
          if (grant) void grantHolds(env, config.id, grant).then((holds) => holds || subscription.close());
        },
      });
      const release = announcer.hold();
      const subscription = subscriptionStream(listenInput.request.id, { ...asked, resourceSubscriptions: asked.resourceSubscriptions.filter((uri) => owners.has(uri)) }, () => {
        release();
        listeners.stop();
        void backends.terminateAll(AbortSignal.timeout(1_000)).catch(() => {});
      });
      listeners.start(config.backends);
      return sseResponse(subscription.body);
    },
    spend,
    watch: () => watch.hold(),
  });
}

/** The last capabilities object's key: a client sends the same JSON on every request, so it is canonicalized once. */
let lastCapabilities: { json: string; key: string } | null = null;

function capabilitiesKey(capabilities: Record<string, unknown>): string {
  const json = JSON.stringify(capabilities);
  if (lastCapabilities?.json !== json) lastCapabilities = { json, key: fnv1a(canonicalJson(capabilities)) };
  return lastCapabilities.key;
}

function contextFor(env: Env, config: TenantConfig, input: ModernInput): Context {
  const key = `${config.id}\u0000${input.principal.sub}\u0000${capabilitiesKey(input.clientCapabilities)}`;
  let context = contexts.get(key);
  contexts.delete(key);
  if (!context || context.version !== config.version) {
    const store = new MemoryStore();
    const holder: { context: Context | null } = { context: null };
    const user = callingUser(config.id, input);
    const backends = new Backends(store, env, credentialSource(env, () => holder.context?.subjectToken ?? null, () => user), (backend) => grantRefused(env, backend, user));
    const catalog = new Catalog(store, backends, () => store.nextCounter(), pinnerOf({ tenant: () => tenantObject(env, config.id) }), { defaultTtlMs: LIST_TTL_MS });
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

function credentialSource(env: Env, subjectToken: () => string | null, user: () => CallingUser | null = () => null): CredentialSource {
  if (credentials?.env !== env) credentials = { env, source: new OutboundCredentials(env, undefined, {}, userTokenSource(env)) };
  const outbound = credentials.source;
  return (backend, signal) => outbound.headers(backend, subjectToken(), signal, user());
}

/** Who a call is for, for backends that act for the user. */
export function callingUser(tenant: string, caller: { principal: { sub: string }; resourceMetadataUrl: string }): CallingUser {
  return { tenant, principal: caller.principal.sub, origin: new URL(caller.resourceMetadataUrl).origin };
}

function sealerFor(secret: string): StateSealer {
  if (sealer?.secret !== secret) sealer = { secret, sealer: new StateSealer(secret) };
  return sealer.sealer;
}
