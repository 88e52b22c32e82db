/**
 * What a session hears outside its replies: the legacy client's GET stream, and the
 * `subscriptions/listen` streams of 2026-07-28 clients served by this object. Both are fed by
 * one BackendListeners (engine/listen.ts): each backend's own stream, opened once per session.
 *
 * - The standalone stream (GET) is an Outbox, resumable like a reply stream.
 * - Subscriptions: a modern client's listen stream says which resources it follows; the object
 *   follows each URI once however many streams want it, by resources/subscribe to a legacy
 *   owner or on a modern owner's listen stream (engine/handler.ts decides and routes), and stops
 *   with the last stream that wanted it. What cannot be followed (unknown, hidden by policy,
 *   refused by its backend) is left out of the acknowledgement.
 */
import type { Produced } from "../../worker/engine/handler.ts";
import type { ModernInput } from "../../worker/engine/inputs.ts";
import { BackendListeners, LIST_CHANGES, listenFilter, subscriptionStream, type ListenerHost, type Subscription } from "../../worker/engine/listen.ts";
import { sseResponse } from "../../worker/engine/reply.ts";
import { isResponse, type JsonRpcMessage, type JsonRpcRequest } from "../../worker/protocol/jsonrpc.ts";
import { atLeast } from "../../worker/protocol/versions.ts";
import { logger } from "../../worker/observe/log.ts";
import type { BackendConfig } from "../../worker/tenant/schema.ts";
import { Outbox } from "./outbox.ts";
import type { SessionMeta, SessionStorage } from "./storage.ts";

export interface ListeningHost extends Omit<ListenerHost, "deliver" | "stream"> {
  storage: SessionStorage;
  /** Runs one request through the session (resources/subscribe and unsubscribe). */
  request(request: JsonRpcRequest): Promise<Produced>;
}

export class SessionListening {
  readonly #host: ListeningHost;
  readonly #listeners: BackendListeners;
  #standalone: Outbox | null = null;
  readonly #subscriptions = new Set<Subscription>();
  /** How many open listen streams follow each resource URI. */
  readonly #followed = new Map<string, number>();

  constructor(host: ListeningHost) {
    this.#host = host;
    this.#listeners = new BackendListeners({
      ...host,
      deliver: (message) => {
        this.#standalone?.push(message);
        for (const subscription of this.#subscriptions) subscription.push(message);
      },
      stream: () => this.#standalone?.id ?? "listen",
    });
  }

  /** The GET stream, once the client opened one. */
  get standalone(): Outbox | null {
    return this.#standalone;
  }

  /** Whether anything is listening now (the policy watch runs while it is). */
  get open(): boolean {
    return this.#standalone?.attached === true || this.#subscriptions.size > 0;
  }

  /** GET without Last-Event-ID: the standalone stream, created on first use. */
  listen(meta: SessionMeta, backends: readonly BackendConfig[]): Response {
    this.#standalone ??= new Outbox(this.#host.storage, `g${this.#host.storage.nextCounter()}`, { prime: atLeast(meta.clientVersion, "2025-11-25"), now: Date.now() });
    this.#listeners.start(backends);
    return sseResponse(this.#standalone.attach(null));
  }

  /** `subscriptions/listen` (2026-07-28 basic/patterns/subscriptions), for a modern client of this object. */
  async subscribe(input: ModernInput, backends: readonly BackendConfig[]): Promise<Response> {
    const asked = listenFilter(input.request.params ?? {});
    const followed: string[] = [];
    for (const uri of asked.resourceSubscriptions) if (await this.#follow(uri, true)) followed.push(uri);
    // The subscription's id is the listen request's own id.
    const subscription: Subscription = subscriptionStream(input.request.id, { ...asked, resourceSubscriptions: followed }, () => {
      this.#subscriptions.delete(subscription);
      for (const uri of followed) this.#host.waitUntil(this.#follow(uri, false));
    });
    this.#subscriptions.add(subscription);
    this.#listeners.start(backends);
    return sseResponse(subscription.body);
  }

  /** Tells every listener that its lists may have changed (a new tenant config version). */
  announceListChanges(): void {
    for (const change of LIST_CHANGES) {
      this.#standalone?.push(change);
      for (const subscription of this.#subscriptions) subscription.push(change);
    }
  }

  /** A subscription changed what a modern backend's listen stream must ask for. */
  reopen(backend: BackendConfig): void {
    this.#listeners.reopen(backend);
  }

  /** Closes everything (the session ends). */
  stop(now: number): void {
    this.#listeners.stop();
    this.#standalone?.close(now);
    this.#standalone = null;
  }

  /** Follows (or stops following) a resource's updates; false when it cannot be followed. */
  async #follow(uri: string, on: boolean): Promise<boolean> {
    const count = this.#followed.get(uri) ?? 0;
    const next = on ? count + 1 : Math.max(0, count - 1);
    if ((count === 0) !== (next === 0)) {
      const request: JsonRpcRequest = { jsonrpc: "2.0", id: `gw-follow-${this.#host.storage.nextCounter()}`, method: on ? "resources/subscribe" : "resources/unsubscribe", params: { uri } };
      let ok = false;
      try {
        const produced = await this.#host.request(request);
        for await (const message of produced.messages as AsyncIterable<JsonRpcMessage>) if (isResponse(message) && message.id === request.id) ok = "result" in message;
      } catch (error) {
        logger.warn("resource_follow_failed", { error: String(error) });
      }
      if (on && !ok) return false;
    }
    if (next > 0) this.#followed.set(uri, next);
    else this.#followed.delete(uri);
    return true;
  }
}
