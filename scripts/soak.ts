/**
 * The full soak (issue 7; docs/reliability.md "Load"): a real gateway (`wrangler dev`) with the
 * demo backends on 127.0.0.1, SESSIONS sessions doing lists, calls and streamed calls for SECONDS,
 * every reply checked, every progress notification counted, workerd's RSS sampled each second.
 * Prints the report as JSON and exits 1 on any error, lost notification or memory growth.
 *
 *   npm run soak [-- --sessions 200 --seconds 180]
 */
import { parseArgs } from "node:util";
import { MAX_HEAP_GROWTH_MIB, runSoak } from "../test/reliability/soak.ts";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "200" },
    seconds: { type: "string", default: "180" },
  },
});

const report = await runSoak({
  sessions: Number(values.sessions),
  durationMs: Number(values.seconds) * 1000,
  log: (line) => process.stderr.write(`${line}\n`),
});
const { samples, ...rss } = report.rssMiB;
console.log(JSON.stringify({ ...report, rssMiB: { ...rss, sampleCount: samples.length, samples } }, null, 2));
const failed = report.errors.length > 0 || report.lostNotifications !== 0 || report.duplicatedEvents !== 0 || report.heapGrowthMiB > MAX_HEAP_GROWTH_MIB;
process.stderr.write(failed ? "soak: FAILED\n" : "soak: ok\n");
process.exit(failed ? 1 : 0);
