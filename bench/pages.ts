/**
 * Pages per idle session database, before and after a change (as bench/ab.ts builds its two
 * variants): opens sessions of the idle tenant (initialize + ping), stops the gateway, and counts
 * the SQLite pages of each new session database by b-tree (dbstat), as the idle scenario does.
 *
 *   node bench/pages.ts <patch> [sessions=30]
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Http, StreamableSession } from "./client.ts";
import { startStack } from "./stack.ts";
import { measureSessionFiles } from "./scenarios.ts";
const patch = process.argv[2]!;
const n = Number(process.argv[3] ?? 30);
const root = fileURLToPath(new URL("..", import.meta.url));
for (const variant of ["before", "after"] as const) {
  const dir = mkdtempSync(join(tmpdir(), `idle-${variant}-`));
  for (const p of ["worker", "durable-objects", "migrations", "wrangler.toml", "package.json", "tsconfig.json"]) cpSync(join(root, p), join(dir, p), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  if (variant === "before") execFileSync("patch", ["-R", "-p1", "-s", "-i", patch], { cwd: dir });
  const stack = await startStack(() => {}, { observability: false, sourceRoot: dir });
  const http = new Http();
  const doDir = () => join(stack.persistTo, "v3", "do", readdirSync(join(stack.persistTo, "v3", "do")).find((d) => d.endsWith("SessionObject"))!);
  let before = new Set<string>();
  try { before = new Set(readdirSync(doDir())); } catch {}
  const t = stack.tenant("idle", "policy");
  for (let i = 0; i < n; i++) {
    const s = new StreamableSession(http, t.url, t.headers);
    await s.initialize();
    await s.request("ping", {});
  }
  // one more that lists and calls (a used session)
  const e = stack.tenant("echo", "policy");
  const used = new StreamableSession(http, e.url, e.headers);
  await used.initialize();
  http.close();
  await stack.stop();
  const m = measureSessionFiles(doDir(), before, n);
  console.log(`${variant}: ${m.files} dbs, ${(m.bytes / m.files / 1024).toFixed(1)} KiB each, pages ${m.sample?.pagesPerDb.toFixed(2)}; ${Object.entries(m.sample?.byTable ?? {}).map(([k, v]) => `${k}:${v.pages.toFixed(1)}`).join(" ")}`);
  stack.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
