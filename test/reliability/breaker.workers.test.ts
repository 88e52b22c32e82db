/**
 * The circuit breaker's state machine (durable-objects/session/breaker.ts) on a fake clock.
 * backend-faults.workers.test.ts shows the same breaker at work inside real sessions.
 */
import { describe, expect, it } from "vitest";
import { Breaker, Breakers, BREAKER_COOL_DOWN_MS, BREAKER_FAILURE_THRESHOLD, BREAKER_MAX_COOL_DOWN_MS } from "../../worker/engine/breaker.ts";
import { UpstreamError } from "../../worker/upstream/errors.ts";
import type { JsonRpcMessage } from "../../worker/protocol/jsonrpc.ts";
import type { Upstream, UpstreamInfo } from "../../worker/upstream/types.ts";

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const live = new AbortController().signal;
const fail = (kind: ConstructorParameters<typeof UpstreamError>[0] = "unreachable", status?: number) => () =>
  Promise.reject(new UpstreamError(kind, "b", "down", status));
const ok = () => Promise.resolve("ok");

async function failTimes(breaker: Breaker, n: number, attempt = fail()): Promise<void> {
  for (let i = 0; i < n; i++) await expect(breaker.run("b", live, attempt)).rejects.toBeInstanceOf(UpstreamError);
}

async function isSkipped(breaker: Breaker): Promise<boolean> {
  let called = false;
  try {
    await breaker.run("b", live, async () => {
      called = true;
      return "x";
    });
  } catch (error) {
    if (error instanceof UpstreamError && error.kind === "circuit_open") return !called;
  }
  return false;
}

describe("the circuit breaker", () => {
  it("opens after BREAKER_FAILURE_THRESHOLD consecutive failures, not before", async () => {
    const c = clock();
    const breaker = new Breaker(c.now);
    await failTimes(breaker, BREAKER_FAILURE_THRESHOLD - 1);
    expect(breaker.state).toBe("closed");
    await failTimes(breaker, 1);
    expect(breaker.state).toBe("open");
    expect(await isSkipped(breaker)).toBe(true);
  });

  it("a success in between resets the count", async () => {
    const breaker = new Breaker(clock().now);
    await failTimes(breaker, BREAKER_FAILURE_THRESHOLD - 1);
    await breaker.run("b", live, ok);
    await failTimes(breaker, BREAKER_FAILURE_THRESHOLD - 1);
    expect(breaker.state).toBe("closed");
  });

  it("after the cool-down lets exactly one probe through; its success closes the breaker", async () => {
    const c = clock();
    const breaker = new Breaker(c.now);
    await failTimes(breaker, BREAKER_FAILURE_THRESHOLD);
    c.advance(BREAKER_COOL_DOWN_MS - 1);
    expect(await isSkipped(breaker)).toBe(true);
    c.advance(1);
    expect(breaker.state).toBe("half-open");
    let release!: (value: string) => void;
    const probe = breaker.run("b", live, () => new Promise<string>((resolve) => (release = resolve)));
    // While the probe is out, everything else is still skipped.
    expect(await isSkipped(breaker)).toBe(true);
    release("ok");
    await probe;
    expect(breaker.state).toBe("closed");
    await expect(breaker.run("b", live, ok)).resolves.toBe("ok");
  });

  it("a failed probe opens it again for twice as long, up to BREAKER_MAX_COOL_DOWN_MS", async () => {
    const c = clock();
    const breaker = new Breaker(c.now);
    await failTimes(breaker, BREAKER_FAILURE_THRESHOLD);
    let coolDown = BREAKER_COOL_DOWN_MS;
    const seen: number[] = [];
    for (let round = 0; round < 6; round++) {
      c.advance(coolDown);
      await failTimes(breaker, 1); // the probe fails
      coolDown = Math.min(coolDown * 2, BREAKER_MAX_COOL_DOWN_MS);
      c.advance(coolDown - 1);
      expect(await isSkipped(breaker)).toBe(true);
      c.advance(1);
      expect(breaker.state).toBe("half-open");
      c.advance(-coolDown);
      seen.push(coolDown);
    }
    expect(seen).toEqual([60_000, 120_000, 240_000, 300_000, 300_000, 300_000]);
  });

  it("what counts as a failure: unreachable, timeout, garbage, 5xx and 429, and the fan-out deadline", async () => {
    for (const attempt of [fail("unreachable"), fail("timeout"), fail("bad_response"), fail("http_status", 502), fail("http_status", 429)]) {
      const breaker = new Breaker(clock().now);
      await failTimes(breaker, BREAKER_FAILURE_THRESHOLD, attempt);
      expect(breaker.state).toBe("open");
    }
    const breaker = new Breaker(clock().now);
    for (let i = 0; i < BREAKER_FAILURE_THRESHOLD; i++) {
      const deadline = new AbortController();
      deadline.abort(new UpstreamError("timeout", "b", "no answer within 1000 ms"));
      await expect(breaker.run("b", deadline.signal, fail("cancelled"))).rejects.toThrow();
    }
    expect(breaker.state).toBe("open");
  });

  it("what does not count: the client cancelling, an expired upstream session, a 4xx, a bug", async () => {
    const cancelled = new AbortController();
    cancelled.abort();
    const cases: [AbortSignal, () => Promise<string>][] = [
      [cancelled.signal, fail("cancelled")],
      [live, fail("session_expired", 404)],
      [live, fail("http_status", 401)],
      [live, () => Promise.reject(new TypeError("a bug"))],
    ];
    for (const [signal, attempt] of cases) {
      const breaker = new Breaker(clock().now);
      for (let i = 0; i < BREAKER_FAILURE_THRESHOLD * 2; i++) await expect(breaker.run("b", signal, attempt)).rejects.toThrow();
      expect(breaker.state).toBe("closed");
    }
  });

  it("a stream that delivered a message counts as a success even when its consumer stops early", async () => {
    const breaker = new Breaker(clock().now);
    await failTimes(breaker, BREAKER_FAILURE_THRESHOLD - 1);
    async function* twoMessages() {
      yield 1;
      yield 2;
    }
    for await (const _ of breaker.stream("b", live, twoMessages)) break;
    await failTimes(breaker, BREAKER_FAILURE_THRESHOLD - 1);
    expect(breaker.state).toBe("closed");
  });

  it("a stream that breaks after a message still counts as a failure", async () => {
    const breaker = new Breaker(clock().now);
    async function* breaks() {
      yield 1;
      throw new UpstreamError("unreachable", "b", "stream broke");
    }
    for (let i = 0; i < BREAKER_FAILURE_THRESHOLD; i++) {
      await expect((async () => {
        for await (const _ of breaker.stream("b", live, breaks));
      })()).rejects.toThrow("stream broke");
    }
    expect(breaker.state).toBe("open");
  });
});

describe("the breakers of a session", () => {
  it("one per backend entry: a changed entry starts closed, an unchanged one keeps its state", async () => {
    const c = clock();
    const breakers = new Breakers(c.now);
    await failTimes(breakers.for("crm", "v1"), BREAKER_FAILURE_THRESHOLD);
    expect(breakers.for("crm", "v1").state).toBe("open");
    expect(breakers.for("other", "v1").state).toBe("closed");
    expect(breakers.for("crm", "v2").state).toBe("closed");
  });

  it("guard keeps the upstream itself (class, getters, other methods) and guards initialize and request", async () => {
    class Fake implements Upstream {
      readonly backend = "crm";
      calls = 0;
      get info(): UpstreamInfo | null {
        return null;
      }
      async initialize(_params: Record<string, unknown>, _signal: AbortSignal): Promise<UpstreamInfo> {
        this.calls++;
        throw new UpstreamError("unreachable", "crm", "down");
      }
      async *request(_message: JsonRpcMessage, _signal: AbortSignal): AsyncIterable<JsonRpcMessage> {
        this.calls++;
        throw new UpstreamError("unreachable", "crm", "down");
      }
      async send(): Promise<void> {}
      async listen(): Promise<null> {
        return null;
      }
      async terminate(): Promise<void> {}
      extra(): string {
        return "still here";
      }
    }
    const fake = new Fake();
    const guarded = new Breakers(clock().now).guard("crm", "v1", fake);
    expect(guarded).toBe(fake);
    expect(guarded).toBeInstanceOf(Fake);
    expect(guarded.extra()).toBe("still here");
    await expect(guarded.initialize({}, live)).rejects.toThrow("down");
    const request = () => guarded.request({ jsonrpc: "2.0", id: 1, method: "ping" }, live)[Symbol.asyncIterator]().next();
    for (let i = 1; i < BREAKER_FAILURE_THRESHOLD; i++) await expect(request()).rejects.toThrow("down");
    await expect(request()).rejects.toMatchObject({ kind: "circuit_open" });
    expect(fake.calls).toBe(BREAKER_FAILURE_THRESHOLD);
  });
});
