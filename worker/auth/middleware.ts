/**
 * ③ Authenticate: the principal the request's credential proves under the tenant's auth settings
 * (authenticate.ts: API key, else JWT, else anonymous when allowed, else 401), as
 * `c.var.principal`. Runs after ② tenant(), whose config says how.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { principalOf } from "./authenticate.ts";

export function authenticate(): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next) {
    c.set("principal", await principalOf(c.req.raw, c.var.tenant, c.env));
    await next();
  };
}
