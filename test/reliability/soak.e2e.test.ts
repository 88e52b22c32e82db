/**
 * The soak's short form (issue 7), in `npm test`: SESSIONS sessions for SECONDS of lists, calls
 * and streamed calls against a real `wrangler dev` gateway; zero errors, zero lost or duplicated
 * notifications, and a flat heap. `npm run soak` runs the full form (scripts/soak.ts).
 */
import { expect, it } from "vitest";
import { MAX_HEAP_GROWTH_MIB, runSoak } from "./soak.ts";

const SESSIONS = 30;
const SECONDS = 20;

it(`${SESSIONS} sessions × ${SECONDS} s of lists, calls and streams: no error, nothing lost, heap flat`, { timeout: 900_000 }, async () => {
  const report = await runSoak({ sessions: SESSIONS, durationMs: SECONDS * 1000 });
  const { samples, ...rss } = report.rssMiB;
  console.info(JSON.stringify({ figures: "soak-short", ...report, rssMiB: { ...rss, sampleCount: samples.length } }));
  expect(report.errors).toEqual([]);
  expect(report.notificationsExpected).toBeGreaterThan(0);
  expect(report.lostNotifications).toBe(0);
  expect(report.duplicatedEvents).toBe(0);
  expect(report.heapMiB.warm).toBeGreaterThan(0);
  expect(report.heapGrowthMiB).toBeLessThan(MAX_HEAP_GROWTH_MIB);
  expect(samples.length).toBeGreaterThan(SECONDS / 2);
});
