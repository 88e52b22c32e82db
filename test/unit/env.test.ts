/**
 * Names that come from tenant config reach the environment only through secretNamed and
 * serviceNamed (worker/env.ts), which read strings and fetchers and nothing else.
 */
import { describe, expect, it } from "vitest";
import { secretNamed, serviceNamed, type Env } from "../../worker/env.ts";

const binding = { fetch: async () => new Response("ok") };
const env = { ADMIN_TOKEN: "admin", STATE_SECRET: "sealing", VAULT_SECRET: "vault", CRM_TOKEN: "crm", BACKEND_NOTES: binding, CONFIG: {} } as unknown as Env;

describe("names from tenant config", () => {
  it("reads a secret by the name a backend's config gives", () => {
    expect(secretNamed(env, "CRM_TOKEN")).toBe("crm");
    expect(secretNamed(env, "MISSING")).toBeUndefined();
  });

  it("never hands out the gateway's own secrets, which a tenant could otherwise send to its backend", () => {
    for (const name of ["ADMIN_TOKEN", "STATE_SECRET", "VAULT_SECRET"]) expect(secretNamed(env, name), name).toBeUndefined();
  });

  it("reads a binding as a secret only when it is a string", () => {
    expect(secretNamed(env, "BACKEND_NOTES")).toBeUndefined();
  });

  it("reads a service binding only when it can fetch", () => {
    expect(serviceNamed(env, "BACKEND_NOTES")).toBe(binding);
    expect(serviceNamed(env, "CONFIG")).toBeUndefined();
    expect(serviceNamed(env, "CRM_TOKEN")).toBeUndefined();
  });
});
