/**
 * Calls one tool through the gateway as a user, with the MCP SDK client, and prints the result as
 * JSON. When the call needs the user first (error -32042, URL elicitation required: connect their
 * account at a backend, or an approval), it prints each link to open and exits with code 3; open
 * it, then run the same command again.
 *
 *   npm run -s call -- [--tenant demo] [--sub alice] [--role R ...] <tool> [name=value ...]
 *   npm run -s call -- --url <MCP endpoint> --token <bearer> <tool> [name=value ...]
 *
 * Values are JSON where they parse as JSON (`days=3`, `tags=["a"]`), strings otherwise. Without
 * `--token`, a token for `--sub` is signed with the local development key, as `npm run token` does.
 * (The MCP Inspector CLI 2.12.0 cannot show such a link: on -32042 it waits, silently, for a
 * dialog only its web UI has.)
 */
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { DEV_ORIGIN } from "./devState.ts";
import { mintDevToken } from "./token.ts";

const USAGE = "usage: npm run -s call -- [--tenant demo] [--sub alice] [--url URL] [--token T] <tool> [name=value ...]";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tenant: { type: "string", default: "demo" },
    sub: { type: "string", default: "alice" },
    role: { type: "string", multiple: true, default: [] },
    url: { type: "string" },
    token: { type: "string" },
  },
});
const [tool, ...pairs] = positionals;
if (!tool) {
  console.error(USAGE);
  process.exit(2);
}
const args: Record<string, unknown> = {};
for (const pair of pairs) {
  const at = pair.indexOf("=");
  if (at <= 0) {
    console.error(`not name=value: ${pair}\n${USAGE}`);
    process.exit(2);
  }
  const raw = pair.slice(at + 1);
  try {
    args[pair.slice(0, at)] = JSON.parse(raw);
  } catch {
    args[pair.slice(0, at)] = raw;
  }
}

const url = values.url ?? `${DEV_ORIGIN}/t/${encodeURIComponent(values.tenant)}/mcp`;
const token = values.token ?? (await mintDevToken({ tenant: values.tenant, sub: values.sub, roles: values.role, audience: url }));
const client = new Client({ name: "gateway-call", version: "1.0.0" });
let code = 0;
try {
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  const result = await client.callTool({ name: tool, arguments: args });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (result.isError) code = 1;
} catch (error) {
  const { code: rpc, message, data } = error as { code?: number; message?: string; data?: { elicitations?: { url?: string; message?: string }[] } };
  const links = (data?.elicitations ?? []).filter((e) => typeof e.url === "string");
  if (rpc === -32042 && links.length > 0) {
    // MCP 2025-11-25 client/elicitation "URL Elicitation Required Error".
    for (const e of links) process.stdout.write(`${e.message ?? "Open this link:"}\n  ${e.url}\n`);
    process.stdout.write("Open it in a browser, then run the same command again.\n");
    code = 3;
  } else {
    console.error(`error${rpc === undefined ? "" : ` ${rpc}`}: ${message ?? String(error)}`);
    code = 1;
  }
} finally {
  await client.close().catch(() => {});
}
process.exit(code);
