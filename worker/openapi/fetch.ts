/**
 * Fetching spec files: every hop (the URL, then each redirect) checked against the
 * private-address guard, a time cap, a size cap. The text goes to parse.ts.
 */
import { privateAddress } from "../admin/destinations.ts";
import { BodyTooLargeError, readCapped } from "../protocol/body.ts";
import { SpecError } from "./refs.ts";

/** Largest spec fetched, its other files included (GitHub's full REST description is about 13 MB of JSON). */
export const MAX_SPEC_BYTES = 16 * 1024 * 1024;
export const SPEC_FETCH_TIMEOUT_MS = 15_000;
/** Redirects followed when fetching a spec, each one checked like the first URL. */
export const MAX_SPEC_REDIRECTS = 3;

/** A response body as text, refusing more than `limit` bytes. Parsing is parse.ts's job. */
export async function readText(response: Response, limit: number, what: string): Promise<string> {
  try {
    return await readCapped(response.body, Math.max(0, limit));
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new SpecError(`${what} is larger than ${MAX_SPEC_BYTES} bytes`);
    throw new SpecError(`${what} could not be read: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Another file of a spec, read within what is left of the byte budget. */
export async function fetchText(url: string, allowPrivate: boolean, signal: AbortSignal, budget: number): Promise<string> {
  const response = await guardedFetch(url, allowPrivate, {}, signal);
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw new SpecError(`${url} answered HTTP ${response.status}`);
  }
  return readText(response, budget, url);
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
      response = await fetch(current, { headers: { accept: "application/json, application/yaml;q=0.9, text/yaml;q=0.9, */*;q=0.1", ...headers }, redirect: "manual", signal: AbortSignal.any([signal, timeout]) });
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
