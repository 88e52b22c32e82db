/**
 * Reaching a tenant's backends from the Worker, outside any client session: the admin API's
 * health probes and its catalog inspection. The same transports, static and secret headers and
 * outbound credentials as a session's connections (durable-objects/session/backends.ts builds
 * them the same way), but each upstream session lives for one admin request and is ended after.
 *
 * A probe is an `initialize` (or `server/discover` for a 2026-07-28 backend): it answers whether
 * the backend is reachable, speaks MCP, and how fast. Token-exchange credentials need a client's
 * token, which an admin request does not have; such a backend is reported as not probeable.
 */
import { fanOut, failureReason } from "../engine/fanout.ts";
import { LISTS, offers, type Item, type ListKind } from "../broker/merge.ts";
import { isErrorResponse, isResponse } from "../protocol/jsonrpc.ts";
import { GATEWAY_INFO } from "../protocol/identity.ts";
import type { BackendConfig } from "../tenant/schema.ts";
import { OutboundCredentials } from "../upstream/credentials.ts";
import { UpstreamError } from "../upstream/errors.ts";
import { LegacySseUpstream } from "../upstream/legacySse.ts";
import { StreamableHttpUpstream } from "../upstream/streamableHttp.ts";
import type { Fetcher, Upstream, UpstreamInfo } from "../upstream/types.ts";
import { secretNamed, serviceNamed } from "../env.ts";

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
}

/** An upstream for `backend` as a session would build it, with the gateway's own client identity. */
export function connect(env: Env, backend: BackendConfig, credentials: OutboundCredentials): Upstream {
  const headers: Record<string, string> = { ...backend.headers };
  for (const [header, secret] of Object.entries(backend.secretHeaders)) {
    const value = secretNamed(env, secret);
    if (typeof value === "string") headers[header] = value;
  }
  const options = {
    backend: backend.name,
    url: backend.url,
    fetcher: fetcherOf(env, backend),
    headers,
    timeoutMs: Math.min(backend.timeoutMs, PROBE_TIMEOUT_MS),
    era: backend.era,
    client: () => ({ capabilities: {}, info: GATEWAY_INFO }),
    ...(backend.auth ? { dynamicHeaders: (signal: AbortSignal) => credentials.headers(backend, null, signal) } : {}),
  };
  return backend.transport === "sse" ? new LegacySseUpstream(options) : new StreamableHttpUpstream(options);
}

/**
 * Opens an upstream session on every backend at once, runs `use` on each, and ends them; each
 * backend under min(its timeout, PROBE_TIMEOUT_MS). Failures are per backend.
 */
export async function withEachBackend<T>(
  env: Env,
  backends: readonly BackendConfig[],
  use: (upstream: Upstream, info: UpstreamInfo, signal: AbortSignal) => Promise<T>,
): Promise<{ ok: { backend: string; value: T; latencyMs: number }[]; failed: { backend: string; error: string }[] }> {
  const credentials = new OutboundCredentials(env);
  const bounded = backends.map((b) => ({ ...b, timeoutMs: Math.min(b.timeoutMs, PROBE_TIMEOUT_MS) }));
  const settled = await fanOut(bounded, AbortSignal.timeout(PROBE_TIMEOUT_MS + 1_000), async (backend, signal) => {
    if (backend.auth?.type === "token_exchange") throw new ProbeSkipped();
    const upstream = connect(env, backend, credentials);
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
export async function probeBackends(env: Env, backends: readonly BackendConfig[]): Promise<ProbeResult[]> {
  const results = await withEachBackend(env, backends, async (_upstream, info) => info);
  return backends.map((backend): ProbeResult => {
    const ok = results.ok.find((o) => o.backend === backend.name);
    if (ok) {
      const name = ok.value.serverInfo.name;
      return { backend: backend.name, transport: backend.transport, status: "up", latencyMs: ok.latencyMs, protocolVersion: ok.value.protocolVersion, server: typeof name === "string" ? name : null, error: null };
    }
    const error = results.failed.find((f) => f.backend === backend.name)?.error ?? "error";
    return { backend: backend.name, transport: backend.transport, status: error === "skipped" ? "skipped" : "down", latencyMs: null, protocolVersion: null, server: null, error };
  });
}

/** Pages of one list read from one backend at most (a loop guard, as in a session's catalog). */
export const MAX_LIST_PAGES = 50;

/** A backend's complete list of one kind; empty when it does not offer it. */
export async function listItems(upstream: Upstream, info: UpstreamInfo, kind: ListKind, signal: AbortSignal): Promise<Item[]> {
  if (!offers(info.capabilities, kind)) return [];
  const items: Item[] = [];
  let cursor: unknown;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const id = `admin-${kind}-${page}`;
    let reply: Record<string, unknown> | undefined;
    for await (const message of upstream.request({ jsonrpc: "2.0", id, method: LISTS[kind].method, ...(cursor === undefined ? {} : { params: { cursor } }) }, signal)) {
      if (!isResponse(message) || message.id !== id) continue;
      if (isErrorResponse(message)) {
        if (message.error.code === -32601) return items;
        throw new UpstreamError("bad_response", upstream.backend, `${LISTS[kind].method} failed: ${message.error.code}`);
      }
      reply = message.result;
    }
    if (!reply) throw new UpstreamError("bad_response", upstream.backend, `${LISTS[kind].method}: no response`);
    const pageItems = reply[LISTS[kind].field];
    if (Array.isArray(pageItems)) items.push(...pageItems.filter((i): i is Item => typeof i === "object" && i !== null));
    cursor = reply.nextCursor;
    if (typeof cursor !== "string" || cursor === "") break;
  }
  return items;
}

/** Token exchange needs a client's token; an admin probe has none. */
class ProbeSkipped extends Error {
  constructor() {
    super("token exchange needs a client token");
  }
}

function fetcherOf(env: Env, backend: BackendConfig): Fetcher {
  if (backend.transport !== "service") return (request) => fetch(request);
  const binding = backend.service ? serviceNamed(env, backend.service) : undefined;
  if (typeof binding === "object" && binding !== null && typeof (binding as { fetch?: unknown }).fetch === "function") {
    return (request) => (binding as { fetch: Fetcher }).fetch(request);
  }
  return async () => {
    throw new UpstreamError("unreachable", backend.name, `service binding ${backend.service ?? "?"} is not bound`);
  };
}
