/**
 * A backend that is itself a Worker, reached from the gateway through a service binding (no
 * public URL, no network hop). A small stateless MCP server built on the SDK's web-standard
 * Streamable HTTP transport: one server per request, JSON replies.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { z } from "zod";

const STOCK: Record<string, number> = { "sku-100": 12, "sku-200": 0, "sku-300": 57 };

function createServer(): McpServer {
  const server = new McpServer({ name: "inventory-worker", version: "1.0.0" });
  server.registerTool(
    "stock_level",
    {
      title: "Stock level",
      description: "Units in stock for a SKU (demo data).",
      inputSchema: { sku: z.string().min(1) },
    },
    async ({ sku }) => {
      const units = STOCK[sku];
      return units === undefined
        ? { isError: true, content: [{ type: "text", text: `Unknown SKU ${sku}` }] }
        : { content: [{ type: "text", text: `${sku}: ${units} units` }] };
    },
  );
  return server;
}

export default {
  async fetch(request: Request): Promise<Response> {
    if (new URL(request.url).pathname !== "/mcp") return new Response("not found", { status: 404 });
    // Stateless: no session ids, so any gateway session may call any instance of this Worker.
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = createServer();
    await server.connect(transport);
    return transport.handleRequest(request);
  },
};
