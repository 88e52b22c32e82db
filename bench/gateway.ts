/**
 * The gateway as the benchmark runs it: the deployable bundle (`wrangler deploy --dry-run
 * --outdir`), served two ways from a temporary folder:
 *
 * - on the lean runtime: workerd through Miniflare's API, the request straight into the Worker
 *   (bench/runtime.ts says how and why), the figures the targets are held to;
 * - by `wrangler dev --no-bundle`, as before, for the second table: what the dev server adds.
 *
 * Why not `wrangler dev` on the source tree (test/support/gateway.ts): wrangler dev watches the
 * sources and restarts workerd when any of them changes, and in a shared working tree they do
 * change; a restart in the middle of a run would be measured as a stall. A snapshot bundle is
 * also exactly what `wrangler deploy` would upload, so the bundle scenario and the load scenarios
 * measure the same code.
 */
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startProcess, type Running } from "../test/support/processes.ts";
import { putTenantAt } from "../test/support/gateway.ts";
import { runtimePackages, type RuntimeSpec } from "./runtime.ts";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const require = createRequire(import.meta.url);
export const wranglerBin = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");

/** Offline machines: no Request.cf download, no metrics; CI=true skips confirmation prompts. */
export const WRANGLER_ENV: Record<string, string> = { CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" };

export interface Bundle {
  dir: string;
  /** The main module: `<dir>/<main>`. */
  file: string;
  main: string;
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

/**
 * `wrangler deploy --dry-run --outdir <dir>`: the exact bundle a deploy would upload, of the
 * Worker in `sourceRoot` (its wrangler.toml) or of the one `config` names.
 */
export async function buildBundle(dir: string, sourceRoot = repoRoot, config?: string): Promise<Bundle> {
  const upload = `${dir}.upload`;
  const output = await wrangler(["deploy", "--dry-run", "--outdir", dir, "--outfile", upload, ...(config ? ["--config", config] : [])], { cwd: sourceRoot });
  const sizes = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(output);
  if (!sizes) throw new Error(`no size line in wrangler output:\n${output}`);
  // The main module is named after the entry point (index.js for worker/index.ts).
  const scripts = readdirSync(dir).filter((f) => f.endsWith(".js"));
  const main = scripts.includes("index.js") ? "index.js" : scripts.length === 1 ? scripts[0]! : "";
  if (!main) throw new Error(`no single main module in ${dir}: ${scripts.join(", ")}`);
  return { dir, file: join(dir, main), main, upload, totalKiB: Number(sizes[1]), gzipKiB: Number(sizes[2]) };
}

export interface BenchGateway extends Running {
  origin: string;
  adminToken: string;
  configPath: string;
  putTenant(tenant: unknown): Promise<void>;
  mcpUrl(tenant: string): string;
}

/** The secrets and flags a bench gateway runs with. */
function gatewayVars(): { adminToken: string; vars: Record<string, string> } {
  const adminToken = `bench-admin-${randomBytes(12).toString("base64url")}`;
  return {
    adminToken,
    vars: {
      ADMIN_TOKEN: adminToken,
      // Every backend here is on 127.0.0.1, which the admin API refuses unless told otherwise
      // (worker/admin/destinations.ts); harmless for trees that predate the check.
      ALLOW_PRIVATE_BACKENDS: "true",
      // The sealing key of the stateless 2026-07-28 path; without it every modern request takes
      // a Durable Object (worker/dispatch/stateless.ts).
      STATE_SECRET: randomBytes(32).toString("base64url"),
    },
  };
}

function asGateway(running: Running & { origin: string }, adminToken: string, configPath: string): BenchGateway {
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

/**
 * Serves `bundle` on the lean runtime (bench/runtime.ts) with the bindings of `sourceRoot`'s
 * wrangler.toml, state in `persistTo`; the D1 migrations of that wrangler.toml are applied
 * before it reports ready.
 */
export async function startLeanGateway(options: { bundle: Bundle; persistTo: string; sourceRoot?: string; inspector?: boolean }): Promise<BenchGateway & { inspectorPort: number | null }> {
  const { adminToken, vars } = gatewayVars();
  const configPath = join(options.sourceRoot ?? repoRoot, "wrangler.toml");
  const running = await startLeanWorker({ name: "gateway", workerName: "edge-mcp-gateway", config: configPath, bundle: options.bundle, persistTo: options.persistTo, vars, inspector: options.inspector ?? true });
  return { ...asGateway(running, adminToken, configPath), inspectorPort: running.inspectorPort };
}

/**
 * One Worker bundle on the lean runtime: bench/runtime.ts in its own process group (Miniflare
 * in a Node process, workerd its child), listening on a free 127.0.0.1 port.
 */
export async function startLeanWorker(options: {
  /** Label for errors and logs. */
  name: string;
  /** The Worker's own name (its Durable Object folders are named after it). */
  workerName: string;
  config: string;
  bundle: Bundle;
  persistTo: string;
  vars: Record<string, string>;
  inspector?: boolean;
}): Promise<Running & { origin: string; inspectorPort: number | null }> {
  const port = await freePort();
  const inspectorPort = options.inspector ? await freePort() : null;
  const spec: RuntimeSpec = {
    name: options.workerName,
    config: options.config,
    bundle: options.bundle.dir,
    main: options.bundle.main,
    persistTo: options.persistTo,
    port,
    ...(inspectorPort ? { inspectorPort } : {}),
    vars: options.vars,
  };
  const running = await startProcess({
    name: options.name,
    command: process.execPath,
    args: [fileURLToPath(new URL("./runtime.ts", import.meta.url)), JSON.stringify(spec)],
    cwd: repoRoot,
    readyLine: /^ready \{/,
    timeoutMs: 90_000,
  });
  return { ...running, origin: `http://127.0.0.1:${port}`, inspectorPort };
}

/**
 * The floor's bundle on bare `workerd serve` with a capnp config written here: the Worker, its
 * SQLite-backed Durable Object on a disk service, a network service as its global outbound, one
 * HTTP socket on 127.0.0.1. Nothing of Miniflare at all; the floor's other bindings are a plain
 * text. Measured beside the lean runtime's floor, it shows what Miniflare still adds there.
 */
export async function startBareFloor(options: { bundle: Bundle; stateDir: string; compatibilityDate: string; vars: Record<string, string> }): Promise<Running & { origin: string }> {
  const port = await freePort();
  mkdirSync(options.stateDir, { recursive: true });
  const config = join(options.bundle.dir, "bare.capnp");
  writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "floor", worker = .floor),
    (name = "internet", network = (allow = ["public", "private", "local"])),
    (name = "state", disk = (path = ${JSON.stringify(options.stateDir)}, writable = true)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "floor")],
);
const floor :Workerd.Worker = (
  modules = [(name = ${JSON.stringify(options.bundle.main)}, esModule = embed ${JSON.stringify(options.bundle.main)})],
  compatibilityDate = ${JSON.stringify(options.compatibilityDate)},
  bindings = [
${Object.entries(options.vars)
  .map(([k, v]) => `    (name = ${JSON.stringify(k)}, text = ${JSON.stringify(v)}),`)
  .join("\n")}
    (name = "HOPS", durableObjectNamespace = "Hop"),
  ],
  durableObjectNamespaces = [(className = "Hop", uniqueKey = "bench-floor-Hop", enableSql = true)],
  durableObjectStorage = (localDisk = "state"),
  globalOutbound = "internet",
);
`,
  );
  const running = await startProcess({
    name: "floor-bare",
    command: runtimePackages().workerdBin,
    args: ["serve", config],
    cwd: options.bundle.dir,
    readyUrl: `http://127.0.0.1:${port}/healthz`,
    timeoutMs: 60_000,
  });
  return { ...running, origin: `http://127.0.0.1:${port}` };
}

/**
 * Serves `bundle` by `wrangler dev --no-bundle` with the repo's wrangler.toml (same bindings,
 * flags and observability), state in `persistTo`. The D1 migrations are applied first, as
 * `npm start` does.
 */
export async function startDevGateway(options: { bundle: Bundle; workDir: string; persistTo: string; observability: boolean }): Promise<BenchGateway> {
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
  mkdirSync(options.workDir, { recursive: true });
  const configPath = join(options.workDir, "wrangler.toml");
  writeFileSync(configPath, toml);
  await wrangler(["d1", "migrations", "apply", "AUDIT", "--local", "--persist-to", options.persistTo, "--config", configPath], { cwd: options.workDir });
  const { adminToken, vars } = gatewayVars();
  const running = await startWranglerDev({ name: "gateway-dev", config: configPath, persistTo: options.persistTo, cwd: options.workDir, vars });
  return asGateway(running, adminToken, configPath);
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
