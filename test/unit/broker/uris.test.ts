/**
 * Resource URIs made unique reversibly (worker/broker/uris.ts, docs/resources.md).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { BackendList } from "../../../worker/broker/merge.ts";
import { mentionsUris, namespaceUri, splitNamespacedUri, UriMap, withResultUris, withUiResource } from "../../../worker/broker/uris.ts";

const resources: BackendList[] = [
  { backend: "maps", items: [{ uri: "ui://widget" }, { uri: "file:///README.md" }, { uri: "maps://only" }] },
  { backend: "charts", items: [{ uri: "ui://widget" }, { uri: "file:///README.md" }] },
];
const templates: BackendList[] = [
  { backend: "maps", items: [{ uriTemplate: "file:///docs/{page}" }, { uriTemplate: "tiles://{z}/{x}/{y}" }] },
  { backend: "charts", items: [{ uriTemplate: "file:///docs/{page}" }] },
];
const map = (mode: "always" | "on-collision" | "never") => new UriMap(mode, "__", ["maps", "charts"], resources, templates);

describe("namespaceUri and splitNamespacedUri", () => {
  it("put the backend after the scheme and its //, keeping the scheme", () => {
    expect(namespaceUri("notes", "file:///README.md", "__")).toBe("file://notes__/README.md");
    expect(namespaceUri("maps", "ui://widget", "__")).toBe("ui://maps__widget");
    expect(namespaceUri("books", "urn:isbn:123", "__")).toBe("urn:books__isbn:123");
    expect(namespaceUri("a", "no-scheme", "__")).toBe("a__no-scheme");
  });

  it("are reversible for any backend name and URI, with any allowed separator", () => {
    const backend = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/);
    // Every URI has a scheme (RFC 3986 §3); separators are those naming allows (tenant/schema.ts).
    const uri = fc.oneof(fc.webUrl(), fc.string().map((s) => `x:${s}`), fc.string().map((s) => `ui://${s}`), fc.constantFrom("file:///x", "urn:a:b"));
    fc.assert(
      fc.property(backend, uri, fc.constantFrom("__", ".", "_", "-", "_.-"), (b, u, sep) => {
        const split = splitNamespacedUri(namespaceUri(b, u, sep), [b], sep);
        expect(split[0]).toEqual({ backend: b, original: u });
      }),
    );
  });

  it("offer the longest backend name first when names overlap", () => {
    expect(splitNamespacedUri("x://a-b-c", ["a", "a-b"], "-").map((c) => c.backend)).toEqual(["a-b", "a"]);
  });
});

describe("UriMap", () => {
  it("on-collision: namespaces only URIs and templates two backends share", () => {
    const m = map("on-collision");
    expect(m.expose("maps", "ui://widget")).toBe("ui://maps__widget");
    expect(m.expose("maps", "maps://only")).toBe("maps://only");
    expect(m.exposeTemplate("charts", "file:///docs/{page}")).toBe("file://charts__/docs/{page}");
    expect(m.exposeTemplate("maps", "tiles://{z}/{x}/{y}")).toBe("tiles://{z}/{x}/{y}");
    // A URI a shared template expands to is namespaced like the template; one of a private template is not.
    expect(m.expose("charts", "file:///docs/intro")).toBe("file://charts__/docs/intro");
    expect(m.expose("maps", "tiles://1/2/3")).toBe("tiles://1/2/3");
  });

  it("resolves namespaced URIs to their backend's own URI, plain ones only when one backend serves them", () => {
    const m = map("on-collision");
    expect(m.resolve("ui://charts__widget")).toEqual({ backend: "charts", original: "ui://widget" });
    expect(m.resolve("file://maps__/docs/a")).toEqual({ backend: "maps", original: "file:///docs/a" });
    expect(m.resolve("maps://only")).toEqual({ backend: "maps", original: "maps://only" });
    expect(m.resolve("tiles://1/2/3")).toEqual({ backend: "maps", original: "tiles://1/2/3" });
    expect(m.resolve("ui://widget")).toBeUndefined();
    expect(m.resolve("file:///docs/a")).toBeUndefined();
    expect(m.resolve("nowhere://x")).toBeUndefined();
  });

  it("always namespaces everything; never passes through with the first backend keeping a shared URI", () => {
    expect(map("always").expose("maps", "maps://only")).toBe("maps://maps__only");
    expect(map("always").resolve("maps://maps__only")).toEqual({ backend: "maps", original: "maps://only" });
    const never = map("never");
    expect(never.expose("charts", "ui://widget")).toBe("ui://widget");
    expect(never.resolve("ui://widget")).toEqual({ backend: "maps", original: "ui://widget" });
    expect(never.resolve("ui://charts__widget")).toBeUndefined();
  });

  it("round-trips every listed URI: what a backend lists resolves back to that backend and URI", () => {
    for (const mode of ["always", "on-collision"] as const) {
      const m = map(mode);
      for (const { backend, items } of resources) for (const item of items) expect(m.resolve(m.expose(backend, item.uri as string))).toEqual({ backend, original: item.uri });
    }
  });
});

describe("URIs inside tools and results", () => {
  const upper = (uri: string) => uri.toUpperCase();

  it("maps an MCP App tool's _meta.ui.resourceUri (and the early ui/resourceUri key), and leaves other tools as they are", () => {
    const tool = { name: "show", _meta: { ui: { resourceUri: "ui://widget", visibility: ["model"] }, "ui/resourceUri": "ui://widget" } };
    expect(withUiResource(tool, upper)).toEqual({ name: "show", _meta: { ui: { resourceUri: "UI://WIDGET", visibility: ["model"] }, "ui/resourceUri": "UI://WIDGET" } });
    const plain = { name: "plain", _meta: { other: 1 } };
    expect(withUiResource(plain, upper)).toBe(plain);
  });

  it("maps read contents, resource links and embedded resources, and nothing else", () => {
    const result = {
      contents: [{ uri: "file:///a", text: "x" }],
      content: [{ type: "text", text: "uri" }, { type: "resource_link", uri: "ui://w", name: "w" }, { type: "resource", resource: { uri: "file:///b", text: "y" } }],
    };
    expect(mentionsUris(result)).toBe(true);
    expect(withResultUris(result, upper)).toEqual({
      contents: [{ uri: "FILE:///A", text: "x" }],
      content: [{ type: "text", text: "uri" }, { type: "resource_link", uri: "UI://W", name: "w" }, { type: "resource", resource: { uri: "FILE:///B", text: "y" } }],
    });
    expect(mentionsUris({ content: [{ type: "text", text: "hello" }] })).toBe(false);
    expect(mentionsUris({ content: [{ type: "text", text: "a \"uri\" in prose" }], structuredContent: { uri: "x://y" } })).toBe(false);
    expect(mentionsUris({ messages: [{ role: "user", content: { type: "resource", resource: { uri: "file:///p", text: "z" } } }] })).toBe(true);
  });
});
