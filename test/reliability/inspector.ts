/**
 * The gateway's JavaScript heap through wrangler's DevTools inspector (Chrome DevTools Protocol):
 * the size in use right after a full garbage collection, the one memory figure a leak must move.
 * A heap snapshot forces that collection (V8 collects before it walks the heap); the snapshot
 * itself is read and dropped.
 *
 * The session stays open for the whole run, reading and dropping every event: until a DevTools
 * client is attached, wrangler's inspector proxy keeps every console message the Worker logs
 * (templates/startDevWorker/InspectorProxyWorker.ts, `runtimeMessageBuffer`), so under load its
 * process grows by gigabytes and, when a client finally attaches, it answers nothing until it
 * has replayed them all.
 */

/**
 * Bound on each step (target list, connection, snapshot). A snapshot is slow here: its chunks
 * crawl through wrangler's inspector proxy (a fresh 7 MiB heap took 9.5 s on an idle machine,
 * wrangler 4.164), and a loaded machine made a soak's 40 MiB heap miss a 120 s bound.
 * `HeapProfiler.collectGarbage`, the cheap way to force a collection, is never answered by
 * workerd 1.20261117 (tried: no reply, no error), so the snapshot is the only full collection on offer.
 */
const STEP_TIMEOUT_MS = 360_000;

export interface HeapReading {
  /** Heap in use after a full collection, in MiB. */
  mib: number;
  /** The inspector target: a new one means wrangler reloaded the Worker (a new isolate). */
  target: string;
}

export class Inspector {
  readonly #ws: WebSocket;
  readonly target: string;
  #next = 0;
  readonly #waiting = new Map<number, (result: Record<string, unknown>) => void>();

  private constructor(ws: WebSocket, target: string) {
    this.#ws = ws;
    this.target = target;
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: Record<string, unknown> };
      if (message.id === undefined) return; // events: console messages, snapshot chunks
      this.#waiting.get(message.id)?.(message.result ?? {});
      this.#waiting.delete(message.id);
    });
  }

  /** Attaches to the Worker behind wrangler's inspector at `port`. */
  static async attach(port: number): Promise<Inspector> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) })).json()) as { id: string; webSocketDebuggerUrl: string }[];
    const target = targets[0];
    if (!target) throw new Error("no inspector target");
    // The inspector refuses connections without an Origin it trusts (DNS-rebinding protection).
    const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://127.0.0.1" } } as unknown as string[]);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("inspector connection timed out")), STEP_TIMEOUT_MS);
      ws.addEventListener("open", () => (clearTimeout(timer), resolve()), { once: true });
      ws.addEventListener("error", () => (clearTimeout(timer), reject(new Error("inspector connection failed"))), { once: true });
    });
    return new Inspector(ws, target.id);
  }

  /** The heap in use after a full collection. */
  async heapAfterGc(): Promise<HeapReading> {
    await this.#call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    const usage = await this.#call("Runtime.getHeapUsage");
    return { mib: Math.round((Number(usage.usedSize) / 1024 / 1024) * 10) / 10, target: this.target };
  }

  close(): void {
    this.#ws.close();
  }

  #call(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const id = ++this.#next;
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`${method}: no answer within ${STEP_TIMEOUT_MS} ms`));
      }, STEP_TIMEOUT_MS);
      this.#waiting.set(id, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }
}
