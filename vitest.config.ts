/**
 * Three test projects, one command (`npm test`):
 *   unit     pure modules (codecs, naming, merging, policy) in Node, no I/O
 *   workers  the Worker and the session Durable Object inside workerd (@cloudflare/vitest-plugin)
 *   e2e      a real gateway (`wrangler dev`) with real MCP clients and backends on 127.0.0.1
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { defineConfig } from "vitest/config";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";

/**
 * The demo backend Worker (examples/service-backend) bundled by wrangler itself, so the workerd
 * tests can bind it as a real auxiliary Worker behind a service binding.
 */
function buildServiceBackend(): string {
  // Inside the project: workerd refuses module paths that climb out of its root with "..".
  const outdir = join(process.cwd(), ".wrangler", "test-build", "service-backend");
  execFileSync(
    process.execPath,
    ["node_modules/wrangler/bin/wrangler.js", "deploy", "--dry-run", "--outdir", outdir, "-c", "examples/service-backend/wrangler.toml"],
    { stdio: "ignore", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  return join(outdir, "worker.js");
}

export default defineConfig({
  test: {
    // The gateway writes a JSON line per request (worker/observe/log.ts): info lines from workerd
    // tests would bury the output; warnings and errors still show.
    onConsoleLog: (log: string) => !log.startsWith('{"level":"info"'),
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        plugins: [
          cloudflareTest(async () => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              // TEST_MIGRATIONS: migrations/ for test/workers/setup.ts to apply to the AUDIT D1 database.
              // ALLOW_PRIVATE_BACKENDS: the test backends listen on 127.0.0.1 (worker/admin/destinations.ts).
              // STATE_SECRET: a test-only value that turns on the stateless modern path (worker/dispatch/stateless.ts).
              bindings: {
                ADMIN_TOKEN: "workers-test-admin-token",
                ALLOW_PRIVATE_BACKENDS: "true",
                STATE_SECRET: "workers-test-state-secret",
                VAULT_SECRET: "workers-test-vault-secret",
                // A backend credential a tenant names in secretHeaders (test/workers/streams.test.ts).
                NOTES_BACKEND_KEY: "workers-test-notes-key",
                TEST_MIGRATIONS: await readD1Migrations("migrations"),
              },
              serviceBindings: { BACKEND_INVENTORY: "inventory-worker" },
              workers: [
                {
                  name: "inventory-worker",
                  modules: true,
                  scriptPath: buildServiceBackend(),
                  compatibilityDate: "2026-11-01",
                  compatibilityFlags: ["nodejs_compat"],
                },
              ],
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/workers/**/*.test.ts", "test/reliability/**/*.workers.test.ts"],
          globalSetup: ["test/workers/globalSetup.ts", "test/reliability/globalSetup.ts"],
          setupFiles: ["test/workers/setup.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          // test/browser: the web console in headless Chromium (playwright-core), against a real gateway.
          include: ["test/e2e/**/*.test.ts", "test/reliability/**/*.e2e.test.ts", "test/browser/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Each file starts its own gateway and backends; two at a time fit two cores.
          maxWorkers: 2,
        },
      },
    ],
  },
});
