/**
 * A circuit breaker per backend, per session: a backend that failed BREAKER_FAILURE_THRESHOLD
 * times in a row is not called again for a cool-down. Requests to it fail at once with
 * `circuit_open` (a call gets "Backend unavailable"; a fail-open list leaves the backend out and
 * says so, without calling it). After the cool-down one request is let through as a probe
 * (half-open): success closes the breaker, failure opens it again for twice as long, up to
 * BREAKER_MAX_COOL_DOWN_MS.
 *
 * What counts as a failure: the backend did not answer usefully. Connection errors, timeouts
 * (its own, or the fan-out deadline, which aborts with an UpstreamError "timeout" reason),
 * 5xx and 429 answers, garbage and streams that broke before the response. What does not count
 * either way: a cancellation by the client, an expired upstream session (re-initialized by
 * backends.ts), a 4xx other than 429 (the backend is up; its answer is about the request), a
 * tunnel with no connector (refused at once by its object, and to be used as soon as one
 * attaches: worker/upstream/tunnel.ts). Any
 * message received from the backend, or a completed exchange, counts as a success.
 *
 * Trade-off, per session rather than shared: the state lives in the session object's memory, so
 * it costs nothing per request (no RPC, no storage write) and one tenant's failures can never
 * switch off another tenant's backend, even one at the same URL. The price: each session learns
 * on its own, so a dead backend costs every live session BREAKER_FAILURE_THRESHOLD failed
 * attempts (each bounded by the backend's timeoutMs) and then one probe per cool-down, and an
 * evicted or restarted session starts closed. A breaker shared by all sessions of a tenant (a
 * Durable Object per tenant and backend) would learn once, at the cost of a round trip to that
 * object on every request, a single point every session of the tenant waits on, and state that
 * lags the truth by that round trip.
 */
import { UpstreamError } from "../upstream/errors.ts";
import type { Upstream } from "../upstream/types.ts";

/**
 * Consecutive failures that open the breaker. One failure can be a blip (a dropped connection,
 * a backend restarting); three in a row with no success between means it is down, and a session
 * pays at most three timeouts to find out.
 */
export const BREAKER_FAILURE_THRESHOLD = 3;
/**
 * First cool-down, in milliseconds: a dead backend costs a session one probe per 30 s instead of
 * one attempt per request, and a backend back from a restart is used again within half a minute.
 */
export const BREAKER_COOL_DOWN_MS = 30_000;
/**
 * Longest cool-down, in milliseconds: a failed probe doubles the cool-down up to this, so a
 * backend down for hours costs one probe per 5 min per session, yet recovers within 5 min.
 */
export const BREAKER_MAX_COOL_DOWN_MS = 5 * 60_000;

export type BreakerState = "closed" | "open" | "half-open";
type Outcome = "success" | "failure" | "neutral";
/** What an admitted attempt is: an ordinary one, or the single probe of a half-open breaker. */
type Ticket = "closed" | "probe";

export class Breaker {
  readonly #now: () => number;
  #failures = 0;
  /** When the breaker opened; null while closed. */
  #openedAt: number | null = null;
  #coolDownMs = BREAKER_COOL_DOWN_MS;
  #probing = false;

  constructor(now: () => number = () => Date.now()) {
    this.#now = now;
  }

  get state(): BreakerState {
    if (this.#openedAt === null) return "closed";
    return this.#now() - this.#openedAt >= this.#coolDownMs ? "half-open" : "open";
  }

  /** Admits an attempt, or throws `circuit_open` without calling the backend. */
  admit(backend: string): Ticket {
    const state = this.state;
    if (state === "closed") return "closed";
    if (state === "half-open" && !this.#probing) {
      this.#probing = true;
      return "probe";
    }
    const waitMs = Math.max(0, this.#openedAt! + this.#coolDownMs - this.#now());
    throw new UpstreamError("circuit_open", backend, `skipped after ${this.#failures} consecutive failures; next probe in ${waitMs} ms`);
  }

  settle(ticket: Ticket, outcome: Outcome): void {
    if (ticket === "probe") this.#probing = false;
    if (outcome === "success") {
      this.#failures = 0;
      this.#openedAt = null;
      this.#coolDownMs = BREAKER_COOL_DOWN_MS;
    } else if (outcome === "failure") {
      this.#failures++;
      if (ticket === "probe") {
        // The probe failed: open again, for longer.
        this.#coolDownMs = Math.min(this.#coolDownMs * 2, BREAKER_MAX_COOL_DOWN_MS);
        this.#openedAt = this.#now();
      } else if (this.#openedAt === null && this.#failures >= BREAKER_FAILURE_THRESHOLD) {
        this.#openedAt = this.#now();
      }
    }
    // neutral: nothing learned; a neutral probe frees the slot for the next attempt to probe.
  }

  /** Runs one attempt that settles as a promise. */
  async run<T>(backend: string, signal: AbortSignal, attempt: () => Promise<T>): Promise<T> {
    const ticket = this.admit(backend);
    try {
      const value = await attempt();
      this.settle(ticket, "success");
      return value;
    } catch (error) {
      this.settle(ticket, classify(error, signal));
      throw error;
    }
  }

  /** Runs one attempt that yields messages: any message, or a clean end, is a success. */
  async *stream<T>(backend: string, signal: AbortSignal, attempt: () => AsyncIterable<T>): AsyncGenerator<T> {
    const ticket = this.admit(backend);
    let outcome: Outcome = "neutral";
    let received = false;
    try {
      for await (const message of attempt()) {
        received = true;
        yield message;
      }
      outcome = "success";
    } catch (error) {
      outcome = classify(error, signal);
      throw error;
    } finally {
      // A consumer that stopped reading early did get an answer.
      this.settle(ticket, outcome === "neutral" && received ? "success" : outcome);
    }
  }
}

/** Whether an error says the backend is unwell (see the header for the rules). */
function classify(error: unknown, signal: AbortSignal): Outcome {
  let reason = error;
  if (error instanceof UpstreamError && error.kind === "cancelled" && signal.aborted) reason = signal.reason;
  if (!(reason instanceof UpstreamError)) return "neutral";
  switch (reason.kind) {
    case "unreachable":
    case "timeout":
    case "bad_response":
      return "failure";
    case "http_status":
      return reason.status !== undefined && (reason.status >= 500 || reason.status === 429) ? "failure" : "neutral";
    default:
      return "neutral";
  }
}

/**
 * The breakers of one session, one per backend entry: a tenant that changes a backend's entry
 * (say, fixes its URL) gets a fresh breaker for it.
 */
export class Breakers {
  readonly #byBackend = new Map<string, { entry: string; breaker: Breaker }>();
  readonly #now: () => number;

  constructor(now: () => number = () => Date.now()) {
    this.#now = now;
  }

  for(backend: string, entry: string): Breaker {
    const known = this.#byBackend.get(backend);
    if (known?.entry === entry) return known.breaker;
    const breaker = new Breaker(this.#now);
    this.#byBackend.set(backend, { entry, breaker });
    return breaker;
  }

  /**
   * Puts the breaker of `backend` (built from `entry`) in front of the upstream's requests and
   * its initialize handshake. The instance itself is returned, its other members untouched;
   * `send` stays unguarded because initialize sends `notifications/initialized` through it.
   */
  guard<U extends Upstream>(backend: string, entry: string, upstream: U): U {
    const breaker = this.for(backend, entry);
    const initialize = upstream.initialize.bind(upstream);
    const request = upstream.request.bind(upstream);
    const guarded: Pick<Upstream, "initialize" | "request"> = {
      initialize: (params, signal) => breaker.run(backend, signal, () => initialize(params, signal)),
      request: (message, signal, headers) => breaker.stream(backend, signal, () => request(message, signal, headers)),
    };
    return Object.assign(upstream, guarded);
  }
}
