/**
 * CPU profiles of workerd's isolates over the V8 inspector protocol (the port the lean runtime,
 * bench/runtime.ts, or `wrangler dev` gives workerd with --inspector-addr), and CPU time of whole
 * processes from /proc. Used to find
 * where a request's time goes: the gateway's own code, the runtime, or the local dev plumbing
 * (miniflare's entry and outbound workers).
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { SourceMap } from "node:module";
import { dirname, relative, resolve } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  target: string;
  /** Wall time the profile covers, ms. */
  windowMs: number;
  /** Time not idle (program, GC and JS), ms. */
  activeMs: number;
  gcMs: number;
  /** Functions by self time, ms. */
  top: { fn: string; selfMs: number }[];
  /** Functions by inclusive time (self and everything they called), ms. */
  inclusive: { fn: string; totalMs: number }[];
}

/** The inspector port of the workerd that runs the user worker: the one that lists it. */
export async function findInspector(pids: number[], target: string): Promise<number | null> {
  for (const pid of pids) {
    for (const port of listeningPorts(pid)) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(1000) });
        if (!res.ok) continue;
        const list = (await res.json()) as { id: string }[];
        if (Array.isArray(list) && list.some((t) => t.id === target)) return port;
      } catch {
        // not an inspector
      }
    }
  }
  return null;
}

/** TCP ports a process listens on (from /proc/net/tcp and its socket inodes). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m) inodes.add(m[1]!);
      } catch {
        // fd closed meanwhile
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    // local_address rem_address st ... inode(9)
    if (cols.length < 10 || cols[3] !== "0A") continue; // 0A = LISTEN
    if (!inodes.has(cols[9]!)) continue;
    ports.push(parseInt(cols[1]!.split(":")[1]!, 16));
  }
  return ports;
}

/** A minimal Chrome DevTools Protocol session over the global WebSocket. */
class Cdp {
  readonly #ws: WebSocket;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    ws.addEventListener("message", (event) => {
      const text = typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data as ArrayBuffer);
      const message = JSON.parse(text) as { id?: number; result?: unknown; error?: { message: string } };
      if (message.id === undefined) return;
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error) pending.reject(new Error(message.error.message));
      else pending.resolve(message.result);
    });
  }

  static open(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.addEventListener("open", () => resolve(new Cdp(ws)), { once: true });
      ws.addEventListener("error", () => reject(new Error(`cannot open ${url}`)), { once: true });
    });
  }

  send<T>(method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no answer from the inspector within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.#ws.close();
  }
}

/** An inspector session on one target, for plain calls (the first session sometimes gets no answers). */
export async function inspectorSession(port: number, target: string): Promise<{ send<T>(method: string, params?: Record<string, unknown>): Promise<T>; close(): void }> {
  for (let attempt = 1; ; attempt++) {
    const cdp = await Cdp.open(`ws://127.0.0.1:${port}/${target}`);
    try {
      await cdp.send("Runtime.getHeapUsage", {}, 5_000);
      return { send: (method, params = {}) => cdp.send(method, params, 5_000), close: () => cdp.close() };
    } catch (error) {
      cdp.close();
      if (attempt >= 3) throw error;
    }
  }
}

/** Profiles each target while `work` runs. */
export async function profileDuring<T>(port: number, targets: string[], work: () => Promise<T>, intervalUs = 200): Promise<{ result: T; profiles: Record<string, CpuProfile> }> {
  const sessions: [string, Cdp][] = [];
  try {
    for (const target of targets) {
      // The first session to a target sometimes gets no answer at all; a second one does.
      for (let attempt = 1; ; attempt++) {
        const cdp = await Cdp.open(`ws://127.0.0.1:${port}/${target}`);
        try {
          await cdp.send("Profiler.enable", {}, 5_000);
          await cdp.send("Profiler.setSamplingInterval", { interval: intervalUs });
          sessions.push([target, cdp]);
          break;
        } catch (error) {
          cdp.close();
          if (attempt >= 3) throw error;
        }
      }
    }
    for (const [, cdp] of sessions) await cdp.send("Profiler.start");
    const result = await work();
    const profiles: Record<string, CpuProfile> = {};
    for (const [target, cdp] of sessions) profiles[target] = (await cdp.send<{ profile: CpuProfile }>("Profiler.stop")).profile;
    return { result, profiles };
  } finally {
    for (const [, cdp] of sessions) cdp.close();
  }
}

/** Where a frame of the bundle comes from: "<source file>:<line>", through the bundle's source map. */
export type FrameSource = (url: string, line: number, column: number) => string | null;

/**
 * Reads `<bundle>.map` (wrangler writes it beside the bundle) and maps the bundle's frames to
 * their source files, relative to `sourceRoot` (worker/…, durable-objects/…, node_modules/…).
 */
export function sourceResolver(bundleFile: string, sourceRoot: string): FrameSource | undefined {
  const mapFile = `${bundleFile}.map`;
  if (!existsSync(mapFile)) return undefined;
  const map = new SourceMap(JSON.parse(readFileSync(mapFile, "utf8")) as ConstructorParameters<typeof SourceMap>[0]);
  const bundleName = bundleFile.split("/").pop()!;
  return (url, line, column) => {
    if (url.split("/").pop() !== bundleName) return null;
    const entry = map.findEntry(line, column) as { originalSource?: string; originalLine?: number };
    if (!entry.originalSource) return null;
    return `${relative(sourceRoot, resolve(dirname(mapFile), entry.originalSource))}:${(entry.originalLine ?? 0) + 1}`;
  };
}

export function summarize(target: string, profile: CpuProfile, topN = 15, source?: FrameSource): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const where = (frame: ProfileNode["callFrame"]): string => source?.(frame.url, frame.lineNumber, frame.columnNumber) ?? `${frame.url.split("/").pop() ?? ""}:${frame.lineNumber + 1}`;
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let idle = 0;
  let gc = 0;
  const byFn = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === "(idle)") {
      idle += us;
      continue;
    }
    if (frame.functionName === "(garbage collector)") gc += us;
    const key = `${frame.functionName || "(anonymous)"} ${where(frame)}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  // Inclusive time: each sample counts once for every distinct function on its stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (id: number): string => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || "(anonymous)"} ${where(f)}`;
  };
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    if (byId.get(id)!.callFrame.functionName === "(idle)") continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = keyOf(at);
      if (key.startsWith("(root)") || seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  const windowUs = profile.endTime - profile.startTime;
  return {
    inclusive: [...inclusive.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN * 2)
      .map(([fn, us]) => ({ fn, totalMs: us / 1000 })),
    target,
    windowMs: windowUs / 1000,
    activeMs: (windowUs - idle) / 1000,
    gcMs: gc / 1000,
    top: [...byFn.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([fn, us]) => ({ fn, selfMs: us / 1000 })),
  };
}

/** CPU time (user + system) a process has used so far, ms. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[11] utime, fields[12] stime (clock ticks, 100 per second on Linux)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}
