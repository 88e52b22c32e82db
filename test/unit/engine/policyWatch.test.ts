/**
 * Policy freshness while replies run (worker/engine/policyWatch.ts): while anything holds the
 * watch, the tenant's authority is asked for its version every interval, a newer config is
 * handed over once, and the timer stops when the last holder lets go.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { POLICY_CHECK_INTERVAL_MS, PolicyWatch, type ConfigAuthority } from "../../../worker/engine/policyWatch.ts";
import type { TenantConfig } from "../../../worker/tenant/schema.ts";
import { tenantConfig } from "./harness.ts";

/** The tenant's authority: its current config, and how often it was asked. */
function authority(initial: TenantConfig) {
  let config = initial;
  const asked = { version: 0, config: 0 };
  const source: ConfigAuthority = {
    version: async () => {
      asked.version++;
      return config.version;
    },
    config: async () => {
      asked.config++;
      return config;
    },
  };
  return { source, asked, publish: (next: TenantConfig) => (config = next) };
}

/** A home running `current`, adopting what the watch hands it (as both homes do). */
function watched(tenant: ReturnType<typeof authority>, initial: TenantConfig, extra: { needed?: () => boolean } = {}) {
  let current = initial;
  const newer: TenantConfig[] = [];
  const watch = new PolicyWatch({
    authority: () => tenant.source,
    current: () => current.version,
    onNewer: (config) => {
      newer.push(config);
      current = config;
    },
    ...extra,
  });
  return { watch, newer, current: () => current };
}

const v1 = tenantConfig({ version: 1 });
const v2 = tenantConfig({ version: 2, policy: { defaultEffect: "deny" } });

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("PolicyWatch", () => {
  it("hands a newer config to onNewer once, however many checks follow", async () => {
    const tenant = authority(v1);
    const { watch, newer, current } = watched(tenant, v1);
    const release = watch.hold();

    await vi.advanceTimersByTimeAsync(POLICY_CHECK_INTERVAL_MS);
    expect(tenant.asked.version).toBe(1);
    expect(newer).toEqual([]); // same version: the config itself is not fetched
    expect(tenant.asked.config).toBe(0);

    tenant.publish(v2);
    await vi.advanceTimersByTimeAsync(POLICY_CHECK_INTERVAL_MS);
    expect(newer).toEqual([v2]);
    expect(current()).toBe(v2);

    await vi.advanceTimersByTimeAsync(5 * POLICY_CHECK_INTERVAL_MS);
    expect(newer).toEqual([v2]);
    expect(tenant.asked.version).toBe(7);
    expect(tenant.asked.config).toBe(1);
    release();
  });

  it("asks nothing before the first interval has passed", async () => {
    const tenant = authority(v2);
    const { watch, newer } = watched(tenant, v1);
    const release = watch.hold();
    await vi.advanceTimersByTimeAsync(POLICY_CHECK_INTERVAL_MS - 1);
    expect(tenant.asked.version).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(newer).toEqual([v2]);
    release();
  });

  it("runs one timer for many holders, and stops it when the last holder releases", async () => {
    const tenant = authority(v1);
    const { watch } = watched(tenant, v1);
    const first = watch.hold();
    const second = watch.hold();
    expect(vi.getTimerCount()).toBe(1);

    first();
    first(); // a holder lets go once, however often it says so
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(POLICY_CHECK_INTERVAL_MS);
    expect(tenant.asked.version).toBe(1);

    second();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10 * POLICY_CHECK_INTERVAL_MS);
    expect(tenant.asked.version).toBe(1);
  });

  it("a home that tracks its open streams keeps the timer while needed() says so, and it stops at the first tick after", async () => {
    const tenant = authority(v1);
    let open = true;
    const { watch } = watched(tenant, v1, { needed: () => open });
    watch.start();
    watch.hold()();
    expect(vi.getTimerCount()).toBe(1); // still needed: released, but not stopped
    await vi.advanceTimersByTimeAsync(POLICY_CHECK_INTERVAL_MS);
    expect(tenant.asked.version).toBe(1);

    open = false;
    await vi.advanceTimersByTimeAsync(POLICY_CHECK_INTERVAL_MS);
    expect(tenant.asked.version).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a failing authority is logged and asked again at the next tick", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    let failing = true;
    const source: ConfigAuthority = {
      version: async () => {
        if (failing) throw new Error("tenant object unreachable");
        return 2;
      },
      config: async () => v2,
    };
    const newer: TenantConfig[] = [];
    let current = v1;
    const watch = new PolicyWatch({ authority: () => source, current: () => current.version, onNewer: (c) => void newer.push((current = c)) });
    const release = watch.hold();
    await vi.advanceTimersByTimeAsync(POLICY_CHECK_INTERVAL_MS);
    expect(newer).toEqual([]);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('"event":"policy_check_failed"'));

    failing = false;
    await vi.advanceTimersByTimeAsync(POLICY_CHECK_INTERVAL_MS);
    expect(newer).toEqual([v2]);
    release();
    warn.mockRestore();
  });

  it("does not pile up checks on a slow authority", async () => {
    let calls = 0;
    const source: ConfigAuthority = {
      version: () => {
        calls++;
        return new Promise<number>((resolve) => setTimeout(() => resolve(1), 3 * POLICY_CHECK_INTERVAL_MS));
      },
      config: async () => v1,
    };
    const watch = new PolicyWatch({ authority: () => source, current: () => 1, onNewer: () => {} });
    const release = watch.hold();
    // Asked at the first tick; it answers three intervals later, so the next two ticks ask nothing.
    await vi.advanceTimersByTimeAsync(3 * POLICY_CHECK_INTERVAL_MS);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(2 * POLICY_CHECK_INTERVAL_MS);
    expect(calls).toBe(2);
    release();
    await vi.runOnlyPendingTimersAsync();
  });
});
