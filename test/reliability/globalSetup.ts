/**
 * For the workerd reliability suites: the fault-injecting backends (faultServer.ts) on
 * 127.0.0.1, started in Node before the run and stopped after; the tests reach them by URL.
 */
import type { TestProject } from "vitest/node";
import { startFaultServer } from "./faultServer.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** http://127.0.0.1:<port> of the fault server; backends live at /k/<key>/mcp. */
    faultOrigin: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startFaultServer();
  project.provide("faultOrigin", server.origin);
  return () => server.close();
}
