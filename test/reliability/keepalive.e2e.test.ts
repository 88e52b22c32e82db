/**
 * Regression (found by isolation.workers.test.ts): about one call in 300 failed with "Backend
 * unavailable" ("Network connection lost" inside workerd) when many sessions streamed at once.
 * workerd pools connections to a backend and reuses them; Node closes an idle keep-alive
 * connection after 5 s by default, and a request sent on a connection as it closes is lost. The
 * test and demo backends now keep idle connections until the client closes them
 * (examples/shared/http.ts, test/support/loopback.mjs for third-party servers, faultServer.ts).
 *
 * Shown on a raw socket: a second request on one connection, after it idled past Node's default.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startDemoBackend, startServerEverything, type RunningServer } from "../support/processes.ts";
import { startFaultServer, type FaultServer } from "./faultServer.ts";

/** Longer than Node's default server.keepAliveTimeout (5 s). */
const IDLE_MS = 6_000;

let weather: RunningServer;
let everything: RunningServer;
let faults: FaultServer;

beforeAll(async () => {
  [weather, everything, faults] = await Promise.all([startDemoBackend("weather"), startServerEverything(), startFaultServer()]);
});

afterAll(async () => {
  await Promise.allSettled([weather?.stop(), everything?.stop(), faults?.close()]);
});

/** Sends a request on the socket and resolves with the status line of the answer. */
function exchange(socket: Socket, host: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    const onData = (chunk: Buffer) => {
      data += chunk.toString("latin1");
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = data.slice(0, end);
      if (/transfer-encoding:\s*chunked/i.test(head)) {
        if (!data.endsWith("\r\n0\r\n\r\n")) return;
      } else if (data.length < end + 4 + Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)) {
        return;
      }
      socket.off("data", onData);
      socket.off("close", onClose);
      resolve(data.slice(0, data.indexOf("\r\n")));
    };
    const onClose = () => reject(new Error("the server closed the idle connection"));
    socket.on("data", onData);
    socket.once("close", onClose);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`);
  });
}

it.each([
  ["a demo backend (examples/shared/http.ts)", () => weather.url],
  ["a third-party server under the loopback preload (server-everything)", () => everything.url],
  ["the fault server", () => `${faults.origin}/k/keepalive/mcp`],
])("%s keeps an idle connection open past Node's 5 s default", { timeout: 30_000 }, async (_label, urlOf) => {
  const url = new URL(urlOf());
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  try {
    expect(await exchange(socket, url.host, url.pathname)).toMatch(/^HTTP\/1\.1 \d{3}/);
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    expect(await exchange(socket, url.host, url.pathname)).toMatch(/^HTTP\/1\.1 \d{3}/);
  } finally {
    socket.destroy();
  }
});
