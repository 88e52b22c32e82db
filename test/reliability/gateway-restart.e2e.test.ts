/**
 * Gateway faults, for real (issue 7): workerd (`wrangler dev`) killed in the middle of a streamed
 * call and started again on the same local state, with the client resuming its stream with
 * `Last-Event-ID`.
 *
 * - Every event logged before the kill is delivered exactly once: the sequence numbers the
 *   client holds after the resume are 1..n with no gap and no repeat.
 * - The call that died with the process ends with a clear JSON-RPC error on that stream, instead
 *   of leaving the client waiting for a response that can never come.
 * - The session goes on: calls after the restart work.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startDemoBackend, type RunningServer } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";
import { McpClient, responseTo, textOf, type Message } from "./client.ts";
import { EventReader, messagesOf, seqOf, type Event } from "./sse.ts";

let weather: RunningServer;
let gateway: RunningGateway;
let signer: TestSigner;
let port: number;
let state: string;
const TENANT = "restart";

beforeAll(async () => {
  weather = await startDemoBackend("weather");
  port = await freePort();
  state = mkdtempSync(join(tmpdir(), "gateway-reliability-restart-"));
  gateway = await startGateway({ port, persistTo: state });
  signer = await testSigner();
  await gateway.putTenant({ id: TENANT, backends: [{ name: "weather", url: weather.url, timeoutMs: 10_000 }], auth: jwtAuth(signer, gateway.mcpUrl(TENANT)) });
});

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), weather?.stop()]);
  if (state) rmSync(state, { recursive: true, force: true });
});

async function client(): Promise<McpClient> {
  const c = new McpClient(gateway.mcpUrl(TENANT), await signer.token({ sub: "dora", audience: gateway.mcpUrl(TENANT) }));
  await c.initialize();
  return c;
}

function expectExactlyOnce(events: Event[]): void {
  const seqs = events.map(seqOf);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + (seqs[0] ?? 0)));
}

describe("workerd restarted in the middle of a streamed call", () => {
  it("the resume delivers every logged event exactly once and ends the interrupted call with a clear error; the session goes on", async () => {
    const c = await client();
    const res = await c.post({ jsonrpc: "2.0", id: "storm", method: "tools/call", params: { name: "weather__watch_storm", arguments: { steps: 200, intervalMs: 50 }, _meta: { progressToken: "p" } } });
    const reader = new EventReader(res.body!);
    const seen: Event[] = [];
    while (seen.filter((e) => e.data !== "").length < 3) seen.push((await reader.next())!);
    expect(seqOf(seen[0]!)).toBe(0); // the priming event

    // Kill workerd mid-stream, then start it again on the same state.
    await gateway.stop();
    await reader.cancel();
    gateway = await startGateway({ port, persistTo: state, adminToken: gateway.adminToken });

    const last = seen.at(-1)!;
    const resumed = await c.listen(last.id);
    expect(resumed.status).toBe(200);
    const rest = await new EventReader(resumed.body!).rest();
    const all = [...seen.slice(1), ...rest];
    expectExactlyOnce(all);
    expect(seqOf(all[0]!)).toBe(1);
    const messages = messagesOf(all) as Message[];
    const progress = messages.filter((m) => m.method === "notifications/progress").map((m) => m.params!.progress);
    expect(progress).toEqual(Array.from({ length: progress.length }, (_, i) => i + 1));
    // The call could not survive the process: it ends with an error, once, as the last event.
    const answer = messages.at(-1)!;
    expect(answer.id).toBe("storm");
    expect(answer.error).toEqual({ code: -32000, message: expect.stringMatching(/^Backend unavailable/) as unknown as string });
    expect(messages.filter((m) => m.id === "storm")).toHaveLength(1);
    console.info(JSON.stringify({ figures: "gateway-restart", receivedBeforeKill: seen.length - 1, deliveredOnResume: rest.length, events: all.length, progress: progress.length, lost: 0, duplicated: all.length - new Set(all.map(seqOf)).size }));

    // A second resume from the start replays the same events, and the stream stays ended.
    const again = await new EventReader((await c.listen(seen[0]!.id)).body!).rest();
    expect(again.map((e) => e.data)).toEqual(all.map((e) => e.data));

    // The session goes on.
    const call = await c.request({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "weather__get_forecast", arguments: { city: "Oslo", days: 1 } } });
    expect(textOf(responseTo(call.messages, 9))).toContain("Forecast for Oslo");
  });
});
