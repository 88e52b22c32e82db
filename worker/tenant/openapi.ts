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
