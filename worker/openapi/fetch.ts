/**
 * Fetching spec documents: every hop (the URL, then each redirect) checked against the
 * private-address guard, a time cap, a size cap, JSON only.
 */
import { privateAddress } from "../admin/destinations.ts";
import { BodyTooLargeError, readCapped } from "../protocol/body.ts";
import { SpecError } from "./refs.ts";

/** Largest spec fetched, its other files included (GitHub's full REST description is about 13 MB of JSON). */
export const MAX_SPEC_BYTES = 16 * 1024 * 1024;
export const SPEC_FETCH_TIMEOUT_MS = 15_000;
/** Redirects followed when fetching a spec, each one checked like the first URL. */
export const MAX_SPEC_REDIRECTS = 3;

export async function readDocument(response: Response, limit: number, what: string): Promise<{ doc: Record<string, unknown>; text: string }> {
  let text: string;
  try {
    text = await readCapped(response.body, Math.max(0, limit));
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new SpecError(`${what} is larger than ${MAX_SPEC_BYTES} bytes`);
    throw new SpecError(`${what} could not be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new SpecError(/^\s*(?:openapi|swagger|[\w-]+)\s*:/m.test(text) ? `${what} is YAML; the gateway reads JSON specs only (convert it, or put it inline in the tenant document)` : `${what} is not JSON`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new SpecError(`${what} is not a JSON object`);
  return { doc: doc as Record<string, unknown>, text };
}

/** Another file of a spec, read within what is left of the byte budget. */
export async function fetchDocument(url: string, allowPrivate: boolean, signal: AbortSignal, budget: number): Promise<{ doc: Record<string, unknown>; text: string }> {
  const response = await guardedFetch(url, allowPrivate, {}, signal);
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw new SpecError(`${url} answered HTTP ${response.status}`);
  }
  return readDocument(response, budget, url);
}

/** GET with each hop (the URL, then every redirect) checked against the private-address guard. */
export async function guardedFetch(url: string, allowPrivate: boolean, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
  const timeout = AbortSignal.timeout(SPEC_FETCH_TIMEOUT_MS);
  let current = url;
  for (let hop = 0; ; hop++) {
    const why = allowPrivate ? null : privateAddress(current);
    if (why) throw new SpecError(`the spec URL ${new URL(current).hostname} is a ${why} address`);
    let response: Response;
    try {
      response = await fetch(current, { headers: { accept: "application/json", ...headers }, redirect: "manual", signal: AbortSignal.any([signal, timeout]) });
    } catch (error) {
      if (timeout.aborted) throw new SpecError(`the spec URL did not answer within ${SPEC_FETCH_TIMEOUT_MS} ms`);
      throw new SpecError(`the spec URL could not be reached: ${error instanceof Error ? error.message : String(error)}`);
    }
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || response.status === 304 || location === null) return response;
    await response.body?.cancel().catch(() => {});
    if (hop >= MAX_SPEC_REDIRECTS) throw new SpecError(`the spec URL redirected more than ${MAX_SPEC_REDIRECTS} times`);
    current = new URL(location, current).toString();
    if (!/^https?:/i.test(current)) throw new SpecError("the spec URL redirected to a non-http URL");
  }
}
