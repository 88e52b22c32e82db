/**
 * The tenant document shown in the README is a document the gateway accepts: the example users
 * copy cannot drift from the schema.
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { parseTenant } from "../../worker/tenant/schema.ts";

it("accepts the README's example tenant document", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const block = /## Tenants[\s\S]*?```json\n([\s\S]*?)\n```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  // The example abbreviates key material as "…"; a real JWKS would have the full values.
  const parsed = parseTenant(JSON.parse(block!));
  expect(parsed).toMatchObject({ ok: true });
  if (parsed.ok) {
    expect(parsed.tenant.policy.rules.map((r) => r.id)).toContain("crm-small-exports");
    expect(parsed.tenant.backends.map((b) => b.transport)).toEqual(["streamable-http", "streamable-http", "sse", "service"]);
  }
});

it("accepts the README's OpenAPI example tenant document", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const block = /### REST APIs as tools \(OpenAPI\)[\s\S]*?```json\n([\s\S]*?)\n```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  const parsed = parseTenant(JSON.parse(block!));
  expect(parsed).toMatchObject({ ok: true });
  if (parsed.ok) expect(parsed.tenant.backends[0]).toMatchObject({ transport: "openapi", era: "legacy", operations: { exclude: [{ tag: "admin" }, { method: "delete" }] } });
});
