/**
 * Task ids through the multiplexer (2025-11-25 basic/utilities/tasks; the 2026-07-28 extension
 * `io.modelcontextprotocol/tasks`).
 *
 * Every backend mints its own task ids, so two backends may mint the same one. The id a client
 * sees names the backend and the backend's id, and is MAC'd with the tenant and the principal:
 *
 *     gt1.<base64url(JSON [backend, backendTaskId])>.<base64url(HMAC-SHA-256)>
 *
 * It is self-describing, so both homes route it without state (the stateless home keeps none),
 * and it is deterministic, so the id in a CreateTaskResult, in `tasks/list` and in
 * `notifications/tasks/status` is the same string. The MAC covers the tenant and the principal
 * (2025-11-25 tasks "Task Isolation and Access Control": tasks are bound to the authorization
 * context), so another principal's id, or a forged one, opens to nothing. The key is derived
 * (HKDF-SHA-256, its own label) from `STATE_SECRET`, like sealed requestStates (sealed.ts), so an
 * id minted in one isolate opens in another; without the secret each isolate has a key of its own.
 */
import { fromBase64, toBase64Url } from "../protocol/encoding.ts";

export const TASK_ID_PREFIX = "gt1.";
/** `_meta` key that ties messages to a task (2025-11-25 tasks "Related Task Metadata"). */
export const RELATED_TASK = "io.modelcontextprotocol/related-task";
/** Longest id the gateway opens: a backend name and a backend id of reasonable length fit easily. */
const MAX_ID_LENGTH = 2048;
const ID_SHAPE = /^gt1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;

/** A task as its backend knows it. */
export interface TaskRef {
  backend: string;
  taskId: string;
}

/** What a task id is bound to: the tenant and the principal. */
export function taskBinding(tenant: string, principal: string): string {
  return `task\u0000${tenant}\u0000${principal}`;
}

export class TaskIds {
  readonly #key: Promise<CryptoKey>;

  constructor(secret?: string) {
    this.#key = secret ? deriveKey(secret) : (crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]) as Promise<CryptoKey>);
  }

  /** The id a client sees for a backend's task, for whoever `binding` names. */
  async mint(ref: TaskRef, binding: string): Promise<string> {
    const payload = toBase64Url(JSON.stringify([ref.backend, ref.taskId]));
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await this.#key, macInput(binding, payload)));
    return `${TASK_ID_PREFIX}${payload}.${toBase64Url(mac)}`;
  }

  /** The backend's task behind an id, or null when the id is forged, malformed or someone else's. */
  async open(id: string, binding: string): Promise<TaskRef | null> {
    const match = id.length <= MAX_ID_LENGTH ? ID_SHAPE.exec(id) : null;
    if (!match) return null;
    const mac = fromBase64(match[2]!);
    if (!mac || mac.byteLength !== 32) return null;
    // crypto.subtle.verify compares in constant time.
    if (!(await crypto.subtle.verify("HMAC", await this.#key, mac, macInput(binding, match[1]!)))) return null;
    try {
      const decoded: unknown = JSON.parse(new TextDecoder().decode(fromBase64(match[1]!) ?? new Uint8Array()));
      if (!Array.isArray(decoded) || decoded.length !== 2 || typeof decoded[0] !== "string" || typeof decoded[1] !== "string") return null;
      return { backend: decoded[0], taskId: decoded[1] };
    } catch {
      return null;
    }
  }
}

function macInput(binding: string, payload: string): Uint8Array {
  return new TextEncoder().encode(`${binding}\u0000${payload}`);
}

/** HKDF-SHA-256 (RFC 5869) from the secret to an HMAC key; its label keeps it apart from the requestState key. */
async function deriveKey(secret: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new TextEncoder().encode("edge-mcp-gateway"), info: new TextEncoder().encode("task id v1") },
    material,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign", "verify"],
  );
}

type Rec = Record<string, unknown>;
/** Replaces one backend task id with the client's (mint), or the reverse. */
export type IdMap = (taskId: string) => Promise<string>;

const isRec = (value: unknown): value is Rec => typeof value === "object" && value !== null && !Array.isArray(value);

/** `_meta["io.modelcontextprotocol/related-task"].taskId` mapped, where present. */
async function withRelated(holder: Rec, map: IdMap): Promise<Rec> {
  const meta = holder._meta;
  if (!isRec(meta) || !isRec(meta[RELATED_TASK]) || typeof meta[RELATED_TASK].taskId !== "string") return holder;
  const related = meta[RELATED_TASK];
  return { ...holder, _meta: { ...meta, [RELATED_TASK]: { ...related, taskId: await map(related.taskId as string) } } };
}

async function withTaskId(task: Rec, map: IdMap): Promise<Rec> {
  return typeof task.taskId === "string" ? { ...task, taskId: await map(task.taskId) } : task;
}

/**
 * A backend's result for `method` with every task id in it mapped to the client's:
 * - `tools/call`: the 2025-11-25 CreateTaskResult (`task.taskId`), or the 2026-07-28 one
 *   (`resultType: "task"`, the Task's fields inline);
 * - `tasks/get`, `tasks/cancel`: the Task itself (`taskId`);
 * - `tasks/list`: each of `tasks`;
 * - any result: the related-task `_meta` (`tasks/result` carries only that).
 */
export async function mapResult(method: string, result: Rec, map: IdMap): Promise<Rec> {
  let out = await withRelated(result, map);
  if (method === "tools/call") {
    if (isRec(out.task)) out = { ...out, task: await withTaskId(out.task, map) };
    else if (out.resultType === "task") out = await withTaskId(out, map);
  } else if (method === "tasks/get" || method === "tasks/cancel") {
    out = await withTaskId(out, map);
  } else if (method === "tasks/list" && Array.isArray(out.tasks)) {
    out = { ...out, tasks: await Promise.all(out.tasks.map((task: unknown) => (isRec(task) ? withTaskId(task, map) : task))) };
  }
  return out;
}

/** Status notifications of both eras carry the Task in `params`. */
const STATUS_NOTIFICATIONS = new Set(["notifications/tasks/status", "notifications/tasks"]);

/**
 * The params of a message a backend sent on its own (a notification, or a request to the client)
 * with task ids mapped: the Task of `notifications/tasks/status` (2025-11-25) and
 * `notifications/tasks` (2026-07-28), and the related-task `_meta` of any other.
 */
export async function mapParams(method: string, params: Rec, map: IdMap): Promise<Rec> {
  const out = await withRelated(params, map);
  return STATUS_NOTIFICATIONS.has(method) ? withTaskId(out, map) : out;
}
