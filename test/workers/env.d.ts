/**
 * What the workerd tests add to the gateway's own types. `env` and `exports` from
 * "cloudflare:workers" are typed by worker-configuration.d.ts (`Cloudflare.Env`, and
 * `Cloudflare.GlobalProps` for the entry module and its Durable Object classes), with the secrets
 * of worker/env.ts merged in; "cloudflare:test" is the vitest plugin's helpers.
 */
/// <reference types="@cloudflare/vitest-plugin/types" />

declare namespace Cloudflare {
  interface Env {
    /** migrations/ as read by readD1Migrations in vitest.config.ts; applied by test/workers/setup.ts. */
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
  }
}
