/** The Worker's bindings (wrangler.toml) and secrets. */
import type { Principal } from "./policy/principal.ts";
import type { SessionObject } from "../durable-objects/session/SessionObject.ts";
import type { TenantObject } from "../durable-objects/tenant/TenantObject.ts";
import type { RateLimiter } from "../durable-objects/ratelimit/RateLimiter.ts";
import type { TenantMonitor } from "../durable-objects/monitor/TenantMonitor.ts";

export interface Env {
  /** One Durable Object per client session (legacy era). */
  SESSIONS: DurableObjectNamespace<SessionObject>;
  /** Per tenant: the current config version (strongly consistent) and pinned tool definitions. */
  TENANTS: DurableObjectNamespace<TenantObject>;
  /** Per tenant: metrics, backend health and live sessions for the admin API (worker/observe/). */
  MONITORS: DurableObjectNamespace<TenantMonitor>;
  /** Metrics in production (Workers Analytics Engine; worker/observe/metrics.ts). */
  METRICS?: AnalyticsEngineDataset;
  /** Exact rate-limit counters. */
  LIMITERS: DurableObjectNamespace<RateLimiter>;
  /** Tenant configs and policies, key `tenant:<id>`. */
  CONFIG: KVNamespace;
  /** The audit trail (migrations/). */
  AUDIT: D1Database;
  /** Bearer token of the admin API; a Worker secret (`.dev.vars` locally). */
  ADMIN_TOKEN?: string;
  /** "true" lets tenant documents name loopback, private and link-local addresses (local development and tests only; worker/admin/destinations.ts). */
  ALLOW_PRIVATE_BACKENDS?: string;
  /** Custom domains the gateway answers under, comma-separated (loopback and *.workers.dev always). */
  ALLOWED_HOSTS?: string;
  /**
   * Seals the `requestState` of 2026-07-28 requests served in the Worker (an AES-GCM key derived
   * by HKDF; worker/broker/sealed.ts). A Worker secret; unset, modern requests all go through
   * session objects (worker/dispatch/stateless.ts).
   */
  STATE_SECRET?: string;
  /** Backend credentials and service bindings, looked up by name from tenant config. */
  [binding: string]: unknown;
}

export interface AppVariables {
  tenant: import("./tenant/schema.ts").TenantConfig;
  principal: Principal;
}

export type AppEnv = { Bindings: Env; Variables: AppVariables };

/**
 * @deprecated Import `Principal` from worker/policy/principal.ts. Kept only until the engine
 * restructuring updates the imports of worker/engine/{handler,access,inputs}.ts and
 * durable-objects/session/SessionObject.ts.
 */
export type { Principal };
