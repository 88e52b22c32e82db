/**
 * Runs the gateway for real: `wrangler dev` (workerd) on 127.0.0.1 with local Durable Object,
 * KV and D1 state, the way `npm start` does, and a small admin client to install tenants.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { freePort, startProcess, type Running } from "./processes.ts";

export interface RunningGateway extends Running {
  origin: string;
  adminToken: string;
  /** PUTs a tenant document through the admin API and returns what the gateway stored. */
  putTenant(tenant: unknown): Promise<Record<string, unknown>>;
  mcpUrl(tenant: string): string;
}

export interface GatewayOptions {
  port?: number;
  adminToken?: string;
  /** Folder for local KV / D1 / Durable Object state; a fresh temporary one when omitted. */
  persistTo?: string;
  /** Extra Worker variables (secrets a backend config refers to). */
  vars?: Record<string, string>;
  /** Port of wrangler's DevTools inspector (the Chrome DevTools Protocol); wrangler's default when omitted. */
  inspectorPort?: number;
}

const repoRoot = new URL("../..", import.meta.url).pathname;

/**
 * Attempts at binding: freePort() closes its probe before wrangler binds, so another process can
 * take it in between; and a gateway restarted on its own port (a restart test) can find the old
 * workerd still holding it for a moment after it was stopped.
 */
const PORT_ATTEMPTS = 3;
/** Wait before binding a given port again. */
const REBIND_WAIT_MS = 1_000;

export async function startGateway(options: GatewayOptions = {}): Promise<RunningGateway> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGatewayOn(options.port ?? (await freePort()), options);
    } catch (error) {
      if (attempt >= PORT_ATTEMPTS || !String(error).includes("Address already in use")) throw error;
      if (options.port !== undefined) await new Promise((resolve) => setTimeout(resolve, REBIND_WAIT_MS));
    }
  }
}

async function startGatewayOn(port: number, options: GatewayOptions): Promise<RunningGateway> {
  const adminToken = options.adminToken ?? `test-admin-${Math.random().toString(36).slice(2)}`;
  const temporary = options.persistTo === undefined;
  const persistTo = options.persistTo ?? mkdtempSync(join(tmpdir(), "gateway-state-"));
  // The package's exports hide bin/, so resolve the package root and take its bin from there.
  const wrangler = join(dirname(createRequire(import.meta.url).resolve("wrangler/package.json")), "bin", "wrangler.js");
  // Local backends listen on 127.0.0.1, which a production gateway refuses (worker/admin/destinations.ts).
  // STATE_SECRET turns on the stateless path for all-modern tenants (worker/dispatch/stateless.ts).
  const vars = { ADMIN_TOKEN: adminToken, ALLOW_PRIVATE_BACKENDS: "true", STATE_SECRET: `test-state-${Math.random().toString(36).slice(2)}`, VAULT_SECRET: `test-vault-${Math.random().toString(36).slice(2)}`, ...options.vars };
  const wranglerEnv = {
    // Offline machines: do not fetch Request.cf data, send no metrics.
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    // Also what makes `d1 migrations apply` skip its confirmation prompt.
    CI: process.env.CI ?? "true",
  };
  try {
    await applyD1Migrations(wrangler, persistTo, wranglerEnv);
  } catch (error) {
    if (temporary) rmSync(persistTo, { recursive: true, force: true });
    throw error;
  }
  const running = await startProcess({
    name: "gateway",
    command: process.execPath,
    args: [
      wrangler,
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      persistTo,
      "--show-interactive-dev-session=false",
      "--log-level",
      "warn",
      ...(options.inspectorPort === undefined ? [] : ["--inspector-port", String(options.inspectorPort)]),
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    cwd: repoRoot,
    env: wranglerEnv,
    readyUrl: `http://127.0.0.1:${port}/healthz`,
    timeoutMs: 60_000,
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    ...running,
    origin,
    adminToken,
    mcpUrl: (tenant) => `${origin}/t/${tenant}/mcp`,
    putTenant: (tenant) => putTenantAt(origin, adminToken, tenant),
    async stop() {
      await running.stop();
      if (temporary) rmSync(persistTo, { recursive: true, force: true });
    },
  };
}

/**
 * The D1 schema (migrations/, the AUDIT binding) in the local state `wrangler dev` will use, so
 * the audit trail exists from the first request. Already applied migrations are skipped.
 */
function applyD1Migrations(wrangler: string, persistTo: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [wrangler, "d1", "migrations", "apply", "AUDIT", "--local", "--persist-to", persistTo],
      { cwd: repoRoot, env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`wrangler d1 migrations apply AUDIT failed: ${error.message}\n--- output ---\n${stdout}${stderr}`));
        else resolve();
      },
    );
  });
}

/** PUTs a tenant document through a gateway's admin API; throws with the answer when refused. */
export async function putTenantAt(origin: string, adminToken: string, tenant: unknown): Promise<Record<string, unknown>> {
  const id = (tenant as { id: string }).id;
  const response = await fetch(`${origin}/admin/tenants/${id}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(tenant),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`PUT tenant ${id}: ${response.status} ${JSON.stringify(body).slice(0, 500)}`);
  return body;
}
