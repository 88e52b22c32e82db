/**
 * Merging what many backends answer into what one server would answer.
 *
 * Pure functions over plain data: the session Durable Object fetches, these decide. Order is
 * deterministic (backends in config order, each backend's items in its own order), so two
 * identical sessions see identical lists.
 */
import type { NamingConfig } from "../tenant/schema.ts";
import { buildNameTable, type NameEntry } from "./naming.ts";
import { listedTwice, namespaceUri } from "./uris.ts";

export type ListKind = "tools" | "prompts" | "resources" | "resourceTemplates";

export interface ListSpec {
  method: string;
  /** The result field holding the items. */
  field: string;
  /** The server capability a backend must declare to be asked (2025-11-25 basic/lifecycle). */
  capability: string;
  /** Whether items have names the naming table rewrites (resources have URIs: broker/uris.ts). */
  named: boolean;
}

export const LISTS: Record<ListKind, ListSpec> = {
  tools: { method: "tools/list", field: "tools", capability: "tools", named: true },
  prompts: { method: "prompts/list", field: "prompts", capability: "prompts", named: true },
  resources: { method: "resources/list", field: "resources", capability: "resources", named: false },
  resourceTemplates: { method: "resources/templates/list", field: "resourceTemplates", capability: "resources", named: false },
};

export const LIST_KIND_BY_METHOD: Record<string, ListKind> = Object.fromEntries(
  Object.entries(LISTS).map(([kind, spec]) => [spec.method, kind as ListKind]),
);

/** The list_changed notification that invalidates each kind (2025-11-25 server/*). */
export const LIST_CHANGED: Record<string, ListKind[]> = {
  "notifications/tools/list_changed": ["tools"],
  "notifications/prompts/list_changed": ["prompts"],
  "notifications/resources/list_changed": ["resources", "resourceTemplates"],
};

export type Item = Record<string, unknown>;

export interface BackendList {
  backend: string;
  items: Item[];
}

export interface MergedList {
  items: Item[];
  names: NameEntry[];
  /** For each item (same index): the backend it came from and its name (or URI) there. */
  origins: { backend: string; original: string }[];
}

/** Merges complete per-backend lists, renaming items by the naming rules. */
export function mergeList(kind: ListKind, lists: BackendList[], naming: Pick<NamingConfig, "mode" | "separator"> & { resources?: NamingConfig["resources"] }): MergedList {
  if (!LISTS[kind].named) {
    // URIs are namespaced by naming.resources (broker/uris.ts); where they are not, on a clash
    // the first backend in config order wins.
    const key = kind === "resources" ? "uri" : "uriTemplate";
    const mode = naming.resources ?? "on-collision";
    const shared = mode === "on-collision" ? listedTwice(lists, key) : new Set<string>();
    const seen = new Set<string>();
    const items: Item[] = [];
    const origins: MergedList["origins"] = [];
    for (const { backend, items: backendItems } of lists) {
      for (const item of backendItems) {
        const id = item[key];
        if (typeof id !== "string") continue;
        const exposed = mode === "always" || shared.has(id) ? namespaceUri(backend, id, naming.separator) : id;
        if (seen.has(exposed)) continue;
        seen.add(exposed);
        items.push(exposed === id ? item : { ...item, [key]: exposed });
        origins.push({ backend, original: id });
      }
    }
    return { items, names: [], origins };
  }
  const valid = lists.map(({ backend, items }) => ({
    backend,
    items: items.filter((item): item is Item & { name: string } => typeof item.name === "string"),
  }));
  const table = buildNameTable(
    valid.map(({ backend, items }) => ({ backend, names: items.map((item) => item.name) })),
    naming,
  );
  const byKey = new Map(table.entries.map((entry) => [`${entry.backend}\u0000${entry.original}`, entry.exposed]));
  const items: Item[] = [];
  const origins: MergedList["origins"] = [];
  for (const { backend, items: backendItems } of valid) {
    for (const item of backendItems) {
      const exposed = byKey.get(`${backend}\u0000${item.name}`);
      if (exposed === undefined) continue;
      byKey.delete(`${backend}\u0000${item.name}`); // a backend listing a name twice shows it once
      items.push(exposed === item.name ? item : { ...item, name: exposed });
      origins.push({ backend, original: item.name });
    }
  }
  return { items, names: table.entries, origins };
}

/** Backends that declared the capability a list needs. */
export function offers(capabilities: Record<string, unknown>, kind: ListKind): boolean {
  return typeof capabilities[LISTS[kind].capability] === "object" && capabilities[LISTS[kind].capability] !== null;
}

/**
 * The gateway's own capabilities from its backends'. listChanged is always on: the gateway
 * itself announces changes (a backend's, or a policy change) whether or not backends do.
 */
export function mergeCapabilities(all: Record<string, unknown>[]): Record<string, unknown> {
  const has = (key: string) => all.some((c) => typeof c[key] === "object" && c[key] !== null);
  const merged: Record<string, unknown> = { logging: {} };
  if (has("tools")) merged.tools = { listChanged: true };
  if (has("prompts")) merged.prompts = { listChanged: true };
  if (has("resources")) {
    const subscribe = all.some((c) => (c.resources as { subscribe?: unknown } | undefined)?.subscribe === true);
    merged.resources = { listChanged: true, ...(subscribe ? { subscribe: true } : {}) };
  }
  if (has("completions")) merged.completions = {};
  return merged;
}

/** One instructions text from many, each under its backend's name, or undefined when none. */
export function mergeInstructions(parts: { backend: string; instructions?: string | undefined }[]): string | undefined {
  const present = parts.filter((p) => typeof p.instructions === "string" && p.instructions.trim() !== "");
  if (present.length === 0) return undefined;
  return present.map((p) => `## ${p.backend}\n${p.instructions!.trim()}`).join("\n\n");
}

/**
 * Which backend serves a resource URI: an exact listed URI first, then the first template whose
 * literal prefix (the text before its first expression) the URI starts with, longest prefix wins.
 */
export function resolveResource(
  uri: string,
  resources: BackendList[],
  templates: BackendList[],
): string | undefined {
  for (const { backend, items } of resources) if (items.some((item) => item.uri === uri)) return backend;
  let best: { backend: string; length: number } | undefined;
  for (const { backend, items } of templates) {
    for (const item of items) {
      if (typeof item.uriTemplate !== "string") continue;
      const prefix = item.uriTemplate.split("{")[0] ?? "";
      if (prefix.length > 0 && uri.startsWith(prefix) && (!best || prefix.length > best.length)) {
        best = { backend, length: prefix.length };
      }
    }
  }
  return best?.backend;
}
