/**
 * The console's assets are strings the Worker serves (worker/admin/console/): the script must
 * parse, and no untrusted text may ever be written as markup.
 */
import { describe, expect, it } from "vitest";
import { CONSOLE_JS } from "../../../worker/admin/console/script.ts";
import { CONSOLE_HTML } from "../../../worker/admin/console/page.ts";
import { CONSOLE_CSP } from "../../../worker/admin/console/routes.ts";

describe("console assets", () => {
  it("the script is valid JavaScript", () => {
    expect(() => new Function(CONSOLE_JS)).not.toThrow();
  });

  it("no two parts of the script declare the same function (the tabs share one closure, where the later one would win)", () => {
    // A tab's helper once took the policy editor's name and broke the editor (found by test/browser/console.test.ts).
    const names = [...CONSOLE_JS.matchAll(/\bfunction\s+([A-Za-z_$][\w$]*)\s*\(/g)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(30);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });

  it("the script never writes markup and never evaluates strings", () => {
    expect(CONSOLE_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/);
  });

  it("the shell loads only its own script and stylesheet, nothing inline", () => {
    expect(CONSOLE_HTML).toContain('<script src="/admin/console/console.js" defer></script>');
    expect(CONSOLE_HTML).not.toMatch(/<script>|<style|\sstyle=|\son[a-z]+=/i);
  });

  it("the policy allows nothing beyond this origin", () => {
    expect(CONSOLE_CSP).toMatch(/^default-src 'none'/);
    expect(CONSOLE_CSP).not.toMatch(/unsafe|\*|https?:/);
  });
});
