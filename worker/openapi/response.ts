/**
 * An API's HTTP answer as an MCP `CallToolResult` (2025-11-25 server/tools "Tool Result",
 * "Structured Content", "Error Handling"): a 2xx JSON body is the structured content (and its
 * text, for clients that read text only); any other status is a tool execution error carrying
 * the status and the start of the body, so the model can correct its arguments.
 */
import { BodyTooLargeError, readCapped } from "../protocol/body.ts";
import type { ToolPlan } from "./tools.ts";

/** A successful body larger than this is refused: it would flood the model's context anyway. */
export const MAX_RESULT_BYTES = 2 * 1024 * 1024;
/** How much of an error body the model sees. */
export const ERROR_BODY_CHARS = 2_048;

export type CallToolResult = {
  content: { type: "text"; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
};

export function toolError(text: string): CallToolResult {
  return { content: [{ type: "text", text }], isError: true };
}

const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json\b/i;
const TEXT_MEDIA = /^(?:text\/|application\/(?:xml|x-www-form-urlencoded|(?:[\w.+-]+\+)?xml)\b)/i;

export async function toResult(response: Response, plan: ToolPlan): Promise<CallToolResult> {
  const type = response.headers.get("content-type") ?? "";
  if (!response.ok) {
    let text = "";
    try {
      text = await readCapped(response.body, ERROR_BODY_CHARS * 4);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      text = "(body too large to show)";
    }
    const shown = text.length > ERROR_BODY_CHARS ? `${text.slice(0, ERROR_BODY_CHARS)}…` : text;
    return toolError(`HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}${shown ? `\n${shown}` : ""}`);
  }
  if (response.status === 204 || response.body === null) {
    await response.body?.cancel().catch(() => {});
    return plan.hasOutputSchema && plan.wrapResult ? { content: [{ type: "text", text: "null" }], structuredContent: { result: null } } : { content: [{ type: "text", text: `HTTP ${response.status}, no content` }] };
  }
  if (!JSON_MEDIA.test(type) && !TEXT_MEDIA.test(type)) {
    await response.body.cancel().catch(() => {});
    return { content: [{ type: "text", text: `HTTP ${response.status}: a ${type || "untyped"} body, which is not shown` }] };
  }
  let text: string;
  try {
    text = await readCapped(response.body, MAX_RESULT_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) return toolError(`the API answered more than ${MAX_RESULT_BYTES} bytes, which is not relayed`);
    throw error;
  }
  if (!JSON_MEDIA.test(type)) return { content: [{ type: "text", text }] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return toolError(`HTTP ${response.status}: the API's JSON body does not parse`);
  }
  const result: CallToolResult = { content: [{ type: "text", text }] };
  if (plan.hasOutputSchema) {
    if (plan.wrapResult) result.structuredContent = { result: value };
    else if (typeof value === "object" && value !== null && !Array.isArray(value)) result.structuredContent = value as Record<string, unknown>;
  }
  return result;
}
