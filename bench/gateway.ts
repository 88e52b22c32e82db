/**
 * The gateway as the benchmark runs it: the deployable bundle (`wrangler deploy --dry-run
 * --outdir`) served by `wrangler dev --no-bundle` from a temporary folder.
 *
 * Why not `wrangler dev` on the source tree (test/support/gateway.ts): wrangler dev watches the
 * sources and restarts workerd when any of them changes, and in a shared working tree they do
 * change; a restart in the middle of a run would be measured as a stall. A snapshot bundle is
 * also exactly what `wrangler deploy` would upload, so the bundle scenario and the load scenarios
 * measure the same code.
 */
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startProcess, type Running } from "../test/support/processes.ts";
import { putTenantAt } from "../test/support/gateway.ts";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const require = createRequire(import.meta.url);
export const wranglerBin = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");

/** Offline machines: no Request.cf download, no metrics; CI=true skips confirmation prompts. */
export const WRANGLER_ENV: Record<string, string> = { CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" };

export interface Bundle {
  dir: string;
  file: string;
  /** The same build as the multipart upload body (`--outfile`), for `wrangler check startup`. */
  upload: string;
  /** What wrangler printed: "Total Upload: X KiB / gzip: Y KiB". */
  totalKiB: number;
  gzipKiB: number;
}

export function wrangler(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [wranglerBin, ...args],
      { cwd: options.cwd ?? repoRoot, env: { ...process.env, ...WRANGLER_ENV }, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`wrangler ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`));
        else resolve(`${stdout}${stderr}`);
      },
    );
  });
}

/** `wrangler deploy --dry-run --outdir <dir>`: the exact bundle a deploy would upload. */
export async function buildBundle(dir: string, sourceRoot = repoRoot): Promise<Bundle> {
  const upload = `${dir}.upload`;
  const output = await wrangler(["deploy", "--dry-run", "--outdir", dir, "--outfile", upload], { cwd: sourceRoot });
  const sizes = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(output);
  if (!sizes) throw new Error(`no size line in wrangler output:\n${output}`);
  return { dir, file: join(dir, "index.js"), upload, totalKiB: Number(sizes[1]), gzipKiB: Number(sizes[2]) };
}

export interface BenchGateway extends Running {
  origin: string;
  adminToken: string;
  configPath: string;
  putTenant(tenant: unknown): Promise<void>;
  mcpUrl(tenant: string): string;
}

/**
 * Serves `bundle` with the repo's wrangler.toml (same bindings, flags and observability), state
 * in `persistTo`. The D1 migrations are applied first, as `npm start` does.
 */
export async function startBundledGateway(options: { bundle: Bundle; workDir: string; persistTo: string; observability: boolean }): Promise<BenchGateway> {
  let toml = readFileSync(join(repoRoot, "wrangler.toml"), "utf8")
    .replace(/^main = .*$/m, `main = ${JSON.stringify(options.bundle.file)}\nno_bundle = true`)
    .replace(/^migrations_dir = .*$/m, `migrations_dir = ${JSON.stringify(join(repoRoot, "migrations"))}`);
  if (!toml.includes("no_bundle = true")) throw new Error("wrangler.toml has no `main` line to replace");
  if (!options.observability) {
    // Locally, [observability] makes miniflare run a trace collector inside the same workerd
    // (one more isolate persisting every span to SQLite); in production that work is the
    // platform's, outside the Worker. Off unless --observability asks for it (see docs).
    toml = toml.replace(/^\[observability\]\s*\nenabled = true/m, "[observability]\nenabled = false");
    if (!/^enabled = false/m.test(toml)) throw new Error("could not turn local observability off in the copied wrangler.toml");
  }
  const configPath = join(options.workDir, "wrangler.toml");
  writeFileSync(configPath, toml);
  await wrangler(["d1", "migrations", "apply", "AUDIT", "--local", "--persist-to", options.persistTo, "--config", configPath], { cwd: options.workDir });

  const adminToken = `bench-admin-${Math.random().toString(36).slice(2)}`;
  const running = await startWranglerDev({
    name: "gateway",
    config: configPath,
    persistTo: options.persistTo,
    cwd: options.workDir,
    vars: {
      ADMIN_TOKEN: adminToken,
      // Every backend here is on 127.0.0.1, which the admin API refuses unless told otherwise
      // (worker/admin/destinations.ts); harmless for trees that predate the check.
      ALLOW_PRIVATE_BACKENDS: "true",
      // The sealing key of the stateless 2026-07-28 path; without it every modern request takes
      // a Durable Object (worker/dispatch/stateless.ts).
      STATE_SECRET: randomBytes(32).toString("base64url"),
    },
  });
  return {
    ...running,
    adminToken,
    configPath,
    mcpUrl: (tenant) => `${running.origin}/t/${tenant}/mcp`,
    async putTenant(tenant) {
      await putTenantAt(running.origin, adminToken, tenant);
    },
  };
}

/** Starts a Worker folder (a wrangler.toml) with `wrangler dev`, state in `persistTo`. */
export async function startWranglerDev(options: { config: string; persistTo: string; vars: Record<string, string>; name: string; cwd?: string }): Promise<Running & { origin: string }> {
  const port = await freePort();
  const running = await startProcess({
    name: options.name,
    command: process.execPath,
    args: [
      wranglerBin,
      "dev",
      "--config",
      options.config,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      options.persistTo,
      "--show-interactive-dev-session=false",
      "--log-level",
      "warn",
      ...Object.entries(options.vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    cwd: options.cwd ?? repoRoot,
    env: WRANGLER_ENV,
    readyUrl: `http://127.0.0.1:${port}/healthz`,
    timeoutMs: 90_000,
  });
  return { ...running, origin: `http://127.0.0.1:${port}` };
}
