/**
 * The gateway's JavaScript heap through wrangler's DevTools inspector (Chrome DevTools Protocol):
 * the size in use right after a full garbage collection, the one memory figure a leak must move.
 * A heap snapshot forces that collection (V8 collects before it walks the heap); the snapshot
 * itself is read and dropped.
 */

/** Heap in use after a full collection, in MiB, of the Worker behind the inspector at `port`. */
export async function heapAfterGcMiB(port: number): Promise<number> {
  // wrangler replaces its inspector target when it reloads the Worker: look it up again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await measure(port);
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
  }
}

async function measure(port: number): Promise<number> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error("no inspector target");
  // The inspector refuses connections without an Origin it trusts (DNS-rebinding protection).
  const ws = new WebSocket(url, { headers: { origin: "http://127.0.0.1" } } as unknown as string[]);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("inspector connection failed")), { once: true });
  });
  let next = 0;
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => reject(new Error(`${method}: no answer`)), 120_000);
      const onMessage = (event: MessageEvent) => {
        const message = JSON.parse(String(event.data)) as { id?: number; result?: Record<string, unknown> };
        if (message.id !== id) return; // snapshot chunks and other events
        clearTimeout(timer);
        ws.removeEventListener("message", onMessage);
        resolve(message.result ?? {});
      };
      ws.addEventListener("message", onMessage);
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    const usage = await call("Runtime.getHeapUsage");
    return Math.round((Number(usage.usedSize) / 1024 / 1024) * 10) / 10;
  } finally {
    ws.close();
  }
}
