/**
 * What a tenant write would store, built the same way for a PUT and for its dry run (validate):
 * body read under a cap, the id and next version set by the gateway, the schema, and the
 * destinations check. A failure is the HTTP answer to give.
 */
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { BodyTooLargeError, readTextCapped } from "../protocol/body.ts";
import { GatewayError } from "../protocol/errors.ts";
import { parseTenant, type TenantConfig } from "../tenant/schema.ts";
import { currentTenant } from "../tenant/store.ts";
import { privateDestination } from "./destinations.ts";

export type PreparedWrite = { ok: true; id: string; tenant: TenantConfig; previous: TenantConfig | null } | { ok: false; response: Response };

export async function prepareTenantWrite(c: Context<AppEnv>, maxBytes: number): Promise<PreparedWrite> {
  let body: unknown;
  try {
    body = JSON.parse(await readTextCapped(c.req.raw, maxBytes));
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new GatewayError("payload_too_large");
    return { ok: false, response: c.json({ error: "body is not JSON" }, 400) };
  }
  const id = c.req.param("id")!;
  const previous = await currentTenant(c.env, id);
  // A JSON array is no document (spread, it would become an empty tenant with every default).
  const document = typeof body === "object" && body !== null && !Array.isArray(body) ? { ...(body as object), id, version: (previous?.version ?? 0) + 1 } : body;
  const parsed = parseTenant(document);
  if (!parsed.ok) return { ok: false, response: c.json({ error: parsed.error }, 400) };
  const unreachable = c.env.ALLOW_PRIVATE_BACKENDS === "true" ? null : privateDestination(parsed.tenant);
  if (unreachable) return { ok: false, response: c.json({ error: unreachable }, 400) };
  return { ok: true, id, tenant: parsed.tenant, previous };
}
