/**
 * Reversible names for items merged from many backends. Exposed names stay valid MCP tool names
 * (2025-11-25 server/tools "Tool Names": A-Z a-z 0-9 _ - ., unique within a server) and within
 * 64 characters, and each maps back to exactly one (backend, original name).
 */
import { describe, expect, it } from "vitest";
import {
  buildNameTable,
  exposedName,
  MAX_EXPOSED_NAME_LENGTH,
  prefixed,
  resolveName,
  type BackendNames,
  type NameTable,
} from "../../../worker/broker/naming.ts";
import { fnv1a } from "../../../worker/protocol/encoding.ts";
import { BACKEND_NAME_PATTERN, parseTenant, type NamingConfig } from "../../../worker/tenant/schema.ts";
import { rng, type Rng } from "../support/random.ts";

const always: NamingConfig = { mode: "always", separator: "__", resources: "on-collision" };
const onCollision: NamingConfig = { mode: "on-collision", separator: "__", resources: "on-collision" };
const never: NamingConfig = { mode: "never", separator: "__", resources: "on-collision" };

const exposedOf = (table: NameTable) => table.entries.map((e) => e.exposed);
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

describe("buildNameTable, mode always", () => {
  it("prefixes every name with its backend and the separator", () => {
    const table = buildNameTable(
      [
        { backend: "github", names: ["search", "create_issue"] },
        { backend: "notes", names: ["search"] },
      ],
      always,
    );
    expect(table.entries).toEqual([
      { exposed: "github__search", backend: "github", original: "search" },
      { exposed: "github__create_issue", backend: "github", original: "create_issue" },
      { exposed: "notes__search", backend: "notes", original: "search" },
    ]);
    expect(table.dropped).toEqual([]);
  });

  it("uses the configured separator", () => {
    const table = buildNameTable([{ backend: "a", names: ["x"] }], { mode: "always", separator: "." });
    expect(exposedOf(table)).toEqual(["a.x"]);
  });

  it("shows a name a backend lists twice once, keeping the second in dropped", () => {
    const table = buildNameTable([{ backend: "a", names: ["x", "x"] }], always);
    expect(exposedOf(table)).toEqual(["a__x"]);
    expect(table.dropped).toEqual([{ exposed: "a__x", backend: "a", original: "x" }]);
  });
});

describe("buildNameTable, mode on-collision", () => {
  it("leaves unique names alone and prefixes only names two backends share", () => {
    const table = buildNameTable(
      [
        { backend: "a", names: ["search", "only_a"] },
        { backend: "b", names: ["search", "only_b"] },
      ],
      onCollision,
    );
    expect(table.entries).toEqual([
      { exposed: "a__search", backend: "a", original: "search" },
      { exposed: "only_a", backend: "a", original: "only_a" },
      { exposed: "b__search", backend: "b", original: "search" },
      { exposed: "only_b", backend: "b", original: "only_b" },
    ]);
  });

  it("does not count a backend listing a name twice as a collision", () => {
    const table = buildNameTable([{ backend: "a", names: ["x", "x"] }, { backend: "b", names: ["y"] }], onCollision);
    expect(exposedOf(table)).toEqual(["x", "y"]);
  });

  // Regression: backend b's tool literally named "a__x" used to pass through unprefixed and take
  // the name backend a's colliding "x" needed, so a's tool was dropped and calls to "a__x"
  // reached b (tool shadowing).
  it("never lets a name pass through when it equals another item's prefixed name", () => {
    const lists: BackendNames[] = [
      { backend: "b", names: ["a__x"] },
      { backend: "a", names: ["x"] },
      { backend: "c", names: ["x"] },
    ];
    const table = buildNameTable(lists, onCollision);
    expect(table.dropped).toEqual([]);
    expect(resolveName(table.entries, "a__x")).toEqual({ exposed: "a__x", backend: "a", original: "x" });
    expect(exposedName(table.entries, "b", "a__x")).toBe("b__a__x");
    expect(exposedName(table.entries, "c", "x")).toBe("c__x");
  });

  it("follows the chain when prefixing one name exposes another clash", () => {
    // a.x and c.x collide -> a__x; b's "a__x" must yield -> b__a__x; d's "b__a__x" must yield too.
    const lists: BackendNames[] = [
      { backend: "d", names: ["b__a__x"] },
      { backend: "b", names: ["a__x"] },
      { backend: "a", names: ["x"] },
      { backend: "c", names: ["x"] },
    ];
    const table = buildNameTable(lists, onCollision);
    expect(table.dropped).toEqual([]);
    expect(table.entries.map((e) => `${e.backend}:${e.original}=${e.exposed}`)).toEqual([
      "d:b__a__x=d__b__a__x",
      "b:a__x=b__a__x",
      "a:x=a__x",
      "c:x=c__x",
    ]);
  });
});

describe("buildNameTable, mode never", () => {
  it("passes names through unchanged", () => {
    const table = buildNameTable([{ backend: "a", names: ["x", "y"] }], never);
    expect(exposedOf(table)).toEqual(["x", "y"]);
  });

  it("gives a contested name to the first backend in config order and drops the later ones", () => {
    const table = buildNameTable(
      [
        { backend: "first", names: ["search", "a"] },
        { backend: "second", names: ["search", "b"] },
        { backend: "third", names: ["search"] },
      ],
      never,
    );
    expect(table.entries).toEqual([
      { exposed: "search", backend: "first", original: "search" },
      { exposed: "a", backend: "first", original: "a" },
      { exposed: "b", backend: "second", original: "b" },
    ]);
    expect(table.dropped).toEqual([
      { exposed: "search", backend: "second", original: "search" },
      { exposed: "search", backend: "third", original: "search" },
    ]);
  });

  it("decides by config order, so reversing the backends reverses the winner", () => {
    const table = buildNameTable(
      [
        { backend: "second", names: ["search"] },
        { backend: "first", names: ["search"] },
      ],
      never,
    );
    expect(resolveName(table.entries, "search")?.backend).toBe("second");
  });
});

describe("buildNameTable, determinism", () => {
  it("returns identical tables for identical input, in backend order then each backend's own order", () => {
    const lists: BackendNames[] = [
      { backend: "z", names: ["c", "a", "b"] },
      { backend: "a", names: ["b", "a"] },
    ];
    for (const naming of [always, onCollision, never]) {
      const first = buildNameTable(lists, naming);
      expect(buildNameTable(structuredClone(lists), naming)).toEqual(first);
      expect(first.entries.map((e) => `${e.backend}:${e.original}`).slice(0, 3)).toEqual(["z:c", "z:a", "z:b"]);
    }
  });

  it("returns an empty table for no backends or empty lists", () => {
    expect(buildNameTable([], always)).toEqual({ entries: [], dropped: [] });
    expect(buildNameTable([{ backend: "a", names: [] }], onCollision)).toEqual({ entries: [], dropped: [] });
  });
});

describe("prefixed", () => {
  it("is backend + separator + name when that fits in 64 characters", () => {
    expect(prefixed("github", "search", "__")).toBe("github__search");
    const name = "n".repeat(MAX_EXPOSED_NAME_LENGTH - "ab__".length);
    expect(prefixed("ab", name, "__")).toBe(`ab__${name}`);
    expect(prefixed("ab", name, "__")).toHaveLength(64);
  });

  it("shortens a longer name to exactly 64 characters ending in _ and an 8-digit hash of the full name", () => {
    const original = "x".repeat(100);
    const full = `backend__${original}`;
    const out = prefixed("backend", original, "__");
    expect(out).toHaveLength(64);
    expect(out).toBe(`${full.slice(0, 55)}_${fnv1a(full)}`);
    expect(out).toMatch(TOOL_NAME);
  });

  it("keeps shortened names that share their first 55 characters distinct", () => {
    const base = "very_long_tool_name_".repeat(4);
    const names = Array.from({ length: 200 }, (_, i) => `${base}${i}`);
    const out = names.map((n) => prefixed("backend", n, "__"));
    expect(new Set(out).size).toBe(names.length);
    for (const name of out) expect(name.length).toBeLessThanOrEqual(64);
  });

  it("keeps the backend prefix visible in a shortened name", () => {
    expect(prefixed("github", "y".repeat(80), "__").startsWith("github__")).toBe(true);
  });
});

describe("resolveName and exposedName", () => {
  const table = buildNameTable(
    [
      { backend: "a", names: ["x"] },
      { backend: "b", names: ["x"] },
    ],
    always,
  ).entries;

  it("resolve an exposed name to its backend and original", () => {
    expect(resolveName(table, "b__x")).toEqual({ exposed: "b__x", backend: "b", original: "x" });
    expect(exposedName(table, "a", "x")).toBe("a__x");
  });

  it("return undefined for unknown names, never guessing by splitting strings", () => {
    expect(resolveName(table, "x")).toBeUndefined();
    expect(resolveName(table, "c__x")).toBeUndefined();
    expect(exposedName(table, "c", "x")).toBeUndefined();
  });
});

describe("fnv1a", () => {
  it("computes FNV-1a 32-bit as 8 hex digits (published test vectors)", () => {
    expect(fnv1a("")).toBe("811c9dc5");
    expect(fnv1a("a")).toBe("e40c292c");
    expect(fnv1a("foobar")).toBe("bf9cf968");
  });

  it("is stable across calls and pads to 8 digits", () => {
    for (const text of ["tools", "github__search", "x".repeat(500)]) {
      expect(fnv1a(text)).toBe(fnv1a(text));
      expect(fnv1a(text)).toMatch(/^[0-9a-f]{8}$/);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Round-trip property over generated backend/name sets.

/** Every separator the tenant schema allows is drawn from this alphabet (1-3 characters). */
const SEPARATOR_ALPHABET = "abcxyz019_.-ABZ";
const NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";

function backendName(r: Rng): string {
  if (r.chance(0.5)) return r.pick(["a", "b", "ab", "github", "notes", "x1", "a-b", "aa", "xa", "x"]);
  const inner = r.string("abcdefghijklmnopqrstuvwxyz0123456789-", 0, 6);
  const edge = () => r.string("abcdefghijklmnopqrstuvwxyz0123456789", 1, 1);
  return inner.length === 0 ? edge() : `${edge()}${inner}${edge()}`;
}

/**
 * A backend name that, with a separator overlapping itself, could expose the same names as
 * `backend` ("x" and "xa" with "aa"), or undefined. The tenant schema must refuse such pairs.
 */
function shadowingPartner(backend: string, separator: string): string | undefined {
  for (let period = 1; period < separator.length; period++) {
    if (separator.slice(period) !== separator.slice(0, separator.length - period)) continue;
    const partner = `${backend}${separator.slice(0, period)}`;
    if (BACKEND_NAME_PATTERN.test(partner)) return partner;
  }
  return undefined;
}

interface Case {
  seed: number;
  naming: NamingConfig;
  lists: BackendNames[];
  /** Why the tenant schema refused backends the generator proposed. */
  refused: string[];
}

/** A tenant-valid set of backends and their item names, with collisions on purpose. */
function generateCase(seed: number): Case {
  const r = rng(seed);
  const separator = r.chance(0.3)
    ? "__"
    : r.chance(0.3)
      ? r.pick(["aa", "zz", "-a-", "1x1", "a-a", "aba", "---"]) // separators that overlap themselves
      : r.string(SEPARATOR_ALPHABET, 1, 3);
  const mode = r.pick(["always", "on-collision", "never"] as const);
  const naming: NamingConfig = { mode, separator, resources: "on-collision" };

  const backends: string[] = [];
  const refused: string[] = [];
  for (let tries = 0, count = r.int(1, 6); backends.length < count && tries < 50; tries++) {
    const partner = backends.length > 0 && r.chance(0.3) ? shadowingPartner(r.pick(backends), separator) : undefined;
    const name = partner ?? backendName(r);
    const candidate = [...backends, name];
    // Only configurations the tenant schema accepts can reach the naming code.
    const check = parseTenant({ id: "t", naming, backends: candidate.map((n) => ({ name: n, url: "https://b.example/mcp" })) });
    if (check.ok) backends.push(name);
    else refused.push(check.error);
  }

  const shared = ["search", "read", "get.user", "list-items", "x", "a"];
  const lists: BackendNames[] = backends.map((backend) => ({ backend, names: [] }));
  for (const list of lists) {
    for (let i = r.int(0, 8); i > 0; i--) {
      const kind = r.int(0, 9);
      let name: string;
      if (kind <= 2) name = r.pick(shared);
      else if (kind <= 4) name = r.string(NAME_ALPHABET, 1, 12);
      else if (kind === 5) name = r.string(NAME_ALPHABET, 40, 64); // long: exercises the hash
      else if (kind === 6) name = `${"common_long_prefix_".repeat(3)}${r.int(0, 99)}`; // long, shared prefix
      else if (kind === 7) name = `${r.string(NAME_ALPHABET, 1, 4)}${separator}${r.string(NAME_ALPHABET, 1, 4)}`; // contains the separator
      else if (kind === 8) name = r.string(NAME_ALPHABET, 1, 64); name = list.names.length > 0 ? r.pick(list.names) : r.pick(shared); // a duplicate within the backend
      list.names.push(name);
    }
  }
  // Names aimed at other items' exposed names, using what the other backends really list.
  for (const list of lists) {
    for (let i = r.int(0, 3); i > 0; i--) {
      const other = r.pick(lists);
      if (other === list || other.names.length === 0) continue;
      const target = r.pick(other.names);
      const head = `${list.backend}${separator}`;
      const otherHead = `${other.backend}${separator}`;
      const name =
        otherHead.length > head.length && otherHead.startsWith(head)
          ? `${otherHead.slice(head.length)}${target}` // prefixed, would equal other's prefixed item
          : prefixed(other.backend, target, separator); // unprefixed, poses as other's prefixed item
      if (TOOL_NAME.test(name)) list.names.push(name);
    }
  }
  return { seed, naming, lists, refused };
}

const CASES = Array.from({ length: 600 }, (_, i) => generateCase(1000 + i));

describe("round-trip property over generated backend/name sets", () => {
  it("generates cases of every mode, with separators of every length, that the tenant schema accepts", () => {
    expect(new Set(CASES.map((c) => c.naming.mode))).toEqual(new Set(["always", "on-collision", "never"]));
    expect(new Set(CASES.map((c) => c.naming.separator.length))).toEqual(new Set([1, 2, 3]));
    for (const c of CASES) for (const { backend } of c.lists) expect(backend).toMatch(BACKEND_NAME_PATTERN);
    expect(CASES.filter((c) => c.lists.length > 1).length).toBeGreaterThan(300);
    // The generator does propose backends that could shadow each other; the schema refuses them.
    const shadowing = CASES.flatMap((c) => c.refused).filter((e) => e.includes("would share exposed names"));
    expect(shadowing.length).toBeGreaterThan(10);
  });

  it("every exposed name resolves back to exactly its backend and original", () => {
    for (const c of CASES) {
      const table = buildNameTable(c.lists, c.naming);
      for (const entry of table.entries) {
        expect(resolveName(table.entries, entry.exposed), `seed ${c.seed}`).toBe(entry);
        expect(exposedName(table.entries, entry.backend, entry.original), `seed ${c.seed}`).toBe(entry.exposed);
        expect(c.lists.find((l) => l.backend === entry.backend)?.names, `seed ${c.seed}`).toContain(entry.original);
      }
    }
  });

  it("exposed names are unique, and valid tool names of at most 64 characters when the originals are", () => {
    for (const c of CASES) {
      const exposed = exposedOf(buildNameTable(c.lists, c.naming));
      expect(new Set(exposed).size, `seed ${c.seed}`).toBe(exposed.length);
      expect(c.lists.every((l) => l.names.every((n) => TOOL_NAME.test(n))), `seed ${c.seed}`).toBe(true);
      for (const name of exposed) expect(name, `seed ${c.seed}`).toMatch(TOOL_NAME);
    }
  });

  it("accounts for every item: each one is exposed or dropped, and only mode never drops a distinct item", () => {
    for (const c of CASES) {
      const table = buildNameTable(c.lists, c.naming);
      const total = c.lists.reduce((n, l) => n + l.names.length, 0);
      expect(table.entries.length + table.dropped.length, `seed ${c.seed}`).toBe(total);
      const pairs = new Set(c.lists.flatMap((l) => l.names.map((n) => `${l.backend}\u0000${n}`)));
      const exposedPairs = new Set(table.entries.map((e) => `${e.backend}\u0000${e.original}`));
      expect(exposedPairs.size, `seed ${c.seed}: one entry per pair`).toBe(table.entries.length);
      // always / on-collision: the only drops are a backend listing the same name twice.
      if (c.naming.mode !== "never") expect(exposedPairs, `seed ${c.seed} (${c.naming.mode}, '${c.naming.separator}')`).toEqual(pairs);
    }
  });

  it("mode never passes names through, and drops only names an earlier item already took", () => {
    for (const c of CASES.filter((c) => c.naming.mode === "never")) {
      const table = buildNameTable(c.lists, c.naming);
      for (const entry of table.entries) expect(entry.exposed, `seed ${c.seed}`).toBe(entry.original);
      for (const entry of table.dropped) {
        expect(entry.exposed, `seed ${c.seed}`).toBe(entry.original);
        expect(resolveName(table.entries, entry.exposed), `seed ${c.seed}`).toBeDefined();
      }
    }
  });

  it("mode always starts every exposed name with its backend and the separator", () => {
    for (const c of CASES.filter((c) => c.naming.mode === "always")) {
      for (const entry of buildNameTable(c.lists, c.naming).entries) {
        expect(entry.exposed.startsWith(`${entry.backend}${c.naming.separator}`), `seed ${c.seed}`).toBe(true);
      }
    }
  });

  it("mode on-collision leaves a name alone unless another backend shares it or it poses as a prefixed name", () => {
    let prefixedCount = 0;
    for (const c of CASES.filter((c) => c.naming.mode === "on-collision")) {
      for (const entry of buildNameTable(c.lists, c.naming).entries) {
        if (entry.exposed === entry.original) continue;
        prefixedCount++;
        expect(entry.exposed, `seed ${c.seed}`).toBe(prefixed(entry.backend, entry.original, c.naming.separator));
      }
    }
    expect(prefixedCount).toBeGreaterThan(0);
  });
});
