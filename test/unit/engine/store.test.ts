/**
 * The engine's storage contract in memory (worker/engine/store.ts MemoryStore), as the
 * Worker's stateless home uses it: ids, upstream sessions, name tables, and server-to-client
 * requests pending the client's answer.
 */
import { describe, expect, it } from "vitest";
import { MemoryStore, type PendingRequest, type SessionStore } from "../../../worker/engine/store.ts";
import type { UpstreamInfo } from "../../../worker/upstream/types.ts";

const elicitation: PendingRequest = { gwId: "alpha:3", backend: "alpha", upstreamId: JSON.stringify(0), stream: "s1", method: "elicitation/create" };
const sampling: PendingRequest = { gwId: "beta:4", backend: "beta", upstreamId: JSON.stringify("req-0"), stream: "s2", method: "sampling/createMessage" };

describe("MemoryStore", () => {
  it("a pending request round-trips and is taken exactly once", () => {
    const store: SessionStore = new MemoryStore();
    store.addPending(elicitation, Date.now());
    store.addPending(sampling, Date.now());
    expect(store.takePending("alpha:3")).toEqual(elicitation);
    expect(store.takePending("alpha:3")).toBeNull();
    expect(store.takePending("beta:4")).toEqual(sampling);
    expect(store.takePending("beta:4")).toBeNull();
    expect(store.takePending("gamma:1")).toBeNull();
  });

  it("finds a pending request by the backend's own id, keeping number and string ids apart", () => {
    const store: SessionStore = new MemoryStore();
    store.addPending(elicitation, Date.now());
    store.addPending(sampling, Date.now());
    expect(store.findPendingByUpstream("alpha", JSON.stringify(0))).toEqual(elicitation);
    expect(store.findPendingByUpstream("alpha", JSON.stringify("0"))).toBeNull();
    expect(store.findPendingByUpstream("beta", JSON.stringify(0))).toBeNull(); // another backend's id
    expect(store.findPendingByUpstream("beta", JSON.stringify("req-0"))).toEqual(sampling);
    // Finding does not take; taking removes it from both lookups.
    expect(store.findPendingByUpstream("alpha", JSON.stringify(0))).toEqual(elicitation);
    store.takePending("alpha:3");
    expect(store.findPendingByUpstream("alpha", JSON.stringify(0))).toBeNull();
  });

  it("counts up from 1, never repeating", () => {
    const store = new MemoryStore();
    const ids = Array.from({ length: 5 }, () => store.nextCounter());
    expect(ids).toEqual([1, 2, 3, 4, 5]);
    expect(new MemoryStore().nextCounter()).toBe(1); // nothing shared between stores
  });

  it("keeps one upstream per backend, replaced on write and gone on delete", () => {
    const store = new MemoryStore();
    const info = (backend: string, sessionId: string): UpstreamInfo => ({ backend, sessionId, protocolVersion: "2025-11-25", capabilities: {}, serverInfo: {} });
    store.writeUpstream(info("alpha", "s-1"));
    store.writeUpstream(info("beta", "s-2"));
    store.writeUpstream(info("alpha", "s-3"));
    expect(store.readUpstreams()).toEqual([info("alpha", "s-3"), info("beta", "s-2")]);
    store.deleteUpstream("alpha");
    expect(store.readUpstreams()).toEqual([info("beta", "s-2")]);
  });

  it("keeps a name table per list kind, as a copy of what was written", () => {
    const store = new MemoryStore();
    expect(store.readNames("tools")).toEqual([]);
    const entries = [{ exposed: "alpha__echo", backend: "alpha", original: "echo" }];
    store.writeNames("tools", entries);
    entries.push({ exposed: "beta__echo", backend: "beta", original: "echo" });
    expect(store.readNames("tools")).toEqual([{ exposed: "alpha__echo", backend: "alpha", original: "echo" }]);
    expect(store.readNames("prompts")).toEqual([]);
  });
});
