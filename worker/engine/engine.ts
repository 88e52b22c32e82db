/**
 * createEngine: the engine's parts wired over a home's EngineHost (host.ts), the same way in
 * both homes. The session object builds one for its lifetime; the stateless home keeps
 * `Backends` and `Catalog` per principal in its isolate (`shared`) and builds the rest per
 * request.
 */
import type { PinInput, PinStatus } from "../policy/pinning.ts";
import { Backends, type CredentialSource, type RefusedGrant } from "./backends.ts";
import { Catalog, type CatalogOptions } from "./catalog.ts";
import { Handler } from "./handler.ts";
import type { EngineHost } from "./host.ts";
import { Relay } from "./relay.ts";

export interface Engine {
  backends: Backends;
  catalog: Catalog;
  relay: Relay;
  handler: Handler;
}

export interface EngineOptions {
  /** Outbound credentials per backend (worker/upstream/credentials.ts), or none. */
  credentials: CredentialSource | null;
  /** For backends that act for the user: a 401 to the user's token becomes this (connections/userTokens.ts grantRefused). */
  refused?: RefusedGrant;
  catalog?: CatalogOptions;
  /** Parts a home keeps for longer than one engine (the stateless home's per-principal cache). */
  shared?: { backends: Backends; catalog: Catalog };
}

export function createEngine(host: EngineHost, options: EngineOptions): Engine {
  const backends = options.shared?.backends ?? new Backends(host.store, host.env, options.credentials, options.refused ?? null);
  const catalog = options.shared?.catalog ?? new Catalog(host.store, backends, () => host.store.nextCounter(), pinnerOf(host), options.catalog);
  const relay = new Relay(host, { backends, catalog });
  const handler = new Handler(host, { backends, catalog, relay });
  return { backends, catalog, relay, handler };
}

/** Records tool definitions with the tenant's pin store (catalog.ts pins what it lists). */
export function pinnerOf(host: Pick<EngineHost, "tenant">): (tools: PinInput[]) => Promise<Record<string, PinStatus>> {
  return async (tools) => {
    const authority = host.tenant();
    if (!authority) throw new Error("no tenant authority to pin with");
    return authority.pin(tools);
  };
}
