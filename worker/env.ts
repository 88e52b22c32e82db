/**
 * The Worker's environment, typed from one source.
 *
 * Bindings: `npm run types` (`wrangler types --include-runtime=false --env-file=/dev/null`) writes
 * the global `Env` (and `Cloudflare.Env`, which `env` from "cloudflare:workers" has) from
 * wrangler.toml into worker-configuration.d.ts; test/unit/worker-configuration.test.ts fails when
 * that file is stale. There is no index signature: a misspelt binding does not type-check.
 * - `--include-runtime=false`: the runtime types stay @cloudflare/workers-types (tsconfig.json
 *   `types`), unchanged. Generated runtime types type-check too, but they are a 16,000-line file
 *   whose header names the workerd version, so every wrangler upgrade would make the committed
 *   file stale; and dropping the package would change package-lock.json.
 * - `--env-file=/dev/null`: without it, wrangler types every name in a local `.dev.vars` as a
 *   required secret, so the generated file would depend on a file that is never committed.
 *
 * Secrets and optional vars: declared by hand in `Secrets` below and merged into both generated
 * interfaces. wrangler's config way to declare them, `[secrets] required = [...]`, does not fit:
 * it declares each one required (typed `string`, and a first deploy without it fails) while
 * STATE_SECRET, ALLOWED_HOSTS and ALLOW_PRIVATE_BACKENDS are optional; and once a `secrets`
 * section exists, `wrangler dev` loads only the listed names from `.dev.vars`, which would drop
 * the backend credentials named by tenant configs. A `[vars]` entry would need a value, and
 * deploy it. Backend credentials and service bindings have names chosen by tenant configs, so
 * they cannot be declared at all: `secretNamed` and `serviceNamed` below are the one way to read
 * them.
 */
import type { TenantConfig } from "./tenant/schema.ts";
import type { Principal } from "./policy/principal.ts";

/** The Worker's own secrets and optional variables (all optional: each has a documented default). */
export interface Secrets {
  /** Bearer token of the admin API; a Worker secret (`.dev.vars` locally). Unset, the admin API refuses everyone. */
  ADMIN_TOKEN?: string;
  /**
   * Seals the `requestState` of 2026-07-28 requests served in the Worker (an AES-GCM key derived
   * by HKDF; worker/broker/sealed.ts). A Worker secret; unset, modern requests all go through
   * session objects (worker/stateless/home.ts).
   */
  STATE_SECRET?: string;
  /**
   * Encrypts each user's tokens at backends that act for the user (AES-GCM keys derived per
   * tenant by HKDF; durable-objects/connections/ConnectionVault.ts). A Worker secret; unset,
   * `user_oauth` backends cannot be connected.
   */
  VAULT_SECRET?: string;
  /** "true" lets tenant documents name loopback, private and link-local addresses (local development and tests only; worker/admin/destinations.ts). */
  ALLOW_PRIVATE_BACKENDS?: string;
  /** Custom domains the gateway answers under, comma-separated (loopback and *.workers.dev always). */
  ALLOWED_HOSTS?: string;
}

declare global {
  // Merged into the interfaces worker-configuration.d.ts generates.
  interface Env extends Secrets {}
  namespace Cloudflare {
    interface Env extends Secrets {}
  }
}

type WorkerEnv = Env;
/** The generated `Env` plus `Secrets`, for modules that import it rather than use the global. */
export type { WorkerEnv as Env };

/** Secrets of the gateway itself, which no tenant document may name. */
export const GATEWAY_SECRETS: ReadonlySet<string> = new Set(["ADMIN_TOKEN", "STATE_SECRET", "VAULT_SECRET"]);

/**
 * A Worker secret (or variable) whose name comes from tenant config: a backend's `secretHeaders`
 * values and `auth.clientSecret`. Undefined when unset or not a string (a name that happens to
 * be a binding's). Callers log the name when it is missing, never a value.
 */
export function secretNamed(env: Env, name: string): string | undefined {
  // The gateway's own secrets are never a tenant's to name: they would be sent to its backend.
  if (GATEWAY_SECRETS.has(name)) return undefined;
  const value: unknown = (env as unknown as Record<string, unknown>)[name];
  return typeof value === "string" ? value : undefined;
}

/**
 * A service binding whose name comes from tenant config (a `service` backend's `service`).
 * Undefined when nothing is bound under that name or the binding cannot `fetch`.
 */
export function serviceNamed(env: Env, name: string): Fetcher | undefined {
  const value: unknown = (env as unknown as Record<string, unknown>)[name];
  return typeof value === "object" && value !== null && typeof (value as { fetch?: unknown }).fetch === "function" ? (value as Fetcher) : undefined;
}

export interface AppVariables {
  tenant: TenantConfig;
  principal: Principal;
}

/** Hono's type parameter for the app and its routes. */
export type AppEnv = { Bindings: Env; Variables: AppVariables };
