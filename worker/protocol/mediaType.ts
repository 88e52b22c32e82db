/**
 * Media types parsed, never substring-matched (RFC 9110 §8.3.1 and §12.5.1).
 *
 * A check like `accept.includes("application/json")` wrongly accepts
 * `application/json-seq` or a type listed with `q=0` ("not acceptable"); parsing avoids both.
 */

export interface MediaRange {
  type: string;
  subtype: string;
  params: Record<string, string>;
  q: number;
}

/** Parses one media type (`type/subtype; k=v`) or returns null when malformed. */
export function parseMediaType(value: string): MediaRange | null {
  const [essence = "", ...rawParams] = value.split(";");
  const match = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\/([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*$/.exec(essence);
  if (!match) return null;
  const params: Record<string, string> = {};
  let q = 1;
  for (const raw of rawParams) {
    const eq = raw.indexOf("=");
    if (eq < 0) continue;
    const key = raw.slice(0, eq).trim().toLowerCase();
    let val = raw.slice(eq + 1).trim();
    if (val.startsWith('"') && val.endsWith('"') && val.length >= 2) val = val.slice(1, -1);
    if (key === "q") {
      const n = Number(val);
      q = Number.isFinite(n) && n >= 0 && n <= 1 ? n : 1;
    } else {
      params[key] = val;
    }
  }
  return { type: match[1]!.toLowerCase(), subtype: match[2]!.toLowerCase(), params, q };
}

/** Parses an Accept header into its ranges; malformed entries are skipped. */
export function parseAccept(header: string | null): MediaRange[] {
  if (header === null || header.trim() === "") return [];
  return header
    .split(",")
    .map((part) => parseMediaType(part))
    .filter((range): range is MediaRange => range !== null);
}

/** True when `ranges` accept `type/subtype` with q > 0, honouring `*` wildcards. */
export function accepts(ranges: MediaRange[], mediaType: string): boolean {
  const [type, subtype] = mediaType.toLowerCase().split("/");
  // The most specific matching range decides (RFC 9110 §12.5.1), so `text/event-stream;q=0`
  // refuses SSE even when `*/*` is also listed.
  let best: MediaRange | undefined;
  let bestRank = -1;
  for (const range of ranges) {
    const rank =
      range.type === type && range.subtype === subtype
        ? 2
        : range.type === type && range.subtype === "*"
          ? 1
          : range.type === "*" && range.subtype === "*"
            ? 0
            : -1;
    if (rank > bestRank) {
      best = range;
      bestRank = rank;
    }
  }
  return best !== undefined && best.q > 0;
}

/** True when a Content-Type header names exactly `mediaType` (parameters such as charset allowed). */
export function isContentType(header: string | null, mediaType: string): boolean {
  if (header === null) return false;
  const parsed = parseMediaType(header);
  return parsed !== null && `${parsed.type}/${parsed.subtype}` === mediaType.toLowerCase();
}

export const JSON_TYPE = "application/json";
export const SSE_TYPE = "text/event-stream";
