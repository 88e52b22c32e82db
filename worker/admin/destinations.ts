/**
 * Where a tenant document may send the gateway's requests. Backend URLs, token endpoints and JWKS
 * URLs come only from config, and config comes from the admin API; so a tenant admin could aim
 * the gateway at addresses that are not meant to be reachable from it (server-side request
 * forgery): loopback, private networks, link-local (169.254.169.254 is the cloud metadata
 * service). Unless the Worker variable ALLOW_PRIVATE_BACKENDS is "true" (local development and
 * tests, where every backend runs on 127.0.0.1), the admin API refuses such a document.
 *
 * Literal addresses are judged after the URL parser has normalized them (so 2130706433, 0x7f.1
 * and 127.1 are all 127.0.0.1), IPv4 inside IPv6 (mapped, compatible, NAT64) by the IPv4 inside,
 * and `localhost` names (RFC 6761) as loopback. DNS names are not resolved: a Worker cannot
 * resolve a name to the address its fetch will use, so a public name pointing at a private
 * address is not caught here (on Cloudflare's network such a fetch does not reach the operator's
 * private network anyway).
 */
import type { TenantConfig } from "../tenant/schema.ts";

/** IPv4 blocks refused, with the name the error gives them. */
const PRIVATE_V4: [number, number, string][] = [
  [0x00000000, 8, "this-network (0.0.0.0/8)"],
  [0x0a000000, 8, "private (10.0.0.0/8)"],
  [0x7f000000, 8, "loopback (127.0.0.0/8)"],
  [0xa9fe0000, 16, "link-local (169.254.0.0/16)"],
  [0xac100000, 12, "private (172.16.0.0/12)"],
  [0xc0a80000, 16, "private (192.168.0.0/16)"],
];

/** Why a URL's host is not a public destination, or null when it is (or is a name). */
export function privateAddress(url: string): string | null {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return null; // not a URL at all: the schema refuses it
  }
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name === "localhost" || name.endsWith(".localhost")) return "loopback (localhost)";
  if (host.startsWith("[") && host.endsWith("]")) return privateV6(host.slice(1, -1));
  const v4 = parseV4(host);
  return v4 === null ? null : privateV4(v4);
}

function privateV4(address: number): string | null {
  for (const [base, bits, label] of PRIVATE_V4) {
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    if (((address & mask) >>> 0) === base) return label;
  }
  return null;
}

function parseV4(host: string): number | null {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
}

function privateV6(text: string): string | null {
  const groups = parseV6(text);
  if (!groups) return null;
  const zero = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  const embedded = () => ((groups[6]! << 16) | groups[7]!) >>> 0;
  if (zero(0, 7) && groups[7] === 1) return "loopback (::1)";
  if (zero(0, 8)) return "unspecified (::)";
  if ((groups[0]! & 0xfe00) === 0xfc00) return "unique local (fc00::/7)";
  if ((groups[0]! & 0xffc0) === 0xfe80) return "link-local (fe80::/10)";
  // IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d and NAT64 64:ff9b::a.b.c.d reach IPv4.
  if ((zero(0, 5) && groups[5] === 0xffff) || zero(0, 6) || (groups[0] === 0x64 && groups[1] === 0xff9b && zero(2, 6))) return privateV4(embedded());
  return null;
}

/** Eight 16-bit groups of an IPv6 address as the URL parser prints it (hex, maybe "::", maybe a dotted tail). */
function parseV6(text: string): number[] | null {
  let hex = text;
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = parseV4(dotted[1]!);
    if (v4 === null) return null;
    hex = `${text.slice(0, dotted.index + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = hex.split("::");
  if (halves.length > 2) return null;
  const read = (part: string) => (part === "" ? [] : part.split(":").map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : Number.NaN)));
  const head = read(halves[0]!);
  const tail = halves.length === 2 ? read(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return groups.every((g) => Number.isInteger(g)) ? groups : null;
}

/**
 * The first place a tenant document points the gateway at a non-public address, as the admin
 * API's `path: message` error, or null when every destination is public.
 */
export function privateDestination(tenant: TenantConfig): string | null {
  const destinations: [string, string | undefined][] = [];
  tenant.backends.forEach((backend, i) => {
    if (backend.transport !== "service" && backend.transport !== "tunnel" && backend.transport !== "openapi") destinations.push([`backends.${i}.url`, backend.url]);
    destinations.push([`backends.${i}.auth.tokenUrl`, backend.auth?.tokenUrl]);
    if (typeof backend.spec === "string") destinations.push([`backends.${i}.spec`, backend.spec]);
    destinations.push([`backends.${i}.baseUrl`, backend.baseUrl]);
    if (backend.auth?.type === "user_oauth") {
      destinations.push([`backends.${i}.auth.issuer`, backend.auth.issuer]);
      destinations.push([`backends.${i}.auth.authorizationUrl`, backend.auth.authorizationUrl]);
    }
  });
  destinations.push(["auth.jwt.jwksUrl", tenant.auth.jwt?.jwksUrl]);
  destinations.push(["auth.oauth.idp.issuer", tenant.auth.oauth?.idp.issuer]);
  destinations.push(["policy.audit.export.url", tenant.policy.audit.export?.url]);
  for (const [path, url] of destinations) {
    const why = url === undefined ? null : privateAddress(url);
    if (why) return `${path}: ${new URL(url!).hostname} is a ${why} address; the gateway only reaches public addresses unless ALLOW_PRIVATE_BACKENDS is "true"`;
  }
  return null;
}
