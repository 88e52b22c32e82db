// Start and stop real server processes for tests and scripts.
// Dependency-free on purpose (node: builtins only) so it works from vitest,
// plain `node` scripts and benches alike.

import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export interface StartOptions {
  /** Label used in error messages. */
  name: string;
  command: string;
  args: string[];
  /** Merged over process.env. */
  env?: Record<string, string>;
  cwd?: string;
  /** Ready once this URL answers with any HTTP status. */
  readyUrl?: string;
  /** Ready once a line of stdout or stderr matches. */
  readyLine?: RegExp;
  /** Default 30 s. */
  timeoutMs?: number;
}

export interface Running {
  name: string;
  pid: number;
  /** SIGTERM to the whole process group, SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** The last 64 KiB of combined stdout/stderr, for diagnostics. */
  output(): string;
}

export type RunningServer = Running & { url: string };

export type DemoBackendName = "weather" | "notes" | "calendar";

const OUTPUT_LIMIT = 64 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;
const KILL_GRACE_MS = 5_000;
const POLL_MS = 100;

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const loopbackPreload = fileURLToPath(new URL("./loopback.mjs", import.meta.url));

// Process groups still running. If the test runner dies or forgets stop(),
// detached children would outlive it, so kill them synchronously on exit.
const liveGroups = new Set<number>();
process.once("exit", () => {
  for (const pgid of liveGroups) signalGroup(pgid, "SIGKILL");
});

/** A port that was free a moment ago on 127.0.0.1 (the usual small race applies). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("could not read a free port"))));
    });
  });
}

export async function startProcess(opts: StartOptions): Promise<Running> {
  if (!opts.readyLine && !opts.readyUrl) throw new Error(`${opts.name}: give readyLine or readyUrl`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
    // Own process group, so stop() also reaches grandchildren (npx, shells...).
    detached: true,
  });

  let output = "";
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      resolve();
    });
  });

  const lineWaiters: ((line: string) => void)[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      output = (output + chunk).slice(-OUTPUT_LIMIT);
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) for (const waiter of lineWaiters) waiter(line);
    });
  }

  const pid = await spawned(child, opts.name);
  liveGroups.add(pid);

  let stopping: Promise<void> | undefined;
  const running: Running = {
    name: opts.name,
    pid,
    output: () => output,
    stop: () => (stopping ??= stopGroup(pid, exitPromise, () => exited)),
  };

  const describe = (why: string): Error =>
    new Error(`${opts.name} (pid ${pid}) ${why}\n--- output ---\n${output}`);

  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => finish(describe(`not ready after ${timeoutMs} ms`)), timeoutMs);
      void exitPromise.then(() => finish(describe(`exited early with ${exitStatus(child)}`)));
      const readyLine = opts.readyLine;
      if (readyLine) lineWaiters.push((line) => readyLine.test(line) && finish());
      const readyUrl = opts.readyUrl;
      if (readyUrl) void pollUrl(readyUrl, () => settled).then((ok) => ok && finish());
    });
  } catch (err) {
    await running.stop();
    throw err;
  }
  return running;
}

/**
 * @modelcontextprotocol/server-everything on a free loopback port, in Streamable HTTP mode
 * (url `/mcp`) or in the legacy 2024-11-05 HTTP+SSE mode (url `/sse`, messages to `/message`).
 */
export async function startServerEverything(mode: "streamableHttp" | "sse" = "streamableHttp"): Promise<RunningServer> {
  const port = await freePort();
  const require = createRequire(import.meta.url);
  const entry = require.resolve("@modelcontextprotocol/server-everything/dist/index.js");
  const running = await startProcess({
    name: `server-everything-${mode}`,
    command: process.execPath,
    // The preload forces its `app.listen(PORT)` onto 127.0.0.1.
    args: ["--import", loopbackPreload, entry, mode],
    env: { PORT: String(port) },
    cwd: repoRoot,
    // Printed on stderr by dist/transports/*.js once listening.
    readyLine: mode === "sse" ? /Server is running on port \d+/ : /MCP Streamable HTTP Server listening on port \d+/,
  });
  return { ...running, url: `http://127.0.0.1:${port}/${mode === "sse" ? "sse" : "mcp"}` };
}

/**
 * One of the demo backends in examples/ on a free loopback port. `env` is merged over PORT
 * (calendar needs IDP_ISSUER; TOKEN_CACHE_SECONDS is optional).
 */
export async function startDemoBackend(name: DemoBackendName, options: { env?: Record<string, string> } = {}): Promise<RunningServer> {
  const port = await freePort();
  const running = await startProcess({
    name: `demo-${name}`,
    command: process.execPath,
    args: [fileURLToPath(new URL(`../../examples/${name}/server.ts`, import.meta.url))],
    env: { ...options.env, PORT: String(port) },
    cwd: repoRoot,
    readyLine: /^ready http:\/\/\S+$/,
  });
  return { ...running, url: `http://127.0.0.1:${port}/mcp` };
}

function spawned(child: ChildProcess, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once("error", (err) => reject(new Error(`${name}: failed to start: ${err.message}`)));
    child.once("spawn", () => {
      if (child.pid === undefined) reject(new Error(`${name}: no pid`));
      else resolve(child.pid);
    });
  });
}

async function pollUrl(url: string, done: () => boolean): Promise<boolean> {
  while (!done()) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      return true; // any status means something is listening
    } catch {
      await delay(POLL_MS);
    }
  }
  return false;
}

async function stopGroup(pgid: number, exitPromise: Promise<void>, exited: () => boolean): Promise<void> {
  if (!exited()) signalGroup(pgid, "SIGTERM");
  const deadline = Date.now() + KILL_GRACE_MS;
  // Wait for the leader, then for any stragglers left in its group.
  await Promise.race([exitPromise, delay(KILL_GRACE_MS)]);
  while (groupAlive(pgid) && Date.now() < deadline) await delay(50);
  if (groupAlive(pgid) || !exited()) {
    signalGroup(pgid, "SIGKILL");
    await Promise.race([exitPromise, delay(1000)]);
  }
  liveGroups.delete(pgid);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    // EPERM means it exists but is not ours; treat as alive only then.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function exitStatus(child: ChildProcess): string {
  return child.signalCode ? `signal ${child.signalCode}` : `code ${String(child.exitCode)}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
