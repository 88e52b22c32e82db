/**
 * Backend faults (issue 7): next to a healthy backend, one that refuses connections, hangs,
 * answers 500, answers garbage, drops its SSE stream mid-response, or is slow.
 *
 * - The session keeps working: the healthy backend answers throughout.
 * - Merged lists come back without the failing backend (bounded by its timeoutMs; waits here are
 *   only bounded generously, never timed) and say which one is missing and why.
 * - Calls to it, including calls already streaming, end with a clear JSON-RPC error
 *   ("Backend unavailable" / "Backend timed out"), never with the backend's own words.
 * - The circuit breaker (durable-objects/session/breaker.ts): after BREAKER_FAILURE_THRESHOLD
 *   consecutive failures the backend is skipped, with zero requests reaching it, until the
 *   cool-down passes and one probe goes through.
 *
 * The faulty backends are faultServer.ts, on 127.0.0.1, started by this folder's globalSetup.
 */
import { inject, describe, expect, it, vi, afterAll, afterEach } from "vitest";
import { ADMIN_TOKEN, ORIGIN, connect, createTenant, gateway, names, putTenant, SseReader, text, type RpcMessage, type Session } from "../workers/helpers.ts";
import { BREAKER_COOL_DOWN_MS, BREAKER_FAILURE_THRESHOLD } from "../../worker/engine/breaker.ts";
import { faultBackend, type FaultBackend, type FaultMode } from "./faults.ts";
import { leakedInternals, within } from "./support.ts";

/** Every wait is bounded by this: far above any timeoutMs below, far below a hung test. */
const BOUND_MS = 20_000;
const BAD_TIMEOUT_MS = 1_000;

afterEach(() => {
  vi.useRealTimers();
});

/** What the suite did, printed as its figures line (docs/reliability.md). */
const figures = { faultsInjected: 0, lists: 0, listsWithoutFailing: 0, badCalls: 0, badCallErrors: 0, goodCalls: 0, leaks: 0 };

afterAll(() => {
  console.info(JSON.stringify({ figures: "backend-faults", ...figures }));
});

/** Switches the bad backend into a fault (counted) or back to "ok". */
async function setFault(bad: FaultBackend, mode: FaultMode, slowMs?: number): Promise<void> {
  if (mode !== "ok") figures.faultsInjected++;
  await bad.setMode(mode, slowMs);
}

interface Setup {
  tenant: string;
  good: FaultBackend;
  bad: FaultBackend;
}

/** A tenant with a healthy backend "good" and one "bad" whose faults the test switches. */
async function setup(prefix: string, badEntry?: { name: string; url: string; timeoutMs: number }): Promise<Setup> {
  const origin = inject("faultOrigin");
  const good = faultBackend(origin);
  const bad = faultBackend(origin);
  const tenant = await createTenant(prefix, { backends: [good.entry("good", { timeoutMs: 5_000 }), badEntry ?? bad.entry("bad", { timeoutMs: BAD_TIMEOUT_MS })] });
  return { tenant: tenant.id, good, bad };
}

function warningsOf(messages: RpcMessage[]): { backend: string; reason: string }[] {
  return messages
    .filter((m) => m.method === "notifications/message")
    .map((m) => m.params!.data as { backend: string; reason: string });
}

async function listTools(session: Session): Promise<{ tools: string[]; warnings: { backend: string; reason: string }[] }> {
  const { response, messages, reply } = await within(BOUND_MS, "tools/list", session.request("tools/list"));
  const leaked = leakedInternals(JSON.stringify(reply.messages));
  figures.leaks += leaked.length;
  expect(leaked).toEqual([]);
  const tools = names(response.result!.tools);
  figures.lists++;
  if (!tools.some((t) => t.startsWith("bad__"))) figures.listsWithoutFailing++;
  return { tools, warnings: warningsOf(messages) };
}

async function callBad(session: Session, marker: string): Promise<RpcMessage> {
  const { response, reply } = await within(BOUND_MS, "tools/call bad__echo", session.request("tools/call", { name: "bad__echo", arguments: { marker } }));
  const leaked = leakedInternals(JSON.stringify(reply.messages));
  figures.leaks += leaked.length;
  expect(leaked).toEqual([]);
  figures.badCalls++;
  if (response.error) figures.badCallErrors++;
  return response;
}

async function expectGoodWorks(session: Session, marker: string): Promise<void> {
  const result = await within(BOUND_MS, "tools/call good__echo", session.callTool("good__echo", { marker }));
  expect(JSON.parse(text(result))).toEqual({ marker });
  figures.goodCalls++;
}

/** Expected reason in the fail-open warning, per fault. */
const FAULTS: { mode: FaultMode; slowMs?: number; reason: RegExp; error: string }[] = [
  { mode: "refuse", reason: /^unreachable$/, error: "Backend unavailable" },
  { mode: "hang", reason: /^timeout$/, error: "Backend timed out" },
  { mode: "error500", reason: /^http_500$/, error: "Backend unavailable" },
  { mode: "garbage", reason: /^bad_response$/, error: "Backend unavailable" },
  { mode: "drop", reason: /^(unreachable|bad_response)$/, error: "Backend unavailable" },
  { mode: "slow", slowMs: 3 * BAD_TIMEOUT_MS, reason: /^timeout$/, error: "Backend timed out" },
];

describe("a new session next to a failing backend", () => {
  it("a backend on a closed port: initialize succeeds, the merged list comes back without it, with a warning", async () => {
    const { tenant, good } = await setup("faults-closed", { name: "bad", url: inject("closedUrl"), timeoutMs: BAD_TIMEOUT_MS });
    const session = await within(BOUND_MS, "initialize", connect(tenant));
    const { tools, warnings } = await listTools(session);
    expect(tools).toEqual(["good__echo", "good__progress"]);
    expect(warnings).toEqual([expect.objectContaining({ backend: "bad", reason: "unreachable" })]);
    await expectGoodWorks(session, "closed-port");
    expect((await good.rpcMethods()).filter((m) => m === "tools/call")).toHaveLength(1);
  });

  it.each(FAULTS)("a backend that is $mode: the merged list comes back without it, and the session goes on", async ({ mode, slowMs, reason }) => {
    const { tenant, bad } = await setup(`faults-new-${mode}`);
    await setFault(bad, mode, slowMs);
    const session = await within(BOUND_MS, "initialize", connect(tenant));
    const first = await listTools(session);
    expect(first.tools).toEqual(["good__echo", "good__progress"]);
    expect(first.warnings).toHaveLength(1);
    expect(first.warnings[0]!.backend).toBe("bad");
    expect(first.warnings[0]!.reason).toMatch(reason);
    await expectGoodWorks(session, `new-${mode}`);
    // The backend recovers: the next list that asks it has its items again.
    await setFault(bad, "ok");
    await retouch(tenant); // a new version drops the session's cached lists
    const again = await listTools(session);
    // Two failures (initialize, the first list) are below the breaker's threshold, so it is asked.
    expect(BREAKER_FAILURE_THRESHOLD).toBeGreaterThan(2);
    expect(again.tools).toEqual(["good__echo", "good__progress", "bad__echo", "bad__progress"]);
    expect(again.warnings).toEqual([]);
  });
});

/** Writes the tenant's document again (with `patch`): a new version, same backend entries. */
async function retouch(tenant: string, patch: Record<string, unknown> = {}): Promise<void> {
  const res = await gateway(`${ORIGIN}/admin/tenants/${tenant}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  await putTenant(tenant, { ...((await res.json()) as object), ...patch });
}

describe("a backend that fails in the middle of a session", () => {
  it.each(FAULTS)("$mode: calls end with a clear error, the breaker opens after the threshold and stops calling it", async ({ mode, slowMs, error }) => {
    const { tenant, bad } = await setup(`faults-mid-${mode}`);
    const session = await connect(tenant);
    expect((await listTools(session)).tools).toHaveLength(4);
    await setFault(bad, mode, slowMs);

    for (let i = 0; i < BREAKER_FAILURE_THRESHOLD; i++) {
      const response = await callBad(session, `attempt-${i}`);
      expect(response.error).toEqual({ code: -32000, message: error });
      await expectGoodWorks(session, `between-${i}`);
    }
    const reached = (await bad.requests()).length;
    // Open: the next calls fail at once with "Backend unavailable", and nothing reaches the backend.
    for (let i = 0; i < 5; i++) {
      const response = await callBad(session, `skipped-${i}`);
      expect(response.error).toEqual({ code: -32000, message: "Backend unavailable" });
    }
    expect((await bad.requests()).length).toBe(reached);
    await expectGoodWorks(session, "after");
  });

  it("a call already streaming from a backend that drops the connection ends with a clear error after the progress it sent", async () => {
    const { tenant, bad } = await setup("faults-inflight-drop");
    const session = await connect(tenant);
    await listTools(session);
    const res = await session.post({ jsonrpc: "2.0", id: 41, method: "tools/call", params: { name: "bad__progress", arguments: { marker: "m", steps: 200, intervalMs: 20 }, _meta: { progressToken: "tok" } } });
    const reader = new SseReader(res.body!);
    const first = await reader.nextMessage();
    expect(first?.method).toBe("notifications/progress");
    await setFault(bad, "drop");
    const rest: RpcMessage[] = [];
    for (;;) {
      const message = await reader.nextMessage(BOUND_MS);
      if (message === null) break;
      rest.push(message);
    }
    const response = rest.at(-1)!;
    expect(response.id).toBe(41);
    expect(response.error).toEqual({ code: -32000, message: "Backend unavailable" });
    expect(rest.slice(0, -1).every((m) => m.method === "notifications/progress" && m.params!.message === "m")).toBe(true);
    await expectGoodWorks(session, "after-drop");
  });

  it("a call already streaming from a backend that stalls ends with 'Backend timed out' after its idle timeout", async () => {
    const { tenant, bad } = await setup("faults-inflight-hang");
    const session = await connect(tenant);
    await listTools(session);
    const res = await session.post({ jsonrpc: "2.0", id: 42, method: "tools/call", params: { name: "bad__progress", arguments: { marker: "h", steps: 200, intervalMs: 20 }, _meta: { progressToken: 7 } } });
    const reader = new SseReader(res.body!);
    expect((await reader.nextMessage())?.params?.progressToken).toBe(7);
    await setFault(bad, "hang");
    let last: RpcMessage | null = null;
    for (;;) {
      const message = await reader.nextMessage(BOUND_MS);
      if (message === null) break;
      last = message;
    }
    expect(last?.id).toBe(42);
    expect(last?.error).toEqual({ code: -32000, message: "Backend timed out" });
    await expectGoodWorks(session, "after-stall");
  });

  it("a slow backend within its timeout is no failure: it is listed and called, and the breaker stays closed", async () => {
    const { tenant, bad } = await setup("faults-slow-ok");
    await setFault(bad, "slow", BAD_TIMEOUT_MS / 4);
    const session = await connect(tenant);
    expect((await listTools(session)).tools).toHaveLength(4);
    for (let i = 0; i < BREAKER_FAILURE_THRESHOLD + 2; i++) {
      const response = await callBad(session, `slow-${i}`);
      expect(JSON.parse(text(response.result!))).toEqual({ marker: `slow-${i}` });
    }
  });
});

describe("the circuit breaker", () => {
  it("skips a dead backend in lists without calling it, probes after the cool-down, and closes when the probe succeeds", async () => {
    const { tenant, bad } = await setup("faults-breaker");
    const session = await connect(tenant);
    expect((await listTools(session)).tools).toHaveLength(4);
    await setFault(bad, "error500");
    for (let i = 0; i < BREAKER_FAILURE_THRESHOLD; i++) expect((await callBad(session, `fail-${i}`)).error?.message).toBe("Backend unavailable");
    const reached = (await bad.requests()).length;
    expect((await callBad(session, "open")).error?.message).toBe("Backend unavailable");

    // A new tenant version drops the session's cached lists (the backend entry is unchanged, so
    // its breaker is kept): the merged list leaves the open backend out without asking it.
    await retouch(tenant, { limits: { pageSize: 400 } });
    const open = await listTools(session);
    expect(open.tools).toEqual(["good__echo", "good__progress"]);
    expect(open.warnings).toEqual([expect.objectContaining({ backend: "bad", reason: "circuit_open" })]);

    // The backend recovers, but nobody asks it until the cool-down has passed; meanwhile its
    // tools are not listed, so a call to one reads like a call to any tool not listed.
    await setFault(bad, "ok");
    expect((await callBad(session, "still-open")).error?.message).toBe("Unknown tool: bad__echo");
    expect((await bad.requests()).length).toBe(reached);

    // After the cool-down (the clock is moved, not waited for) one probe goes through (the
    // tools/list the call needs to find its tool) and closes the breaker.
    vi.setSystemTime(Date.now() + BREAKER_COOL_DOWN_MS + 1_000);
    const probe = await callBad(session, "probe");
    expect(JSON.parse(text(probe.result!))).toEqual({ marker: "probe" });
    expect((await bad.rpcMethods()).slice(-2)).toEqual(["tools/list", "tools/call"]);
    for (let i = 0; i < 3; i++) expect(JSON.parse(text((await callBad(session, `closed-${i}`)).result!))).toEqual({ marker: `closed-${i}` });
    expect((await bad.requests()).length).toBe(reached + 5);
    expect((await listTools(session)).tools).toHaveLength(4);
  });

  it("a failed probe opens the breaker again", async () => {
    const { tenant, bad } = await setup("faults-breaker-reopen");
    const session = await connect(tenant);
    await listTools(session);
    await setFault(bad, "error500");
    for (let i = 0; i < BREAKER_FAILURE_THRESHOLD; i++) await callBad(session, `fail-${i}`);
    vi.setSystemTime(Date.now() + BREAKER_COOL_DOWN_MS + 1_000);
    const before = (await bad.requests()).length;
    expect((await callBad(session, "probe")).error?.message).toBe("Backend unavailable");
    expect((await bad.requests()).length).toBe(before + 1); // the probe reached it
    for (let i = 0; i < 3; i++) expect((await callBad(session, `reopened-${i}`)).error?.message).toBe("Backend unavailable");
    expect((await bad.requests()).length).toBe(before + 1); // and nothing after it
  });

  it("every session has its own breaker: a new session asks the backend again", async () => {
    const { tenant, bad } = await setup("faults-breaker-scope");
    const first = await connect(tenant);
    await listTools(first);
    await setFault(bad, "error500");
    for (let i = 0; i < BREAKER_FAILURE_THRESHOLD + 1; i++) await callBad(first, `fail-${i}`);
    await setFault(bad, "ok");
    const second = await connect(tenant);
    expect((await listTools(second)).tools).toHaveLength(4);
    expect(JSON.parse(text((await callBad(second, "fresh")).result!))).toEqual({ marker: "fresh" });
  });
});
