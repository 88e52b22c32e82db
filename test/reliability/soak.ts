/**
 * The soak (issue 7): many sessions doing a mix of lists, calls and streamed calls against a real
 * gateway (`wrangler dev`, workerd) for a fixed time, checking every reply, counting every
 * progress notification, and sampling the workerd process's resident memory
 * (/proc/<pid>/status VmRSS) as it goes.
 *
 * Used by test/reliability/soak.e2e.test.ts (the short form, in `npm test`) and by
 * scripts/soak.ts (`npm run soak`, the full form).
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { freePort, startDemoBackend, type RunningServer } from "../support/processes.ts";
import { Inspector } from "./inspector.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner } from "../support/auth.ts";
import { McpClient, responseTo, textOf, type Message } from "./client.ts";
import { EventReader, messagesOf, seqOf } from "./sse.ts";

export interface SoakOptions {
  sessions: number;
  durationMs: number;
  /** How often workerd's RSS is read. */
  sampleEveryMs?: number;
  /** Each session ends (DELETE) and a new one starts after this many operations; 0 never. */
  churnEvery?: number;
  /** Progress lines to stderr. */
  log?: (line: string) => void;
}

export interface SoakReport {
  sessions: number;
  durationMs: number;
  sessionsOpened: number;
  operations: Record<string, number>;
  requests: number;
  errors: string[];
  notificationsExpected: number;
  notificationsReceived: number;
  lostNotifications: number;
  duplicatedEvents: number;
  /**
   * RSS of the gateway's workerd process in MiB (wrangler runs a second one, its dev proxy, not
   * counted): the first sample, the one once every session is open, the largest, and the last.
   */
  rssMiB: { first: number; warm: number; max: number; last: number; samples: number[] };
  /** Last third's median minus the median of the first third after warm-up, in MiB. */
  rssGrowthMiB: number;
  /** The Worker's JavaScript heap after a full collection, in MiB: every session open, before and after the load. */
  heapMiB: { warm: number; end: number };
  heapGrowthMiB: number;
}

const STORM_STEPS = 5;

/**
 * "Flat memory": the Worker's heap after a full collection may grow by at most this over a run,
 * with as many sessions open at the end as at the start. A leak of even 1 KiB per request passes
 * it within 16,000 requests; the short form makes about 2,000, the full one 12,000 and more.
 */
export const MAX_HEAP_GROWTH_MIB = 16;

/** The workerd processes of the gateway's process group (wrangler runs workerd as a child). */
export function workerdPids(groupLeader: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after the last ')'.
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (comm === "workerd" && Number(fields[2]) === groupLeader) pids.push(Number(entry));
    } catch {
      // the process went away
    }
  }
  return pids;
}

/** The gateway's own workerd among them: the one wrangler attaches its inspector to. */
export function gatewayPid(pids: number[]): number {
  const own = pids.find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--inspector-addr");
    } catch {
      return false;
    }
  });
  if (own === undefined) throw new Error("no workerd process with an inspector");
  return own;
}

/**
 * The gateway's own listening socket (`http://127.0.0.1:<port>`): the one of its workerd's TCP
 * listeners that answers /healthz as the gateway. The soak talks to it directly: wrangler's
 * local-dev proxy in front of it (absent in production) grows past 1.5 GiB under this load and
 * stalls wrangler's inspector, which the heap readings need.
 */
export async function gatewayEntry(pid: number): Promise<string> {
  const sockets = new Set(
    readdirSync(`/proc/${pid}/fd`)
      .map((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return "";
        }
      })
      .filter((link) => link.startsWith("socket:["))
      .map((link) => link.slice("socket:[".length, -1)),
  );
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    // local address, state 0A (LISTEN), inode
    if (fields[3] !== "0A" || !sockets.has(fields[9] ?? "")) continue;
    const origin = `http://127.0.0.1:${parseInt(fields[1]!.split(":")[1]!, 16)}`;
    try {
      const res = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(3_000) });
      if (res.ok && ((await res.json()) as { ok?: boolean }).ok === true) return origin;
    } catch {
      // another of workerd's sockets (inspector, debug port)
    }
  }
  throw new Error("the gateway's own socket was not found");
}

/** Resident memory of the processes, in MiB. */
export function rssMiB(pids: number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (match) kib += Number(match[1]);
    } catch {
      // gone
    }
  }
  return Math.round((kib / 1024) * 10) / 10;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)]!;
};

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const sampleEveryMs = options.sampleEveryMs ?? 1_000;
  const churnEvery = options.churnEvery ?? 40;
  let weather: RunningServer | undefined;
  let notes: RunningServer | undefined;
  let gateway: RunningGateway | undefined;
  let inspector: Inspector | undefined;
  try {
    [weather, notes] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes")]);
    const inspectorPort = await freePort();
    gateway = await startGateway({ inspectorPort });
    const signer = await testSigner();
    const own = gatewayPid(workerdPids(gateway.pid));
    const url = `${await gatewayEntry(own)}/t/soak/mcp`;
    await gateway.putTenant({
      id: "soak",
      backends: [
        { name: "weather", url: weather.url, timeoutMs: 15_000 },
        { name: "notes", url: notes.url, timeoutMs: 15_000 },
      ],
      auth: jwtAuth(signer, url),
    });
    const pids = [own];
    inspector = await Inspector.attach(inspectorPort);
    const report: SoakReport = {
      sessions: options.sessions,
      durationMs: options.durationMs,
      sessionsOpened: 0,
      operations: {},
      requests: 0,
      errors: [],
      notificationsExpected: 0,
      notificationsReceived: 0,
      lostNotifications: 0,
      duplicatedEvents: 0,
      rssMiB: { first: 0, warm: 0, max: 0, last: 0, samples: [] },
      rssGrowthMiB: 0,
      heapMiB: { warm: 0, end: 0 },
      heapGrowthMiB: 0,
    };
    const error = (what: string) => {
      if (report.errors.length < 50) report.errors.push(what);
      else report.errors[49] = `… and more (${what})`;
    };
    const samples = report.rssMiB.samples;
    samples.push(rssMiB(pids));
    const sampler = setInterval(() => samples.push(rssMiB(pids)), sampleEveryMs);
    let warmIndex = -1;

    const open = async (n: number): Promise<McpClient> => {
      const client = new McpClient(url, await signer.token({ sub: `soak-${n % 10}`, audience: url, ttlSeconds: 3_600 }));
      await client.initialize("soak");
      report.sessionsOpened++;
      report.requests += 2;
      return client;
    };

    /** One operation; checks everything about its reply. */
    const operate = async (client: McpClient, op: number, n: number): Promise<void> => {
      const id = op + 1;
      const kinds = ["tools/list", "forecast", "storm", "resources/list", "notes", "storm", "prompts/list", "alerts"] as const;
      const kind = kinds[(op + n) % kinds.length]!;
      report.operations[kind] = (report.operations[kind] ?? 0) + 1;
      report.requests++;
      const expectResult = (messages: Message[], check: (m: Message) => boolean, what: string) => {
        const response = responseTo(messages, id);
        if (!response || response.error || !check(response)) error(`session ${n} op ${op} ${what}: ${JSON.stringify(response ?? messages).slice(0, 200)}`);
      };
      switch (kind) {
        case "tools/list":
        case "resources/list":
        case "prompts/list": {
          const { messages } = await client.request({ jsonrpc: "2.0", id, method: kind });
          const field = kind.split("/")[0]!;
          expectResult(messages, (m) => Array.isArray(m.result?.[field]) && (m.result![field] as unknown[]).length > 0, kind);
          if (messages.some((m) => m.method === "notifications/message")) error(`session ${n} op ${op}: a backend was reported unavailable`);
          return;
        }
        case "forecast": {
          const city = `City ${n}-${op}`;
          const { messages } = await client.request({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "weather__get_forecast", arguments: { city, days: 2 } } });
          expectResult(messages, (m) => textOf(m).startsWith(`Forecast for ${city}:`), "forecast");
          return;
        }
        case "alerts": {
          const { messages } = await client.request({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "weather__get_alerts", arguments: { region: `r${n}` } } });
          expectResult(messages, (m) => textOf(m).includes(`"region":"r${n}"`), "alerts");
          return;
        }
        case "notes": {
          const { messages } = await client.request({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "notes__list_notes", arguments: {} } });
          expectResult(messages, (m) => Array.isArray(JSON.parse(textOf(m) || "null")), "notes");
          return;
        }
        case "storm": {
          const token = `soak-${n}-${op}`;
          const res = await client.post({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "weather__watch_storm", arguments: { steps: STORM_STEPS, intervalMs: 20 }, _meta: { progressToken: token } } });
          const events = await new EventReader(res.body!).rest();
          const seqs = events.filter((e) => e.data !== "").map(seqOf);
          if (new Set(seqs).size !== seqs.length) report.duplicatedEvents += seqs.length - new Set(seqs).size;
          const messages = messagesOf(events) as Message[];
          const progress = messages.filter((m) => m.method === "notifications/progress");
          report.notificationsExpected += STORM_STEPS;
          report.notificationsReceived += progress.length;
          const inOrder = progress.every((m, i) => m.params?.progressToken === token && m.params.progress === i + 1);
          if (progress.length !== STORM_STEPS || !inOrder) error(`session ${n} op ${op}: progress ${JSON.stringify(progress.map((m) => m.params)).slice(0, 200)}`);
          expectResult(messages, (m) => textOf(m) === `Storm watch finished after ${STORM_STEPS} steps.`, "storm");
          return;
        }
      }
    };

    log(`soak: opening ${options.sessions} sessions`);
    const clients = await Promise.all(Array.from({ length: options.sessions }, (_, n) => open(n)));
    // Warm: every session open and each one's first list in hand (lists are cached per session).
    await Promise.all(
      clients.map(async (client, n) => {
        for (const method of ["tools/list", "resources/list", "prompts/list"]) {
          const { messages } = await client.request({ jsonrpc: "2.0", id: method, method });
          report.requests++;
          if (!responseTo(messages, method)?.result) error(`warm-up ${n} ${method}: ${JSON.stringify(messages).slice(0, 200)}`);
        }
      }),
    );
    log(`soak: ${report.sessionsOpened} sessions open; measuring the heap`);
    const warm = await inspector.heapAfterGc();
    report.heapMiB.warm = warm.mib;
    log(`soak: heap ${report.heapMiB.warm} MiB after a full collection; load for ${options.durationMs / 1000} s`);
    warmIndex = samples.length;
    samples.push(rssMiB(pids));
    const deadline = Date.now() + options.durationMs;
    let lastLog = Date.now();
    const live: McpClient[] = [...clients];
    await Promise.all(
      clients.map(async (first, n) => {
        let client = first;
        for (let op = 0; Date.now() < deadline; op++) {
          try {
            await operate(client, op, n);
            if (churnEvery > 0 && op > 0 && op % churnEvery === 0) {
              await client.close();
              report.requests++;
              client = await open(n);
              live[n] = client;
            }
          } catch (e) {
            error(`session ${n} op ${op}: ${String(e)}`);
          }
          if (n === 0 && Date.now() - lastLog > 10_000) {
            lastLog = Date.now();
            log(`soak: ${report.requests} requests, ${report.errors.length} errors, rss ${samples.at(-1)} MiB`);
          }
        }
      }),
    );
    // As many sessions open as at warm-up, so the heaps compare like with like.
    log(`soak: load done (${report.requests} requests); measuring the heap`);
    const end = await inspector.heapAfterGc();
    report.heapMiB.end = end.mib;
    // wrangler dev reloads the Worker when its sources change; a new isolate makes the comparison meaningless.
    const now = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as { id: string }[];
    if (now[0]?.id !== warm.target) error("the Worker was reloaded during the soak (its sources changed): run it again");
    log(`soak: heap ${report.heapMiB.end} MiB after a full collection`);
    report.heapGrowthMiB = Math.round((report.heapMiB.end - report.heapMiB.warm) * 10) / 10;
    await Promise.all(live.map((client) => client.close().catch(() => {})));
    clearInterval(sampler);
    samples.push(rssMiB(pids));
    report.lostNotifications = report.notificationsExpected - report.notificationsReceived;
    const steady = samples.slice(warmIndex);
    const third = Math.max(1, Math.floor(steady.length / 3));
    report.rssMiB = { first: samples[0]!, warm: samples[warmIndex]!, max: Math.max(...samples), last: samples.at(-1)!, samples };
    report.rssGrowthMiB = Math.round((median(steady.slice(-third)) - median(steady.slice(0, third))) * 10) / 10;
    return report;
  } finally {
    inspector?.close();
    await Promise.allSettled([gateway?.stop(), weather?.stop(), notes?.stop()]);
  }
}
