/**
 * The test side of the fault-injecting backends (faultServer.ts): plain fetch, so it runs in
 * workerd and in Node alike.
 */

export type FaultMode = "ok" | "refuse" | "hang" | "error500" | "garbage" | "drop" | "slow";

export interface LoggedRequest {
  at: number;
  httpMethod: string;
  /** The JSON-RPC method of the body, when it had one. */
  rpcMethod: string | null;
  headers: Record<string, string>;
  body: string;
}

export interface FaultBackend {
  key: string;
  url: string;
  /** A tenant backend entry for it. */
  entry(name: string, extra?: Record<string, unknown>): { name: string; url: string; timeoutMs: number } & Record<string, unknown>;
  setMode(mode: FaultMode, slowMs?: number): Promise<void>;
  requests(): Promise<LoggedRequest[]>;
  /** Requests that carried a JSON-RPC method (initialize, lists, calls...), in order. */
  rpcMethods(): Promise<string[]>;
}

/** Fault backends on the server at `origin`; every key is an independent backend. */
export function faultBackend(origin: string, key: string = crypto.randomUUID()): FaultBackend {
  const control = `${origin}/control/${key}`;
  const read = async () => {
    const res = await fetch(control);
    return (await res.json()) as { mode: FaultMode; requests: LoggedRequest[] };
  };
  return {
    key,
    url: `${origin}/k/${key}/mcp`,
    entry: (name, extra = {}) => ({ name, url: `${origin}/k/${key}/mcp`, timeoutMs: 1_000, ...extra }),
    async setMode(mode, slowMs = 0) {
      const res = await fetch(`${control}?mode=${mode}&slowMs=${slowMs}`, { method: "PUT" });
      await res.body?.cancel();
    },
    requests: async () => (await read()).requests,
    rpcMethods: async () => (await read()).requests.flatMap((r) => (r.rpcMethod ? [r.rpcMethod] : [])),
  };
}
