/**
 * The connector's watchdog: a separate process that learns each server process the connector
 * starts (`+<pid>` lines on its stdin) and ends (`-<pid>`). When its stdin closes, the connector
 * is gone, however it died (SIGKILL and crashes included: the kernel closes the pipe), and the
 * watchdog ends every server still listed (SIGTERM, then SIGKILL), so none outlives it.
 * Signals sent to the terminal's process group are ignored here: stdin's end is the one trigger.
 */
const KILL_GRACE_MS = 2_000;
const pids = new Set<number>();
let buffered = "";

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => {});

process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  const lines = (buffered + chunk).split("\n");
  buffered = lines.pop() ?? "";
  for (const line of lines) {
    const pid = Number(line.slice(1));
    if (!Number.isInteger(pid) || pid <= 1) continue;
    if (line.startsWith("+")) pids.add(pid);
    else if (line.startsWith("-")) pids.delete(pid);
  }
});
process.stdin.on("end", () => {
  for (const pid of pids) signal(pid, "SIGTERM");
  if (pids.size === 0) process.exit(0);
  setTimeout(() => {
    for (const pid of pids) signal(pid, "SIGKILL");
    process.exit(0);
  }, KILL_GRACE_MS);
});

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}
