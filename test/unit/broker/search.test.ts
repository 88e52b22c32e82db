/**
 * Search mode's ranking (broker/search.ts) on a fixed catalog of 220 tools over 22 backends and
 * 86 queries written as an agent would (test/fixtures/catalog200.ts): the intended tool must be
 * in the top 5 for at least 90% of them (issue 16). Plus the words the index sees, the filter
 * that keeps hidden tools out, and the index cache.
 */
import { describe, expect, it } from "vitest";
import { mergeList } from "../../../worker/broker/merge.ts";
import { processTerm, searchTools, tokenize, toolIndex } from "../../../worker/broker/search.ts";
import { catalogTools, QUERIES } from "../../fixtures/catalog200.ts";

const lists = Object.entries(catalogTools()).map(([backend, items]) => ({ backend, items }));
const merged = mergeList("tools", lists, { mode: "always", separator: "__" });
const everything = () => true;

describe("searchTools on 220 tools", () => {
  it("is built over more than 200 tools and at least 50 queries", () => {
    expect(merged.items.length).toBeGreaterThanOrEqual(200);
    expect(QUERIES.length).toBeGreaterThanOrEqual(50);
    for (const [, intended] of QUERIES) expect(merged.items.some((i) => i.name === intended), intended).toBe(true);
  });

  it("ranks the intended tool in the top 5 for at least 90% of the queries", () => {
    const index = toolIndex(merged.items);
    const missed = QUERIES.filter(([query, intended]) => !searchTools(index, query, 5, everything).some((t) => t.name === intended));
    const rate = 1 - missed.length / QUERIES.length;
    expect(rate, `missed: ${missed.map(([q]) => q).join("; ")}`).toBeGreaterThanOrEqual(0.9);
  });

  it("never returns a tool the filter hides, whatever the query", () => {
    const index = toolIndex(merged.items);
    const hidden = new Set(merged.items.flatMap((item, i) => (String(item.name).startsWith("stripe__") ? [i] : [])));
    for (const query of [...QUERIES.map(([q]) => q), "stripe", "refund", "stripe refund payment", "", "*"]) {
      const found = searchTools(index, query, 50, (i) => !hidden.has(i));
      expect(found.filter((t) => String(t.name).startsWith("stripe__")), query).toEqual([]);
    }
  });

  it("gives the first visible tools in list order for a query with no searchable word, up to the limit", () => {
    const index = toolIndex(merged.items);
    expect(searchTools(index, "the a to", 3, (i) => i > 0).map((t) => t.name)).toEqual(merged.items.slice(1, 4).map((t) => t.name));
  });

  it("searches only the start of a very long query, so its cost is bounded", () => {
    const index = toolIndex(merged.items);
    const head = "refund a payment ";
    const long = head + "zebra quantum ".repeat(100_000);
    const started = performance.now();
    const found = searchTools(index, long, 5, everything);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(found.map((t) => t.name)).toContain("stripe__refund_payment");
  });

  it("builds one index per list and reuses it", () => {
    expect(toolIndex(merged.items)).toBe(toolIndex(merged.items));
    expect(toolIndex([...merged.items])).not.toBe(toolIndex(merged.items));
  });
});

describe("the words the index sees", () => {
  it("splits names at separators and camelCase humps", () => {
    expect(tokenize("weather__get_forecast")).toEqual(["weather", "get", "forecast"]);
    expect(tokenize("getForecastHTTPData")).toEqual(["get", "Forecast", "HTTP", "Data"]);
    expect(tokenize("list-pods.v2")).toEqual(["list", "pods", "v2"]);
  });

  it("stems alike what differs only by an English suffix, and drops stop words", () => {
    const stems = ["create", "creates", "created", "creating"].map(processTerm);
    expect(new Set(stems).size).toBe(1);
    expect(processTerm("queries")).toBe(processTerm("query"));
    expect(processTerm("forecasts")).toBe(processTerm("forecast"));
    expect(processTerm("the")).toBeNull();
    expect(processTerm("status")).toBe("status");
  });
});
