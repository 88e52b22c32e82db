/**
 * The Worker's one error handler (worker/app.ts `onError`): an expected failure is a GatewayError
 * answered from the error table; anything else is a bug, answered as the table's `internal` kind
 * (500, JSON-RPC -32603, a generic message) while the log gets the precise reason.
 */
import { afterEach, expect, it, vi } from "vitest";
import { app } from "../../worker/app.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

it("answers a bug with 500 and -32603, leaving the unknown id out rather than sending null", async () => {
  const logged = vi.spyOn(console, "error").mockImplementation(() => {});
  // A tenant store that throws something no stage expects.
  const broken = {
    TENANTS: {
      idFromName(): never {
        throw new TypeError("storage exploded at store.ts:31");
      },
    },
  };
  const response = await app.request("http://127.0.0.1/.well-known/oauth-protected-resource/t/acme/mcp", {}, broken);
  expect(response.status).toBe(500);
  expect(response.headers.get("content-type")).toBe("application/json");
  const text = await response.text();
  // MCP 2025-11-25 schema JSONRPCErrorResponse `id?: RequestId`: no null id (SDK clients refuse one).
  expect(JSON.parse(text)).toEqual({ jsonrpc: "2.0", error: { code: -32603, message: "Internal error" } });
  expect(text).not.toContain("storage exploded");
  expect(logged.mock.calls.map((call) => String(call[0])).join("\n")).toContain("storage exploded at store.ts:31");
});
