/**
 * Reaching a tenant's backends from the Worker, outside any client session: the admin API's
 * health probes and its catalog inspection. Upstreams are built as a session builds them
 * (engine/backends.ts connect) and lists read as its catalog reads them (engine/catalog.ts
 * fetchList), but each upstream session lives for one admin request and is ended after.
 *
 * A probe is an `initialize` (or `server/discover` for a 2026-07-28 backend): it answers whether
 * the backend is reachable, speaks MCP, and how fast. Token-exchange credentials need a client's
 * token, which an admin request does not have; such a backend is reported as not probeable.
 */
import { connect } from "../engine/backends.ts";
import { fetchList } from "../engine/catalog.ts";
import { fanOut, failureReason } from "../engine/fanout.ts";
import type { Item, ListKind } from "../broker/merge.ts";
import { GATEWAY_INFO } from "../protocol/identity.ts";
import type { BackendConfig } from "../tenant/schema.ts";
import { OutboundCredentials } from "../upstream/credentials.ts";
import type { Upstream, UpstreamInfo } from "../upstream/types.ts";
import { tunnelObject } from "../upstream/tunnel.ts";

/** A probe waits at most this long (or the backend's own timeout, when shorter): a console must stay responsive. */
export const PROBE_TIMEOUT_MS = 5_000;

export interface ProbeResult {
  backend: string;
  transport: BackendConfig["transport"];
  status: "up" | "down" | "skipped";
  latencyMs: number | null;
  protocolVersion: string | null;
  server: string | null;
  /** The kind of failure (log-safe: never the backend's own error text). */
  error: string | null;
  /** A tunnel backend's attached connectors (docs/tunnels.md); absent for other transports. */
  connectors?: number;
}

/**
 * Opens an upstream session on every backend at once, runs `use` on each, and ends them; each
 * backend under min(its timeout, PROBE_TIMEOUT_MS). Failures are per backend.
 */
export async function withEachBackend<T>(
  env: Env,
  backends: readonly BackendConfig[],
  use: (upstream: Upstream, info: UpstreamInfo, signal: AbortSignal) => Promise<T>,
  tenant?: string,
): Promise<{ ok: { backend: string; value: T; latencyMs: number }[]; failed: { backend: string; error: string }[] }> {
  const credentials = new OutboundCredentials(env);
  const bounded = backends.map((b) => ({ ...b, timeoutMs: Math.min(b.timeoutMs, PROBE_TIMEOUT_MS) }));
  const settled = await fanOut(bounded, AbortSignal.timeout(PROBE_TIMEOUT_MS + 1_000), async (backend, signal) => {
    if (backend.auth?.type === "token_exchange") throw new ProbeSkipped();
    const upstream = connect(env, backend, { tenant, credentials: (b, s) => credentials.headers(b, null, s), timeoutMs: PROBE_TIMEOUT_MS });
    const started = Date.now();
    const info = await upstream.initialize({ capabilities: {}, clientInfo: GATEWAY_INFO }, signal);
    const latencyMs = Date.now() - started;
    try {
      return { value: await use(upstream, info, signal), latencyMs };
    } finally {
      void upstream.terminate(AbortSignal.timeout(2_000)).catch(() => {});
    }
  });
  return {
    ok: settled.ok.map((o) => ({ backend: o.backend, value: o.value.value, latencyMs: o.value.latencyMs })),
    failed: settled.failed.map((f) => ({ backend: f.backend, error: f.error instanceof ProbeSkipped ? "skipped" : failureReason(f.error) })),
  };
}

/** Probes every backend of a tenant. */
export async function probeBackends(env: Env, backends: readonly BackendConfig[], tenant?: string): Promise<ProbeResult[]> {
  // A tunnel backend is probed through its connector like any backend (so a server that does
  // not start reads as down), and its attached connectors are counted.
  const tunnels = tenant === undefined ? [] : backends.filter((b) => b.transport === "tunnel");
  const [results, counts] = await Promise.all([
    withEachBackend(env, backends, async (_upstream, info) => info, tenant),
    Promise.all(tunnels.map(async (b) => [b.name, (await tunnelObject(env, tenant!, b.name).connectors()).length] as const)),
  ]);
  const connectors = new Map(counts);
  return backends.map((backend): ProbeResult => {
    const tunnel = connectors.has(backend.name) ? { connectors: connectors.get(backend.name)! } : {};
    const ok = results.ok.find((o) => o.backend === backend.name);
    if (ok) {
      const name = ok.value.serverInfo.name;
      return { backend: backend.name, transport: backend.transport, status: "up", latencyMs: ok.latencyMs, protocolVersion: ok.value.protocolVersion, server: typeof name === "string" ? name : null, error: null, ...tunnel };
    }
    // A tunnel with no connector fails as `no_connector` (worker/upstream/tunnel.ts).
    const error = results.failed.find((f) => f.backend === backend.name)?.error ?? "error";
    return { backend: backend.name, transport: backend.transport, status: error === "skipped" ? "skipped" : "down", latencyMs: null, protocolVersion: null, server: null, error, ...tunnel };
  });
}

/** A backend's complete list of one kind, read as a session's catalog reads it; empty when it does not offer it. */
export async function listItems(upstream: Upstream, kind: ListKind, signal: AbortSignal): Promise<Item[]> {
  let n = 0;
  return (await fetchList(upstream, kind, signal, () => `admin-${kind}-${n++}`)).items;
}

/** Token exchange needs a client's token; an admin probe has none. */
class ProbeSkipped extends Error {
  constructor() {
    super("token exchange needs a client token");
  }
}
