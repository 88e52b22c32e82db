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
    ADMIN_TOKEN: string;
  }
}
