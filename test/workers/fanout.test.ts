/**
 * One virtual server from many: lists merged from weather, notes and server-everything with
 * the tenant's naming rules, paged with opaque cursors, and every routed method (tools/call,
 * prompts/get, resources/read, completion/complete) reaching the right backend under its own
 * names. Failing backends: fail-open (a warning, the others' items), fail-closed (an error).
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  backend,
  connect,
  createTenant,
  initializeRequest,
  mcp,
  names,
  putTenant,
  readReply,
  text,
  token,
  type Json,
  type RpcMessage,
  type Session,
} from "./helpers.ts";

const WEATHER_TOOLS = ["get_forecast", "get_alerts", "watch_storm"];
const NOTES_TOOLS = ["add_note", "list_notes", "get_note", "delete_note", "ask_user", "whoami"];
const EVERYTHING_TOOLS = ["echo", "get-sum", "get-tiny-image", "trigger-long-running-operation"];

let all: Session;

beforeAll(async () => {
  const tenant = await createTenant("fan", { backends: [backend.weather(), backend.notes(), backend.everything()] });
  all = await connect(tenant.id);
});

/** Every item of a list, following nextCursor to the end; also returns the pages' sizes. */
async function walk(session: Session, method: string, field: string): Promise<{ items: Json[]; pages: number[] }> {
  const items: Json[] = [];
  const pages: number[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const result = await session.result(method, cursor === undefined ? {} : { cursor });
    const page = result[field] as Json[];
    items.push(...page);
    pages.push(page.length);
    if (result.nextCursor === undefined) return { items, pages };
    expect(typeof result.nextCursor).toBe("string");
    cursor = result.nextCursor as string;
  }
  throw new Error("pagination did not end");
}

describe("merged lists", () => {
  it("tools/list has every backend's tools under `<backend>__`, in config order", async () => {
    const tools = (await all.result("tools/list")).tools as Json[];
    const listed = names(tools);
    for (const tool of WEATHER_TOOLS) expect(listed).toContain(`weather__${tool}`);
    for (const tool of NOTES_TOOLS) expect(listed).toContain(`notes__${tool}`);
    for (const tool of EVERYTHING_TOOLS) expect(listed).toContain(`everything__${tool}`);
    expect(listed.every((name) => /^(weather|notes|everything)__/.test(name))).toBe(true);
    expect(new Set(listed).size).toBe(listed.length);
    // Config order: all of weather's, then notes', then everything's.
    const owners = listed.map((name) => name.split("__")[0]);
    expect(owners.indexOf("notes")).toBeGreaterThan(owners.lastIndexOf("weather"));
    expect(owners.indexOf("everything")).toBeGreaterThan(owners.lastIndexOf("notes"));
    // Everything else about a tool passes through untouched.
    const forecast = tools.find((t) => t.name === "weather__get_forecast")!;
    expect(forecast.description).toBe("Daily forecast for a city (deterministic demo data).");
    expect(forecast.inputSchema).toMatchObject({ type: "object", properties: { city: { type: "string" } } });
    expect(forecast.outputSchema).toBeDefined();
  });

  it("prompts, resources and templates are merged too (URIs unchanged)", async () => {
    const prompts = names((await all.result("prompts/list")).prompts);
    expect(prompts).toEqual(expect.arrayContaining(["weather__forecast_summary", "notes__summarize_notes", "everything__simple-prompt", "everything__completable-prompt"]));
    const resources = ((await all.result("resources/list")).resources as Json[]).map((r) => r.uri);
    expect(resources).toEqual(expect.arrayContaining(["weather://stations", "weather://stations/ber", "notes://all"]));
    const templates = ((await all.result("resources/templates/list")).resourceTemplates as Json[]).map((t) => t.uriTemplate);
    expect(templates).toEqual(expect.arrayContaining(["weather://stations/{id}", "notes://note/{id}", "demo://resource/dynamic/text/{resourceId}"]));
  });
});

describe("naming modes", () => {
  it("on-collision prefixes only names two backends share", async () => {
    const tenant = await createTenant("fan-collide", {
      backends: [backend.weather({ name: "north" }), backend.weather({ name: "south" }), backend.notes()],
      naming: { mode: "on-collision" },
    });
    const session = await connect(tenant.id);
    const listed = names((await session.result("tools/list")).tools);
    expect(listed).toEqual([...WEATHER_TOOLS.map((t) => `north__${t}`), ...WEATHER_TOOLS.map((t) => `south__${t}`), ...NOTES_TOOLS]);
    const result = await session.callTool("south__get_forecast", { city: "Amsterdam", days: 1 });
    expect(text(result)).toContain("Forecast for Amsterdam");
    const notes = await session.callTool("list_notes");
    expect(Array.isArray(JSON.parse(text(notes)))).toBe(true);
  });

  it("never passes names through and keeps the first backend's item on a clash", async () => {
    const tenant = await createTenant("fan-never", {
      backends: [backend.weather({ name: "north" }), backend.weather({ name: "south" }), backend.notes()],
      naming: { mode: "never" },
    });
    const session = await connect(tenant.id);
    const listed = names((await session.result("tools/list")).tools);
    expect(listed).toEqual([...WEATHER_TOOLS, ...NOTES_TOOLS]);
    expect(text(await session.callTool("get_forecast", { city: "Lisbon", days: 1 }))).toContain("Forecast for Lisbon");
    const unknown = await session.request("tools/call", { name: "south__get_forecast", arguments: { city: "Lisbon" } });
    expect(unknown.response.error!.code).toBe(-32602);
  });

  it("a custom separator is used for prefixes and routing", async () => {
    const tenant = await createTenant("fan-sep", { backends: [backend.weather()], naming: { mode: "always", separator: "." } });
    const session = await connect(tenant.id);
    expect(names((await session.result("tools/list")).tools)).toEqual(WEATHER_TOOLS.map((t) => `weather.${t}`));
    expect(text(await session.callTool("weather.get_alerts", { region: "Bavaria" }))).toContain("Bavaria");
  });
});

describe("pagination (limits.pageSize = 4)", () => {
  let paged: Session;

  beforeAll(async () => {
    const tenant = await createTenant("fan-page", {
      backends: [backend.weather(), backend.notes(), backend.everything()],
      limits: { pageSize: 4 },
    });
    paged = await connect(tenant.id);
  });

  it.each([
    ["tools/list", "tools", "name"],
    ["prompts/list", "prompts", "name"],
    ["resources/list", "resources", "uri"],
    ["resources/templates/list", "resourceTemplates", "uriTemplate"],
  ])("%s walks to the end with every item exactly once, in the unpaged order", async (method, field, key) => {
    const { items, pages } = await walk(paged, method, field);
    const unpaged = ((await all.result(method))[field] as Json[]).map((i) => i[key]);
    expect(items.map((i) => i[key])).toEqual(unpaged);
    expect(pages.slice(0, -1).every((size) => size === 4)).toBe(true);
    expect(pages.at(-1)!).toBeGreaterThan(0);
    expect(pages.at(-1)!).toBeLessThanOrEqual(4);
    if (method === "tools/list") expect(pages.length).toBeGreaterThan(3);
  });

  it("an invalid cursor is -32602", async () => {
    const forged = btoa(JSON.stringify({ o: -4, g: "x" })).replaceAll("=", "");
    for (const cursor of ["not-a-cursor", "", "%%%", forged, 42, "x".repeat(300)]) {
      const { response } = await paged.request("tools/list", { cursor });
      expect(response.error?.code, JSON.stringify(cursor)).toBe(-32602);
    }
  });

  it("a cursor of one list is refused by another", async () => {
    const first = await paged.result("tools/list");
    const { response } = await paged.request("prompts/list", { cursor: first.nextCursor });
    expect(response.error?.code).toBe(-32602);
  });

  it("a cursor past the end gives an empty last page, not an error", async () => {
    const first = await paged.result("tools/list");
    const decoded = JSON.parse(atob((first.nextCursor as string).replaceAll("-", "+").replaceAll("_", "/"))) as { o: number; g: string };
    const beyond = btoa(JSON.stringify({ o: 10_000, g: decoded.g })).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
    const result = await paged.result("tools/list", { cursor: beyond });
    expect(result.tools).toEqual([]);
    expect(result.nextCursor).toBeUndefined();
  });
});

describe("routing", () => {
  it("tools/call reaches the owning backend under the original name", async () => {
    const forecast = await all.callTool("weather__get_forecast", { city: "Berlin", days: 2 });
    expect(text(forecast)).toMatch(/^Forecast for Berlin:\nDay 1: .+\nDay 2: /);
    const structured = forecast.structuredContent as { city: string; days: Json[] };
    expect(structured.city).toBe("Berlin");
    expect(structured.days).toHaveLength(2);
    // Deterministic data: the same call gives the same answer.
    expect(await all.callTool("weather__get_forecast", { city: "Berlin", days: 2 })).toEqual(forecast);

    expect(text(await all.callTool("everything__echo", { message: "hello gateway" }))).toBe("Echo: hello gateway");
    expect(text(await all.callTool("everything__get-sum", { a: 19, b: 23 }))).toContain("42");
    expect(Array.isArray(JSON.parse(text(await all.callTool("notes__list_notes"))))).toBe(true);
  });

  it("a tool's own error result passes through as a result", async () => {
    const result = await all.callTool("notes__get_note", { id: "note-does-not-exist" });
    expect(result.isError).toBe(true);
    expect(text(result)).toBe("No note with id note-does-not-exist");
  });

  it("invalid arguments are answered by the backend, not by a gateway failure", async () => {
    const { response } = await all.request("tools/call", { name: "weather__get_forecast", arguments: { days: 99 } });
    // The SDK reports schema violations as a tool error result (or -32602); never a -32000/-32603 from the gateway.
    if (response.error) expect(response.error.code).toBe(-32602);
    else expect(response.result!.isError).toBe(true);
  });

  it("prompts/get reaches the owning backend", async () => {
    const weather = await all.result("prompts/get", { name: "weather__forecast_summary", arguments: { city: "Lisbon" } });
    const messages = weather.messages as { content: { text: string } }[];
    expect(messages[0]!.content.text).toMatch(/^Summarise this forecast for Lisbon/);
    const simple = await all.result("prompts/get", { name: "everything__simple-prompt" });
    expect((simple.messages as unknown[]).length).toBeGreaterThan(0);
  });

  it("resources/read reaches the owner of a listed URI and of a template URI", async () => {
    const stations = await all.result("resources/read", { uri: "weather://stations" });
    const contents = stations.contents as { uri: string; text: string }[];
    expect(JSON.parse(contents[0]!.text)).toHaveLength(5);

    const berlin = await all.result("resources/read", { uri: "weather://stations/ber" });
    expect(JSON.parse((berlin.contents as { text: string }[])[0]!.text)).toMatchObject({ id: "ber", city: "Berlin" });

    // Not listed anywhere: routed by server-everything's template demo://resource/dynamic/text/{resourceId}.
    const dynamic = await all.result("resources/read", { uri: "demo://resource/dynamic/text/7" });
    expect((dynamic.contents as { uri: string; text: string }[])[0]).toMatchObject({ uri: "demo://resource/dynamic/text/7" });
    expect((dynamic.contents as { text: string }[])[0]!.text).toContain("Resource 7");

    const notes = await all.result("resources/read", { uri: "notes://all" });
    expect((notes.contents as { uri: string }[])[0]!.uri).toBe("notes://all");
    expect(Array.isArray(JSON.parse((notes.contents as { text: string }[])[0]!.text))).toBe(true);
  });

  it("a template URI its backend does not know is that backend's -32002", async () => {
    const { response } = await all.request("resources/read", { uri: "weather://stations/zzz" });
    expect(response.error!.code).toBe(-32002);
  });

  it("completion/complete reaches the prompt's or the template's backend", async () => {
    const prompt = await all.result("completion/complete", {
      ref: { type: "ref/prompt", name: "everything__completable-prompt" },
      argument: { name: "department", value: "Eng" },
    });
    expect((prompt.completion as { values: string[] }).values).toEqual(["Engineering"]);

    const withContext = await all.result("completion/complete", {
      ref: { type: "ref/prompt", name: "everything__completable-prompt" },
      argument: { name: "name", value: "" },
      context: { arguments: { department: "Sales" } },
    });
    expect((withContext.completion as { values: string[] }).values).toEqual(["David", "Eve", "Frank"]);

    const template = await all.result("completion/complete", {
      ref: { type: "ref/resource", uri: "weather://stations/{id}" },
      argument: { name: "id", value: "t" },
    });
    expect((template.completion as { values: string[] }).values).toEqual(["tyo"]);
  });

  it("completion/complete for an unknown prompt or a bad ref is -32602", async () => {
    for (const ref of [{ type: "ref/prompt", name: "everything__nope" }, { type: "ref/unknown" }, "string"]) {
      const { response } = await all.request("completion/complete", { ref, argument: { name: "x", value: "" } });
      expect(response.error!.code, JSON.stringify(ref)).toBe(-32602);
    }
  });
});

describe("failing backends", () => {
  const isWarning = (m: RpcMessage) => m.method === "notifications/message" && m.params?.level === "warning";

  it("fail-open: a backend that is down is left out, with a warning on the stream", async () => {
    const tenant = await createTenant("fan-open", { backends: [backend.weather(), backend.down()], failureMode: "open" });
    const session = await connect(tenant.id);
    const { response, messages, reply } = await session.request("tools/list");
    expect(reply.sse).toBe(true);
    expect(names(response.result!.tools)).toEqual(WEATHER_TOOLS.map((t) => `weather__${t}`));
    const warnings = messages.filter(isWarning);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.params!.data).toMatchObject({ backend: "down" });
    // The warning comes before the result it explains.
    expect(messages.indexOf(warnings[0]!)).toBeLessThan(messages.indexOf(response));
    // It names no address or internal error text.
    expect(JSON.stringify(warnings[0])).not.toContain("127.0.0.1");
    // The healthy backend keeps working.
    expect(text(await session.callTool("weather__get_forecast", { city: "Berlin", days: 1 }))).toContain("Berlin");
  });

  it("fail-open warnings obey logging/setLevel", async () => {
    const tenant = await createTenant("fan-open-quiet", { backends: [backend.weather(), backend.down()] });
    const session = await connect(tenant.id);
    await session.result("logging/setLevel", { level: "error" });
    const { messages, reply } = await session.request("tools/list");
    expect(messages.filter(isWarning)).toEqual([]);
    expect(reply.sse).toBe(false);
  });

  it("fail-closed: a backend that is down refuses initialize with a JSON-RPC error", async () => {
    const tenant = await createTenant("fan-closed", { backends: [backend.weather(), backend.down()], failureMode: "closed" });
    const res = await mcp(tenant.id, initializeRequest(), { token: await token(tenant.id) });
    expect(res.headers.get("mcp-session-id")).toBeNull();
    const reply = await readReply(res);
    expect(reply.status).toBe(200);
    expect(reply.messages[0]!.error).toEqual({ code: -32000, message: "Backend unavailable" });
  });

  it("fail-closed: a live session switched to closed refuses a partial list", async () => {
    const tenant = await createTenant("fan-switch", { backends: [backend.weather(), backend.down()], failureMode: "open" });
    const session = await connect(tenant.id);
    expect(names((await session.result("tools/list")).tools)).toHaveLength(3);
    await putTenant(tenant.id, { ...tenant, failureMode: "closed" });
    const { response } = await session.request("tools/list");
    expect(response.error).toEqual({ code: -32000, message: "Backend unavailable" });
  });

  it("all backends down: initialize is refused with a JSON-RPC error and no session", async () => {
    const tenant = await createTenant("fan-dead", { backends: [backend.down(), backend.down({ name: "down-too" })] });
    const res = await mcp(tenant.id, initializeRequest(), { token: await token(tenant.id) });
    expect(res.headers.get("mcp-session-id")).toBeNull();
    const reply = await readReply(res);
    expect(reply.status).toBe(200);
    expect(reply.messages[0]).toEqual({ jsonrpc: "2.0", id: "init", error: { code: -32000, message: "No backend is available" } });
  });
});

describe("tenant changes reach live sessions", () => {
  it("a backend's new headers and new URL apply to the next request of an open session", async () => {
    const tenant = await createTenant("fan-live", { backends: [backend.weather(), backend.notes({ headers: { "x-gateway-tenant": "v1" } })] });
    const session = await connect(tenant.id);
    expect(JSON.parse(text(await session.callTool("notes__whoami")))).toMatchObject({ "x-gateway-tenant": "v1" });

    // Regression: the session kept the upstream built from the old entry (old headers, old URL).
    await putTenant(tenant.id, { ...tenant, backends: [backend.weather(), backend.notes({ headers: { "x-gateway-tenant": "v2" } })] });
    expect(JSON.parse(text(await session.callTool("notes__whoami")))).toMatchObject({ "x-gateway-tenant": "v2" });

    // "weather" now points at server-everything: the session lists and calls the new server.
    await putTenant(tenant.id, { ...tenant, backends: [backend.everything({ name: "weather" }), backend.notes({ headers: { "x-gateway-tenant": "v2" } })] });
    const listed = names((await session.result("tools/list")).tools);
    expect(listed).toContain("weather__echo");
    expect(listed).not.toContain("weather__get_forecast");
    expect(text(await session.callTool("weather__echo", { message: "moved" }))).toBe("Echo: moved");
  });
});
