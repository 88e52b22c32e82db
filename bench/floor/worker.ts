/**
 * Null proxies for the benchmark's floor (nothing here is part of the gateway):
 *
 *   /healthz       answers at once: a request into workerd and out again
 *   /mcp           forwarded to BACKEND_ORIGIN unchanged (method, headers, body), the response
 *                  streamed back: the cheapest stateless proxy
 *   /do/mcp        the same, but through a SQLite-backed Durable Object chosen by the
 *                  Mcp-Session-Id header, which writes one row per request before forwarding:
 *                  the cheapest stateful proxy, the shape of the gateway's session path
 */
import { DurableObject } from "cloudflare:workers";

interface Env {
  BACKEND_ORIGIN: string;
  HOPS: DurableObjectNamespace<Hop>;
}

export class Hop extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (k INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
  }

  override async fetch(request: Request): Promise<Response> {
    this.ctx.storage.sql.exec("INSERT INTO hits (k, n) VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET n = n + 1");
    return fetch(new Request(`${this.env.BACKEND_ORIGIN}/mcp`, request));
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return new Response("ok");
    if (url.pathname === "/do/mcp") {
      const key = request.headers.get("mcp-session-id") ?? "initialize";
      return env.HOPS.get(env.HOPS.idFromName(key)).fetch(request);
    }
    return fetch(new Request(`${env.BACKEND_ORIGIN}${url.pathname}`, request));
  },
};
