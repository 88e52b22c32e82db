/**
 * The connector's command line (scripts/connect.ts, docs/tunnels.md):
 *
 *   npm run connect -- --gateway <url> --tenant <id> --backend <name> --key <key> -- <command> [args…]
 *   npm run connect -- --gateway <url> --tenant <id> --backend <name> --key <key> --url <private MCP URL>
 *
 * The key may come from TUNNEL_KEY instead of --key, which keeps it out of process listings.
 */
import { TUNNEL_KEY_PATTERN } from "../../worker/upstream/tunnel.ts";

export interface ConnectorArgs {
  gateway: URL;
  tenant: string;
  backend: string;
  key: string;
  /** A stdio server to start per session, or a private Streamable HTTP server to relay to. */
  target: { kind: "stdio"; command: string; args: string[] } | { kind: "url"; url: URL };
  /** Stdio children (one per gateway session) running at once. */
  maxSessions: number;
}

export class UsageError extends Error {}

const FLAGS = new Set(["--gateway", "--tenant", "--backend", "--key", "--url", "--max-sessions"]);

export function parseArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): ConnectorArgs {
  const values = new Map<string, string>();
  let command: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      command = argv.slice(i + 1);
      break;
    }
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!FLAGS.has(flag)) throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === "") throw new UsageError(`${flag} needs a value`);
    values.set(flag, value);
  }
  const gatewayText = values.get("--gateway");
  if (!gatewayText) throw new UsageError("--gateway <url> is required");
  const gateway = httpUrl(gatewayText, "--gateway");
  const tenant = values.get("--tenant") ?? "";
  if (!/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/.test(tenant)) throw new UsageError("--tenant <id> is required (a tenant id such as demo)");
  const backend = values.get("--backend") ?? "";
  if (!/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/.test(backend)) throw new UsageError("--backend <name> is required (the tenant's tunnel backend)");
  const key = values.get("--key") ?? env.TUNNEL_KEY ?? "";
  if (!TUNNEL_KEY_PATTERN.test(key)) throw new UsageError("--key <key> (or TUNNEL_KEY) is required: the key the admin API issued (mtk_…)");
  const urlText = values.get("--url");
  if (urlText !== undefined && command.length > 0) throw new UsageError("give either --url or a command after --, not both");
  if (urlText === undefined && command.length === 0) throw new UsageError("give the server to serve: a command after --, or --url <private MCP URL>");
  const maxText = values.get("--max-sessions") ?? "16";
  const maxSessions = Number(maxText);
  if (!Number.isInteger(maxSessions) || maxSessions < 1 || maxSessions > 1000) throw new UsageError("--max-sessions must be an integer from 1 to 1000");
  const target: ConnectorArgs["target"] = urlText !== undefined ? { kind: "url", url: httpUrl(urlText, "--url") } : { kind: "stdio", command: command[0]!, args: command.slice(1) };
  return { gateway, tenant, backend, key, target, maxSessions };
}

function httpUrl(text: string, flag: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${flag}: not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`${flag}: must be an http(s) URL`);
  return url;
}

/** Where the connector attaches: ws(s)://<gateway>/t/<tenant>/tunnels/<backend>/connect. */
export function connectUrl(args: Pick<ConnectorArgs, "gateway" | "tenant" | "backend">, scheme: "http" | "ws"): string {
  const url = new URL(`t/${args.tenant}/tunnels/${args.backend}/connect`, args.gateway.href.endsWith("/") ? args.gateway : new URL(`${args.gateway.href}/`));
  if (scheme === "ws") url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}
