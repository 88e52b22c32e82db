/**
 * Isolation (issue 7): SESSIONS concurrent sessions across two tenants, every one of them using
 * the same JSON-RPC ids (1, 2, 3, ...) and the same progress tokens, each making ROUNDS rounds of
 * two concurrent streamed calls:
 *
 *   - weather's `watch_storm` with a step count unique to the session, so every progress
 *     notification (`total`) and the result text name the session;
 *   - the fault server's `progress` tool with the session's marker (tenant, session, round),
 *     which it echoes in every notification and in the result.
 *
 * Every message on every stream is checked: the right token, the right session's marker, progress
 * in order and complete, the response under the right id. Zero misdelivered messages is the bar.
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import { backend, connect, createTenant, readReply, text, token, type RpcMessage, type Session } from "../workers/helpers.ts";
import { faultBackend } from "./faults.ts";

const SESSIONS = 52;
const ROUNDS = 4;
const MARK_STEPS = 5;
/** The same in every session: client ids and progress tokens collide everywhere on purpose. */
const STORM_TOKEN = "tok";
const MARK_TOKEN = 7;

interface Client {
  session: Session;
  tenant: string;
  index: number;
  /** watch_storm steps: unique per session, so `total` identifies it. */
  steps: number;
}

let clients: Client[] = [];

beforeAll(async () => {
  const mark = faultBackend(inject("faultOrigin"));
  const tenants = await Promise.all(
    ["iso-a", "iso-b"].map((prefix) => createTenant(prefix, { backends: [backend.weather(), mark.entry("mark", { timeoutMs: 10_000 })] })),
  );
  clients = await Promise.all(
    Array.from({ length: SESSIONS }, async (_, index) => {
      const tenant = tenants[index % 2]!.id;
      // Two principals per tenant as well.
      const session = await connect(tenant, { token: await token(tenant, { sub: index % 4 < 2 ? "alice" : "bob" }) });
      return { session, tenant, index, steps: 3 + index };
    }),
  );
});

const figures = { sessions: 0, calls: 0, messages: 0, progress: 0, misdelivered: 0 };

/** Every way a message can be wrong for this client and call; empty when it is right. */
function problems(client: Client, messages: RpcMessage[], id: number, kind: "storm" | "mark", marker: string): string[] {
  const found: string[] = [];
  const progress = messages.filter((m) => m.method === "notifications/progress");
  const others = messages.filter((m) => m.method !== "notifications/progress");
  figures.messages += messages.length;
  figures.progress += progress.length;
  const expectedSteps = kind === "storm" ? client.steps : MARK_STEPS;
  progress.forEach((m, i) => {
    const p = m.params!;
    if (p.progressToken !== (kind === "storm" ? STORM_TOKEN : MARK_TOKEN)) found.push(`progress with token ${JSON.stringify(p.progressToken)}`);
    if (p.total !== expectedSteps) found.push(`progress of another session (total ${String(p.total)}, want ${expectedSteps})`);
    if (p.progress !== i + 1) found.push(`progress out of order (${String(p.progress)} at ${i + 1})`);
    if (kind === "storm" && p.message !== `storm step ${i + 1}/${expectedSteps}`) found.push(`storm message ${String(p.message)}`);
    if (kind === "mark" && p.message !== marker) found.push(`marker ${String(p.message)}, want ${marker}`);
  });
  if (progress.length !== expectedSteps) found.push(`${progress.length} progress notifications, want ${expectedSteps}`);
  if (others.length !== 1) found.push(`${others.length} other messages: ${JSON.stringify(others).slice(0, 200)}`);
  const response = others[0];
  if (response?.id !== id) found.push(`response id ${JSON.stringify(response?.id)}, want ${id}`);
  const want = kind === "storm" ? `Storm watch finished after ${expectedSteps} steps.` : marker;
  if (!response?.result || text(response.result) !== want) found.push(`result ${JSON.stringify(response?.result ?? response?.error).slice(0, 120)}, want ${want}`);
  figures.misdelivered += found.length;
  return found;
}

async function round(client: Client, r: number): Promise<string[]> {
  const stormId = 2 * r + 1;
  const markId = 2 * r + 2;
  const marker = `${client.tenant}/session-${client.index}/round-${r}`;
  const [storm, mark] = await Promise.all([
    client.session.post({ jsonrpc: "2.0", id: stormId, method: "tools/call", params: { name: "weather__watch_storm", arguments: { steps: client.steps, intervalMs: 1 }, _meta: { progressToken: STORM_TOKEN } } }).then(readReply),
    client.session.post({ jsonrpc: "2.0", id: markId, method: "tools/call", params: { name: "mark__progress", arguments: { marker, steps: MARK_STEPS, intervalMs: 2 }, _meta: { progressToken: MARK_TOKEN } } }).then(readReply),
  ]);
  figures.calls += 2;
  return [...problems(client, storm.messages, stormId, "storm", marker), ...problems(client, mark.messages, markId, "mark", marker)].map((p) => `session ${client.index} round ${r}: ${p}`);
}

describe("isolation under concurrency", () => {
  it(`${SESSIONS} sessions on 2 tenants, same ids and tokens, ${ROUNDS} rounds of 2 streamed calls each: nothing reaches the wrong session, tenant or request`, { timeout: 180_000 }, async () => {
    expect(new Set(clients.map((c) => c.tenant)).size).toBe(2);
    const all = await Promise.all(
      clients.map(async (client) => {
        const found: string[] = [];
        for (let r = 0; r < ROUNDS; r++) found.push(...(await round(client, r)));
        return found;
      }),
    );
    figures.sessions = clients.length;
    const misdelivered = all.flat();
    expect(misdelivered).toEqual([]);
    expect(figures.calls).toBe(SESSIONS * ROUNDS * 2);
    console.info(JSON.stringify({ figures: "isolation", ...figures }));
  });

  it("a session id used by another principal or under another tenant finds nothing", async () => {
    const [a, b] = [clients[0]!, clients[1]!]; // alice's sessions on the two tenants
    expect(a.tenant).not.toBe(b.tenant);
    const stolen = await a.session.post({ jsonrpc: "2.0", id: 1, method: "ping" }, { token: await token(a.tenant, { sub: "bob" }), session: a.session.id });
    expect(stolen.status).toBe(404);
    const crossTenant = await b.session.post({ jsonrpc: "2.0", id: 1, method: "ping" }, { session: a.session.id });
    expect(crossTenant.status).toBe(404);
  });
});
