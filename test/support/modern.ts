// Start the 2026-07-28 fixture backend (test/fixtures/modern-server.ts, v2 SDK) for tests and scripts.
// Dependency-free apart from ./processes.ts, like the other starters.

import { fileURLToPath } from "node:url";
import { freePort, startProcess, type RunningServer } from "./processes.ts";

export interface ModernBackendOptions {
  /**
   * true: `legacy: 'reject'` (modern-only; a 2025-era `initialize` gets 400 + -32022 naming
   * ["2026-07-28"]). Default false: the SDK's default dual-era endpoint, which also answers
   * 2025-era traffic statelessly (no Mcp-Session-Id).
   */
  modernOnly?: boolean;
  /** Print the SDK's rejection/diagnostic messages on stderr (visible in output()). */
  debug?: boolean;
  /** The ttlMs the fixture puts on prompts/list (default 60000). */
  promptsTtlMs?: number;
}

/** The modern fixture on a free loopback port; `url` is its Streamable HTTP endpoint (`/mcp`). */
export async function startModernBackend(options: ModernBackendOptions = {}): Promise<RunningServer> {
  const port = await freePort();
  const env: Record<string, string> = { PORT: String(port) };
  if (options.modernOnly) env["MODERN_ONLY"] = "1";
  if (options.debug) env["MODERN_DEBUG"] = "1";
  if (options.promptsTtlMs !== undefined) env["PROMPTS_TTL_MS"] = String(options.promptsTtlMs);
  const running = await startProcess({
    name: options.modernOnly ? "modern-backend-strict" : "modern-backend",
    command: process.execPath,
    args: [fileURLToPath(new URL("../fixtures/modern-server.ts", import.meta.url))],
    env,
    cwd: fileURLToPath(new URL("../../", import.meta.url)),
    readyLine: /^ready http:\/\/\S+$/,
  });
  return { ...running, url: `http://127.0.0.1:${port}/mcp` };
}
