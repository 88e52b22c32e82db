/**
 * Runs in workerd before each test file: the D1 schema (migrations/, read in vitest.config.ts into
 * the TEST_MIGRATIONS binding) applied to the AUDIT database. Applied migrations are recorded in
 * `d1_migrations`, so running it again is a no-op.
 */
import { env } from "cloudflare:workers";
import { applyD1Migrations } from "cloudflare:test";

await applyD1Migrations(env.AUDIT, env.TEST_MIGRATIONS);
