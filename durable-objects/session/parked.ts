/**
 * Calls parked for a 2026-07-28 client's retry. When a legacy backend asks a server-to-client
 * request (elicitation, sampling, roots) during a modern client's call, the call cannot go on
 * until the client answers, and a modern client answers by retrying its request with
 * `inputResponses` (2026-07-28 basic/patterns/mrtr). The call's message iterator is kept here
 * under a random park id, which the sealed `requestState` carries (worker/broker/sealed.ts);
 * the retry takes it back. A park not taken within REQUEST_STATE_TTL_MS ends its call.
 */
import { REQUEST_STATE_TTL_MS } from "../../worker/broker/sealed.ts";
import type { JsonRpcMessage } from "../../worker/protocol/jsonrpc.ts";

export interface ParkedCall {
  iterator: AsyncIterator<JsonRpcMessage>;
  method: string;
}

export class ParkedCalls {
  readonly #parked = new Map<string, ParkedCall & { timer: ReturnType<typeof setTimeout> }>();

  /** Keeps a call; returns its park id. */
  park(iterator: AsyncIterator<JsonRpcMessage>, method: string): string {
    const park = crypto.randomUUID();
    const timer = setTimeout(() => {
      this.#parked.delete(park);
      void iterator.return?.();
    }, REQUEST_STATE_TTL_MS);
    this.#parked.set(park, { iterator, method, timer });
    return park;
  }

  /** The parked call, taken (a park is good for one retry); null when unknown or expired. */
  take(park: string): ParkedCall | null {
    const parked = this.#parked.get(park);
    if (!parked) return null;
    this.#parked.delete(park);
    clearTimeout(parked.timer);
    return { iterator: parked.iterator, method: parked.method };
  }

  /** Ends every parked call (the session ends). */
  clear(): void {
    for (const parked of this.#parked.values()) {
      clearTimeout(parked.timer);
      void parked.iterator.return?.();
    }
    this.#parked.clear();
  }
}
