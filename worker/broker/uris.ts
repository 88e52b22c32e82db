/**
 * Resource URIs from many backends, made unique reversibly (docs/resources.md).
 *
 * A URI is global by nature, yet two backends may both serve `file:///README.md` or an MCP App's
 * `ui://widget`. The gateway then puts the backend's name (and the tenant's naming separator)
 * right after the URI's scheme and `//`:
 *
 *   file:///README.md  from backend "notes"  ->  file://notes__/README.md
 *   ui://widget        from backend "maps"   ->  ui://maps__widget
 *   urn:isbn:123       from backend "books"  ->  urn:books__isbn:123
 *
 * The scheme is kept, so an MCP App's `ui://` resource is still one to a host. Templates get the
 * same treatment (their literal prefix moves with it), so an expanded URI is namespaced too.
 * `naming.resources` says when: "always", "on-collision" (only URIs, and templates, that more
 * than one backend lists; the default) or "never" (the first backend in config order wins).
 * Pure: the catalog (engine/catalog.ts) builds a UriMap from the lists it holds.
 */
/** One backend's complete list (the shape of merge.ts BackendList, kept here so merge.ts may import this module). */
export interface BackendList {
  backend: string;
  items: Record<string, unknown>[];
}

export type UriMode = "always" | "on-collision" | "never";

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:(?:\/\/)?/;

/** `uri` under `backend`: its name and the separator after the scheme (and `//`). */
export function namespaceUri(backend: string, uri: string, separator: string): string {
  const head = SCHEME.exec(uri)?.[0] ?? "";
  return `${head}${backend}${separator}${uri.slice(head.length)}`;
}

/** Every (backend, original) a URI may be the namespaced form of, longest backend name first. */
export function splitNamespacedUri(uri: string, backends: readonly string[], separator: string): { backend: string; original: string }[] {
  const head = SCHEME.exec(uri)?.[0] ?? "";
  const rest = uri.slice(head.length);
  return [...backends]
    .sort((a, b) => b.length - a.length)
    .filter((backend) => rest.startsWith(`${backend}${separator}`))
    .map((backend) => ({ backend, original: `${head}${rest.slice(backend.length + separator.length)}` }));
}

/** The text of a template before its first expression: what every URI it expands to starts with. */
export function templatePrefix(template: string): string {
  return template.split("{")[0] ?? "";
}

/** Strings listed (under `key`) by more than one backend. */
export function listedTwice(lists: readonly BackendList[], key: "uri" | "uriTemplate"): Set<string> {
  const owners = new Map<string, Set<string>>();
  for (const { backend, items } of lists) {
    for (const item of items) {
      const id = item[key];
      if (typeof id !== "string") continue;
      const set = owners.get(id) ?? new Set<string>();
      set.add(backend);
      owners.set(id, set);
    }
  }
  return new Set([...owners].filter(([, set]) => set.size > 1).map(([id]) => id));
}

export class UriMap {
  readonly #mode: UriMode;
  readonly #separator: string;
  readonly #backends: readonly string[];
  readonly #resources: readonly BackendList[];
  readonly #templates: readonly BackendList[];
  readonly #sharedUris: Set<string>;
  readonly #sharedTemplates: Set<string>;

  constructor(mode: UriMode, separator: string, backends: readonly string[], resources: readonly BackendList[], templates: readonly BackendList[]) {
    this.#mode = mode;
    this.#separator = separator;
    this.#backends = backends;
    this.#resources = resources;
    this.#templates = templates;
    this.#sharedUris = listedTwice(resources, "uri");
    this.#sharedTemplates = listedTwice(templates, "uriTemplate");
  }

  get mode(): UriMode {
    return this.#mode;
  }

  /** The URI a client sees for `uri` of `backend` (a listed one, one a template of it expands to, or any other it mentions). */
  expose(backend: string, uri: string): string {
    if (this.#mode === "never") return uri;
    if (this.#mode === "always" || this.#sharedUris.has(uri)) return namespaceUri(backend, uri, this.#separator);
    // A URI the backend lists is namespaced exactly as its list entry is (merge.ts mergeList).
    if (this.#resources.some((list) => list.backend === backend && list.items.some((item) => item.uri === uri))) return uri;
    const template = this.#bestTemplate(uri, [backend]);
    return template !== undefined && this.#sharedTemplates.has(template.template) ? namespaceUri(backend, uri, this.#separator) : uri;
  }

  exposeTemplate(backend: string, template: string): string {
    if (this.#mode === "never") return template;
    return this.#mode === "always" || this.#sharedTemplates.has(template) ? namespaceUri(backend, template, this.#separator) : template;
  }

  /**
   * The backend and its own URI for a URI a client sent: a namespaced form first (the backend
   * that serves the stripped URI, when more than one name fits), then a URI exactly one backend
   * lists, then the longest template prefix. A plain URI two backends share names neither, except
   * in mode "never", where the first backend in config order keeps it.
   */
  resolve(uri: string): { backend: string; original: string } | undefined {
    if (this.#mode !== "never") {
      const candidates = splitNamespacedUri(uri, this.#backends, this.#separator);
      const served = candidates.find((c) => this.#serves(c.backend, c.original));
      if (served ?? candidates[0]) return served ?? candidates[0];
    }
    const listing = this.#resources.filter((list) => list.items.some((item) => item.uri === uri)).map((list) => list.backend);
    if (listing.length > 0) return listing.length === 1 || this.#mode === "never" ? { backend: listing[0]!, original: uri } : undefined;
    const template = this.#bestTemplate(uri, this.#backends);
    if (!template || (this.#mode !== "never" && this.#sharedTemplates.has(template.template))) return undefined;
    return { backend: template.backend, original: uri };
  }

  #serves(backend: string, uri: string): boolean {
    const listed = this.#resources.some((list) => list.backend === backend && list.items.some((item) => item.uri === uri));
    return listed || this.#bestTemplate(uri, [backend]) !== undefined;
  }

  /** The template whose literal prefix `uri` starts with, longest prefix wins, among `backends`' templates. */
  #bestTemplate(uri: string, backends: readonly string[]): { backend: string; template: string } | undefined {
    let best: { backend: string; template: string; length: number } | undefined;
    for (const { backend, items } of this.#templates) {
      if (!backends.includes(backend)) continue;
      for (const item of items) {
        if (typeof item.uriTemplate !== "string") continue;
        const prefix = templatePrefix(item.uriTemplate);
        if (prefix.length > 0 && uri.startsWith(prefix) && (!best || prefix.length > best.length)) best = { backend, template: item.uriTemplate, length: prefix.length };
      }
    }
    return best;
  }
}

/** Where MCP Apps name a tool's UI resource (`_meta.ui.resourceUri`; early drafts used `_meta["ui/resourceUri"]`). */
export function withUiResource(tool: Record<string, unknown>, map: (uri: string) => string): Record<string, unknown> {
  const meta = tool._meta;
  if (typeof meta !== "object" || meta === null) return tool;
  const next: Record<string, unknown> = { ...(meta as Record<string, unknown>) };
  let changed = false;
  const ui = next.ui;
  if (typeof ui === "object" && ui !== null && typeof (ui as Record<string, unknown>).resourceUri === "string") {
    next.ui = { ...(ui as Record<string, unknown>), resourceUri: map((ui as Record<string, string>).resourceUri!) };
    changed = true;
  }
  if (typeof next["ui/resourceUri"] === "string") {
    next["ui/resourceUri"] = map(next["ui/resourceUri"] as string);
    changed = true;
  }
  return changed ? { ...tool, _meta: next } : tool;
}

/** Resource URIs inside a result (resources/read contents, resource links and embedded resources), mapped. */
export function withResultUris(result: Record<string, unknown>, map: (uri: string) => string): Record<string, unknown> {
  const mapItem = (value: unknown): unknown => {
    if (typeof value !== "object" || value === null) return value;
    const item = value as Record<string, unknown>;
    if (item.type === "resource_link" && typeof item.uri === "string") return { ...item, uri: map(item.uri) };
    if (item.type === "resource" && typeof item.resource === "object" && item.resource !== null) {
      const resource = item.resource as Record<string, unknown>;
      return typeof resource.uri === "string" ? { ...item, resource: { ...resource, uri: map(resource.uri) } } : item;
    }
    return typeof item.uri === "string" && item.type === undefined ? { ...item, uri: map(item.uri) } : item;
  };
  const out: Record<string, unknown> = { ...result };
  if (Array.isArray(result.contents)) out.contents = result.contents.map(mapItem);
  if (Array.isArray(result.content)) out.content = result.content.map(mapItem);
  if (Array.isArray(result.messages)) {
    out.messages = result.messages.map((m) => (typeof m === "object" && m !== null && "content" in m ? { ...m, content: mapItem((m as Record<string, unknown>).content) } : m));
  }
  return out;
}

/**
 * Whether a result holds anything withResultUris would map: read contents, or a resource link or
 * embedded resource. Every call's result passes here, so it looks at item shapes, never serializes.
 */
export function mentionsUris(result: Record<string, unknown>): boolean {
  const isResource = (value: unknown): boolean => {
    if (typeof value !== "object" || value === null) return false;
    const item = value as Record<string, unknown>;
    return item.type === "resource_link" || item.type === "resource";
  };
  if (Array.isArray(result.contents) && result.contents.length > 0) return true;
  if (Array.isArray(result.content) && result.content.some(isResource)) return true;
  return Array.isArray(result.messages) && result.messages.some((m) => typeof m === "object" && m !== null && isResource((m as Record<string, unknown>).content));
}
