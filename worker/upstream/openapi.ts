/**
 * A REST API described by OpenAPI, served as an MCP backend in-process (docs/openapi.md): the
 * gateway itself answers `initialize`, `tools/list` and `tools/call`, each call becoming one HTTP
 * request to the API (worker/openapi/).
 *
 * Era: the upstream presents itself as a legacy-era server (protocol 2025-11-25, no session id),
 * and the tenant schema fixes `era: "legacy"` for this transport. There is nothing to probe, so
 * the era memo (era.ts) is never consulted; and the engine then treats it like any legacy
 * backend: no 2026-07-28 `_meta` envelope, MRTR rounds or `subscriptions/listen` are expected of
 * it (it implements none). The cost: a 2026-07-28 client of a tenant with an OpenAPI backend is
 * served by the session object rather than the Worker's stateless home (worker/stateless/era.ts),
 * where the gateway translates between the eras as for any legacy backend.
 */
import type { JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from "../protocol/jsonrpc.ts";
import { asRecord } from "../protocol/jsonrpc.ts";
import { LATEST_LEGACY_VERSION } from "../protocol/versions.ts";
import { ArgumentError, buildRequest } from "../openapi/request.ts";
import { toolError, toResult } from "../openapi/response.ts";
import { loadApi, type CompiledApi, type SpecSource } from "../openapi/spec.ts";
import { SpecError } from "../openapi/refs.ts";
import { UpstreamError } from "./errors.ts";
import type { Fetcher, HeaderSource, Upstream, UpstreamInfo } from "./types.ts";

export interface OpenApiOptions {
  backend: string;
  source: SpecSource;
  /** How calls to the API leave the Worker. */
  fetcher: Fetcher;
  /** Headers from config and secrets (API keys); they win over any header parameter. */
  headers: Record<string, string>;
  /** Credentials computed per request (OAuth tokens); merged over `headers`. */
  dynamicHeaders?: HeaderSource;
  /** Query parameters from secrets (an API key in the query); they win over any query argument. */
  query?: Record<string, string>;
  /** Time to the API's response headers, and again to read its body. */
  timeoutMs: number;
  info?: UpstreamInfo | null;
}

export class OpenApiUpstream implements Upstream {
  readonly backend: string;
  #info: UpstreamInfo | null;
  readonly #opts: OpenApiOptions;
  #api: CompiledApi | null = null;

  constructor(opts: OpenApiOptions) {
    this.backend = opts.backend;
    this.#opts = opts;
    this.#info = opts.info ?? null;
  }

  get info(): UpstreamInfo | null {
    return this.#info;
  }

  async initialize(_params: Record<string, unknown>, signal: AbortSignal): Promise<UpstreamInfo> {
    const api = await this.#load(signal);
    this.#info = {
      backend: this.backend,
      sessionId: null,
      protocolVersion: LATEST_LEGACY_VERSION,
      // The tool list follows the spec, which only changes with the config (a new upstream).
      capabilities: { tools: { listChanged: false } },
      serverInfo: { name: api.title, version: api.version },
    };
    return this.#info;
  }

  async *request(message: JsonRpcRequest, signal: AbortSignal, headers: Record<string, string> = {}): AsyncIterable<JsonRpcMessage> {
    const api = await this.#load(signal);
    const reply = (result: Record<string, unknown>): JsonRpcResponse => ({ jsonrpc: "2.0", id: message.id, result });
    switch (message.method) {
      case "ping":
        yield reply({});
        return;
      case "tools/list":
        // One page: the gateway's catalog pages the merged list for the client.
        yield reply({ tools: api.tools });
        return;
      case "tools/call": {
        const name = message.params?.name;
        const plan = typeof name === "string" ? api.plans.get(name) : undefined;
        // 2025-11-25 server/tools "Error Handling": an unknown tool is a protocol error.
        if (!plan) {
          yield { jsonrpc: "2.0", id: message.id, error: { code: -32602, message: `Unknown tool: ${String(name)}` } };
          return;
        }
        yield reply(await this.#call(api, plan, asRecord(message.params?.arguments), headers, signal));
        return;
      }
      default:
        yield { jsonrpc: "2.0", id: message.id, error: { code: -32601, message: `Method not found: ${message.method}` } };
    }
  }

  async send(_message: JsonRpcNotification | JsonRpcResponse, _signal: AbortSignal): Promise<void> {
    // Notifications (initialized, cancelled) need no answer: a cancelled call's fetch is aborted by its signal.
  }

  async listen(_signal: AbortSignal): Promise<AsyncIterable<JsonRpcMessage> | null> {
    return null;
  }

  async terminate(_signal: AbortSignal): Promise<void> {
    this.#info = null;
  }

  async #load(signal: AbortSignal): Promise<CompiledApi> {
    if (this.#api) return this.#api;
    try {
      this.#api = await loadApi(this.#opts.source, signal);
    } catch (error) {
      if (signal.aborted) throw new UpstreamError("cancelled", this.backend, "cancelled by the client");
      // The spec's faults are the operator's to fix: logged in full, the client hears "Backend unavailable".
      if (error instanceof SpecError) throw new UpstreamError("bad_response", this.backend, `OpenAPI spec: ${error.message}`);
      throw error;
    }
    return this.#api;
  }

  async #call(api: CompiledApi, plan: Parameters<typeof buildRequest>[1], args: Record<string, unknown>, extra: Record<string, string>, signal: AbortSignal): Promise<Record<string, unknown>> {
    let built;
    try {
      built = buildRequest(api.baseUrl, plan, args);
    } catch (error) {
      // 2025-11-25 server/tools "Error Handling": invalid arguments are a tool execution error the model can correct.
      if (error instanceof ArgumentError) return toolError(error.message);
      throw error;
    }
    let headers: Headers;
    try {
      headers = new Headers(built.headers);
    } catch {
      return toolError("a header argument is not a valid HTTP header value");
    }
    // The gateway's context headers, then config and credentials: none of these can be set by the model.
    for (const [k, v] of Object.entries(extra)) if (!k.toLowerCase().startsWith("mcp-")) headers.set(k, v);
    for (const [k, v] of Object.entries(this.#opts.headers)) headers.set(k, v);
    if (this.#opts.dynamicHeaders) for (const [k, v] of Object.entries(await this.#opts.dynamicHeaders(signal))) headers.set(k, v);
    const timeout = AbortSignal.timeout(this.#opts.timeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    let response: Response;
    try {
      // No redirect is followed: one could lead the gateway to another host (the 3xx goes back as an error).
      response = await this.#opts.fetcher(new Request(withQuery(built.url, this.#opts.query), { method: built.method, headers, body: built.body, redirect: "manual", signal: combined }));
      return await toResult(response, plan);
    } catch (error) {
      if (signal.aborted) throw new UpstreamError("cancelled", this.backend, "cancelled by the client");
      if (timeout.aborted) throw new UpstreamError("timeout", this.backend, `no answer within ${this.#opts.timeoutMs} ms`);
      throw new UpstreamError("unreachable", this.backend, error instanceof Error ? error.message : String(error));
    }
  }
}

/** The request URL with the configured secret query parameters set (replacing any the model gave). */
function withQuery(url: string, query: Record<string, string> | undefined): string {
  if (!query || Object.keys(query).length === 0) return url;
  const out = new URL(url);
  for (const [name, value] of Object.entries(query)) out.searchParams.set(name, value);
  return out.toString();
}
