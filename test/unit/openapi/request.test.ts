/**
 * Tool arguments as HTTP requests (worker/openapi/request.ts) and HTTP answers as tool results
 * (worker/openapi/response.ts): parameter styles, path traversal attempts, bodies beside path
 * parameters, error mapping.
 */
import { describe, expect, it } from "vitest";
import { ArgumentError, buildRequest } from "../../../worker/openapi/request.ts";
import { ERROR_BODY_CHARS, toResult } from "../../../worker/openapi/response.ts";
import type { ParamPlan, ToolPlan } from "../../../worker/openapi/tools.ts";

const BASE = "https://api.example.com/v1";

function plan(path: string, params: Partial<ParamPlan>[], extra: Partial<ToolPlan> = {}): ToolPlan {
  return {
    name: "t",
    method: "get",
    path,
    params: params.map((p) => ({ key: p.name!, name: p.name!, in: "query", style: p.in === "path" || p.in === "header" ? "simple" : "form", explode: p.in === "path" || p.in === "header" ? false : true, required: p.in === "path", ...p })),
    body: null,
    wrapResult: false,
    hasOutputSchema: false,
    ...extra,
  };
}

describe("path parameters", () => {
  const one = plan("/files/{name}/meta", [{ name: "name", in: "path" }]);

  it("percent-encodes a value so it stays one segment", () => {
    expect(buildRequest(BASE, one, { name: "a b/c?d#e%f" }).url).toBe("https://api.example.com/v1/files/a%20b%2Fc%3Fd%23e%25f/meta");
    expect(buildRequest(BASE, one, { name: "report.final.pdf" }).url).toBe("https://api.example.com/v1/files/report.final.pdf/meta");
  });

  it.each([["../../admin"], ["..%2F..%2Fadmin"], ["%2e%2e"], ["/etc/passwd"], ["..\\..\\admin"], ["%2E%2E%2F"]])("cannot leave the path with %j", (value) => {
    const url = new URL(buildRequest(BASE, one, { name: value }).url);
    expect(url.origin).toBe("https://api.example.com");
    expect(url.pathname.startsWith("/v1/files/")).toBe(true);
    expect(url.pathname.endsWith("/meta")).toBe(true);
    expect(url.pathname.split("/")).toHaveLength(5);
  });

  it.each([[".."], ["."]])("refuses a value that is the dot segment %j", (value) => {
    expect(() => buildRequest(BASE, one, { name: value })).toThrow(ArgumentError);
  });

  it("refuses a dot segment made by label style, a missing or empty value, and a non-scalar in simple style", () => {
    const label = plan("/x/{v}", [{ name: "v", in: "path", style: "label" }]);
    expect(() => buildRequest(BASE, label, { v: "." })).toThrow(/'\.' or '\.\.'/);
    expect(() => buildRequest(BASE, one, {})).toThrow(/missing required argument name/);
    expect(() => buildRequest(BASE, one, { name: "" })).toThrow(/must not be empty/);
    expect(() => buildRequest(BASE, one, { name: [{ nested: 1 }] })).toThrow(/must be a string, number or boolean/);
  });

  it("serializes simple, label and matrix styles, exploded or not (OAS 3.1 §4.8.12.4)", () => {
    const url = (style: string, explode: boolean, v: unknown) => buildRequest("https://h.example", plan("/p/{id}", [{ name: "id", in: "path", style, explode }]), { id: v }).url.slice("https://h.example/p/".length);
    expect(url("simple", false, [3, 4, 5])).toBe("3,4,5");
    expect(url("simple", false, { role: "admin", first: "Alex" })).toBe("role,admin,first,Alex");
    expect(url("simple", true, { role: "admin", first: "Alex" })).toBe("role=admin,first=Alex");
    expect(url("label", false, 5)).toBe(".5");
    expect(url("label", true, [3, 4, 5])).toBe(".3.4.5");
    expect(url("matrix", false, 5)).toBe(";id=5");
    expect(url("matrix", true, [3, 4])).toBe(";id=3;id=4");
    expect(url("matrix", false, [3, 4])).toBe(";id=3,4");
  });
});

describe("query, header and cookie parameters", () => {
  it("serializes query styles: form (exploded or not), spaceDelimited, pipeDelimited, deepObject", () => {
    const q = (style: string, explode: boolean, v: unknown) => new URL(buildRequest(BASE, plan("/s", [{ name: "f", style, explode }]), { f: v }).url).search;
    expect(q("form", true, ["a", "b c"])).toBe("?f=a&f=b%20c");
    expect(q("form", false, ["a", "b"])).toBe("?f=a,b");
    expect(q("form", true, { x: 1, y: "&" })).toBe("?x=1&y=%26");
    expect(q("spaceDelimited", false, [1, 2])).toBe("?f=1%202");
    expect(q("pipeDelimited", false, [1, 2])).toBe("?f=1%7C2");
    expect(q("deepObject", true, { color: "red", size: "L" })).toBe("?f%5Bcolor%5D=red&f%5Bsize%5D=L");
    expect(q("form", true, true)).toBe("?f=true");
  });

  it("sends header and cookie parameters, refusing line breaks in headers", () => {
    const p = plan("/s", [
      { name: "X-Request-Tag", in: "header" },
      { name: "session", in: "cookie" },
      { name: "theme", in: "cookie" },
    ]);
    const built = buildRequest(BASE, p, { "X-Request-Tag": "blue", session: "a b;c", theme: "dark" });
    expect(built.headers["x-request-tag"]).toBe("blue");
    expect(built.headers.cookie).toBe("session=a%20b%3Bc; theme=dark");
    expect(() => buildRequest(BASE, p, { "X-Request-Tag": "x\r\nHost: evil" })).toThrow(/line break/);
  });

  it("leaves optional parameters out and ignores arguments the operation does not define", () => {
    const built = buildRequest(BASE, plan("/s", [{ name: "a" }]), { other: "x" });
    expect(built.url).toBe("https://api.example.com/v1/s");
  });
});

describe("bodies beside path and query parameters", () => {
  it("sends a JSON body with path and query parameters", () => {
    const p = plan("/pets/{id}", [{ name: "id", in: "path" }, { name: "dryRun" }], { method: "put", body: { key: "body", mediaType: "json", contentType: "application/json", required: true } });
    const built = buildRequest(BASE, p, { id: "p/1", dryRun: false, body: { name: "Rex", tags: ["a"] } });
    expect(built).toMatchObject({ method: "PUT", url: "https://api.example.com/v1/pets/p%2F1?dryRun=false", body: '{"name":"Rex","tags":["a"]}' });
    expect(built.headers["content-type"]).toBe("application/json");
    expect(() => buildRequest(BASE, p, { id: "1" })).toThrow(/missing required argument body/);
  });

  it("form-encodes a form body, nested values as JSON text", () => {
    const p = plan("/pets/{id}", [{ name: "id", in: "path" }], { method: "post", body: { key: "body", mediaType: "form", contentType: "application/x-www-form-urlencoded", required: false } });
    const built = buildRequest(BASE, p, { id: 7, body: { name: "Rex & Co", tags: ["a", "b"], meta: { x: 1 } } });
    expect(built.body).toBe("name=Rex+%26+Co&tags=a&tags=b&meta=%7B%22x%22%3A1%7D");
    expect(() => buildRequest(BASE, p, { id: 7, body: "name=x" })).toThrow(/object of form fields/);
    expect(buildRequest(BASE, p, { id: 7 }).body).toBeNull();
  });
});

describe("answers as tool results", () => {
  const withOutput = plan("/x", [], { hasOutputSchema: true });

  it("gives a 2xx JSON object as structured content and text", async () => {
    const result = await toResult(Response.json({ id: 1, name: "Rex" }), withOutput);
    expect(result).toEqual({ content: [{ type: "text", text: '{"id":1,"name":"Rex"}' }], structuredContent: { id: 1, name: "Rex" } });
  });

  it("wraps a non-object body as { result } when the output schema does", async () => {
    const result = await toResult(Response.json([1, 2]), { ...withOutput, wrapResult: true });
    expect(result.structuredContent).toEqual({ result: [1, 2] });
  });

  it("gives text bodies as text and binary ones as a note", async () => {
    expect(await toResult(new Response("hello", { headers: { "content-type": "text/plain" } }), withOutput)).toEqual({ content: [{ type: "text", text: "hello" }] });
    const binary = await toResult(new Response(new Uint8Array([1, 2, 3]), { headers: { "content-type": "image/png" } }), withOutput);
    expect(binary.content[0]!.text).toBe("HTTP 200: a image/png body, which is not shown");
  });

  it("turns any other status into an isError result with the status and a capped body", async () => {
    const result = await toResult(new Response(JSON.stringify({ message: "no such pet" }), { status: 404, statusText: "Not Found" }), withOutput);
    expect(result).toEqual({ isError: true, content: [{ type: "text", text: 'HTTP 404 Not Found\n{"message":"no such pet"}' }] });
    const long = await toResult(new Response("x".repeat(ERROR_BODY_CHARS * 3), { status: 500 }), withOutput);
    expect(long.isError).toBe(true);
    expect(long.content[0]!.text.length).toBeLessThan(ERROR_BODY_CHARS + 20);
    const huge = await toResult(new Response("y".repeat(ERROR_BODY_CHARS * 10), { status: 502 }), withOutput);
    expect(huge.content[0]!.text).toBe("HTTP 502\n(body too large to show)");
    const redirect = await toResult(new Response(null, { status: 302, headers: { location: "http://169.254.169.254/" } }), withOutput);
    expect(redirect.isError).toBe(true);
  });

  it("reports a JSON body that does not parse as an error", async () => {
    const result = await toResult(new Response("{oops", { headers: { "content-type": "application/json" } }), withOutput);
    expect(result.isError).toBe(true);
  });
});
