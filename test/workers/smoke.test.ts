import { exports } from "cloudflare:workers";
import { inject, it, expect } from "vitest";

it("serves health", async () => {
  const res = await exports.default.fetch("http://127.0.0.1/healthz");
  expect(res.status).toBe(200);
  expect(inject("weatherUrl")).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
});
