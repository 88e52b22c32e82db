/**
 * The operator's curation of the merged tool list (tenant `catalog.curate`, docs/catalog.md):
 * aliases, title, description and annotation overrides, and the allowlist mode.
 *
 * Pure, over the merged list (merge.ts): the name table it returns replaces the merged one, so an
 * alias routes to the real tool through the same table every exposed name does, and the tool's
 * previous exposed name stops resolving. Policy, pins and audit keep using the backend's own
 * name, which curation never touches.
 */
import type { CatalogConfig, Curation } from "../tenant/catalog.ts";
import type { Item, MergedList } from "./merge.ts";
import type { NameEntry } from "./naming.ts";

export interface CuratedList extends MergedList {
  /** Aliases not applied because a backend's tool is already exposed under that name. */
  yielded: { alias: string; backend: string; original: string }[];
}

/** The curation entry of one merged tool: by its exposed name first, else by `<backend><sep><name>`. */
export function curationOf(curate: CatalogConfig["curate"], entry: NameEntry, separator: string): Curation | undefined {
  return Object.hasOwn(curate, entry.exposed) ? curate[entry.exposed] : Object.hasOwn(curate, `${entry.backend}${separator}${entry.original}`) ? curate[`${entry.backend}${separator}${entry.original}`] : undefined;
}

/**
 * Applies curation to a merged tool list. An alias that would take the name a backend's tool
 * is exposed under (without an alias of its own) yields: that tool keeps its name, the curated
 * one keeps its previous name, and the conflict is reported in `yielded`, so a call never
 * reaches a different tool than the one the list shows under that name.
 */
export function curateList(merged: MergedList, catalog: CatalogConfig, separator: string): CuratedList {
  const { curate, allowlist } = catalog;
  const empty = Object.keys(curate).length === 0;
  if (empty && !allowlist) return { ...merged, yielded: [] };
  const byKey = new Map(merged.names.map((e) => [`${e.backend}\u0000${e.original}`, e]));
  const rows = merged.items.map((item, i) => {
    const origin = merged.origins[i]!;
    const entry = byKey.get(`${origin.backend}\u0000${origin.original}`);
    const curation = entry ? curationOf(curate, entry, separator) : undefined;
    return { item, origin, exposed: String(item.name), curation, alias: curation?.alias };
  });
  const kept = allowlist ? rows.filter((r) => r.curation !== undefined) : rows;
  // Drop aliases that clash until none does; each round only removes aliases, so this ends.
  const yielded: CuratedList["yielded"] = [];
  for (let changed = true; changed; ) {
    changed = false;
    const claims = new Map<string, typeof kept>();
    for (const row of kept) {
      const name = row.alias ?? row.exposed;
      claims.set(name, [...(claims.get(name) ?? []), row]);
    }
    for (const [name, claimants] of claims) {
      if (claimants.length < 2) continue;
      for (const row of claimants) {
        if (row.alias !== name) continue;
        yielded.push({ alias: name, backend: row.origin.backend, original: row.origin.original });
        row.alias = undefined;
        changed = true;
      }
    }
  }
  const items: Item[] = [];
  const names: NameEntry[] = [];
  for (const row of kept) {
    const name = row.alias ?? row.exposed;
    items.push(row.curation ? applyCuration(row.item, name, row.curation) : row.item);
    names.push({ exposed: name, backend: row.origin.backend, original: row.origin.original });
  }
  return { items, names, origins: kept.map((r) => r.origin), yielded };
}

/** One tool as the curator wants it listed; the input schema and everything else stay the backend's. */
function applyCuration(item: Item, name: string, curation: Curation): Item {
  const curated: Item = { ...item, name };
  if (curation.title !== undefined) curated.title = curation.title;
  if (curation.description !== undefined) curated.description = curation.description;
  if (curation.annotations !== undefined) {
    const own = typeof item.annotations === "object" && item.annotations !== null ? (item.annotations as Record<string, unknown>) : {};
    curated.annotations = { ...own, ...curation.annotations };
  }
  return curated;
}
