/**
 * ⑦ Tasks through the multiplexer, the same in both homes (2025-11-25 basic/utilities/tasks; the
 * 2026-07-28 extension `io.modelcontextprotocol/tasks`).
 *
 * A task-augmented `tools/call` goes to its backend like any call (policy, limits, approvals and
 * audit as for a direct call); the backend's task id in its answer, in its status notifications
 * and in related-task `_meta` is replaced by a gateway id that names the backend and is bound to
 * the tenant and the principal (broker/taskIds.ts). `tasks/get`, `tasks/result`, `tasks/cancel`
 * and `tasks/update` open that id and go to the owning backend with the backend's own id;
 * `tasks/list` asks every backend that declared `tasks.list` and merges the answers.
 *
 * Policy: the call that created a task was decided; a task id reaches only the principal it was
 * minted for (another principal's id, a forged or a malformed one is "Task not found", -32602:
 * 2025-11-25 tasks "Protocol Errors"). A backend must still keep its own tasks apart: the SDK's
 * task stores scope them to the upstream session, which serves one client session.
 */
import { mapParams, mapResult, taskBinding, TaskIds, type IdMap, type TaskRef } from "../broker/taskIds.ts";
import { TASKS_EXTENSION } from "../broker/merge.ts";
import { GatewayError, RpcCode } from "../protocol/errors.ts";
import { MODERN_VERSION } from "../protocol/modern.ts";
import { asRecord, isResponse, result, type JsonRpcMessage, type JsonRpcRequest } from "../protocol/jsonrpc.ts";
import type { PolicyItem } from "../policy/engine.ts";
import type { BackendConfig, TenantConfig } from "../tenant/schema.ts";
import { local, type Produced } from "./answers.ts";
import type { Backends } from "./backends.ts";
import { fanOut } from "./fanout.ts";
import type { EngineHost } from "./host.ts";

/** Requests that name one task by `params.taskId` and go to its backend. */
export const TASK_METHODS: ReadonlySet<string> = new Set(["tasks/get", "tasks/result", "tasks/cancel", "tasks/update"]);
/** A backend's `tasks/list` is paged through up to this many pages (the gateway answers one page). */
const MAX_LIST_PAGES = 20;

let keyed: { secret: string | undefined; ids: TaskIds } | null = null;

/** One TaskIds per secret and isolate: its key derivation runs once. */
function idsFor(host: EngineHost): TaskIds {
  const secret = host.env.STATE_SECRET || undefined;
  if (!keyed || keyed.secret !== secret) keyed = { secret, ids: new TaskIds(secret) };
  return keyed.ids;
}

function bindingOf(host: EngineHost): string {
  return taskBinding(host.config()?.id ?? "", host.caller().principal.sub);
}

/** Backend id → the client's, for tasks of `backend`. */
function minter(host: EngineHost, backend: string): IdMap {
  const ids = idsFor(host);
  const binding = bindingOf(host);
  return (taskId) => ids.mint({ backend, taskId }, binding);
}

const isObject = (value: unknown): boolean => typeof value === "object" && value !== null && !Array.isArray(value);
const notFound = (request: JsonRpcRequest) => local(new GatewayError("invalid_params", { publicMessage: "Failed to retrieve task: Task not found" }).toRpc(request.id));

/**
 * Where a `tasks/get|result|cancel|update` goes: the owning backend and the params with its own
 * id, or the local answer when the id is not this principal's (or names a backend since removed).
 */
export async function taskTarget(host: EngineHost, request: JsonRpcRequest, config: TenantConfig): Promise<{ backend: BackendConfig; ref: TaskRef; params: Record<string, unknown> } | Produced> {
  const params = request.params ?? {};
  if (typeof params.taskId !== "string") return local(new GatewayError("invalid_params", { publicMessage: "Invalid params: taskId must be a string" }).toRpc(request.id));
  const ref = await idsFor(host).open(params.taskId, bindingOf(host));
  const backend = ref && config.backends.find((b) => b.name === ref.backend);
  if (!ref || !backend) return notFound(request);
  return { backend, ref, params: { ...params, taskId: ref.taskId } };
}

/**
 * The messages of a call routed to `backend`, with the task ids of its answer mapped to the
 * client's. Notifications and requests the backend sends meanwhile are mapped on their way in
 * (mapInbound), so only the answer to `request` is touched here.
 */
export async function* withClientTaskIds(host: EngineHost, request: JsonRpcRequest, backend: string, messages: AsyncIterable<JsonRpcMessage>): AsyncIterable<JsonRpcMessage> {
  for await (const message of messages) {
    if (isResponse(message) && message.id === request.id && "result" in message) {
      yield { ...message, result: await mapResult(request.method, message.result, minter(host, backend)) };
    } else {
      yield message;
    }
  }
}

/** A notification or request a backend sent (during a call or on its own stream), task ids mapped. */
export async function mapInbound(host: EngineHost, backend: string, message: JsonRpcMessage): Promise<JsonRpcMessage> {
  if (isResponse(message) || !message.params || !host.config()) return message;
  const params = await mapParams(message.method, message.params, minter(host, backend));
  return params === message.params ? message : { ...message, params };
}

/**
 * `tasks/list` (2025-11-25 tasks "Listing Tasks"): every backend that declared `tasks.list`,
 * each paged through to its end, merged in config order into one page with no `nextCursor`. The
 * gateway never issues a cursor, so a request that carries one is refused (-32602, as an
 * invalid cursor is). A backend that fails is left out, as for merged lists.
 */
export async function listTasks(host: EngineHost, backends: Backends, request: JsonRpcRequest, config: TenantConfig, signal: AbortSignal): Promise<Produced> {
  if (request.params?.cursor !== undefined) return local(new GatewayError("invalid_params", { publicMessage: "Invalid params: cursor" }).toRpc(request.id));
  const settled = await fanOut(config.backends, signal, (backend, s) =>
    backends.withUpstream(backend, s, async (upstream) => {
      const tasks = asRecord(upstream.info?.capabilities.tasks);
      if (typeof tasks.list !== "object" || tasks.list === null) return [];
      const found: unknown[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_LIST_PAGES; page++) {
        const id = host.store.nextCounter();
        let answer: Record<string, unknown> | null = null;
        for await (const message of upstream.request({ jsonrpc: "2.0", id, method: "tasks/list", params: cursor === undefined ? {} : { cursor } }, s)) {
          if (!isResponse(message) || message.id !== id) continue;
          if ("error" in message) throw new GatewayError("backend_unavailable", { detail: `tasks/list: ${message.error.message}` });
          answer = await mapResult("tasks/list", message.result, minter(host, backend.name));
          break;
        }
        if (!answer) break;
        if (Array.isArray(answer.tasks)) found.push(...answer.tasks);
        if (typeof answer.nextCursor !== "string") break;
        cursor = answer.nextCursor;
      }
      return found;
    }),
  );
  const byBackend = new Map(settled.ok.map((ok) => [ok.backend, ok.value]));
  return local(result(request.id, { tasks: config.backends.flatMap((b) => byBackend.get(b.name) ?? []) }));
}

/** The policy item a task request is audited under: the owning backend and its task id. */
export type TaskRoute = (backend: BackendConfig, params: Record<string, unknown>, item: PolicyItem) => Produced;

/** `tasks/list` answered here; the other task methods routed to the task's backend by `route` (engine/handler.ts #route). */
export async function dispatchTask(host: EngineHost, backends: Backends, request: JsonRpcRequest, config: TenantConfig, signal: AbortSignal, route: TaskRoute): Promise<Produced> {
  const client = host.client();
  if (client.version === MODERN_VERSION && !isObject(asRecord(client.capabilities.extensions)[TASKS_EXTENSION])) {
    // io.modelcontextprotocol/tasks "Protocol Errors": a client that did not declare the extension gets -32021.
    const data = { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } };
    return local({ jsonrpc: "2.0", id: request.id, error: { code: RpcCode.MissingRequiredClientCapability, message: "Missing required client capability", data } });
  }
  if (request.method === "tasks/list") return listTasks(host, backends, request, config, signal);
  const target = await taskTarget(host, request, config);
  if ("routed" in target) return target;
  return route(target.backend, target.params, { kind: "tool", backend: target.backend.name, name: target.ref.taskId });
}
