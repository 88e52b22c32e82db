/** The connector's pure parts (scripts/tunnel/): its command line, its backoff and its stdio framing. */
import { describe, expect, it } from "vitest";
import { connectUrl, parseArgs, UsageError } from "../../../scripts/tunnel/args.ts";
import { backoffDelay, RECONNECT } from "../../../scripts/tunnel/backoff.ts";
import { LineSplitter, LineTooLongError } from "../../../scripts/tunnel/lines.ts";

const KEY = `mtk_${"a".repeat(43)}`;
const BASE = ["--gateway", "http://127.0.0.1:8787", "--tenant", "demo", "--backend", "files"];

describe("parseArgs", () => {
  it("reads a stdio command after --, the key from --key or TUNNEL_KEY", () => {
    const args = parseArgs([...BASE, "--key", KEY, "--", "npx", "-y", "server", "--flag"]);
    expect(args.target).toEqual({ kind: "stdio", command: "npx", args: ["-y", "server", "--flag"] });
    expect(args.key).toBe(KEY);
    expect(args.maxSessions).toBe(16);
    expect(parseArgs([...BASE, "--", "srv"], { TUNNEL_KEY: KEY }).key).toBe(KEY);
    expect(parseArgs([...BASE, `--key=${KEY}`, "--max-sessions=3", "--", "srv"]).maxSessions).toBe(3);
  });

  it("reads --url instead of a command", () => {
    const args = parseArgs([...BASE, "--key", KEY, "--url", "http://10.0.0.5:3000/mcp"]);
    expect(args.target).toEqual({ kind: "url", url: new URL("http://10.0.0.5:3000/mcp") });
  });

  it.each([
    [[...BASE, "--", "srv"], /--key/],
    [["--tenant", "demo", "--backend", "files", "--key", KEY, "--", "srv"], /--gateway/],
    [[...BASE, "--key", KEY], /a command after --/],
    [[...BASE, "--key", KEY, "--url", "http://x/mcp", "--", "srv"], /not both/],
    [[...BASE, "--key", KEY, "--url", "ftp://x/mcp"], /http\(s\)/],
    [[...BASE, "--key", KEY, "--bogus", "--", "srv"], /unknown argument/],
    [[...BASE, "--key", "mgw_wrongprefix", "--", "srv"], /--key/],
    [[...BASE, "--key", KEY, "--max-sessions", "0", "--", "srv"], /--max-sessions/],
    [["--gateway", "http://x", "--tenant", "Demo!", "--backend", "files", "--key", KEY, "--", "srv"], /--tenant/],
  ])("refuses %j", (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });

  it("builds the connect URL under the gateway's path, ws for http and wss for https", () => {
    const args = parseArgs([...BASE, "--key", KEY, "--", "srv"]);
    expect(connectUrl(args, "http")).toBe("http://127.0.0.1:8787/t/demo/tunnels/files/connect");
    expect(connectUrl(args, "ws")).toBe("ws://127.0.0.1:8787/t/demo/tunnels/files/connect");
    expect(connectUrl({ ...args, gateway: new URL("https://gw.example.com/base") }, "ws")).toBe("wss://gw.example.com/base/t/demo/tunnels/files/connect");
  });
});

describe("backoffDelay", () => {
  it("doubles up to the cap, between half and all of the ceiling", () => {
    expect(backoffDelay(0, RECONNECT, () => 0)).toBe(250);
    expect(backoffDelay(0, RECONNECT, () => 0.999999)).toBe(500);
    expect(backoffDelay(3, RECONNECT, () => 0)).toBe(2_000);
    expect(backoffDelay(50, RECONNECT, () => 0.999999)).toBe(15_000);
    expect(backoffDelay(50, RECONNECT, () => 0)).toBe(7_500);
    expect(backoffDelay(-1, RECONNECT, () => 0)).toBe(250);
  });
});

describe("LineSplitter", () => {
  it("yields complete lines across chunks, skips blank lines and strips CR", () => {
    const s = new LineSplitter();
    expect(s.push(Buffer.from('{"a":1}\n{"b"'))).toEqual(['{"a":1}']);
    expect(s.push(Buffer.from(':2}\r\n\n'))).toEqual(['{"b":2}']);
    expect(s.push(Buffer.from("é".repeat(3)))).toEqual([]);
    expect(s.push(Buffer.from("\n"))).toEqual(["ééé"]);
  });

  it("keeps a multi-byte character split between chunks intact", () => {
    const s = new LineSplitter();
    const bytes = Buffer.from("€\n");
    expect(s.push(bytes.subarray(0, 1))).toEqual([]);
    expect(s.push(bytes.subarray(1))).toEqual(["€"]);
  });

  it("refuses a line longer than its bound, with or without its newline yet", () => {
    expect(() => new LineSplitter(8).push(Buffer.from("123456789"))).toThrow(LineTooLongError);
    const s = new LineSplitter(8);
    s.push(Buffer.from("12345"));
    expect(() => s.push(Buffer.from("6789\n"))).toThrow(LineTooLongError);
    expect(new LineSplitter(8).push(Buffer.from("12345678\n"))).toEqual(["12345678"]);
  });
});
