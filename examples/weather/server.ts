// Demo backend "weather": deterministic fake forecasts so gateway tests can
// assert exact values, plus a long-running tool that exercises progress
// notifications and cancellation through the gateway.

import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import * as z from "zod";
import { isMain, runBackend } from "../shared/http.ts";

const CONDITIONS = ["sunny", "partly cloudy", "cloudy", "rain", "thunderstorms", "snow", "fog", "windy"] as const;

interface Station {
  id: string;
  name: string;
  city: string;
  lat: number;
  lon: number;
}

const STATIONS: readonly Station[] = [
  { id: "ams", name: "Schiphol", city: "Amsterdam", lat: 52.31, lon: 4.76 },
  { id: "ber", name: "Tempelhof", city: "Berlin", lat: 52.47, lon: 13.4 },
  { id: "lis", name: "Portela", city: "Lisbon", lat: 38.77, lon: -9.13 },
  { id: "sfo", name: "Mission Bay", city: "San Francisco", lat: 37.77, lon: -122.39 },
  { id: "tyo", name: "Otemachi", city: "Tokyo", lat: 35.69, lon: 139.76 },
];

// Spec-defined JSON-RPC code for "resource not found"; the SDK has no constant for it.
const RESOURCE_NOT_FOUND = -32002;

/** FNV-1a: a stable hash so the same city always gets the same weather. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (const ch of text.trim().toLowerCase()) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const dayShape = {
  day: z.number().int().describe("1 = tomorrow"),
  condition: z.string(),
  highC: z.number(),
  lowC: z.number(),
  precipitationPct: z.number().int().min(0).max(100),
};
const forecastShape = { city: z.string(), days: z.array(z.object(dayShape)) };
const forecastSchema = z.object(forecastShape);
type Forecast = z.infer<typeof forecastSchema>;

export function forecast(city: string, days: number): Forecast {
  const seed = hash(city);
  const base = (seed % 30) - 5; // -5..24 °C baseline per city
  return {
    city,
    days: Array.from({ length: days }, (_, i) => {
      const h = hash(`${city}#${i}`);
      const high = base + (h % 9);
      return {
        day: i + 1,
        condition: CONDITIONS[h % CONDITIONS.length] ?? "sunny",
        highC: high,
        lowC: high - 3 - ((h >>> 8) % 6),
        precipitationPct: (h >>> 16) % 101,
      };
    }),
  };
}

function alerts(region: string): { severity: string; headline: string }[] {
  const h = hash(region);
  const count = h % 3; // 0, 1 or 2 alerts, stable per region
  const kinds = ["Wind advisory", "Flood watch", "Heat warning", "Frost advisory"];
  return Array.from({ length: count }, (_, i) => ({
    severity: i === 0 && h % 2 === 0 ? "severe" : "moderate",
    headline: `${kinds[(h >>> (4 * (i + 1))) % kinds.length] ?? "Advisory"} for ${region}`,
  }));
}

/** Resolves after ms, or rejects as soon as the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export function createWeatherServer(): McpServer {
  const server = new McpServer({ name: "demo-weather", version: "0.1.0" });

  server.registerTool(
    "get_forecast",
    {
      title: "Get forecast",
      description: "Daily forecast for a city (deterministic demo data).",
      inputSchema: {
        city: z.string().min(1).describe("City name"),
        days: z.number().int().min(1).max(7).default(3).describe("Number of days, 1-7"),
      },
      outputSchema: forecastShape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ city, days }) => {
      const result = forecast(city, days);
      const lines = result.days.map(
        (d) => `Day ${d.day}: ${d.condition}, ${d.lowC}..${d.highC} °C, ${d.precipitationPct}% precipitation`,
      );
      return {
        content: [{ type: "text", text: `Forecast for ${city}:\n${lines.join("\n")}` }],
        structuredContent: result,
      };
    },
  );

  server.registerTool(
    "get_alerts",
    {
      title: "Get alerts",
      description: "Active weather alerts for a region (deterministic demo data).",
      inputSchema: { region: z.string().min(1).describe("Region or state name") },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ region }) => {
      const list = alerts(region);
      return { content: [{ type: "text", text: JSON.stringify({ region, alerts: list }) }] };
    },
  );

  server.registerTool(
    "watch_storm",
    {
      title: "Watch storm",
      description:
        "Long-running demo: tracks a storm for `steps` steps, sending notifications/progress per step when a progressToken is given; stops on cancellation.",
      inputSchema: {
        steps: z.number().int().min(1).max(1000).default(5),
        intervalMs: z.number().int().min(0).max(10_000).default(50),
      },
    },
    async ({ steps, intervalMs }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let step = 1; step <= steps; step++) {
        // Throws on cancellation; the SDK then drops the response, as the spec requires.
        await sleep(intervalMs, extra.signal);
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken, progress: step, total: steps, message: `storm step ${step}/${steps}` },
          });
        }
      }
      return { content: [{ type: "text", text: `Storm watch finished after ${steps} steps.` }] };
    },
  );

  server.registerResource(
    "stations",
    "weather://stations",
    { title: "Weather stations", description: "All demo weather stations", mimeType: "application/json" },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(STATIONS) }] }),
  );

  server.registerResource(
    "station",
    new ResourceTemplate("weather://stations/{id}", {
      list: () => ({
        resources: STATIONS.map((s) => ({ uri: `weather://stations/${s.id}`, name: s.name, mimeType: "application/json" })),
      }),
      complete: { id: (value) => STATIONS.map((s) => s.id).filter((id) => id.startsWith(value)) },
    }),
    { title: "Weather station", description: "One station by id", mimeType: "application/json" },
    (uri, { id }) => {
      const station = STATIONS.find((s) => s.id === id);
      if (!station) throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${uri.href}`);
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(station) }] };
    },
  );

  server.registerPrompt(
    "forecast_summary",
    {
      title: "Forecast summary",
      description: "Ask the model to summarise the 3-day forecast for a city.",
      argsSchema: { city: z.string().describe("City name") },
    },
    ({ city }) => ({
      messages: [
        {
          role: "user",
          content: {
            type: "text",
            text: `Summarise this forecast for ${city} in two sentences:\n${JSON.stringify(forecast(city, 3))}`,
          },
        },
      ],
    }),
  );

  return server;
}

if (isMain(import.meta.url)) {
  await runBackend({ name: "weather", defaultPort: 3101, createServer: createWeatherServer });
}
