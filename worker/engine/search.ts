/**
 * Lists, and search mode (docs/catalog.md): the tenant's `catalog.mode` decides whether
 * `tools/list` answers the merged tools or the two tools `search_tools` and `call_tool`.
 *
 * Search mode is one fixed surface in both protocol eras, so a 2026-07-28 client's list stays
 * session-independent and a client's prompt cache stays stable. `search_tools` is answered here
 * from the merged, curated list, filtered by the same visibility as a list (a hidden tool is
 * never found). `call_tool` is rewritten into the `tools/call` of the tool it names, before the
 * handler decides anything, so the inner call takes exactly the path of a direct call: policy
 * with its arguments, tool rate limits, approvals, quarantine, the audit row naming the real
 * tool, redaction, progress, elicitation and cancellation (the request id and `_meta` are kept).
 */
import { LIST_KIND_BY_METHOD, type Item } from "../broker/merge.ts";
import { DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT, searchTools, toolIndex } from "../broker/search.ts";
import { asRecord, LOG_LEVELS, notification, result, type JsonRpcNotification, type JsonRpcRequest } from "../protocol/jsonrpc.ts";
import { CALL_TOOL, catalogMode, DEFAULT_CATALOG, SEARCH_TOOL } from "../tenant/catalog.ts";
import type { TenantConfig } from "../tenant/schema.ts";
import { visibility } from "./access.ts";
import { local, type Produced } from "./answers.ts";
import type { Catalog, ListOutcome } from "./catalog.ts";
import type { EngineHost } from "./host.ts";
import { sameConfirmationAnswer } from "./approvals.ts";

/** The two tools of search mode, as listed (2025-11-25 server/tools "Tool"). */
export const SEARCH_MODE_TOOLS: readonly Item[] = [
  {
    name: SEARCH_TOOL,
    title: "Search tools",
    description:
      "Finds the tools of this server that match what you want to do. Returns the best matches, best first, each with its name, description and input schema. Call the one you choose with call_tool.",
    inputSchema: {
      type: "object",
      properties: {
        query: { type: "string", description: "What you want to do, in a few words (for example: weather forecast for a city)." },
        limit: { type: "integer", minimum: 1, maximum: MAX_SEARCH_LIMIT, description: `How many tools to return (default ${DEFAULT_SEARCH_LIMIT}).` },
      },
      required: ["query"],
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: CALL_TOOL,
    title: "Call a tool",
    description: "Calls a tool found with search_tools, by its name, with arguments that follow its input schema. Returns what the tool returns.",
    inputSchema: {
      type: "object",
      properties: {
        name: { type: "string", description: "The tool's name, as search_tools gave it." },
        arguments: { type: "object", description: "The tool's arguments." },
      },
      required: ["name"],
    },
  },
];

/** Answers a list request: search mode's two tools, or one page of the merged, visible list. */
export async function answerList(host: EngineHost, catalog: Catalog, request: JsonRpcRequest, config: TenantConfig, signal: AbortSignal): Promise<Produced> {
  const kind = LIST_KIND_BY_METHOD[request.method]!;
  if (kind === "tools") {
    const mode = await searchMode(host, catalog, config, signal);
    if (mode.on) return { routed: false, messages: [...warnings(host, mode.failed), result(request.id, { tools: SEARCH_MODE_TOOLS })] };
  }
  const outcome = await catalog.list(kind, request.params ?? {}, config, signal, visibility(config, host.caller().principal, catalog));
  return { routed: false, messages: [...warnings(host, outcome.failed), result(request.id, outcome.result)] };
}

/**
 * Search mode's calls: `search_tools` answered here, `call_tool` turned into the request for the
 * tool it names (for the handler to decide as any call). Any other request comes back as it is.
 */
export async function searchCall(host: EngineHost, catalog: Catalog, request: JsonRpcRequest, config: TenantConfig, signal: AbortSignal): Promise<Produced | JsonRpcRequest> {
  const params = request.params ?? {};
  if (request.method !== "tools/call" || (params.name !== SEARCH_TOOL && params.name !== CALL_TOOL)) return request;
  if (catalogMode(config) === "full" || !(await searchMode(host, catalog, config, signal)).on) return request;
  const args = asRecord(params.arguments);
  if (params.name === CALL_TOOL) {
    // 2025-11-25 server/tools "Error Handling": bad input to a tool is the tool's error, for the model to correct.
    if (typeof args.name !== "string") return local(result(request.id, toolError("call_tool needs name: the name of a tool search_tools returned")));
    const { arguments: _outer, ...rest } = params;
    // A 2026-07-28 retry's answer to a confirmation form (engine/approvals.ts) goes with the inner call.
    return sameConfirmationAnswer(request, { ...request, params: { ...rest, name: args.name, ...(args.arguments === undefined ? {} : { arguments: args.arguments }) } });
  }
  if (typeof args.query !== "string") return local(result(request.id, toolError("search_tools needs query: a few words saying what you want to do")));
  const limit = args.limit === undefined ? DEFAULT_SEARCH_LIMIT : Number(args.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) return local(result(request.id, toolError(`limit must be an integer from 1 to ${MAX_SEARCH_LIMIT}`)));
  const { merged, failed } = await catalog.merged("tools", config, signal);
  const visible = visibility(config, host.caller().principal, catalog);
  const found = searchTools(toolIndex(merged.items), args.query, limit, (i) => visible("tools", merged.origins[i]!)).map(describe);
  const structured = { tools: found };
  return { routed: false, messages: [...warnings(host, failed), result(request.id, { content: [{ type: "text", text: JSON.stringify(structured) }], structuredContent: structured })] };
}

/** Whether search mode applies to the caller: always in "search", above the threshold of visible tools in "auto". */
async function searchMode(host: EngineHost, catalog: Catalog, config: TenantConfig, signal: AbortSignal): Promise<{ on: boolean; failed: ListOutcome["failed"] }> {
  const settings = config.catalog ?? DEFAULT_CATALOG;
  const mode = catalogMode(config);
  if (mode !== "auto") return { on: mode === "search", failed: [] };
  const { merged, failed } = await catalog.merged("tools", config, signal);
  const visible = visibility(config, host.caller().principal, catalog);
  let count = 0;
  for (const origin of merged.origins) if (visible("tools", origin) && ++count > settings.searchThreshold) return { on: true, failed };
  return { on: false, failed };
}

/** What a search result says of a tool: enough to call it. */
function describe(item: Item): Item {
  const described: Item = { name: item.name };
  for (const key of ["title", "description", "inputSchema", "annotations"]) if (item[key] !== undefined) described[key] = item[key];
  return described;
}

function toolError(text: string): Record<string, unknown> {
  return { content: [{ type: "text", text }], isError: true };
}

/** A warning per backend left out of a list, above the client's log level (2025-11-25 server/utilities/logging). */
function warnings(host: EngineHost, failed: ListOutcome["failed"]): JsonRpcNotification[] {
  const min = LOG_LEVELS.indexOf(host.client().logLevel ?? "debug");
  if (LOG_LEVELS.indexOf("warning") < min) return [];
  return failed.map((f) =>
    notification("notifications/message", { level: "warning", logger: "gateway", data: { message: `backend ${f.backend} is unavailable; its items are omitted`, backend: f.backend, reason: f.reason } }),
  );
}
