/**
 * `npm start`: the gateway on http://127.0.0.1:8787 in workerd with local state, two demo
 * backends behind the demo tenant, and the commands to connect. Ctrl-C stops everything.
 */
import { join } from "node:path";
import { startDemoBackend, type Running } from "../test/support/processes.ts";
import { startGateway } from "../test/support/gateway.ts";
import { demoTenant } from "../examples/tenants/demo.ts";
import { DEV_ISSUER, DEV_ORIGIN, DEV_PORT, ensureDevKeys, ensureDevVars, repoRoot } from "./devState.ts";

const children: Running[] = [];
let stopping = false;

async function shutdown(code: number): Promise<void> {
  if (!stopping) {
    stopping = true;
    await Promise.allSettled(children.reverse().map((c) => c.stop()));
  }
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

try {
  const keys = await ensureDevKeys();
  const { adminToken } = ensureDevVars();
  const [weather, notes] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes")]);
  children.push(weather, notes);
  const gateway = await startGateway({ port: DEV_PORT, adminToken, persistTo: join(repoRoot(), ".wrangler", "state") });
  children.push(gateway);
  await gateway.putTenant(
    demoTenant({ weatherUrl: weather.url, notesUrl: notes.url, publicJwk: keys.publicJwk, issuer: DEV_ISSUER, audience: `${DEV_ORIGIN}/t/demo/mcp` }),
  );
  const url = gateway.mcpUrl("demo");
  console.log(`
  Edge MCP gateway running (workerd, local state in .wrangler/state)

    MCP endpoint   ${url}
    demo backends  weather ${weather.url}
                   notes   ${notes.url}
    admin API      ${DEV_ORIGIN}/admin/tenants/demo   (bearer ADMIN_TOKEN from .dev.vars)
    audit trail    ${DEV_ORIGIN}/admin/tenants/demo/audit
    metrics        ${DEV_ORIGIN}/admin/tenants/demo/metrics
    web console    ${DEV_ORIGIN}/admin/console   (sign in with ADMIN_TOKEN from .dev.vars)

  Get a token:     npm run -s token -- --tenant demo --sub alice
  Try it:          npx @modelcontextprotocol/inspector --cli ${url} --transport http \\
                     --header "Authorization: Bearer $(npm run -s token -- --tenant demo --sub alice)" \\
                     --method tools/list

  Ctrl-C stops the gateway and the demo backends.
`);
} catch (error) {
  console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  await shutdown(1);
}
