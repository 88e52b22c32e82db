/**
 * Types for the workerd test modules: `env` and `exports` from "cloudflare:workers" are the
 * gateway's own bindings and entry module, and "cloudflare:test" is the vitest plugin's helpers.
 */
/// <reference types="@cloudflare/vitest-plugin/types" />

declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("../../worker/index.ts");
    durableNamespaces: "SessionObject";
  }
  interface Env {
    SESSIONS: DurableObjectNamespace<import("../../durable-objects/session/SessionObject.ts").SessionObject>;
    CONFIG: KVNamespace;
    AUDIT: D1Database;
    /** migrations/ as read by readD1Migrations in vitest.config.ts; applied by test/workers/setup.ts. */
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    ADMIN_TOKEN: string;
  }
}
