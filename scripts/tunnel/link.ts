/**
 * The connector's outbound WebSocket to the gateway (docs/tunnels.md): attaches with its key,
 * serves the exchanges the gateway sends (worker/upstream/tunnelFrames.ts) with a Handler, keeps
 * the link alive with pings, and reconnects with backoff when it drops. A refused key (401, or
 * revocation while attached) stops the connector with an error instead of retrying forever.
 */
import { randomBytes } from "node:crypto";
import { backoffDelay, RECONNECT } from "./backoff.ts";
import type { Handler, Reply } from "./handler.ts";
import {
  CLOSE_PROTOCOL,
  CLOSE_REVOKED,
  CLOSE_TOO_BIG,
  dataFrames,
  GOODBYE,
  MAX_FRAME_BYTES,
  MAX_TUNNEL_BODY_BYTES,
  parseDownFrame,
  PING,
  type DownFrame,
  type UpFrame,
} from "../../worker/upstream/tunnelFrames.ts";

/** A ping every this long; a link silent for KEEPALIVE_TIMEOUT_MS is dead and replaced. */
export const KEEPALIVE_INTERVAL_MS = 15_000;
export const KEEPALIVE_TIMEOUT_MS = 45_000;

export class FatalLinkError extends Error {}

export interface LinkOptions {
  /** https://… of /t/<tenant>/tunnels/<backend>/connect (checked with a plain GET first). */
  httpUrl: string;
  /** ws(s)://… of the same. */
  wsUrl: string;
  key: string;
  handler: Handler;
  log: (line: string) => void;
}

export class Link {
  readonly #opts: LinkOptions;
  /** Stable for the process: sessions served survive a reconnect (the gateway routes by it). */
  readonly connectorId = randomBytes(12).toString("base64url");
  #ws: WebSocket | null = null;
  #stopped = false;
  readonly #inFlight = new Map<number, AbortController>();
  /** Requests whose body is still arriving in `body` frames. */
  readonly #assembling = new Map<number, { frame: Extract<DownFrame, { type: "request" }>; parts: string[]; size: number }>();
  #done!: (error: Error | null) => void;
  /** Settles when the connector stops: null when asked to, an error when the gateway refuses it. */
  readonly finished = new Promise<Error | null>((resolve) => (this.#done = resolve));
  /** Connects so far (for tests and logs). */
  attached = 0;

  constructor(opts: LinkOptions) {
    this.#opts = opts;
  }

  start(): void {
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    this.#ws?.close(1000, "connector stopping");
    this.#done(null);
  }

  async #loop(): Promise<void> {
    for (let attempt = 0; !this.#stopped; ) {
      let opened = false;
      try {
        await this.#preflight();
        opened = await this.#session();
      } catch (error) {
        if (error instanceof FatalLinkError) {
          this.#stopped = true;
          return this.#done(error);
        }
        this.#opts.log(`link failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (this.#stopped) break;
      attempt = opened ? 0 : attempt + 1;
      const delay = backoffDelay(attempt, RECONNECT);
      this.#opts.log(`reconnecting in ${delay} ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** A plain GET tells a refused key (401) or a wrong tenant/backend (404) from a network failure. */
  async #preflight(): Promise<void> {
    const response = await fetch(this.#opts.httpUrl, { headers: { authorization: `Bearer ${this.#opts.key}`, "x-connector-id": this.connectorId } });
    await response.body?.cancel();
    if (response.status === 401) throw new FatalLinkError("the gateway refused the tunnel key (wrong, revoked, or for another tenant or backend)");
    if (response.status === 404) throw new FatalLinkError("the gateway has no such tunnel backend (check --tenant, --backend and the tenant's config)");
    if (response.status !== 426) throw new Error(`unexpected answer ${response.status} from the gateway`);
  }

  /** One WebSocket, until it closes; true when it was open at some point. */
  #session(): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.#opts.wsUrl, { headers: { authorization: `Bearer ${this.#opts.key}`, "x-connector-id": this.connectorId } } as unknown as string[]);
      this.#ws = ws;
      let opened = false;
      let lastSeen = Date.now();
      let settled = false;
      const finish = (code: number, reason: string): void => {
        if (settled) return;
        settled = true;
        clearInterval(keepalive);
        // The gateway already failed what was in flight on this link; stop serving it.
        for (const controller of this.#inFlight.values()) controller.abort();
        this.#inFlight.clear();
        this.#assembling.clear();
        if (code === CLOSE_REVOKED) return reject(new FatalLinkError("the tunnel key was revoked"));
        if (!this.#stopped) this.#opts.log(`link closed (${code}${reason ? ` ${reason}` : ""})`);
        resolve(opened);
      };
      const keepalive = setInterval(() => {
        if (Date.now() - lastSeen > KEEPALIVE_TIMEOUT_MS) {
          this.#opts.log("the gateway stopped answering pings; reconnecting");
          return ws.close(4000, "keepalive timeout");
        }
        if (ws.readyState === WebSocket.OPEN) ws.send(PING);
      }, KEEPALIVE_INTERVAL_MS);
      ws.addEventListener("open", () => {
        opened = true;
        this.attached++;
        this.#opts.log(`attached as connector ${this.connectorId}`);
      });
      ws.addEventListener("message", (event) => {
        lastSeen = Date.now();
        if (typeof event.data !== "string") return ws.close(CLOSE_PROTOCOL, "text frames only");
        if (event.data.length > MAX_FRAME_BYTES) return ws.close(CLOSE_TOO_BIG, "frame too large");
        if (event.data === "pong") return;
        if (event.data.startsWith(GOODBYE)) {
          const code = Number(event.data.slice(GOODBYE.length));
          ws.close();
          return finish(code, "closed by the gateway");
        }
        this.#onFrame(ws, event.data);
      });
      ws.addEventListener("close", (event) => finish(event.code, event.reason));
      ws.addEventListener("error", () => {
        // A close event follows and decides what happens next.
      });
    });
  }

  #onFrame(ws: WebSocket, text: string): void {
    const frame = parseDownFrame(text);
    if (!frame) return ws.close(CLOSE_PROTOCOL, "malformed frame");
    if (frame.type === "cancel") {
      this.#inFlight.get(frame.id)?.abort();
      this.#inFlight.delete(frame.id);
      this.#assembling.delete(frame.id);
      return;
    }
    if (frame.type === "request" && frame.more) {
      this.#assembling.set(frame.id, { frame, parts: [frame.body ?? ""], size: (frame.body ?? "").length });
      return;
    }
    if (frame.type === "body") {
      const pending = this.#assembling.get(frame.id);
      if (!pending) return;
      pending.parts.push(frame.chunk);
      pending.size += frame.chunk.length;
      if (pending.size > MAX_TUNNEL_BODY_BYTES) return ws.close(CLOSE_TOO_BIG, "request body too large");
      if (!frame.last) return;
      this.#assembling.delete(frame.id);
      return this.#serve(ws, { ...pending.frame, body: pending.parts.join("") });
    }
    this.#serve(ws, frame);
  }

  #serve(ws: WebSocket, frame: Extract<DownFrame, { type: "request" }>): void {
    const controller = new AbortController();
    this.#inFlight.set(frame.id, controller);
    const id = frame.id;
    const send = (up: UpFrame): void => {
      if (ws.readyState === WebSocket.OPEN && !controller.signal.aborted) ws.send(JSON.stringify(up));
    };
    const reply: Reply = {
      head: (status, headers) => send({ type: "head", id, status, headers }),
      data: (chunk) => {
        for (const f of dataFrames(id, chunk)) send(f);
      },
      end: () => {
        send({ type: "end", id });
        this.#inFlight.delete(id);
      },
    };
    this.#opts.handler.handle({ method: frame.method, headers: frame.headers, body: frame.body }, reply, controller.signal).catch((error: unknown) => {
      this.#opts.log(`request ${id} failed: ${error instanceof Error ? error.message : String(error)}`);
    });
  }
}
