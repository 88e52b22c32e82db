/**
 * Whether a tenant's 2026-07-28 requests can be served here: every backend must speak
 * 2026-07-28, declared (`era: "modern"`) or detected. A backend on `auto` is probed with
 * `server/discover` (through a throwaway upstream, which records what it finds in the isolate's
 * era memo, worker/upstream/era.ts); later requests read the memo. Any legacy backend (declared,
 * detected, on the 2024-11-05 SSE transport, or a tunnel) sends the tenant's modern requests to a session
 * object, as does a probe that could not decide (a backend down), for ERA_UNDECIDED_TTL_MS.
 */
import type { Env } from "../env.ts";
import { Backends, type CredentialSource } from "../engine/backends.ts";
import { bounded, fanOut, maxTimeout } from "../engine/fanout.ts";
import { MemoryStore } from "../engine/store.ts";
import type { BackendConfig, TenantConfig } from "../tenant/schema.ts";
import { eraKeyOf, knownEra, rememberEra } from "../upstream/era.ts";
import { UpstreamError } from "../upstream/errors.ts";

/** True when every backend of the tenant speaks 2026-07-28 (probing the ones not known yet). */
export async function allModern(env: Env, config: TenantConfig, credentials: CredentialSource): Promise<boolean> {
  const unknown: BackendConfig[] = [];
  for (const backend of config.backends) {
    // A tunnel (docs/tunnels.md) is served by a connector per upstream session: a session object
    // holds it. Its era memo is keyed per tenant (engine/backends.ts), which eraKeyOf cannot be.
    if (backend.transport === "sse" || backend.transport === "tunnel" || backend.era === "legacy") return false;
    if (backend.era === "modern") continue;
    const known = knownEra(eraKeyOf(backend));
    if (known === "legacy" || known === "undecided") return false;
    if (known === undefined) unknown.push(backend);
  }
  return unknown.length === 0 || probe(env, config, unknown, credentials);
}

/** `server/discover` against each backend of unknown era; true when every one is modern. */
async function probe(env: Env, config: TenantConfig, backends: BackendConfig[], credentials: CredentialSource): Promise<boolean> {
  const asModern = backends.map((b) => ({ ...b, era: "modern" as const }));
  const prober = new Backends(new MemoryStore(), env, credentials);
  prober.restore({ ...config, backends: asModern }, {});
  // A successful discover is remembered by the upstream itself (streamableHttp.ts).
  const settled = await bounded(maxTimeout(config), (signal) => fanOut(asModern, signal, (backend, s) => prober.get(backend, s)));
  for (const { backend, error } of settled.failed) {
    // A refused server/discover is a legacy backend (2026-07-28 basic/versioning "Backward
    // Compatibility"). A backend that is down or slow decides nothing: the session object (which
    // copes with either era) serves the tenant for a short while, so modern requests do not
    // each wait for a probe of a dead backend, then the probe runs again.
    const legacy = error instanceof UpstreamError && error.kind === "bad_response";
    rememberEra(eraKeyOf(backends.find((b) => b.name === backend)!), legacy ? "legacy" : "undecided");
  }
  void prober.terminateAll(AbortSignal.timeout(1_000)).catch(() => {});
  return settled.failed.length === 0;
}
