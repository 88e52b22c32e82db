/**
 * Starts the real backends the workerd tests talk to (on 127.0.0.1, stopped after) and hands
 * their URLs to the tests through vitest's provide/inject.
 */
import type { TestProject } from "vitest/node";
import { freePort, startDemoBackend, startServerEverything, type RunningServer } from "../support/processes.ts";

declare module "vitest" {
  export interface ProvidedContext {
    weatherUrl: string;
    notesUrl: string;
    everythingUrl: string;
    /** An MCP URL on a loopback port nothing listens on (free when the run started): a backend that is down. */
    closedUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const servers: RunningServer[] = await Promise.all([startDemoBackend("weather"), startDemoBackend("notes"), startServerEverything()]);
  const [weather, notes, everything] = servers as [RunningServer, RunningServer, RunningServer];
  project.provide("weatherUrl", weather.url);
  project.provide("notesUrl", notes.url);
  project.provide("everythingUrl", everything.url);
  project.provide("closedUrl", `http://127.0.0.1:${await freePort()}/mcp`);
  return async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
  };
}
