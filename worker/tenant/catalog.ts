/**
 * The tenant's `catalog` section: how its tools are offered (docs/catalog.md).
 *
 * - `mode`: "full" lists every tool; "search" lists two tools, `search_tools` and `call_tool`,
 *   that find and call the others; "auto" is "search" for a principal who may see more than
 *   `searchThreshold` tools, "full" otherwise. Unset, it is "auto" for a tenant with an
 *   `openapi` backend (one spec can bring a thousand operations) and "full" for any other
 *   (`catalogMode`).
 * - `curate`: per tool, by its exposed name or `<backend><separator><name>`: an alias (a new
 *   exposed name; the old one is no longer offered), and title, description and annotation
 *   overrides applied to lists.
 * - `allowlist`: only curated tools are exposed.
 */
import { z } from "zod";

/** Above this many visible tools, mode "auto" offers search (docs/catalog.md "Choosing the threshold"). */
export const DEFAULT_SEARCH_THRESHOLD = 40;

/** The two tools of search mode; reserved, so no alias can take them. */
export const SEARCH_TOOL = "search_tools";
export const CALL_TOOL = "call_tool";

/**
 * An alias: a valid tool name (2025-11-25 server/tools "Tool Names": A-Z a-z 0-9 _ - .) within
 * the 64 characters the gateway keeps exposed names to (broker/naming.ts MAX_EXPOSED_NAME_LENGTH),
 * and not one of search mode's two; one pattern, so the JSON Schema says it too.
 */
const Alias = z
  .string()
  .regex(/^(?!(?:search_tools|call_tool)$)[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 of A-Z, a-z, 0-9, '_', '-' and '.', and not search_tools or call_tool (search mode's)");

/** The annotations a curator may override (2025-11-25 server/tools "Tool Annotations"). */
export const AnnotationsSchema = z.strictObject({
  title: z.string().min(1).max(200).optional(),
  readOnlyHint: z.boolean().optional(),
  destructiveHint: z.boolean().optional(),
  idempotentHint: z.boolean().optional(),
  openWorldHint: z.boolean().optional(),
});

export const CurationSchema = z.strictObject({
  alias: Alias.optional(),
  title: z.string().min(1).max(200).optional(),
  description: z.string().min(1).max(4000).optional(),
  annotations: AnnotationsSchema.optional(),
});
export type Curation = z.infer<typeof CurationSchema>;

export const CatalogSchema = z
  .strictObject({
    /** Unset: "auto" with an openapi backend, else "full" (catalogMode). */
    mode: z.enum(["full", "search", "auto"]).optional(),
    searchThreshold: z.number().int().min(1).max(10_000).default(DEFAULT_SEARCH_THRESHOLD),
    allowlist: z.boolean().default(false),
    curate: z.record(z.string().min(1).max(200), CurationSchema).default({}),
  })
  .superRefine((catalog, ctx) => {
    // Aliases route calls back, so two tools may never share one.
    const owners = new Map<string, string>();
    for (const [key, curation] of Object.entries(catalog.curate)) {
      if (curation.alias === undefined) continue;
      const other = owners.get(curation.alias);
      if (other !== undefined) ctx.addIssue({ code: "custom", path: ["curate", key, "alias"], message: `'${curation.alias}' is already the alias of '${other}'` });
      owners.set(curation.alias, key);
    }
  });
export type CatalogConfig = z.infer<typeof CatalogSchema>;

export const DEFAULT_CATALOG: CatalogConfig = { searchThreshold: DEFAULT_SEARCH_THRESHOLD, allowlist: false, curate: {} };

export type CatalogMode = "full" | "search" | "auto";

/**
 * The mode in effect: the tenant's own, or when it set none, "auto" if any backend is an OpenAPI
 * spec (a large spec then lists search_tools and call_tool instead of flooding the model's
 * context) and "full" otherwise, so tenants without one keep the default they always had.
 */
export function catalogMode(config: { catalog?: { mode?: CatalogMode | undefined } | undefined; backends: readonly { transport: string }[] }): CatalogMode {
  return config.catalog?.mode ?? (config.backends.some((b) => b.transport === "openapi") ? "auto" : "full");
}
