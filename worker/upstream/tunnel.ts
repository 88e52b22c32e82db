/**
 * A `transport: "tunnel"` backend, seen from the gateway: Streamable HTTP whose every request
 * goes to the tenant×backend's TunnelObject (durable-objects/tunnel/), which carries it over a
 * connector's WebSocket (docs/tunnels.md). No connector attached is a 503, so the backend reads
 * as down to the merge; a connector that drops mid-call ends the reply stream at once.
 */
import type { Fetcher } from "./types.ts";
import { UpstreamError } from "./errors.ts";
import type { BackendConfig } from "../tenant/schema.ts";

/** A tunnel key as shown once by the admin API: the prefix, then 32 random bytes as base64url. */
export const TUNNEL_KEY_PATTERN = /^mtk_[A-Za-z0-9_-]{43}$/;

export interface TunnelKeyInfo {
  id: string;
  createdAt: number;
}

export interface TunnelConnector {
  id: string;
  keyId: string;
  since: number;
}

/** The TunnelObject's RPC surface, as the admin API calls it. */
export interface TunnelStore {
  fetch(request: Request): Promise<Response>;
  /** A new key, shown this once; null when the backend holds too many already. */
  issueKey(): Promise<{ id: string; key: string } | null>;
  listKeys(): Promise<TunnelKeyInfo[]>;
  /** Deletes the key and closes the tunnels attached with it; false when there is no such key. */
  revokeKey(id: string): Promise<boolean>;
  connectors(): Promise<TunnelConnector[]>;
  /** Revokes every key and closes every connector. */
  clear(): Promise<void>;
}

/** One object per tenant and backend: a key issued for one never opens another. */
export function tunnelObject(env: Pick<Env, "TUNNELS">, tenant: string, backend: string): TunnelStore {
  return env.TUNNELS.get(env.TUNNELS.idFromName(`${tenant}/${backend}`)) as unknown as TunnelStore;
}

/**
 * A tenant write removed tunnel backends (or the tenant): their keys must not come back to life
 * if a backend of the same name is declared again later, so they are revoked now.
 */
export async function clearRemovedTunnels(env: Pick<Env, "TUNNELS">, tenant: string, before: readonly BackendConfig[], after: readonly BackendConfig[]): Promise<void> {
  const kept = new Set(after.filter((b) => b.transport === "tunnel").map((b) => b.name));
  const removed = before.filter((b) => b.transport === "tunnel" && !kept.has(b.name));
  await Promise.all(removed.map((b) => tunnelObject(env, tenant, b.name).clear()));
}

/** Set by the object on its 503 when no connector is attached (the fetcher below reads it). */
export const NO_CONNECTOR_HEADER = "x-tunnel-no-connector";

/**
 * How a tunnel backend's upstream sends its requests: into the object, whatever the URL says.
 * No connector attached is the `no_connector` error rather than an HTTP 503: the session's
 * breaker (engine/breaker.ts) must not learn from it, since the object refuses at once and a
 * connector that attaches a moment later is to be used by the very next request, not after a
 * cool-down. The merge reports the backend down with reason `no_connector`, as health does.
 */
export function tunnelFetcher(env: Pick<Env, "TUNNELS">, tenant: string | undefined, backend: string): Fetcher {
  if (tenant === undefined) {
    return async () => {
      throw new UpstreamError("unreachable", backend, "tunnel backend used outside a tenant");
    };
  }
  const object = tunnelObject(env, tenant, backend);
  return async (request) => {
    const response = await object.fetch(new Request(`https://tunnel.internal/mcp`, request));
    if (response.status === 503 && response.headers.has(NO_CONNECTOR_HEADER)) {
      await response.body?.cancel().catch(() => {});
      throw new UpstreamError("no_connector", backend, "no connector is attached", 503);
    }
    return response;
  };
}
