/**
 * `npm run schema`: writes docs/tenant.schema.json, the JSON Schema of the tenant document (the
 * input the admin API accepts: defaults make fields optional) generated from TenantSchema, for
 * editors and other tools. test/unit/schema-json.test.ts fails when the committed file drifts.
 *
 * Point an editor at it with a `json.schemas` setting (or the editor's equivalent), not with a
 * `"$schema"` key in the document: the admin API refuses keys the tenant schema does not know.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { TenantSchema } from "../worker/tenant/schema.ts";

export const TENANT_SCHEMA_PATH = fileURLToPath(new URL("../docs/tenant.schema.json", import.meta.url));

/** The JSON Schema object (draft 2020-12) of a tenant document as written to the admin API. */
export function tenantJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(TenantSchema, { io: "input", target: "draft-2020-12" }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: "Edge MCP gateway tenant",
    description:
      "A tenant document as PUT to /admin/tenants/:id (generated from worker/tenant/schema.ts by `npm run schema`; do not edit). " +
      "On PUT the admin API replaces `id` with the path's id and `version` with the next version. " +
      "The admin API also checks what JSON Schema cannot express: a backend needs `url` unless its transport is 'service' (then `service`), 'tunnel' (then no `url`) or 'openapi' (then `spec`); " +
      "backend names are unique and cannot clash through the naming separator; policy `when` expressions must compile and `redact` patterns must be valid regular expressions.",
    ...rest,
  };
}

/** The file's exact text: two-space indentation and a final newline, so regeneration is byte-stable. */
export function renderTenantJsonSchema(): string {
  return `${JSON.stringify(tenantJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(TENANT_SCHEMA_PATH, renderTenantJsonSchema());
  console.log(`wrote ${TENANT_SCHEMA_PATH}`);
}
