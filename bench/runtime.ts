/**
 * The lean runtime: one Worker bundle served by workerd through Miniflare's API, with no
 * `wrangler dev` in front. Run as its own process (so its CPU is told apart from the client's):
 *
 *   node bench/runtime.ts '<spec JSON>'
 *   spec: { name, config: "<wrangler.toml>", bundle: "<dir with the bundle>", main: "index.js",
 *           persistTo, port, inspectorPort?, vars: { NAME: "value" } }
 *
 * Prints `ready {"port":…,"inspectorPort":…}` once the Worker answers on 127.0.0.1:<port> and
 * the D1 migrations are applied; SIGTERM or SIGINT disposes Miniflare (and its workerd) and exits.
 *
 * Why Miniflare's API and not a hand-written workerd capnp config: measured with the floor's
 * null proxy (bench/floor; 1,000 sequential keep-alive POSTs to each way, interleaved, two runs
 * on the shared 2-core machine while it was busy; p50 added over direct), bare `workerd serve`
 * with a capnp config added 1.10 / 1.45 ms, this process 1.24 / 1.53 ms (0.1 ms more), the same
 * Miniflare through its own entry socket 1.55 / 1.68 ms, and `wrangler dev` 11.9 ms. So:
 *
 * - The request enters the user Worker straight from a workerd socket (`unsafeDirectSockets`):
 *   no `wrangler dev` proxy Worker in a second workerd, no inspector relay, not even Miniflare's
 *   entry Worker. What is left of Miniflare on the path is its outbound Worker, which every
 *   `fetch` of the user Worker passes through (it only adds a header); that is the ~0.1 ms above,
 *   and the floor pays it as the gateway does. The bench's "floor on bare workerd" row (capnp,
 *   bench/stack.ts) keeps measuring that residue in every run.
 * - workerd has no local KV or D1 of its own: those are Miniflare's Workers over SQLite-backed
 *   Durable Objects, the same simulators `wrangler dev` runs. A capnp config would have to
 *   re-implement them; through Miniflare every binding is the real local one.
 * - The bindings come from the Worker's wrangler.toml through wrangler's own translation
 *   (`unstable_readConfig` + `unstable_getMiniflareWorkerOptions`, what `wrangler dev` uses), so
 *   a binding the gateway adds is served here without a change to the bench: today the
 *   SQLite-backed Durable Objects SESSIONS, TENANTS, LIMITERS and MONITORS, the CONFIG KV
 *   namespace, the AUDIT D1 database (migrations applied below, as `wrangler d1 migrations
 *   apply --local` would), and METRICS (Analytics Engine: locally a binding that stores nothing).
 *   The spec's `vars` (ADMIN_TOKEN, ALLOW_PRIVATE_BACKENDS, STATE_SECRET for the gateway) are
 *   plain text bindings, as `wrangler dev --var` makes them.
 *
 * Miniflare and workerd are the ones wrangler itself depends on (node_modules/wrangler/
 * node_modules/…), so the lean runtime and `wrangler dev` run the same workerd build. Everything
 * listens on 127.0.0.1: the Worker's socket, Miniflare's entry socket (unused), the inspector.
 * Local observability (the trace collector `[observability]` makes `wrangler dev` run) is not
 * started: on Cloudflare that work is the platform's.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join, resolve } from "node:path";

export interface RuntimeSpec {
  /** The Worker's name (Durable Object storage folders are named after it). */
  name: string;
  /** Its wrangler.toml: bindings, compatibility date and flags. */
  config: string;
  /** The folder `wrangler deploy --dry-run --outdir` wrote, and the main module in it. */
  bundle: string;
  main: string;
  /** State folder, laid out as `wrangler dev --persist-to` lays it out (`<persistTo>/v3/…`). */
  persistTo: string;
  port: number;
  inspectorPort?: number;
  vars: Record<string, string>;
}

const wranglerDir = dirname(createRequire(import.meta.url).resolve("wrangler/package.json"));
const fromWrangler = createRequire(join(wranglerDir, "package.json"));

/** The paths of wrangler's own Miniflare and workerd. */
export function runtimePackages(): { miniflare: string; workerdBin: string; workerdVersion: string } {
  const miniflare = fromWrangler.resolve("miniflare");
  const fromMiniflare = createRequire(miniflare);
  const workerdPkg = fromMiniflare.resolve("workerd/package.json");
  return {
    miniflare,
    workerdBin: join(dirname(workerdPkg), "bin", "workerd"),
    workerdVersion: (JSON.parse(readFileSync(workerdPkg, "utf8")) as { version: string }).version,
  };
}

type Json = Record<string, unknown>;
interface MiniflareLike {
  ready: Promise<URL>;
  getD1Database(binding: string): Promise<{ prepare(sql: string): unknown; batch(statements: unknown[]): Promise<unknown> }>;
  dispose(): Promise<void>;
}
interface WranglerApi {
  unstable_readConfig(args: { config: string }, options?: Json): Json & { d1_databases?: { binding: string; migrations_dir?: string }[] };
  unstable_getMiniflareWorkerOptions(config: Json): { workerOptions: Json };
  unstable_splitSqlQuery(sql: string): string[];
}

export async function serve(spec: RuntimeSpec): Promise<{ dispose(): Promise<void> }> {
  const wrangler = (await import(fromWrangler.resolve("wrangler"))) as WranglerApi;
  const { Miniflare, convertV4MiniflareOptions } = (await import(runtimePackages().miniflare)) as {
    Miniflare: new (options: Json) => MiniflareLike;
    convertV4MiniflareOptions(options: Json): Json & { workers: Json[] };
  };
  const config = wrangler.unstable_readConfig({ config: spec.config }, { hideWarnings: true });
  // modulesRules describe how to bundle sources; the bundle is built already.
  const { modulesRules: _rules, ...workerOptions } = wrangler.unstable_getMiniflareWorkerOptions(config).workerOptions;
  const modules = readdirSync(spec.bundle)
    .filter((f) => f.endsWith(".js") || f.endsWith(".mjs") || f.endsWith(".wasm"))
    .sort((a, b) => (a === spec.main ? -1 : b === spec.main ? 1 : a.localeCompare(b)))
    .map((f) => ({ type: f.endsWith(".wasm") ? "CompiledWasm" : "ESModule", path: join(spec.bundle, f), contents: readFileSync(join(spec.bundle, f)) }));
  if (modules[0]?.path !== join(spec.bundle, spec.main)) throw new Error(`no ${spec.main} in ${spec.bundle}`);
  const converted = convertV4MiniflareOptions({
    workers: [
      {
        ...workerOptions,
        name: spec.name,
        rootPath: spec.bundle,
        modules,
        bindings: { ...(workerOptions.bindings as Json | undefined), ...spec.vars },
        unsafeDirectSockets: [{ host: "127.0.0.1", port: spec.port }],
      },
    ],
  });
  const mf = new Miniflare({
    ...converted,
    host: "127.0.0.1",
    port: 0,
    ...(spec.inspectorPort ? { inspectorHost: "127.0.0.1", inspectorPort: spec.inspectorPort } : {}),
    resourcePersistencePath: join(spec.persistTo, "v3"),
    // No Request.cf download, no dev registry, no telemetry, no request log lines.
    cf: {},
    enableDevRegistry: false,
    telemetry: { enabled: false },
    logRequests: false,
    // The Worker's console lines (the gateway writes one JSON line per request) reach this
    // process as structured logs; info lines are dropped here as `wrangler dev --log-level warn`
    // drops them, warnings and errors go to stderr for diagnostics.
    handleStructuredLogs: (log: { level: string; message: string }) => {
      if (log.level === "warn" || log.level === "error") process.stderr.write(`${log.level}: ${log.message.slice(0, 2000)}\n`);
    },
  });
  await mf.ready;
  for (const db of config.d1_databases ?? []) {
    if (!db.migrations_dir) continue;
    const dir = isAbsolute(db.migrations_dir) ? db.migrations_dir : resolve(dirname(spec.config), db.migrations_dir);
    const d1 = await mf.getD1Database(db.binding);
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
      const statements = wrangler.unstable_splitSqlQuery(readFileSync(join(dir, file), "utf8")).filter((s) => s.trim() !== "");
      if (statements.length > 0) await d1.batch(statements.map((s) => d1.prepare(s)));
    }
  }
  return { dispose: () => mf.dispose() };
}

if (import.meta.main) {
  const spec = JSON.parse(process.argv[2] ?? "{}") as RuntimeSpec;
  const running = await serve(spec);
  process.stdout.write(`ready ${JSON.stringify({ port: spec.port, inspectorPort: spec.inspectorPort ?? null })}\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 3_000).unref();
    running.dispose().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
