/**
 * Admin API for a tenant's API keys (mounted on the admin router, so its bearer check applies):
 *
 * - `POST /admin/tenants/:id/api-keys` with `{id, sub, roles?, scopes?}` creates a key, stores
 *   only its SHA-256 in the tenant config and answers the key itself, this once (201);
 * - `DELETE /admin/tenants/:id/api-keys/:keyId` removes it (204); the next request with it is 401.
 *
 * Both are tenant writes like PUT /admin/tenants/:id: validated, version + 1, saved through the
 * tenant's Durable Object, 409 when a concurrent write won.
 */
import { Hono } from "hono";
import { z } from "zod";
import { apiKeyHash, generateApiKey } from "../auth/apiKeys.ts";
import type { AppEnv } from "../env.ts";
import { BodyTooLargeError, readTextCapped } from "../protocol/body.ts";
import { GatewayError } from "../protocol/errors.ts";
import { ApiKeySchema, parseTenant, type TenantConfig } from "../tenant/schema.ts";
import { currentTenant, saveTenant } from "../tenant/store.ts";

/** A key request is an id, a subject and two short lists; 16 KiB is generous. */
export const MAX_API_KEY_BODY_BYTES = 16 * 1024;

const CreateApiKeySchema = z.strictObject({
  id: ApiKeySchema.shape.id,
  sub: ApiKeySchema.shape.sub,
  roles: z.array(z.string()).default([]),
  scopes: z.array(z.string()).default([]),
});

export const apiKeys = new Hono<AppEnv>();

apiKeys.post("/tenants/:id/api-keys", async (c) => {
  let body: unknown;
  try {
    body = JSON.parse(await readTextCapped(c.req.raw, MAX_API_KEY_BODY_BYTES));
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new GatewayError("payload_too_large");
    return c.json({ error: "body is not JSON" }, 400);
  }
  const request = CreateApiKeySchema.safeParse(body);
  if (!request.success) {
    const issue = request.error.issues[0];
    return c.json({ error: `${issue?.path.join(".") || "document"}: ${issue?.message ?? "invalid"}` }, 400);
  }
  const previous = await currentTenant(c.env, c.req.param("id"));
  if (!previous) throw new GatewayError("tenant_not_found");
  if (previous.auth.apiKeys.some((k) => k.id === request.data.id)) return c.json({ error: `id: an API key '${request.data.id}' exists` }, 409);

  const key = generateApiKey();
  const entry = { ...request.data, sha256: await apiKeyHash(key) };
  const saved = await write(c.env, previous, [...previous.auth.apiKeys, entry]);
  if (saved !== "ok") return saved;
  c.header("cache-control", "no-store");
  return c.json({ id: entry.id, sub: entry.sub, roles: entry.roles, scopes: entry.scopes, key }, 201);
});

apiKeys.delete("/tenants/:id/api-keys/:keyId", async (c) => {
  const previous = await currentTenant(c.env, c.req.param("id"));
  if (!previous) throw new GatewayError("tenant_not_found");
  const keyId = c.req.param("keyId");
  if (!previous.auth.apiKeys.some((k) => k.id === keyId)) return c.json({ error: `no API key '${keyId}'` }, 404);
  const saved = await write(c.env, previous, previous.auth.apiKeys.filter((k) => k.id !== keyId));
  return saved === "ok" ? c.body(null, 204) : saved;
});

/** The same write as PUT /admin/tenants/:id: parse, version + 1, save (first writer wins). */
async function write(env: AppEnv["Bindings"], previous: TenantConfig, keys: TenantConfig["auth"]["apiKeys"]): Promise<"ok" | Response> {
  const parsed = parseTenant({ ...previous, version: previous.version + 1, auth: { ...previous.auth, apiKeys: keys } });
  if (!parsed.ok) return Response.json({ error: parsed.error }, { status: 400 });
  if (!(await saveTenant(env, parsed.tenant))) return Response.json({ error: "version: a concurrent write won; retry" }, { status: 409 });
  return "ok";
}
