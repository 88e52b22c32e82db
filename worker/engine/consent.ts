/**
 * Consent where the user is, for a 2025-11-25 client that declared URL elicitation
 * (`elicitation.url`, MCP 2025-11-25 client/elicitation "URL Mode"): a call to a backend that acts
 * for the user, who has not connected it (docs/connections.md), does not fail with -32042.
 * Instead, in the call's own stream, the gateway
 *
 *   1. asks the client `elicitation/create` {mode: "url", elicitationId, url, message};
 *   2. on "accept", waits while the user connects (the grant appears in the tenant's vault),
 *      as long as the call is not cancelled and the link is good;
 *   3. sends `notifications/elicitation/complete` {elicitationId}, and the call goes on.
 *
 * A decline, a cancel, or no grant in time ends it with the -32042 error as before.
 */
import type { JsonRpcMessage, JsonRpcRequest, JsonRpcResponse } from "../protocol/jsonrpc.ts";
import { asRecord, result } from "../protocol/jsonrpc.ts";
import { LINK_TTL_MS } from "../connections/links.ts";
import { grantRefused, vaultOf } from "../connections/userTokens.ts";
import type { BackendConfig, TenantConfig } from "../tenant/schema.ts";
import { local, toClientError, type Produced } from "./answers.ts";
import type { Backends } from "./backends.ts";
import { GrantRequiredError, UpstreamError } from "../upstream/errors.ts";
import { CONNECT_TOOL } from "./catalog.ts";
import type { EngineHost } from "./host.ts";

/** How often the vault is asked whether the user has connected. */
export const CONNECT_POLL_MS = 1_000;

/** Whether the client declared URL-mode elicitation. */
export function acceptsUrlElicitation(capabilities: Record<string, unknown>): boolean {
  const elicitation = asRecord(capabilities.elicitation);
  return typeof elicitation.url === "object" && elicitation.url !== null;
}

/** The relay's part: wait for the client's answer to a request the gateway sent it. */
export type ClientAnswers = (id: string, signal: AbortSignal) => Promise<JsonRpcResponse>;

/** Steps 1 to 3 of the header; returns whether the user connected. */
export async function* connectInStream(host: EngineHost, answers: ClientAnswers, error: GrantRequiredError, signal: AbortSignal): AsyncGenerator<JsonRpcMessage, boolean> {
  const config = host.config();
  if (!config) return false;
  const principal = host.caller().principal.sub;
  const id = `gateway:${host.store.nextCounter()}`;
  const answer = answers(id, signal);
  const message = `The ${error.backend} tools act with your own ${error.backend} account. Open the link to connect it; the call goes on once you have.`;
  yield { jsonrpc: "2.0", id, method: "elicitation/create", params: { mode: "url", elicitationId: error.elicitationId, url: error.url, message } };
  const response = await answer.catch(() => null);
  if (!response || !("result" in response) || response.result.action !== "accept") return false;
  const vault = vaultOf(host.env, config.id);
  const deadline = Date.now() + LINK_TTL_MS;
  while (!signal.aborted && Date.now() < deadline) {
    if (await vault.get(config.id, principal, error.backend).catch(() => null)) {
      yield { jsonrpc: "2.0", method: "notifications/elicitation/complete", params: { elicitationId: error.elicitationId } };
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, CONNECT_POLL_MS));
  }
  return false;
}

/**
 * A call's run at its backend (`run`), for a backend that acts for the user: a 401 to the user's
 * token forgets it (grantRefused); a user who must connect, with a client that takes URL
 * elicitations, is asked in the stream and the call goes on once they have. Otherwise the
 * GrantRequiredError stands, and the relay answers -32042.
 */
export async function* forUser(
  host: EngineHost,
  backend: BackendConfig,
  request: JsonRpcRequest,
  context: { tenant: string; principal: string },
  run: () => AsyncGenerator<JsonRpcMessage, JsonRpcResponse>,
  answers: ClientAnswers,
  signal: AbortSignal,
): AsyncGenerator<JsonRpcMessage, JsonRpcResponse> {
  if (backend.auth?.type !== "user_oauth") return yield* run();
  try {
    return yield* run();
  } catch (caught) {
    const user = { tenant: context.tenant, principal: context.principal, origin: new URL(host.caller().resourceMetadataUrl).origin };
    const error = caught instanceof UpstreamError && caught.status === 401 ? await grantRefused(host.env, backend.name, user) : caught;
    if (!(error instanceof GrantRequiredError) || !acceptsUrlElicitation(host.client().capabilities)) throw error;
    if (!(yield* connectInStream(host, answers, error, signal))) throw error;
    // The connect tool has nothing to run at the backend: connecting was the call.
    if (request.method === "tools/call" && request.params?.name === CONNECT_TOOL) {
      yield { jsonrpc: "2.0", method: "notifications/tools/list_changed" };
      return result(request.id, { content: [{ type: "text", text: `Your ${backend.name} account is connected; its tools are listed now.` }] });
    }
    return yield* run();
  }
}

/** A call to a tool of a backend the user has not connected (docs/connections.md): the connect link, not "unknown tool". */
export async function connectFirst(backends: Backends, request: JsonRpcRequest, name: string, config: TenantConfig, signal: AbortSignal): Promise<Produced | null> {
  const backend = config.backends.find((b) => b.auth?.type === "user_oauth" && name.startsWith(`${b.name}${config.naming.separator}`));
  const error = backend ? await backends.get(backend, signal).then(() => null, (e: unknown) => e) : null;
  return error instanceof GrantRequiredError ? local(toClientError(request.id, error)) : null;
}
