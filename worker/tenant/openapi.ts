/** The tenant schema's part for OpenAPI backends (docs/openapi.md). */
import { z } from "zod";

/** Picks OpenAPI operations (worker/openapi/operations.ts): every field given must match. */
export const OperationMatcherSchema = z
  .strictObject({
    operationId: z.string().min(1).optional(),
    tag: z.string().min(1).optional(),
    /** A glob over the path template, such as `/pets/*` or `/admin/**`. */
    path: z.string().regex(/^\//, "must start with /").optional(),
    /** Lowercase, as OpenAPI's Path Item keys are. */
    method: z.enum(["get", "put", "post", "delete", "options", "head", "patch", "trace"]).optional(),
  })
  .refine((m) => Object.keys(m).length > 0, "must name at least one of operationId, tag, path, method");

export const OperationsSchema = z.strictObject({
  include: z.array(OperationMatcherSchema).max(1000).optional(),
  exclude: z.array(OperationMatcherSchema).max(1000).default([]),
});

/** A backend entry's fields for transport `openapi` (spread into tenant/schema.ts BackendSchema). */
export const OPENAPI_FIELDS = {
  /** openapi: the OpenAPI 3.0/3.1 (or Swagger 2.0, upgraded) description, as a URL (JSON or YAML) or inline. */
  spec: z.union([z.url({ protocol: /^https?$/ }), z.record(z.string(), z.unknown())]).optional(),
  /** openapi: the API's base URL, instead of the spec's first server. */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** openapi: which operations become tools (all when `include` is absent, minus `exclude`). */
  operations: OperationsSchema.optional(),
  /** openapi: query parameters whose values come from Worker secrets (an API key in the query), set over the model's. */
  secretQuery: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), z.string().regex(/^[A-Z][A-Z0-9_]*$/)).optional(),
};

/** The fields only an `openapi` backend has, and what it needs (the backend schema's refinement, tenant/schema.ts). */
export function checkOpenApiFields(
  backend: { transport: string; era: string; spec?: unknown; baseUrl?: unknown; operations?: unknown; secretQuery?: unknown },
  ctx: { addIssue(issue: { code: "custom"; path: string[]; message: string }): void },
): void {
  if (backend.transport === "openapi") {
    if (backend.spec === undefined) ctx.addIssue({ code: "custom", path: ["spec"], message: "required when transport is 'openapi'" });
    // The gateway answers for an OpenAPI backend itself, as a legacy-era server (worker/upstream/openapi.ts).
    if (backend.era === "modern") ctx.addIssue({ code: "custom", path: ["era"], message: "an openapi backend is served as era 'legacy'" });
    return;
  }
  for (const key of ["spec", "baseUrl", "operations", "secretQuery"] as const) {
    if (backend[key] !== undefined) ctx.addIssue({ code: "custom", path: [key], message: "only for transport 'openapi'" });
  }
}
