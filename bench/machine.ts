/** Facts about the machine and the versions measured, and how busy the machine was meanwhile. */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const repoRoot = fileURLToPath(new URL("..", import.meta.url));

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

function workerdVersion(): string {
  try {
    const wranglerDir = dirname(require.resolve("wrangler/package.json"));
    const req = createRequire(join(wranglerDir, "package.json"));
    return (JSON.parse(readFileSync(req.resolve("workerd/package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** wrangler's own Miniflare, the one bench/runtime.ts drives. */
function miniflareVersion(): string {
  try {
    const req = createRequire(join(dirname(require.resolve("wrangler/package.json")), "package.json"));
    return (JSON.parse(readFileSync(req.resolve("miniflare/package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: repoRoot, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

export function machineFacts() {
  const cpu = cpus();
  const dirty = git(["status", "--porcelain", "--", "worker", "durable-objects", "wrangler.toml", "package.json"]);
  return {
    cpu: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    wrangler: versionOf("wrangler"),
    workerd: workerdVersion(),
    miniflare: miniflareVersion(),
    mcpHub: versionOf("mcp-hub"),
    commit: git(["rev-parse", "--short", "HEAD"]),
    /** The gateway's sources had uncommitted changes when the bundle was built. */
    uncommittedGatewayChanges: dirty !== "" && dirty !== "unknown",
  };
}

/** Busy CPU time of the whole machine and of the given process groups (and this process), ms. */
export interface CpuSnapshot {
  at: number;
  machineBusyMs: number;
  oursMs: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

export function cpuSnapshot(groups: readonly number[]): CpuSnapshot {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const busy = (line[0] ?? 0) + (line[1] ?? 0) + (line[2] ?? 0) + (line[5] ?? 0) + (line[6] ?? 0) + (line[7] ?? 0);
  const wanted = new Set<number>(groups);
  const ownGroup = Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ")[2]);
  wanted.add(ownGroup);
  let ours = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (!wanted.has(Number(fields[2]))) continue;
      ours += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return { at: Date.now(), machineBusyMs: busy * TICK_MS, oursMs: ours * TICK_MS };
}

/** Cores busy with work other than the benchmark's between two snapshots. */
export function backgroundCores(a: CpuSnapshot, b: CpuSnapshot): number {
  const elapsed = b.at - a.at;
  if (elapsed <= 0) return 0;
  const other = b.machineBusyMs - a.machineBusyMs - (b.oursMs - a.oursMs);
  return Math.max(0, other / elapsed);
}
