/**
 * A backend's own stream (the legacy GET stream, or subscriptions/listen) is quiet most of the
 * time. It must outlive the backend's idle timeout, which bounds reply streams only: a listener
 * that gave up after the timeout would silently stop delivering list changes.
 */
import { expect, it } from "vitest";
import { backend, connect, createTenant, sleep, SseReader, type RpcMessage } from "./helpers.ts";

it("still delivers a backend's notification after a quiet spell longer than the backend's timeout", async () => {
  const tenant = (await createTenant("listen-idle", { backends: [backend.notes({ timeoutMs: 500 })] })).id;
  const listener = await connect(tenant);
  const writer = await connect(tenant);
  const reader = new SseReader((await listener.listen()).body!);
  expect((await reader.next())!.data).toBe("");
  // Longer than the backend's 500 ms timeout, with nothing on the stream.
  await sleep(1_500);
  let received: RpcMessage | null = null;
  for (let attempt = 0; attempt < 5 && received === null; attempt++) {
    await writer.callTool("notes__add_note", { title: `after the quiet ${attempt}`, body: "still listening" });
    try {
      received = await reader.nextMessage(1_000);
    } catch {
      received = null;
    }
  }
  expect(received).toEqual({ jsonrpc: "2.0", method: "notifications/resources/list_changed" });
  await reader.cancel();
});
