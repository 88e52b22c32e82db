/**
 * Context injection (issue 4) and trace continuation: a backend configured with `inject` receives
 * the tenant, the principal, the client's request id and a W3C traceparent that continues the
 * client's trace, as headers and in `_meta`; a backend without it receives none of them.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startDemoBackend, type RunningServer } from "../support/processes.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { jwtAuth, testSigner, type TestSigner } from "../support/auth.ts";

let notes: RunningServer;
let gateway: RunningGateway;
let signer: TestSigner;

const CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

beforeAll(async () => {
  notes = await startDemoBackend("notes");
  gateway = await startGateway();
  signer = await testSigner();
  for (const [id, inject] of [["ctx-on", { headers: true, meta: true }], ["ctx-off", { headers: false, meta: false }]] as const) {
    await gateway.putTenant({ id, backends: [{ name: "notes", url: notes.url, inject }], auth: jwtAuth(signer, gateway.mcpUrl(id)) });
  }
});

afterAll(async () => {
  await Promise.allSettled([gateway?.stop(), notes?.stop()]);
});

/** initialize, then one whoami call carrying the client's traceparent; returns what the backend saw. */
async function whoami(tenant: string): Promise<Record<string, unknown>> {
  const url = gateway.mcpUrl(tenant);
  const auth = { authorization: `Bearer ${await signer.token({ sub: "carol", audience: url })}` };
  const headers = { ...auth, "content-type": "application/json", accept: "application/json, text/event-stream" };
  const init = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "ctx", version: "1" } } }),
  });
  const session = init.headers.get("mcp-session-id")!;
  const call = await fetch(url, {
    method: "POST",
    headers: { ...headers, "mcp-session-id": session, traceparent: `00-${CLIENT_TRACE}-00f067aa0ba902b7-01` },
    body: JSON.stringify({ jsonrpc: "2.0", id: "call-42", method: "tools/call", params: { name: "notes__whoami", arguments: {} } }),
  });
  const body = await call.text();
  // A reply that is only the response may come back as JSON; otherwise it is an SSE stream.
  const sse = (call.headers.get("content-type") ?? "").startsWith("text/event-stream");
  const data = sse ? body.split("\n").find((line) => line.startsWith("data: {") && line.includes('"call-42"'))!.slice(6) : body;
  const message = JSON.parse(data) as { result: { content: { text: string }[] } };
  return JSON.parse(message.result.content[0]!.text) as Record<string, unknown>;
}

it("injects tenant, principal, request id and a continued trace into headers and _meta", async () => {
  const seen = await whoami("ctx-on");
  expect(seen["x-mcp-tenant"]).toBe("ctx-on");
  expect(seen["x-mcp-principal"]).toBe("carol");
  expect(seen["x-request-id"]).toBe("call-42");
  // Same trace id as the client's, a new span id for the gateway's hop (W3C Trace Context §3.2).
  expect(seen.traceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-01$`));
  expect(seen.traceparent).not.toBe(`00-${CLIENT_TRACE}-00f067aa0ba902b7-01`);
  expect(seen["_meta.context"]).toEqual({ tenant: "ctx-on", principal: "carol", requestId: "call-42", traceparent: seen.traceparent });
  expect(seen["_meta.traceparent"]).toBe(seen.traceparent);
  expect(seen.authorization).toBeUndefined();
});

it("injects nothing but the trace context into a backend that did not ask for context", async () => {
  const seen = await whoami("ctx-off");
  // Trace context always travels (worker/observe/trace.ts): the header and _meta.traceparent, one span.
  expect(seen).toEqual({ traceparent: expect.stringMatching(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-01$`)), "_meta.traceparent": seen.traceparent });
});
