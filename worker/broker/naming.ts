/**
 * Reversible names for items from many backends (tools, prompts, resource templates).
 *
 * A name the client sees ("exposed") maps to exactly one (backend, original name) pair, and the
 * table that says so is kept with the session, so routing never guesses by splitting strings.
 * Exposed names stay valid MCP tool names (2025-11-25 server/tools "Tool Names": 1-128 of
 * A-Z a-z 0-9 _ - .) and within MAX_EXPOSED_NAME_LENGTH, which some clients enforce.
 */
import type { NamingConfig } from "../tenant/schema.ts";
import { fnv1a } from "../protocol/encoding.ts";

/** Several popular clients reject tool names longer than 64 characters. */
export const MAX_EXPOSED_NAME_LENGTH = 64;
/** Hex digits of the hash (fnv1a) that keeps a shortened name unique. */
const HASH_LENGTH = 8;

export interface NameEntry {
  exposed: string;
  backend: string;
  original: string;
}

export interface NameTable {
  entries: NameEntry[];
  /** Items left out because another backend already owns the name (mode "never"). */
  dropped: NameEntry[];
}

export interface BackendNames {
  backend: string;
  names: string[];
}

/**
 * Builds the table for one kind of item. `lists` is in backend config order; that order decides
 * which backend keeps a contested name in mode "never", so the outcome is deterministic.
 */
export function buildNameTable(lists: BackendNames[], naming: Pick<NamingConfig, "mode" | "separator">): NameTable {
  const owners = new Map<string, number>();
  for (const { names } of lists) for (const name of new Set(names)) owners.set(name, (owners.get(name) ?? 0) + 1);

  // on-collision: a name two backends share is prefixed, and so is a name that equals another
  // item's prefixed name (a backend's tool literally called "a__x" must not shadow backend a's
  // "x", nor take its place). Prefixing one may expose another clash, hence the fixpoint.
  const key = (backend: string, original: string) => `${backend}\u0000${original}`;
  const prefixedKeys = new Set<string>();
  if (naming.mode === "on-collision") {
    for (const { backend, names } of lists) {
      for (const name of names) if ((owners.get(name) ?? 0) > 1) prefixedKeys.add(key(backend, name));
    }
    for (let changed = true; changed; ) {
      changed = false;
      const prefixedNames = new Set<string>();
      for (const { backend, names } of lists) {
        for (const name of names) if (prefixedKeys.has(key(backend, name))) prefixedNames.add(prefixed(backend, name, naming.separator));
      }
      for (const { backend, names } of lists) {
        for (const name of names) {
          if (!prefixedKeys.has(key(backend, name)) && prefixedNames.has(name)) {
            prefixedKeys.add(key(backend, name));
            changed = true;
          }
        }
      }
    }
  }

  const entries: NameEntry[] = [];
  const dropped: NameEntry[] = [];
  const taken = new Set<string>();
  for (const { backend, names } of lists) {
    for (const original of names) {
      const prefix = naming.mode === "always" || prefixedKeys.has(key(backend, original));
      const exposed = prefix ? prefixed(backend, original, naming.separator) : original;
      const entry = { exposed, backend, original };
      if (taken.has(exposed)) {
        dropped.push(entry);
        continue;
      }
      taken.add(exposed);
      entries.push(entry);
    }
  }
  return { entries, dropped };
}

/** `<backend><sep><name>`, shortened with a hash of the full name when it would be too long. */
export function prefixed(backend: string, original: string, separator: string): string {
  const full = `${backend}${separator}${original}`;
  if (full.length <= MAX_EXPOSED_NAME_LENGTH) return full;
  const keep = MAX_EXPOSED_NAME_LENGTH - HASH_LENGTH - 1;
  return `${full.slice(0, keep)}_${fnv1a(full)}`;
}

export function resolveName(table: readonly NameEntry[], exposed: string): NameEntry | undefined {
  return table.find((entry) => entry.exposed === exposed);
}

export function exposedName(table: readonly NameEntry[], backend: string, original: string): string | undefined {
  return table.find((entry) => entry.backend === backend && entry.original === original)?.exposed;
}
