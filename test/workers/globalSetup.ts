/**
 * Starts the real backends the workerd tests talk to (on 127.0.0.1, stopped after) and hands
 * their URLs to the tests through vitest's provide/inject.
 */
import type { TestProject } from "vitest/node";
import { freePort, startDemoBackend, startServerEverything, type RunningServer } from "../support/processes.ts";
import { startModernBackend } from "../support/modern.ts";

declare module "vitest" {
  export interface ProvidedContext {
    weatherUrl: string;
    notesUrl: string;
    everythingUrl: string;
    /** The 2026-07-28 fixture (test/fixtures/modern-server.ts), modern only: a legacy initialize is refused. */
    modernUrl: string;
    /** A second instance of it whose prompts/list says ttlMs 5000 (the first says 60000). */
    modernShortUrl: string;
    /** An MCP URL on a loopback port nothing listens on (free when the run started): a backend that is down. */
    closedUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const servers: RunningServer[] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes"), startServerEverything(), startModernBackend({ modernOnly: true }), startModernBackend({ modernOnly: true, promptsTtlMs: 5_000 })]);
  const [weather, notes, everything, modern, modernShort] = servers as [RunningServer, RunningServer, RunningServer, RunningServer, RunningServer];
  project.provide("weatherUrl", weather.url);
  project.provide("notesUrl", notes.url);
  project.provide("everythingUrl", everything.url);
  project.provide("modernUrl", modern.url);
  project.provide("modernShortUrl", modernShort.url);
  project.provide("closedUrl", `http://127.0.0.1:${await freePort()}/mcp`);
  return async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
  };
}
