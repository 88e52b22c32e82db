/**
 * ④ Rate limit: the tenant's tenant-wide and per-principal limits (rate.ts), counted exactly by
 * RateLimiter Durable Objects before the request goes further. Over a limit: 429 with
 * Retry-After (RFC 6585 §4). Runs after ③ authenticate(), since limits count per principal; tool
 * limits wait for the engine, which knows the tool.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { GatewayError } from "../protocol/errors.ts";
import { checkRequestLimits } from "./rate.ts";

export function rateLimit(): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    await limitRequest(c);
    await next();
  };
}

/**
 * The check itself, for a POST, which runs it once its body is parsed: a lone `tools/call` has
 * its principal limits counted by the engine together with its tool limits (rate.ts
 * checkCallLimits), one limiter hit instead of two.
 */
export async function limitRequest(c: Context<AppEnv>, deferPrincipal = false): Promise<void> {
  const limited = await checkRequestLimits(c.env.LIMITERS, c.var.tenant, c.var.principal.sub, deferPrincipal);
  if (!limited.ok) {
    throw new GatewayError("rate_limited", { headers: { "retry-after": String(limited.retryAfterSeconds) }, data: { retryAfterSeconds: limited.retryAfterSeconds }, detail: limited.limit });
  }
}
