/**
 * The tree tells the request's path, and this test keeps it that way (docs/architecture.md
 * "Layout"). It reads the relative imports of every source file under worker/ and
 * durable-objects/, as a reader of the code would, and holds them to the direction of the
 * request:
 *
 *   worker (stages ①–⑥) → a home (worker/stateless/ or durable-objects/session/) → worker/engine/
 *   → the leaves (protocol, broker, policy, upstream, observe, audit, limits, tenant)
 *
 * - the engine imports no home, no stage of the Worker in front of it, and no Durable Object;
 * - durable-objects/ imports only the engine and the leaves (and its own files);
 * - worker/ imports durable-objects/ only for the binding types (env.ts) and the class
 *   re-exports wrangler needs (index.ts);
 * - no import cycle, type-only imports included;
 * - no source file over MAX_SOURCE_LINES.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** A file longer than this is doing more than one job (issue 12); split it by concern. */
const MAX_SOURCE_LINES = 400;
/** What the engine and the Durable Objects may build on. */
const LEAVES = [
  "worker/protocol/",
  "worker/broker/",
  "worker/policy/",
  "worker/upstream/",
  "worker/observe/",
  "worker/audit/",
  "worker/limits/",
  "worker/tenant/",
  // OpenAPI backends: pure modules the upstream of that transport builds on (worker/upstream/openapi.ts).
  "worker/openapi/",
  "worker/env.ts",
  // The authorization server's vocabulary, shared by its routes (worker/oauth/) and its store
  // (durable-objects/oauth/), as tenant/schema.ts is by the tenant routes and the TenantObject.
  "worker/oauth/types.ts",
  "worker/oauth/crypto.ts",
  "worker/oauth/grants.ts",
  "worker/approvals/types.ts",
  "worker/connections/types.ts",
  "worker/connections/links.ts",
  "worker/connections/oauthClient.ts",
  "worker/connections/userTokens.ts",
];

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?[^;]*?\bfrom\s+["'](\.{1,2}\/[^"']+)["']|\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/gm;

/** The relative imports of a file, resolved to repo-relative paths. */
function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[3] ?? match[4]!;
    const typeOnly = match[2] !== undefined || match[4] !== undefined;
    found.push({ from: file, to: relative(ROOT, resolve(ROOT, dirname(file), spec)), typeOnly });
  }
  return found;
}

const files = [...sourceFiles("worker"), ...sourceFiles("durable-objects")];
const texts = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), "utf8")]));
const imports = files.flatMap((f) => importsOf(f, texts.get(f)!));
const show = (list: Import[]) => list.map((i) => `${i.from} -> ${i.to}${i.typeOnly ? " (type)" : ""}`);

/** Every cycle of the import graph, each as the files along it (Tarjan's strongly connected components). */
function cycles(edges: Import[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let counter = 0;
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const to of next.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (next.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const { from } of edges) if (!index.has(from)) visit(from);
  return found;
}

describe("layout: the direction of the request", () => {
  it("reads every source file's imports (the test would pass vacuously otherwise)", () => {
    expect(files.length).toBeGreaterThan(60);
    expect(imports.filter((i) => i.from.startsWith("worker/engine/")).length).toBeGreaterThan(50);
    // Every import resolves to a file of the tree, so a renamed folder cannot hide an edge.
    const missing = imports.filter((i) => !texts.has(i.to));
    expect(show(missing)).toEqual([]);
  });

  it("the engine imports no home, no stage in front of it and no Durable Object", () => {
    const wrong = imports.filter((i) => i.from.startsWith("worker/engine/") && !i.to.startsWith("worker/engine/") && !LEAVES.some((leaf) => i.to.startsWith(leaf)));
    expect(show(wrong)).toEqual([]);
  });

  it("durable-objects/ builds on the engine and the leaves only", () => {
    const wrong = imports.filter(
      (i) => i.from.startsWith("durable-objects/") && !i.to.startsWith("durable-objects/") && !i.to.startsWith("worker/engine/") && !LEAVES.some((leaf) => i.to.startsWith(leaf)),
    );
    expect(show(wrong)).toEqual([]);
  });

  it("worker/ reaches durable-objects/ only for binding types (env.ts) and wrangler's class re-exports (index.ts)", () => {
    const wrong = imports.filter((i) => {
      if (!i.from.startsWith("worker/") || !i.to.startsWith("durable-objects/")) return false;
      if (i.from === "worker/env.ts" && i.typeOnly) return false;
      return i.from !== "worker/index.ts" || !/^export\s*\{/m.test(texts.get(i.from)!);
    });
    expect(show(wrong)).toEqual([]);
  });

  it("has no import cycle, type-only imports included", () => {
    expect(cycles(imports)).toEqual([]);
  });

  it(`keeps every source file under ${MAX_SOURCE_LINES} lines`, () => {
    const long = files.map((f) => ({ file: f, lines: texts.get(f)!.split("\n").length })).filter((f) => f.lines > MAX_SOURCE_LINES);
    expect(long).toEqual([]);
  });

  it("finds the violations it is meant to find", () => {
    const planted: Import[] = [
      { from: "worker/engine/a.ts", to: "worker/engine/b.ts", typeOnly: true },
      { from: "worker/engine/b.ts", to: "worker/engine/a.ts", typeOnly: false },
      { from: "worker/engine/c.ts", to: "worker/stateless/home.ts", typeOnly: false },
    ];
    expect(cycles(planted)).toEqual([["worker/engine/a.ts", "worker/engine/b.ts"]]);
    expect(planted.filter((i) => !i.to.startsWith("worker/engine/") && !LEAVES.some((leaf) => i.to.startsWith(leaf)))).toHaveLength(1);
    expect(importsOf("worker/x/y.ts", 'import type { A } from "../z.ts";\nexport { B } from "./w.ts";\nconst c = import("../../durable-objects/q.ts");')).toEqual([
      { from: "worker/x/y.ts", to: "worker/z.ts", typeOnly: true },
      { from: "worker/x/y.ts", to: "worker/x/w.ts", typeOnly: false },
      { from: "worker/x/y.ts", to: "durable-objects/q.ts", typeOnly: true },
    ]);
  });
});
