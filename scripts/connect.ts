/**
 * `npm run connect`: the tunnel connector (docs/tunnels.md). Runs where the server is, opens an
 * outbound WebSocket to the gateway and serves the tenant's `transport: "tunnel"` backend from a
 * stdio MCP server (one child per gateway session) or a private Streamable HTTP MCP server.
 *
 *   npm run connect -- --gateway http://127.0.0.1:8787 --tenant demo --backend files --key mtk_… -- npx -y @modelcontextprotocol/server-filesystem /tmp
 *   npm run connect -- --gateway https://gw.example.com --tenant acme --backend wiki --key mtk_… --url http://10.0.0.5:3000/mcp
 *
 * Ctrl-C (or SIGTERM) ends every child before exiting; exit code 2 means the gateway refused the key.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connectUrl, parseArgs, UsageError } from "./tunnel/args.ts";
import { Link } from "./tunnel/link.ts";
import { StdioBridge } from "./tunnel/stdioBridge.ts";
import { UrlRelay } from "./tunnel/urlRelay.ts";

const log = (line: string): void => {
  process.stderr.write(`[connect ${new Date().toISOString()}] ${line}\n`);
};

let args;
try {
  args = parseArgs(process.argv.slice(2), process.env);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`connect: ${error.message}\nusage: npm run connect -- --gateway <url> --tenant <id> --backend <name> --key <key> (-- <command> [args…] | --url <private MCP URL>)\n`);
  process.exit(64);
}

// Servers must not outlive the connector even when it is killed outright (scripts/tunnel/watchdog.ts).
const watchdog =
  args.target.kind === "stdio" ? spawn(process.execPath, [fileURLToPath(new URL("./tunnel/watchdog.ts", import.meta.url))], { stdio: ["pipe", "ignore", "inherit"] }) : null;
watchdog?.stdin?.on("error", () => {});
const watch = (pid: number, alive: boolean): void => {
  watchdog?.stdin?.write(`${alive ? "+" : "-"}${pid}\n`);
};
const bridge = args.target.kind === "stdio" ? new StdioBridge(args.target.command, args.target.args, { maxSessions: args.maxSessions, log, watch }) : null;
const handler = bridge ?? new UrlRelay((args.target as { url: URL }).url, log);
const link = new Link({ httpUrl: connectUrl(args, "http"), wsUrl: connectUrl(args, "ws"), key: args.key, handler, log });

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  link.stop();
  await handler.close();
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
process.on("SIGHUP", () => void stop(0));
// Whatever ends the process, no child outlives it.
process.on("exit", () => bridge?.killAll());

log(`serving ${args.tenant}/${args.backend} at ${args.gateway.origin} from ${args.target.kind === "stdio" ? args.target.command : args.target.url.origin}`);
link.start();
const error = await link.finished;
if (error) {
  log(error.message);
  await stop(2);
}
