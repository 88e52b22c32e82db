/**
 * Three test projects, one command (`npm test`):
 *   unit     pure modules (codecs, naming, merging, policy) in Node, no I/O
 *   workers  the Worker and the session Durable Object inside workerd (@cloudflare/vitest-plugin)
 *   e2e      a real gateway (`wrangler dev`) with real MCP clients and backends on 127.0.0.1
 */
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-plugin";

export default defineConfig({
  test: {
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
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: { ADMIN_TOKEN: "workers-test-admin-token" } },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/workers/**/*.test.ts"],
          globalSetup: ["test/workers/globalSetup.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
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
