/**
 * ⑧ Listening: what backends say on their own, merged for the client.
 *
 * - BackendListeners opens one stream per backend (the legacy GET stream, or a modern
 *   backend's `subscriptions/listen`), maps each message through the relay (progress tokens,
 *   server-to-client request ids, list caches dropped on list_changed), filters it for the
 *   client, and delivers it to whatever the home attached: a session's standalone stream and
 *   its modern subscribers, or one stateless listen stream. A backend whose stream fails is
 *   logged and left out; the others go on (fail-open, as lists are).
 * - subscriptionStream is the client-facing `subscriptions/listen` reply of 2026-07-28
 *   (basic/patterns/subscriptions): the acknowledgement first and nothing before it, then only
 *   the notifications the client opted in to, each tagged with the subscription's id.
 */
import { LIST_CHANGED } from "../broker/merge.ts";
import type { JsonRpcMessage, JsonRpcNotification } from "../protocol/jsonrpc.ts";
import { META } from "../protocol/modern.ts";
import type { BackendConfig } from "../tenant/schema.ts";
import { logger } from "../observe/log.ts";
import type { Backends } from "./backends.ts";
import { failureReason } from "./fanout.ts";
import type { Relay } from "./relay.ts";
import { sseStream } from "./reply.ts";

/** The filter of a subscriptions/listen request (2026-07-28 basic/patterns/subscriptions). */
export interface ListenFilter {
  toolsListChanged: boolean;
  promptsListChanged: boolean;
  resourcesListChanged: boolean;
  resourceSubscriptions: string[];
}

export function listenFilter(params: Record<string, unknown>): ListenFilter {
  const n = (typeof params.notifications === "object" && params.notifications !== null ? params.notifications : {}) as Record<string, unknown>;
  return {
    toolsListChanged: n.toolsListChanged === true,
    promptsListChanged: n.promptsListChanged === true,
    resourcesListChanged: n.resourcesListChanged === true,
    resourceSubscriptions: Array.isArray(n.resourceSubscriptions) ? n.resourceSubscriptions.filter((u): u is string => typeof u === "string") : [],
  };
}

/** Whether a change notification is one the subscriber opted in to; the server MUST NOT send others. */
export function wanted(filter: ListenFilter, message: JsonRpcMessage): boolean {
  if (!("method" in message)) return false;
  switch (message.method) {
    case "notifications/tools/list_changed":
      return filter.toolsListChanged;
    case "notifications/prompts/list_changed":
      return filter.promptsListChanged;
    case "notifications/resources/list_changed":
      return filter.resourcesListChanged;
    case "notifications/resources/updated":
      return typeof message.params?.uri === "string" && filter.resourceSubscriptions.includes(message.params.uri);
    default:
      return false;
  }
}

/** Tags a notification with its subscription (the `_meta` key of 2026-07-28 subscriptions "Acknowledgment"). */
export function tagged(message: JsonRpcMessage & { method: string }, subscriptionId: string | number): JsonRpcMessage {
  const params: Record<string, unknown> = { ...(("params" in message ? message.params : undefined) ?? {}) };
  params._meta = { ...((params._meta as Record<string, unknown>) ?? {}), [META.subscriptionId]: subscriptionId };
  return { jsonrpc: "2.0", method: message.method, params };
}

/** The subset of a filter the gateway honours, as the acknowledgement states it (fields left out are not sent). */
export function honoured(filter: ListenFilter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (filter.toolsListChanged) out.toolsListChanged = true;
  if (filter.promptsListChanged) out.promptsListChanged = true;
  if (filter.resourcesListChanged) out.resourcesListChanged = true;
  if (filter.resourceSubscriptions.length > 0) out.resourceSubscriptions = filter.resourceSubscriptions;
  return out;
}

/** The three list-change notifications a new tenant config version is announced with. */
export const LIST_CHANGES: readonly JsonRpcNotification[] = Object.keys(LIST_CHANGED).map((method) => ({ jsonrpc: "2.0", method }));

export interface ListenerHost {
  backends: Backends;
  relay: Relay;
  /** The message as the client may see it (handler.toClient), or null. */
  toClient(message: JsonRpcMessage): JsonRpcMessage | null;
  deliver(message: JsonRpcMessage): void;
  /** The relay's stream name for server-to-client requests that arrive on these streams. */
  stream(): string;
  waitUntil(promise: Promise<unknown>): void;
  /** The tenant, for log lines. */
  tenant(): string;
}

/** Every backend's own stream, merged into one delivery. */
export class BackendListeners {
  readonly #host: ListenerHost;
  #all: AbortController | null = null;
  /** Each backend's stream under #all, so one can be re-opened alone. */
  readonly #each = new Map<string, AbortController>();

  constructor(host: ListenerHost) {
    this.#host = host;
  }

  get running(): boolean {
    return this.#all !== null;
  }

  /** Opens each backend's stream once; later calls do nothing while they run. */
  start(backends: readonly BackendConfig[]): void {
    if (this.#all) return;
    this.#all = new AbortController();
    for (const backend of backends) this.#open(backend);
  }

  /**
   * Re-opens one backend's stream, when it is open: a modern backend's listen stream names its
   * resource subscriptions when it opens (2026-07-28 basic/patterns/subscriptions), so a change
   * of subscriptions needs a new one. Nothing open yet: the first open asks for the list anyway.
   */
  reopen(backend: BackendConfig): void {
    if (this.#all && this.#each.has(backend.name)) this.#open(backend);
  }

  stop(): void {
    this.#all?.abort();
    this.#all = null;
    this.#each.clear();
  }

  #open(backend: BackendConfig): void {
    const all = this.#all;
    if (!all) return;
    const controller = new AbortController();
    all.signal.addEventListener("abort", () => controller.abort(), { once: true });
    this.#each.get(backend.name)?.abort();
    this.#each.set(backend.name, controller);
    const host = this.#host;
    const task = (async () => {
      const upstream = await host.backends.get(backend, controller.signal);
      const messages = await upstream.listen(controller.signal);
      if (!messages) return;
      for await (const message of messages) {
        const mapped = await host.relay.inbound(backend, message, host.stream());
        const filtered = mapped && host.toClient(mapped);
        if (filtered) host.deliver(filtered);
      }
    })().catch((error) => {
      if (!controller.signal.aborted) logger.warn("backend_listen_failed", { tenant: host.tenant(), backend: backend.name, reason: failureReason(error) });
    });
    host.waitUntil(task);
  }
}

/** A client's `subscriptions/listen` stream: push() sends what the filter wants, tagged. */
export interface Subscription {
  body: ReadableStream<Uint8Array>;
  push(message: JsonRpcMessage): void;
  /** Ends the stream from the gateway's side (its grant was revoked); runs the same clean-up as a client's cancel. */
  close(): void;
}

export function subscriptionStream(id: string | number, filter: ListenFilter, onCancel: () => void): Subscription {
  let write: ((message: JsonRpcMessage) => void) | null = null;
  let end: (() => void) | null = null;
  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    write = null;
    onCancel();
  };
  const body = sseStream({
    start: (sink) => {
      // The acknowledgement comes first, and nothing before it (basic/patterns/subscriptions).
      sink.message(tagged({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { notifications: honoured(filter) } }, id));
      write = (message) => void sink.message(message);
      end = () => sink.close();
    },
    cancel: finish,
  });
  return {
    body,
    push: (message) => {
      if (write && wanted(filter, message) && "method" in message) write(tagged(message as JsonRpcMessage & { method: string }, id));
    },
    close: () => {
      if (ended) return;
      end?.();
      finish();
    },
  };
}
