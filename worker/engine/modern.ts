/**
 * ⑦ One 2026-07-28 request served end to end, the same in both homes (the session object's
 * `modern()` and worker/stateless/home.ts): the sealed requestState of a
 * retry opened, `server/discover`, the Mcp-Param-* check, dispatch, and the reply (JSON or SSE)
 * with a backend's InputRequiredResult passed through under a sealed state.
 *
 * What only one home can do comes in through ModernHost: parking a legacy backend's call while
 * the client answers its input request (the session object), the listen stream, and single use
 * of pass-through states.
 */
import { GatewayError, RpcCode } from "../protocol/errors.ts";
import { asRecord, isRequest, isResponse, LOG_LEVELS, result, type JsonRpcMessage, type JsonRpcRequest, type RequestId } from "../protocol/jsonrpc.ts";
import { REQUEST_STATE_TTL_MS, type SealedState, type StateSealer } from "../broker/sealed.ts";
import type { TenantConfig } from "../tenant/schema.ts";
import { UpstreamError } from "../upstream/errors.ts";
import { MODERN_VERSION } from "../protocol/modern.ts";
import type { Handler, Routed } from "./handler.ts";
import { goneAnswer, toClientError, URL_ELICITATION_REQUIRED } from "./answers.ts";
import { acceptsUrlElicitation } from "./consent.ts";
import { withConfirmationAnswer, type ConfirmationAnswer } from "./approvals.ts";
import { LISTS } from "../broker/merge.ts";
import type { JsonRpcResponse } from "../protocol/jsonrpc.ts";
import { META } from "../protocol/modern.ts";
import { jsonResponse, prepend, SINGLE_REPLY_WAIT_MS, sseResponse, sseStream, type SseSink } from "./reply.ts";
import type { ModernInput } from "./inputs.ts";

/** Freshness hint on merged lists (2026-07-28 server/utilities/caching): lists change rarely and list_changed covers the rest. */
export const LIST_TTL_MS = 30_000;
/** Freshness hint on server/discover. */
export const DISCOVER_TTL_MS = 60_000;

const LIST_METHODS = new Set(Object.values(LISTS).map((l) => l.method));
/** Results that carry ttlMs / cacheScope (2026-07-28 changelog, minor 5: CacheableResult). */
const CACHEABLE = new Set([...LIST_METHODS, "resources/read", "server/discover"]);

/**
 * A response as a modern client expects it: `resultType` on every result, `ttlMs` and
 * `cacheScope` where cacheable. The scope is always "private": what a principal sees passed
 * that principal's policy, so no shared cache may serve it to anyone else. Errors keep their
 * code, except resource-not-found, which 2026-07-28 renumbered to -32602 (changelog, minor 6).
 */
export function modernResponse(response: JsonRpcResponse, method: string): JsonRpcResponse {
  if ("error" in response) {
    return response.error.code === -32002 ? { ...response, error: { ...response.error, code: -32602 } } : response;
  }
  const result: Record<string, unknown> = { ...response.result };
  if (typeof result.resultType !== "string") result.resultType = "complete";
  if (CACHEABLE.has(method) && result.resultType === "complete") {
    if (typeof result.ttlMs !== "number") result.ttlMs = method === "server/discover" ? DISCOVER_TTL_MS : LIST_TTL_MS;
    result.cacheScope = "private";
  }
  return { ...response, result };
}

/**
 * The client's own protocol `_meta` keys are the gateway's business, not the backend's, with one
 * exception: the request's `logLevel` travels with it (2026-07-28 server/utilities/logging: the
 * level is per request), so a modern backend hears this request's level and no other's; the
 * upstream drops it for a legacy backend (worker/protocol/modern.ts legacyRequest).
 */
export function withoutModernMeta(params: Record<string, unknown>): Record<string, unknown> {
  const { requestState: _s, inputResponses: _r, _meta, ...rest } = params;
  if (typeof _meta !== "object" || _meta === null) return rest;
  const meta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(_meta)) if (!key.startsWith("io.modelcontextprotocol/") || key === META.logLevel) meta[key] = value;
  return Object.keys(meta).length > 0 ? { ...rest, _meta: meta } : rest;
}

/** 2026-07-28 errors a server answers with HTTP 400 (streamable-http, versioning). */
const HTTP_400_CODES = new Set<number>([RpcCode.HeaderMismatch, RpcCode.MissingRequiredClientCapability, RpcCode.UnsupportedProtocolVersion]);

export interface ModernHost {
  handler: Handler;
  sealer: StateSealer;
  config: TenantConfig;
  /** A fresh stream name for the relay (server-to-client request bookkeeping). */
  nextStream(): string;
  waitUntil(promise: Promise<unknown>): void;
  /**
   * Stops the backend call of a request whose client went away now, rather than when the call
   * next sends something (an async generator's return() waits behind its pending next()).
   */
  cancel?(id: RequestId): void;
  /** `subscriptions/listen`: the stream of change notifications. */
  subscribe(input: ModernInput): Response | Promise<Response>;
  /**
   * Keeps a call whose legacy backend asked a server-to-client request until the client's retry;
   * returns the park's id. Absent where nothing can be kept (the stateless home has no legacy backend).
   */
  park?(iterator: AsyncIterator<JsonRpcMessage>, method: string): string;
  /** The retry of a parked call. */
  resume?(input: ModernInput, park: string, responses: Record<string, unknown>): Promise<Response>;
  /**
   * Marks a pass-through state used; false when it was used before (a replay). Absent where the
   * home keeps no record (then the backend, which owns its state, decides on replays).
   */
  spend?(state: SealedState): boolean;
  /**
   * Keeps the dispatcher's config current (the tenant's version polled) while a reply is in
   * progress, so a running call follows a policy change; returns what ends the watch.
   */
  watch?(): () => void;
}

/** What a sealed requestState is bound to: the tenant and the principal (the AES-GCM associated data). */
export function boundTo(tenant: string, principal: string): string {
  return `${tenant}\u0000${principal}`;
}

export async function serveModern(input: ModernInput, host: ModernHost): Promise<Response> {
  const { request } = input;
  const { config, handler } = host;
  const params = request.params ?? {};
  // A retry after an InputRequiredResult (2026-07-28 basic/patterns/mrtr): either it resumes a
  // parked call, or it carries a modern backend's own state, passed through sealed.
  let retry: Record<string, unknown> = {};
  let confirmation: ConfirmationAnswer | undefined;
  if (typeof params.requestState === "string") {
    const opened = await host.sealer.open(params.requestState, boundTo(config.id, input.principal.sub));
    if (opened && opened.park !== "") {
      if (!host.resume) return jsonResponse(new GatewayError("invalid_request_state").toRpc(request.id));
      return host.resume(input, opened.park, asRecord(params.inputResponses));
    }
    if (!opened || opened.m !== request.method || opened.n !== itemOf(request)) return jsonResponse(new GatewayError("invalid_request_state").toRpc(request.id));
    // mrtr "Security Considerations": a state is good for one retry where this home can tell.
    if (host.spend && !host.spend(opened)) return jsonResponse(new GatewayError("invalid_request_state").toRpc(request.id));
    // The gateway's own input request (a URL the user opened) leaves nothing for the backend.
    retry = opened.g ? {} : { inputResponses: asRecord(params.inputResponses), ...(opened.bs !== undefined ? { requestState: opened.bs } : {}) };
    // The answer to the gateway's own confirmation form goes to the approval gate, not the backend.
    if (opened.ap) confirmation = { approval: opened.ap, response: asRecord(params.inputResponses)[opened.ap] };
  } else if (params.inputResponses !== undefined) {
    // Input offered without a state is the backend's to judge (2026-07-28 mrtr: servers ignore
    // what they did not ask for); it passes through as sent.
    retry = { inputResponses: params.inputResponses };
  }
  if (request.method === "server/discover") return jsonResponse(modernResponse(result(request.id, await handler.discover(config)), request.method));
  if (request.method === "subscriptions/listen") return host.subscribe(input);
  const clean: JsonRpcRequest = { ...request, params: { ...withoutModernMeta(params), ...retry } };
  if (confirmation) withConfirmationAnswer(clean, confirmation);
  if (request.method === "tools/call") {
    const mismatch = await handler.checkParamHeaders(clean, input.paramHeaders, config);
    if (mismatch) return mismatch.toResponse(request.id);
  }
  const produced = await handler.request(clean, config, host.nextStream(), input.limitsDeferred === true);
  if (!produced.routed && produced.refusal) return produced.refusal.toResponse(request.id);
  const source = produced.routed ? produced.messages[Symbol.asyncIterator]() : toAsync(produced.messages);
  // A backend's protocol-level refusal that ends the call at once (-32020/-32021/-32022) is
  // answered as the spec says a server answers it: HTTP 400 with the JSON-RPC error.
  const first = await source.next();
  if (!first.done && isResponse(first.value) && "error" in first.value && HTTP_400_CODES.has(first.value.error.code)) {
    return jsonResponse({ ...first.value, id: request.id }, {}, 400);
  }
  return modernReply(input, prepend(first, source), request.method, host, produced.routed ? produced.about : undefined);
}

/**
 * Answers a modern request from the messages its call produces: notifications stream as they
 * come (log messages only when the request asked for a level); a legacy backend's
 * server-to-client request parks the call and answers with an InputRequiredResult; the
 * response ends it. Closing the stream cancels the call (2026-07-28 streamable-http "Cancellation").
 */
export async function modernReply(input: ModernInput, iterator: AsyncIterator<JsonRpcMessage>, method: string, host: ModernHost, about?: Routed): Promise<Response> {
  const id = input.request.id;
  const bound = boundTo(host.config.id, input.principal.sub);
  // The response is the call's last message: closing the iterator after it runs the call's
  // bookkeeping (its audit row, its metric) instead of leaving it suspended.
  const finish = async (): Promise<void> => {
    await iterator.return?.();
  };
  // Set below for a client that accepts a stream: a message dropped before any was sent arms the JSON deadline.
  let armDeadline = (): void => {};
  const pump = async (emit: (message: JsonRpcMessage) => void): Promise<void> => {
    const unwatch = about ? host.watch?.() : undefined;
    try {
      await relay(emit);
    } finally {
      unwatch?.();
    }
  };
  const relay = async (emit: (message: JsonRpcMessage) => void): Promise<void> => {
    for (;;) {
      const step = await iterator.next();
      if (step.done) return;
      const message = step.value;
      if (about && !host.handler.stillAllowed(about)) {
        // The policy changed under a running call: stop it, and answer as for an item that is
        // gone, exactly as a session's legacy stream does (durable-objects/session/legacyReply.ts).
        host.cancel?.(id);
        void iterator.return?.();
        emit(goneAnswer({ ...about.request, id })); // for search mode's call_tool, the tool it named
        return;
      }
      if (isRequest(message)) {
        if (!host.park) {
          // A 2026-07-28 backend sends no server-to-client requests (basic/patterns/mrtr replaces them).
          void iterator.return?.();
          throw new UpstreamError("bad_response", "", `unexpected server-to-client request ${message.method}`);
        }
        const park = host.park(iterator, method);
        const requestState = await host.sealer.seal({ park, exp: Date.now() + REQUEST_STATE_TTL_MS }, bound);
        emit(result(id, { resultType: "input_required", inputRequests: { [String(message.id)]: { method: message.method, params: message.params ?? {} } }, requestState }));
        return;
      }
      const filtered = host.handler.toClient(isResponse(message) ? { ...message, id } : message, method, MODERN_VERSION);
      if (!filtered) {
        armDeadline();
        continue;
      }
      if (isResponse(filtered)) {
        if ("result" in filtered && filtered.result.resultType === "input_required") {
          // A modern backend's own input request passes through; its state is sealed inside
          // ours, bound to this principal and to this method and item. One the gateway made
          // itself (a confirmation form, engine/approvals.ts) names its approval instead.
          const backendState = filtered.result.requestState;
          const own = about === undefined && typeof backendState === "string";
          const state: SealedState = {
            park: "",
            exp: Date.now() + REQUEST_STATE_TTL_MS,
            m: method,
            n: itemOf(input.request),
            j: crypto.randomUUID(),
            ...(own ? { g: 1, ap: backendState } : typeof backendState === "string" ? { bs: backendState } : {}),
          };
          emit({ ...filtered, result: { ...filtered.result, requestState: await host.sealer.seal(state, bound) } });
          await finish();
          return;
        }
        if ("error" in filtered && filtered.error.code === URL_ELICITATION_REQUIRED && acceptsUrlElicitation(input.clientCapabilities)) {
          // 2026-07-28 basic/patterns/mrtr: a client that takes URL elicitations gets the URL as
          // an input request, and its retry runs the call again (a connect link, an approval).
          const state: SealedState = { park: "", exp: Date.now() + REQUEST_STATE_TTL_MS, m: method, n: itemOf(input.request), j: crypto.randomUUID(), g: 1 };
          emit(result(id, { resultType: "input_required", inputRequests: urlInputRequests(filtered.error.data), requestState: await host.sealer.seal(state, bound) }));
          await finish();
          return;
        }
        emit(modernResponse(filtered, method));
        await finish();
        return;
      }
      // 2026-07-28 server/utilities/logging: no log messages for a request that set no level, and
      // none below the level it set (a legacy backend logs at its session's level, not this request's).
      if ("method" in filtered && filtered.method === "notifications/message" && !atOrAbove(filtered.params?.level, input.logLevel)) {
        armDeadline();
        continue;
      }
      emit(filtered);
    }
  };
  if (!input.acceptsSse) {
    // JSON carries the answer only; progress has no place to go without a stream.
    let final: JsonRpcMessage | null = null;
    await pump((m) => {
      if (isResponse(m)) final = m;
    }).catch((error) => {
      final = toClientError(id, error);
    });
    return jsonResponse(final ?? new GatewayError("backend_unavailable").toRpc(id));
  }
  // A call whose only message is its response is answered as JSON (2026-07-28 transports: a
  // POST is answered with JSON or SSE when the client accepts both): no stream, no keepalive
  // timer. Anything the client sees before the response, and the reply is a stream that starts
  // with what came so far. serveModern has read the first message already; the deadline covers
  // a call whose first messages are all filtered out (log messages below the request's level),
  // and is armed only then: the usual call sets no timer here.
  const early: JsonRpcMessage[] = [];
  let sink: SseSink | null = null;
  let needStream: () => void = () => {};
  const streamNeeded = new Promise<"stream">((resolve) => (needStream = () => resolve("stream")));
  let deadline: ReturnType<typeof setTimeout> | undefined;
  armDeadline = () => {
    if (sink === null && deadline === undefined) deadline = setTimeout(needStream, SINGLE_REPLY_WAIT_MS);
  };
  const emit = (message: JsonRpcMessage): void => {
    if (sink) {
      sink.message(message);
      return;
    }
    early.push(message);
    if (!isResponse(message)) needStream();
  };
  // Once the client has gone, nothing more is written (and nothing is reported as a failure).
  const done = pump(emit).catch((error) => emit(toClientError(id, error)));
  const first = await Promise.race([done.then(() => "done" as const), streamNeeded]).finally(() => clearTimeout(deadline));
  if (first === "done" && early.length === 1 && isResponse(early[0]!)) return jsonResponse(early[0]);
  const body = sseStream({
    start: (s) => {
      for (const message of early) s.message(message);
      sink = s;
      host.waitUntil(done.finally(() => s.close()));
    },
    cancel: () => {
      // The client closed the stream: that is the cancellation of this request.
      host.cancel?.(id);
      void iterator.return?.();
    },
  });
  return sseResponse(body);
}

/** The item a request names (tool or prompt name, resource URI), for binding sealed state to it. */
/** The -32042 error's elicitations as input requests, keyed by their elicitation ids. */
function urlInputRequests(data: unknown): Record<string, unknown> {
  const requests: Record<string, unknown> = {};
  for (const e of (asRecord(data).elicitations as unknown[] | undefined) ?? []) {
    const elicitation = asRecord(e);
    if (typeof elicitation.elicitationId === "string") requests[elicitation.elicitationId] = { method: "elicitation/create", params: elicitation };
  }
  return requests;
}

function itemOf(request: JsonRpcRequest): string {
  const params = request.params ?? {};
  return String(params.name ?? params.uri ?? "");
}

async function* toAsync(messages: JsonRpcMessage[]): AsyncGenerator<JsonRpcMessage> {
  yield* messages;
}


/** Whether a log message's level is at or above the request's; never when the request set none. */
function atOrAbove(level: unknown, requested: string | null): boolean {
  if (requested === null) return false;
  return LOG_LEVELS.indexOf(String(level)) >= LOG_LEVELS.indexOf(requested);
}
