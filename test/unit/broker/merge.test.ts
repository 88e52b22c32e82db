/**
 * Merging many backends' answers into what one server would answer: lists (server/tools,
 * server/prompts, server/resources), capabilities (basic/lifecycle "Capability Negotiation")
 * and instructions, and which backend serves a resource URI.
 */
import { describe, expect, it } from "vitest";
import {
  LIST_CHANGED,
  LIST_KIND_BY_METHOD,
  LISTS,
  mergeCapabilities,
  mergeInstructions,
  mergeList,
  offers,
  resolveResource,
  type BackendList,
} from "../../../worker/broker/merge.ts";
import { resolveName } from "../../../worker/broker/naming.ts";
import type { NamingConfig } from "../../../worker/tenant/schema.ts";

const always: NamingConfig = { mode: "always", separator: "__", resources: "on-collision" };
const onCollision: NamingConfig = { mode: "on-collision", separator: "__", resources: "on-collision" };
const never: NamingConfig = { mode: "never", separator: "__", resources: "on-collision" };

describe("list specs", () => {
  it("name the MCP list methods and their result fields (server/tools, server/prompts, server/resources)", () => {
    expect(LISTS.tools).toMatchObject({ method: "tools/list", field: "tools", capability: "tools", named: true });
    expect(LISTS.prompts).toMatchObject({ method: "prompts/list", field: "prompts", capability: "prompts", named: true });
    expect(LISTS.resources).toMatchObject({ method: "resources/list", field: "resources", capability: "resources", named: false });
    expect(LISTS.resourceTemplates).toMatchObject({
      method: "resources/templates/list",
      field: "resourceTemplates",
      capability: "resources",
      named: false,
    });
  });

  it("find the list kind of each list method", () => {
    expect(LIST_KIND_BY_METHOD).toEqual({
      "tools/list": "tools",
      "prompts/list": "prompts",
      "resources/list": "resources",
      "resources/templates/list": "resourceTemplates",
    });
  });

  it("invalidate resources and templates together on notifications/resources/list_changed", () => {
    expect(LIST_CHANGED["notifications/tools/list_changed"]).toEqual(["tools"]);
    expect(LIST_CHANGED["notifications/prompts/list_changed"]).toEqual(["prompts"]);
    expect(LIST_CHANGED["notifications/resources/list_changed"]).toEqual(["resources", "resourceTemplates"]);
  });
});

describe("mergeList for tools and prompts", () => {
  const tools: BackendList[] = [
    { backend: "github", items: [{ name: "search", description: "code", inputSchema: { type: "object" } }, { name: "issue" }] },
    { backend: "notes", items: [{ name: "search", description: "notes" }] },
  ];

  it("renames every item by the naming rules and keeps every other field", () => {
    const merged = mergeList("tools", tools, always);
    expect(merged.items).toEqual([
      { name: "github__search", description: "code", inputSchema: { type: "object" } },
      { name: "github__issue" },
      { name: "notes__search", description: "notes" },
    ]);
  });

  it("returns the name table that routes each exposed name back", () => {
    const merged = mergeList("tools", tools, always);
    expect(resolveName(merged.names, "notes__search")).toEqual({ exposed: "notes__search", backend: "notes", original: "search" });
    expect(merged.names).toHaveLength(3);
  });

  it("records, for each item at the same index, the backend it came from and its original name", () => {
    const merged = mergeList("tools", tools, always);
    expect(merged.origins).toEqual([
      { backend: "github", original: "search" },
      { backend: "github", original: "issue" },
      { backend: "notes", original: "search" },
    ]);
    expect(merged.origins).toHaveLength(merged.items.length);
  });

  it("does not mutate the backends' items", () => {
    const copy = structuredClone(tools);
    mergeList("tools", tools, always);
    expect(tools).toEqual(copy);
  });

  it("keeps an item object as is when its name does not change", () => {
    const item = { name: "only_here" };
    const merged = mergeList("tools", [{ backend: "a", items: [item] }], onCollision);
    expect(merged.items[0]).toBe(item);
  });

  it("prefixes only shared names in mode on-collision", () => {
    const merged = mergeList("prompts", [
      { backend: "a", items: [{ name: "summarize" }, { name: "greet" }] },
      { backend: "b", items: [{ name: "summarize" }] },
    ], onCollision);
    expect(merged.items.map((i) => i.name)).toEqual(["a__summarize", "greet", "b__summarize"]);
  });

  it("leaves out a later backend's item whose name is taken, in mode never", () => {
    const merged = mergeList("tools", tools, never);
    expect(merged.items).toEqual([
      { name: "search", description: "code", inputSchema: { type: "object" } },
      { name: "issue" },
    ]);
    expect(resolveName(merged.names, "search")?.backend).toBe("github");
    expect(merged.origins).toEqual([
      { backend: "github", original: "search" },
      { backend: "github", original: "issue" },
    ]);
  });

  it("skips items without a string name", () => {
    const merged = mergeList("tools", [
      { backend: "a", items: [{ description: "nameless" }, { name: 42 }, { name: null }, { name: "ok" }] },
    ], always);
    expect(merged.items).toEqual([{ name: "a__ok" }]);
    expect(merged.names).toEqual([{ exposed: "a__ok", backend: "a", original: "ok" }]);
  });

  it("shows a name a backend lists twice once, with the first item's fields", () => {
    const merged = mergeList("tools", [{ backend: "a", items: [{ name: "x", description: "first" }, { name: "x", description: "second" }] }], always);
    expect(merged.items).toEqual([{ name: "a__x", description: "first" }]);
  });

  it("keeps backends in config order and each backend's items in its own order", () => {
    const merged = mergeList("tools", [
      { backend: "z", items: [{ name: "b" }, { name: "a" }] },
      { backend: "a", items: [{ name: "c" }] },
    ], always);
    expect(merged.items.map((i) => i.name)).toEqual(["z__b", "z__a", "a__c"]);
  });

  it("merges nothing into an empty list", () => {
    expect(mergeList("tools", [], always)).toEqual({ items: [], names: [], origins: [] });
    expect(mergeList("prompts", [{ backend: "a", items: [] }], always)).toEqual({ items: [], names: [], origins: [] });
  });
});

describe("mergeList for resources and resource templates", () => {
  it("keeps resource URIs no two backends share as they are (on-collision, the default) and returns no name table", () => {
    const merged = mergeList("resources", [
      { backend: "a", items: [{ uri: "file:///a.txt", name: "a.txt" }] },
      { backend: "b", items: [{ uri: "https://b.example/doc", name: "doc" }] },
    ], always);
    expect(merged.items).toEqual([
      { uri: "file:///a.txt", name: "a.txt" },
      { uri: "https://b.example/doc", name: "doc" },
    ]);
    expect(merged.names).toEqual([]);
    expect(merged.origins).toEqual([
      { backend: "a", original: "file:///a.txt" },
      { backend: "b", original: "https://b.example/doc" },
    ]);
  });

  const shared: BackendList[] = [
    { backend: "a", items: [{ uri: "file:///shared", name: "from a" }] },
    { backend: "b", items: [{ uri: "file:///shared", name: "from b" }, { uri: "file:///b-only", name: "b" }] },
  ];

  it("namespaces a URI two backends share, under each backend (on-collision), and keeps the others", () => {
    const merged = mergeList("resources", shared, always);
    expect(merged.items).toEqual([
      { uri: "file://a__/shared", name: "from a" },
      { uri: "file://b__/shared", name: "from b" },
      { uri: "file:///b-only", name: "b" },
    ]);
    expect(merged.origins).toEqual([
      { backend: "a", original: "file:///shared" },
      { backend: "b", original: "file:///shared" },
      { backend: "b", original: "file:///b-only" },
    ]);
  });

  it("namespaces every URI with resources: always, and lists a shared one once, from the first backend, with never", () => {
    expect(mergeList("resources", shared, { ...always, resources: "always" }).items.map((i) => i.uri)).toEqual(["file://a__/shared", "file://b__/shared", "file://b__/b-only"]);
    const first = mergeList("resources", shared, { ...always, resources: "never" });
    expect(first.items).toEqual([
      { uri: "file:///shared", name: "from a" },
      { uri: "file:///b-only", name: "b" },
    ]);
    expect(first.origins.map((o) => o.backend)).toEqual(["a", "b"]);
  });

  it("namespaces templates two backends share (their literal prefix moves with them), first wins with never", () => {
    const lists: BackendList[] = [
      { backend: "a", items: [{ uriTemplate: "file:///{path}", name: "a files" }] },
      { backend: "b", items: [{ uriTemplate: "file:///{path}", name: "b files" }, { uriTemplate: "db://{table}", name: "tables" }] },
    ];
    expect(mergeList("resourceTemplates", lists, always).items).toEqual([
      { uriTemplate: "file://a__/{path}", name: "a files" },
      { uriTemplate: "file://b__/{path}", name: "b files" },
      { uriTemplate: "db://{table}", name: "tables" },
    ]);
    expect(mergeList("resourceTemplates", lists, { ...always, resources: "never" }).items).toEqual([
      { uriTemplate: "file:///{path}", name: "a files" },
      { uriTemplate: "db://{table}", name: "tables" },
    ]);
  });

  it("skips resources without a string uri and templates without a string uriTemplate", () => {
    expect(mergeList("resources", [{ backend: "a", items: [{ name: "no uri" }, { uri: 5 }, { uriTemplate: "x://{y}" }, { uri: "x://ok" }] }], always).items)
      .toEqual([{ uri: "x://ok" }]);
    expect(mergeList("resourceTemplates", [{ backend: "a", items: [{ uri: "x://not-a-template" }, { uriTemplate: "x://{ok}" }] }], always).items)
      .toEqual([{ uriTemplate: "x://{ok}" }]);
  });
});

describe("offers", () => {
  it("is true when the backend declared the list's capability as an object (basic/lifecycle)", () => {
    expect(offers({ tools: {} }, "tools")).toBe(true);
    expect(offers({ resources: { subscribe: true } }, "resources")).toBe(true);
    expect(offers({ resources: {} }, "resourceTemplates")).toBe(true);
  });

  it("is false when the capability is missing, null or not an object", () => {
    expect(offers({}, "tools")).toBe(false);
    expect(offers({ tools: null }, "tools")).toBe(false);
    expect(offers({ tools: true }, "tools")).toBe(false);
    expect(offers({ tools: {} }, "prompts")).toBe(false);
  });
});

describe("mergeCapabilities", () => {
  it("always declares logging, and nothing else for no backends", () => {
    expect(mergeCapabilities([])).toEqual({ logging: {} });
  });

  it("declares tools, prompts and resources with listChanged whenever some backend has them, even without listChanged", () => {
    const merged = mergeCapabilities([{ tools: {} }, { prompts: { listChanged: false } }, { resources: {} }]);
    expect(merged).toEqual({
      logging: {},
      tools: { listChanged: true },
      prompts: { listChanged: true },
      resources: { listChanged: true },
    });
  });

  it("declares resources.subscribe only when some backend supports subscriptions", () => {
    expect(mergeCapabilities([{ resources: {} }, { resources: { subscribe: false } }])).toMatchObject({ resources: { listChanged: true } });
    expect(mergeCapabilities([{ resources: {} }, { resources: { subscribe: false } }]).resources).not.toHaveProperty("subscribe");
    expect(mergeCapabilities([{ resources: {} }, { resources: { subscribe: true } }]).resources).toEqual({ listChanged: true, subscribe: true });
  });

  it("declares completions only when some backend has them (server/utilities/completion)", () => {
    expect(mergeCapabilities([{ tools: {} }])).not.toHaveProperty("completions");
    expect(mergeCapabilities([{ tools: {} }, { completions: {} }])).toMatchObject({ completions: {} });
  });

  it("leaves out capabilities no backend declared, and ignores non-object values", () => {
    const merged = mergeCapabilities([{ tools: true, prompts: null, experimental: { x: {} } }]);
    expect(merged).toEqual({ logging: {} });
  });
});

describe("mergeInstructions", () => {
  it("returns undefined when no backend gave instructions", () => {
    expect(mergeInstructions([])).toBeUndefined();
    expect(mergeInstructions([{ backend: "a" }, { backend: "b", instructions: "  \n " }, { backend: "c", instructions: undefined }])).toBeUndefined();
  });

  it("puts each backend's trimmed instructions under its name, in order", () => {
    expect(
      mergeInstructions([
        { backend: "github", instructions: "  Use search first.\n" },
        { backend: "empty", instructions: "" },
        { backend: "notes", instructions: "Notes are markdown." },
      ]),
    ).toBe("## github\nUse search first.\n\n## notes\nNotes are markdown.");
  });
});

describe("resolveResource", () => {
  const resources: BackendList[] = [
    { backend: "a", items: [{ uri: "file:///docs/readme.md" }] },
    { backend: "b", items: [{ uri: "file:///docs/b.md" }, { uri: "file:///docs/readme.md" }] },
  ];
  const templates: BackendList[] = [
    { backend: "t1", items: [{ uriTemplate: "file:///{path}" }] },
    { backend: "t2", items: [{ uriTemplate: "file:///docs/{name}" }, { uriTemplate: "{+anything}" }, { uriTemplate: 5 }] },
  ];

  it("prefers an exact listed URI over any template", () => {
    expect(resolveResource("file:///docs/b.md", resources, templates)).toBe("b");
  });

  it("gives an exact URI listed by two backends to the first in config order", () => {
    expect(resolveResource("file:///docs/readme.md", resources, templates)).toBe("a");
  });

  it("picks the template with the longest literal prefix", () => {
    expect(resolveResource("file:///docs/other.md", resources, templates)).toBe("t2");
    expect(resolveResource("file:///etc/hosts", resources, templates)).toBe("t1");
  });

  it("gives a tie in prefix length to the first template", () => {
    const tied: BackendList[] = [
      { backend: "first", items: [{ uriTemplate: "db://{table}" }] },
      { backend: "second", items: [{ uriTemplate: "db://{schema}/{table}" }] },
    ];
    expect(resolveResource("db://users", [], tied)).toBe("first");
  });

  it("never matches through a template that starts with an expression (empty prefix)", () => {
    expect(resolveResource("mailto:someone@example.com", [], [{ backend: "x", items: [{ uriTemplate: "{+uri}" }] }])).toBeUndefined();
  });

  it("returns undefined when nothing matches", () => {
    expect(resolveResource("https://elsewhere.example/", resources, templates)).toBeUndefined();
    expect(resolveResource("file:///x", [], [])).toBeUndefined();
  });
});
