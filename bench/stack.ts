/**
 * Everything a benchmark run needs, started on 127.0.0.1 and stopped again:
 *
 * - the bench backends (bench/backend.ts, one process, one port per backend);
 * - the gateway on the lean runtime: a snapshot of the deployable bundle served by workerd
 *   through Miniflare's API, requests straight into the Worker (bench/runtime.ts), with its
 *   tenants;
 * - the floor: the null-proxy Worker (bench/floor), bundled the same way, on the same lean
 *   runtime in its own process; and once more on bare `workerd serve` (a capnp config, no
 *   Miniflare at all), which shows what Miniflare still adds;
 * - the peer: mcp-hub 4.2.1 in front of the same backends;
 * - with `dev: true`, the gateway (the same bundle) and the floor once more under `wrangler dev`,
 *   for the report's second table.
 *
 * Each runtime is its own process group, so the CPU and memory of each can be read from /proc.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startProcess, type Running } from "../test/support/processes.ts";
import { jwtAuth, testSigner, type TestSigner } from "../test/support/auth.ts";
import type { TenantInput } from "../worker/tenant/schema.ts";
import type { BackendSpec } from "./backend.ts";
import { buildBundle, startBareFloor, startDevGateway, startLeanGateway, startLeanWorker, startWranglerDev, type BenchGateway, type Bundle } from "./gateway.ts";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const loopbackPreload = fileURLToPath(new URL("../test/support/loopback.mjs", import.meta.url));
const require = createRequire(import.meta.url);

export const FANOUT_SIZES = [1, 5, 10, 20] as const;
export const LIST_DELAY_MS = 50;
/** The three backends of the initialize scenario answer initialize after these delays. */
export const INIT_DELAYS_MS = [20, 35, 50] as const;
/** Backends behind the idle-session tenant (a typical tenant fronts a few). */
export const IDLE_BACKENDS = ["bench", "b01"] as const;
export const JWT_AUDIENCE = "urn:edge-mcp-gateway:bench";

/** The two gateway configurations every scenario measures. */
export type GatewayMode = "open" | "policy";

/** Where a Worker runs: the lean runtime (bench/runtime.ts) or `wrangler dev`. */
export type Runtime = "lean" | "dev";

/** The processes of one runtime serving one Worker: workerd, and the Node process driving it. */
export interface RuntimePids {
  workerd: number[];
  /** Miniflare's Node process (lean) or wrangler's (dev); null for bare workerd. */
  host: number | null;
}

export interface Stack {
  backendPorts: Record<string, number>;
  backendUrl(name: string): string;
  /** The gateway on the lean runtime. */
  gateway: BenchGateway;
  bundle: Bundle;
  /** The tree the gateway's bundle was built from (its source map's paths are relative to it). */
  sourceRoot: string;
  /** Process ids, for CPU and memory sampling. `gatewayWorkerd` and `floorWorkerd` are the lean runtime's. */
  pids: {
    backends: number;
    gatewayWorkerd: number[];
    floorWorkerd: number[];
    gateway: RuntimePids;
    floor: RuntimePids;
    floorBare: RuntimePids;
    dev: { gateway: RuntimePids; floor: RuntimePids } | null;
    peer: number;
    groups: number[];
  };
  persistTo: string;
  /** The null-proxy floor on the lean runtime, on bare workerd, and under `wrangler dev`. */
  floorOrigin: string;
  floorBareOrigin: string;
  /** The gateway and the floor under `wrangler dev` (startStack's `dev` option), else null. */
  dev: { gateway: BenchGateway; floorOrigin: string } | null;
  peerUrl: string;
  token: string;
  /** URL and headers of a tenant, by mode, on the lean runtime (or under `wrangler dev`). */
  tenant(name: string, mode: GatewayMode, runtime?: Runtime): { url: string; headers: Record<string, string> };
  /** Stops every process; the state folder stays until cleanup(). */
  stop(): Promise<void>;
  cleanup(): void;
}

export function backendSpecs(): BackendSpec[] {
  // "mbench" is "bench" speaking 2026-07-28: the stateless path (worker/dispatch/stateless.ts).
  const specs: BackendSpec[] = [{ name: "bench" }, { name: "mbench", modern: true }];
  for (let i = 1; i <= Math.max(...FANOUT_SIZES); i++) specs.push({ name: `b${String(i).padStart(2, "0")}`, listDelayMs: LIST_DELAY_MS });
  INIT_DELAYS_MS.forEach((ms, i) => specs.push({ name: `i${i + 1}`, initDelayMs: ms }));
  return specs;
}

/**
 * The realistic policy the "policy" mode runs: JWT auth, a few rules (one under a CEL condition
 * over the arguments), redaction patterns scanned over every result, audited arguments, and rate
 * limits (per principal and per tool) far above what the benchmark sends.
 */
export function policyDocument(): Pick<TenantInput, "policy" | "limits"> {
  return {
    limits: {
      rate: [
        { scope: "principal", limit: 10_000_000, windowSeconds: 60 },
        { scope: "tool", tools: ["*"], limit: 10_000_000, windowSeconds: 60 },
      ],
    },
    policy: {
      defaultEffect: "deny",
      rules: [
        { id: "bench-role-uses-bench-backends", effect: "allow", principals: { roles: ["bench"] }, items: { backends: ["bench", "mbench", "b*", "i*"] } },
        { id: "no-destructive-tools", effect: "deny", items: { kinds: ["tool"], names: ["delete_*", "drop_*", "admin_*"] } },
        { id: "echo-size-cap", effect: "deny", items: { kinds: ["tool"], names: ["echo"] }, when: "has(args.text) && size(args.text) > 4096" },
        { id: "stream-bounded", effect: "deny", items: { kinds: ["tool"], names: ["stream"] }, when: "has(args.count) && args.count > 50000" },
        { id: "service-accounts-read-only", effect: "deny", principals: { subjects: ["svc-*"] }, items: { names: ["filler_*"] } },
      ],
      pinning: "flag",
      redact: [
        { pattern: "\\b\\d{4}[ -]?\\d{4}[ -]?\\d{4}[ -]?\\d{4}\\b", replacement: "[CARD]" },
        { pattern: "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}", replacement: "[EMAIL]" },
        { pattern: "AKIA[0-9A-Z]{16}", replacement: "[AWS-KEY]" },
      ],
      audit: { arguments: true, results: false },
    },
  };
}

function tenantDocument(id: string, backends: string[], mode: GatewayMode, signer: TestSigner, url: (name: string) => string): TenantInput {
  const common = {
    id,
    // Declared modern, as an operator would for a backend known to speak 2026-07-28 (no probe).
    backends: backends.map((name) => ({ name, url: url(name), timeoutMs: 30_000, ...(name === "mbench" ? { era: "modern" as const } : {}) })),
    naming: { mode: "always" as const, separator: "__" },
  };
  if (mode === "open") return { ...common, auth: { anonymous: true }, policy: { pinning: "off" } };
  return { ...common, auth: jwtAuth(signer, JWT_AUDIENCE) as TenantInput["auth"], ...policyDocument() };
}

/** Tenant ids: `<name>-<mode>`. */
export function tenantId(name: string, mode: GatewayMode): string {
  return `${name}-${mode}`;
}

export function tenantBackends(): Record<string, string[]> {
  const names: Record<string, string[]> = { echo: ["bench"], echom: ["mbench"], init: ["i1", "i2", "i3"], idle: [...IDLE_BACKENDS] };
  for (const n of FANOUT_SIZES) names[`fan${n}`] = Array.from({ length: n }, (_, i) => `b${String(i + 1).padStart(2, "0")}`);
  return names;
}

export interface StackOptions {
  observability: boolean;
  sourceRoot?: string;
  /** Also the gateway and the floor under `wrangler dev` (the report's second table). */
  dev?: boolean;
}

export async function startStack(log: (line: string) => void, options: StackOptions = { observability: false }): Promise<Stack> {
  const running: Running[] = [];
  const temp = mkdtempSync(join(tmpdir(), "bench-"));
  const stopAll = async (): Promise<void> => {
    for (const r of [...running].reverse()) await r.stop().catch(() => {});
    running.length = 0;
  };
  const cleanup = (): void => rmSync(temp, { recursive: true, force: true });
  try {
    log("starting backends");
    const backends = await startProcess({
      name: "bench-backends",
      command: process.execPath,
      args: [fileURLToPath(new URL("./backend.ts", import.meta.url)), JSON.stringify({ backends: backendSpecs() })],
      cwd: repoRoot,
      readyLine: /^ready \{/,
    });
    running.push(backends);
    const readyLine = backends.output().split("\n").find((l) => l.startsWith("ready {"));
    const backendPorts = JSON.parse(readyLine!.slice("ready ".length)) as Record<string, number>;
    const backendUrl = (name: string): string => `http://127.0.0.1:${backendPorts[name]}/mcp`;
    const floorVars = { BACKEND_ORIGIN: `http://127.0.0.1:${backendPorts.bench}` };

    log("building the bundles (wrangler deploy --dry-run): the gateway and the floor");
    const bundle = await buildBundle(join(temp, "bundle"), options.sourceRoot);
    const floorBundle = await buildBundle(join(temp, "floor-bundle"), repoRoot, floorConfig);

    log("starting the gateway on the lean runtime (workerd through Miniflare's API)");
    const persistTo = join(temp, "gateway-state");
    mkdirSync(persistTo, { recursive: true });
    const gateway = await startLeanGateway({ bundle, persistTo, ...(options.sourceRoot ? { sourceRoot: options.sourceRoot } : {}) });
    running.push(gateway);

    log("starting the floor on the lean runtime and on bare workerd");
    // With an inspector like the gateway's (it costs nothing measurable while no one is attached).
    const floor = await startLeanWorker({ name: "floor", workerName: "bench-floor", config: floorConfig, bundle: floorBundle, persistTo: join(temp, "floor-state"), vars: floorVars, inspector: true });
    running.push(floor);
    const floorBare = await startBareFloor({ bundle: floorBundle, stateDir: join(temp, "floor-bare-state"), compatibilityDate: compatibilityDateOf(floorConfig), vars: floorVars });
    running.push(floorBare);

    let dev: Stack["dev"] = null;
    let devPids: Stack["pids"]["dev"] = null;
    if (options.dev) {
      log("starting the gateway and the floor under wrangler dev (the second table)");
      const devGateway = await startDevGateway({ bundle, workDir: join(temp, "dev"), persistTo: join(temp, "dev-gateway-state"), observability: options.observability });
      running.push(devGateway);
      const devFloor = await startWranglerDev({ name: "floor-dev", config: floorConfig, persistTo: join(temp, "dev-floor-state"), vars: floorVars });
      running.push(devFloor);
      dev = { gateway: devGateway, floorOrigin: devFloor.origin };
      devPids = { gateway: { workerd: workerdPidsOf(devGateway.pid), host: devGateway.pid }, floor: { workerd: workerdPidsOf(devFloor.pid), host: devFloor.pid } };
    }

    const signer = await testSigner();
    for (const gw of [gateway, dev?.gateway]) {
      if (!gw) continue;
      for (const [name, list] of Object.entries(tenantBackends())) {
        for (const mode of ["open", "policy"] as const) await gw.putTenant(tenantDocument(tenantId(name, mode), list, mode, signer, backendUrl));
      }
    }
    const token = await signer.token({ sub: "bench-user", audience: JWT_AUDIENCE, roles: ["bench"], ttlSeconds: 6 * 3600 });

    log("starting the peer (mcp-hub)");
    const peer = await startPeer(temp, backendUrl("bench"));
    running.push(peer);

    const gatewayPids: RuntimePids = { workerd: workerdPidsOf(gateway.pid), host: gateway.pid };
    const floorPids: RuntimePids = { workerd: workerdPidsOf(floor.pid), host: floor.pid };
    return {
      backendPorts,
      backendUrl,
      gateway,
      bundle,
      sourceRoot: options.sourceRoot ?? repoRoot,
      pids: {
        backends: backends.pid,
        gatewayWorkerd: gatewayPids.workerd,
        floorWorkerd: floorPids.workerd,
        gateway: gatewayPids,
        floor: floorPids,
        floorBare: { workerd: workerdPidsOf(floorBare.pid), host: null },
        dev: devPids,
        peer: peer.pid,
        groups: running.map((r) => r.pid),
      },
      persistTo,
      floorOrigin: floor.origin,
      floorBareOrigin: floorBare.origin,
      dev,
      peerUrl: peer.url,
      token,
      tenant(name, mode, runtime = "lean") {
        const headers: Record<string, string> = mode === "policy" ? { authorization: `Bearer ${token}` } : {};
        const gw = runtime === "dev" ? dev?.gateway : gateway;
        if (!gw) throw new Error("the stack was started without wrangler dev");
        return { url: gw.mcpUrl(tenantId(name, mode)), headers };
      },
      stop: stopAll,
      cleanup,
    };
  } catch (error) {
    await stopAll();
    cleanup();
    throw error;
  }
}

const floorConfig = fileURLToPath(new URL("./floor/wrangler.toml", import.meta.url));

function compatibilityDateOf(config: string): string {
  const match = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(readFileSync(config, "utf8"));
  if (!match) throw new Error(`no compatibility_date in ${config}`);
  return match[1]!;
}

/** mcp-hub on a free loopback port, its home, state and cache in a temporary folder. */
async function startPeer(temp: string, benchUrl: string): Promise<Running & { url: string }> {
  const home = join(temp, "peer-home");
  // A fresh marketplace cache, so the hub does not try to download its server registry.
  const cacheDir = join(home, "data", "mcp-hub", "cache");
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(
    join(cacheDir, "registry.json"),
    JSON.stringify({ registry: { version: "bench", generatedAt: Date.now(), totalServers: 1, servers: [{ id: "none", name: "none" }] }, lastFetchedAt: Date.now(), serverDocumentation: {} }),
  );
  const config = join(temp, "peer.json");
  writeFileSync(config, JSON.stringify({ mcpServers: { bench: { url: benchUrl } } }));
  const port = await freePort();
  const cli = join(dirname(require.resolve("mcp-hub/package.json")), "dist", "cli.js");
  const running = await startProcess({
    name: "mcp-hub",
    command: process.execPath,
    // The preload pins the hub's listen() to 127.0.0.1 (it would otherwise bind every interface).
    args: ["--import", loopbackPreload, cli, "--port", String(port), "--config", config],
    cwd: temp,
    env: { HOME: home, XDG_DATA_HOME: join(home, "data"), XDG_STATE_HOME: join(home, "state"), XDG_CONFIG_HOME: join(home, "config") },
    readyUrl: `http://127.0.0.1:${port}/api/health`,
    timeoutMs: 60_000,
  });
  // Listening is not ready: wait until the hub says so and the backend is connected.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const health = (await (await fetch(`http://127.0.0.1:${port}/api/health`)).json()) as { state?: string; servers?: { status?: string }[] };
    if (health.state === "ready" && health.servers?.every((s) => s.status === "connected")) break;
    if (Date.now() > deadline) {
      await running.stop();
      throw new Error(`mcp-hub not ready: ${JSON.stringify(health).slice(0, 300)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { ...running, url: `http://127.0.0.1:${port}/mcp` };
}

/** workerd processes in the process group led by `leader` (wrangler dev runs one or more). */
export function workerdPidsOf(leader: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid pgrp ...
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      if (comm === "workerd" && Number(fields[2]) === leader) pids.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

/** Resident set size of a process, in KiB (VmRSS in /proc/<pid>/status). */
export function rssKiB(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
