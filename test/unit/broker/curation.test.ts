/**
 * Curation of the merged tool list (docs/catalog.md): aliases that route back to the real tool
 * and retire its previous name, overrides applied to lists, the allowlist mode, and the checks
 * the tenant document makes (unique aliases within the 64-character tool-name limit).
 */
import { describe, expect, it } from "vitest";
import { curateList } from "../../../worker/broker/curation.ts";
import { mergeList, type BackendList } from "../../../worker/broker/merge.ts";
import { resolveName } from "../../../worker/broker/naming.ts";
import { CatalogSchema, catalogMode, type CatalogConfig } from "../../../worker/tenant/catalog.ts";
import { parseTenant, type NamingConfig } from "../../../worker/tenant/schema.ts";

const always: NamingConfig = { mode: "always", separator: "__", resources: "on-collision" };
const onCollision: NamingConfig = { mode: "on-collision", separator: "__", resources: "on-collision" };

const lists: BackendList[] = [
  {
    backend: "weather",
    items: [
      { name: "get_forecast", description: "Forecast.", inputSchema: { type: "object", properties: { city: { type: "string" } } }, annotations: { readOnlyHint: true } },
      { name: "get_alerts", description: "Alerts.", inputSchema: { type: "object" } },
    ],
  },
  { backend: "notes", items: [{ name: "add_note", description: "Adds a note.", inputSchema: { type: "object" } }] },
];

const catalog = (doc: unknown): CatalogConfig => CatalogSchema.parse(doc);

describe("curateList", () => {
  it("leaves the merged list as it is without curation", () => {
    const merged = mergeList("tools", lists, always);
    const curated = curateList(merged, catalog({}), "__");
    expect(curated.items).toBe(merged.items);
    expect(curated.names).toEqual(merged.names);
  });

  it("renames by alias: the alias routes to the real tool and the previous exposed name is gone", () => {
    const curated = curateList(mergeList("tools", lists, always), catalog({ curate: { weather__get_forecast: { alias: "forecast" } } }), "__");
    expect(curated.items.map((i) => i.name)).toEqual(["forecast", "weather__get_alerts", "notes__add_note"]);
    expect(resolveName(curated.names, "forecast")).toEqual({ exposed: "forecast", backend: "weather", original: "get_forecast" });
    expect(resolveName(curated.names, "weather__get_forecast")).toBeUndefined();
    // The definition is the backend's, under its new name.
    expect(curated.items[0]).toMatchObject({ description: "Forecast.", inputSchema: { properties: { city: { type: "string" } } } });
  });

  it("finds an item by its exposed name or by <backend><separator><name>, whatever the naming mode", () => {
    const merged = mergeList("tools", lists, onCollision);
    expect(merged.items.map((i) => i.name)).toContain("get_forecast");
    const byExposed = curateList(merged, catalog({ curate: { get_forecast: { title: "A" } } }), "__");
    const byQualified = curateList(merged, catalog({ curate: { weather__get_forecast: { title: "A" } } }), "__");
    expect(byExposed.items[0]!.title).toBe("A");
    expect(byQualified.items[0]!.title).toBe("A");
  });

  it("overrides title, description and annotations on lists, keeping the backend's other annotations", () => {
    const curated = curateList(
      mergeList("tools", lists, always),
      catalog({ curate: { weather__get_forecast: { title: "Forecast", description: "Five days ahead.", annotations: { idempotentHint: true, readOnlyHint: false } } } }),
      "__",
    );
    expect(curated.items[0]).toMatchObject({ name: "weather__get_forecast", title: "Forecast", description: "Five days ahead.", annotations: { readOnlyHint: false, idempotentHint: true } });
    expect(lists[0]!.items[0]!.annotations).toEqual({ readOnlyHint: true });
  });

  it("exposes only curated tools in allowlist mode; the others no longer resolve", () => {
    const curated = curateList(mergeList("tools", lists, always), catalog({ allowlist: true, curate: { notes__add_note: {} } }), "__");
    expect(curated.items.map((i) => i.name)).toEqual(["notes__add_note"]);
    expect(curated.origins).toEqual([{ backend: "notes", original: "add_note" }]);
    expect(resolveName(curated.names, "weather__get_forecast")).toBeUndefined();
  });

  it("lets two tools swap names", () => {
    const curated = curateList(
      mergeList("tools", lists, always),
      catalog({ curate: { weather__get_forecast: { alias: "weather__get_alerts" }, weather__get_alerts: { alias: "weather__get_forecast" } } }),
      "__",
    );
    expect(resolveName(curated.names, "weather__get_alerts")?.original).toBe("get_forecast");
    expect(resolveName(curated.names, "weather__get_forecast")?.original).toBe("get_alerts");
    expect(curated.yielded).toEqual([]);
  });

  it("makes an alias that takes another tool's exposed name yield, so a name never calls a tool it does not show", () => {
    const curated = curateList(mergeList("tools", lists, always), catalog({ curate: { weather__get_forecast: { alias: "notes__add_note" } } }), "__");
    expect(curated.items.map((i) => i.name)).toEqual(["weather__get_forecast", "weather__get_alerts", "notes__add_note"]);
    expect(resolveName(curated.names, "notes__add_note")?.backend).toBe("notes");
    expect(curated.yielded).toEqual([{ alias: "notes__add_note", backend: "weather", original: "get_forecast" }]);
  });
});

describe("the catalog section of a tenant document", () => {
  it("refuses two tools with one alias, naming the field", () => {
    const parsed = parseTenant({ id: "x", catalog: { curate: { a: { alias: "same" }, b: { alias: "same" } } } });
    expect(parsed).toEqual({ ok: false, error: "catalog.curate.b.alias: 'same' is already the alias of 'a'" });
  });

  it("keeps aliases within 64 characters and refuses search mode's names", () => {
    expect(parseTenant({ id: "x", catalog: { curate: { a: { alias: "a".repeat(64) } } } }).ok).toBe(true);
    expect(parseTenant({ id: "x", catalog: { curate: { a: { alias: "a".repeat(65) } } } }).ok).toBe(false);
    expect(parseTenant({ id: "x", catalog: { curate: { a: { alias: "search_tools" } } } }).ok).toBe(false);
    expect(parseTenant({ id: "x", catalog: { curate: { a: { alias: "search_tools2" } } } }).ok).toBe(true);
  });

  it("defaults to today's behaviour: every tool listed, none curated", () => {
    const parsed = parseTenant({ id: "x" });
    expect(parsed.ok && parsed.tenant.catalog).toEqual({ searchThreshold: 40, allowlist: false, curate: {} });
    expect(parsed.ok && catalogMode(parsed.tenant)).toBe("full");
  });

  it("an unset mode is auto with an openapi backend, full without one; an explicit mode always wins", () => {
    const spec = { openapi: "3.1.0", info: { title: "t", version: "1" }, paths: {} };
    const api = { name: "api", transport: "openapi", spec, baseUrl: "https://api.example.com" };
    const mcp = { name: "mcp", transport: "streamable-http", url: "https://mcp.example.com/mcp" };
    const mode = (doc: Record<string, unknown>) => {
      const parsed = parseTenant({ id: "x", ...doc });
      if (!parsed.ok) throw new Error(parsed.error);
      return catalogMode(parsed.tenant);
    };
    expect(mode({ backends: [mcp] })).toBe("full");
    expect(mode({ backends: [mcp, api] })).toBe("auto");
    expect(mode({ backends: [api], catalog: { searchThreshold: 10 } })).toBe("auto");
    expect(mode({ backends: [api], catalog: { mode: "full" } })).toBe("full");
    expect(mode({ backends: [api], catalog: { mode: "search" } })).toBe("search");
    expect(mode({ backends: [mcp], catalog: { mode: "auto" } })).toBe("auto");
  });
});
