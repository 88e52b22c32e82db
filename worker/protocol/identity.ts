/** How the gateway introduces itself to clients (serverInfo) and to backends (clientInfo). */
export const GATEWAY_NAME = "edge-mcp-gateway";
export const GATEWAY_VERSION = "0.1.0";
export const GATEWAY_INFO = { name: GATEWAY_NAME, title: "Edge MCP Gateway", version: GATEWAY_VERSION };
