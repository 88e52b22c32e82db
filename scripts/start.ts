/**
 * `npm start`: the gateway on http://127.0.0.1:8787 in workerd with local state, two demo
 * backends behind the demo tenant, a demo OpenID provider on http://127.0.0.1:8788 that the demo
 * tenant's OAuth logins go through, and the commands to connect. Ctrl-C stops everything.
 */
import { join } from "node:path";
import { startDemoBackend, type Running } from "../test/support/processes.ts";
import { startGateway } from "../test/support/gateway.ts";
import { demoTenant } from "../examples/tenants/demo.ts";
import { DEMO_USERS, startDemoIdp } from "../test/support/idp.ts";
import { DEV_CALENDAR_CLIENT_ID, DEV_IDP_CLIENT_ID, DEV_IDP_PORT, DEV_ISSUER, DEV_ORIGIN, DEV_PORT, ensureDevKeys, ensureDevVars, repoRoot } from "./devState.ts";

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
  const { adminToken, idpClientSecret, calendarClientSecret } = ensureDevVars();
  const [weather, notes] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes")]);
  children.push(weather, notes);
  // The demo OpenID provider: the gateway is its client, for either name of the local host.
  const idp = await startDemoIdp({
    port: DEV_IDP_PORT,
    clients: [
      {
        clientId: DEV_IDP_CLIENT_ID,
        clientSecret: idpClientSecret,
        redirectUris: [`${DEV_ORIGIN}/t/demo/oauth/callback`, `http://localhost:${DEV_PORT}/t/demo/oauth/callback`],
      },
      // The gateway as the calendar's OAuth client, once per user (docs/connections.md).
      {
        clientId: DEV_CALENDAR_CLIENT_ID,
        clientSecret: calendarClientSecret,
        redirectUris: [`${DEV_ORIGIN}/t/demo/connect/callback`, `http://localhost:${DEV_PORT}/t/demo/connect/callback`],
      },
    ],
  });
  children.push(idp);
  const calendar = await startDemoBackend("calendar", { env: { IDP_ISSUER: idp.issuer } });
  children.push(calendar);
  const gateway = await startGateway({ port: DEV_PORT, adminToken, persistTo: join(repoRoot(), ".wrangler", "state"), vars: { DEMO_IDP_CLIENT_SECRET: idpClientSecret, DEMO_CALENDAR_CLIENT_SECRET: calendarClientSecret } });
  children.push(gateway);
  await gateway.putTenant(
    demoTenant({
      weatherUrl: weather.url,
      notesUrl: notes.url,
      publicJwk: keys.publicJwk,
      issuer: DEV_ISSUER,
      audience: `${DEV_ORIGIN}/t/demo/mcp`,
      idp: { issuer: idp.issuer, clientId: DEV_IDP_CLIENT_ID, clientSecret: "DEMO_IDP_CLIENT_SECRET" },
      calendar: { url: calendar.url, clientId: DEV_CALENDAR_CLIENT_ID, clientSecret: "DEMO_CALENDAR_CLIENT_SECRET" },
      tunnel: true,
    }),
  );
  const tunnelKey = await freshTunnelKey(gateway.origin, adminToken);
  const users = Object.values(DEMO_USERS).map((u) => `${u.login} / ${u.password} (roles: ${u.roles.join(", ")})`).join("\n                   ");
  const url = gateway.mcpUrl("demo");
  console.log(`
  Edge MCP gateway running (workerd, local state in .wrangler/state)

    MCP endpoint   ${url}
    demo backends  weather ${weather.url}
                   notes   ${notes.url}
                   calendar ${calendar.url}   (each user connects their own account: call calendar__connect)
    admin API      ${DEV_ORIGIN}/admin/tenants/demo   (bearer ADMIN_TOKEN from .dev.vars)
    audit trail    ${DEV_ORIGIN}/admin/tenants/demo/audit
    metrics        ${DEV_ORIGIN}/admin/tenants/demo/metrics
    web console    ${DEV_ORIGIN}/admin/console   (sign in with ADMIN_TOKEN from .dev.vars)
    demo IdP       ${idp.issuer}   (OpenID provider the demo tenant's logins go through)
    demo users     ${users}

  Log in with OAuth (a browser opens; sign in as a demo user, then allow):
                   npx mcp-remote ${url}
                   npx @modelcontextprotocol/inspector --cli ${url} --transport http --method tools/list

  Get a token:     npm run -s token -- --tenant demo --sub alice
  Try it:          npx @modelcontextprotocol/inspector --cli ${url} --transport http \\
                     --header "Authorization: Bearer $(npm run -s token -- --tenant demo --sub alice)" \\
                     --method tools/list

  Serve a stdio server on this machine as the demo tenant's "local" backend (docs/tunnels.md):
                   npm run connect -- --gateway ${DEV_ORIGIN} --tenant demo --backend local --key ${tunnelKey} \\
                     -- node node_modules/@modelcontextprotocol/server-everything/dist/index.js stdio
                   (any stdio MCP server goes after --; its tools appear as local__<tool>)

  Ctrl-C stops the gateway, the demo IdP and the demo backends.
`);
} catch (error) {
  console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  await shutdown(1);
}

/**
 * The demo's tunnel key: the previous runs' keys are revoked (the local state keeps them) and a
 * new one is issued, since a key is shown only once.
 */
async function freshTunnelKey(origin: string, adminToken: string): Promise<string> {
  const base = `${origin}/admin/tenants/demo/tunnels/local/keys`;
  const headers = { authorization: `Bearer ${adminToken}` };
  const listed = (await (await fetch(base, { headers })).json()) as { keys: { id: string }[] };
  for (const key of listed.keys) await fetch(`${base}/${key.id}`, { method: "DELETE", headers });
  const issued = await fetch(base, { method: "POST", headers });
  if (issued.status !== 201) throw new Error(`issuing the demo tunnel key failed: HTTP ${issued.status}`);
  return ((await issued.json()) as { key: string }).key;
}
