// Demo backend "notes": a mutable in-memory store (so the gateway's handling of
// resources/list_changed can be tested), an elicitation round-trip (ask_user)
// and a header-echo test aid (whoami).

import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import * as z from "zod";
import { isMain, runBackend } from "../shared/http.ts";

interface Note {
  id: string;
  title: string;
  body: string;
  createdAt: string;
}

// One store per process, shared by every session: a note added through one
// client session is visible to all, which is what a gateway test expects.
const notes = new Map<string, Note>();
let nextId = 1;

// Live per-session servers, so a change made in one session can notify the others.
const liveServers = new Set<McpServer>();

const RESOURCE_NOT_FOUND = -32002;

function text(value: string): { content: { type: "text"; text: string }[] } {
  return { content: [{ type: "text", text: value }] };
}

function notFound(id: string): { content: { type: "text"; text: string }[]; isError: true } {
  return { ...text(`No note with id ${id}`), isError: true };
}

type Notify = (n: { method: "notifications/resources/list_changed" }) => Promise<void>;

/**
 * The calling session is notified on its own request stream (reliable even if
 * the client never opened the optional GET stream); other sessions get it on
 * their standalone stream, where the SDK drops it if none is open.
 */
async function announceListChanged(origin: McpServer, notifyOrigin: Notify): Promise<void> {
  await notifyOrigin({ method: "notifications/resources/list_changed" });
  for (const s of liveServers) if (s !== origin && s.isConnected()) s.sendResourceListChanged();
}

export function createNotesServer(): McpServer {
  const server = new McpServer(
    { name: "demo-notes", version: "0.1.0" },
    // Declared up front: the SDK would infer it from registerResource, but we
    // want listChanged advertised explicitly since we really send it.
    { capabilities: { resources: { listChanged: true } } },
  );
  liveServers.add(server);
  server.server.onclose = () => liveServers.delete(server);

  server.registerTool(
    "add_note",
    {
      title: "Add note",
      description: "Store a note; emits notifications/resources/list_changed.",
      inputSchema: { title: z.string().min(1), body: z.string() },
    },
    async ({ title, body }, extra) => {
      const note: Note = { id: `note-${nextId++}`, title, body, createdAt: new Date().toISOString() };
      notes.set(note.id, note);
      await announceListChanged(server, extra.sendNotification);
      return text(JSON.stringify(note));
    },
  );

  server.registerTool(
    "list_notes",
    { title: "List notes", description: "Ids and titles of all notes.", annotations: { readOnlyHint: true } },
    () => text(JSON.stringify([...notes.values()].map(({ id, title }) => ({ id, title })))),
  );

  server.registerTool(
    "get_note",
    {
      title: "Get note",
      description: "One note by id.",
      inputSchema: { id: z.string() },
      annotations: { readOnlyHint: true },
    },
    ({ id }) => {
      const note = notes.get(id);
      return note ? text(JSON.stringify(note)) : notFound(id);
    },
  );

  server.registerTool(
    "delete_note",
    {
      title: "Delete note",
      description: "Delete a note by id; emits notifications/resources/list_changed.",
      inputSchema: { id: z.string() },
      annotations: { destructiveHint: true },
    },
    async ({ id }, extra) => {
      if (!notes.delete(id)) return notFound(id);
      await announceListChanged(server, extra.sendNotification);
      return text(JSON.stringify({ deleted: id }));
    },
  );

  server.registerTool(
    "ask_user",
    {
      title: "Ask user",
      description: "Asks the client (via elicitation) to confirm something and returns the answer verbatim.",
      inputSchema: { question: z.string().default("Proceed?") },
    },
    async ({ question }, extra) => {
      try {
        // relatedRequestId keeps the elicitation on this call's response stream,
        // so it reaches the client (and passes through a gateway) without
        // depending on the optional standalone GET stream.
        const answer = await server.server.elicitInput(
          {
            mode: "form",
            message: question,
            requestedSchema: {
              type: "object",
              properties: { confirm: { type: "boolean", title: "Confirm", description: question } },
              required: ["confirm"],
            },
          },
          { relatedRequestId: extra.requestId, signal: extra.signal },
        );
        return text(JSON.stringify({ action: answer.action, content: answer.content ?? null }));
      } catch (err) {
        // e.g. the client did not declare the elicitation capability.
        return { ...text(`Elicitation failed: ${err instanceof Error ? err.message : String(err)}`), isError: true };
      }
    },
  );

  server.registerTool(
    "whoami",
    {
      title: "Who am I (test aid)",
      description:
        "TEST AID: returns the HTTP request headers this backend received whose names start with x- or authorization (and traceparent), plus any gateway context in the request's _meta, as JSON, so tests can check what the gateway forwarded.",
      annotations: { readOnlyHint: true },
    },
    (extra) => {
      const received = extra.requestInfo?.headers ?? {};
      const picked: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(received)) {
        const lower = name.toLowerCase();
        if (value !== undefined && (lower.startsWith("x-") || lower.startsWith("authorization") || lower === "traceparent")) picked[lower] = value;
      }
      const meta = extra._meta as Record<string, unknown> | undefined;
      const context = meta?.["io.edge-mcp-gateway/context"];
      if (context !== undefined) (picked as Record<string, unknown>)["_meta.context"] = context;
      // W3C trace context in _meta (2026-07-28 basic/index "OpenTelemetry trace context").
      if (typeof meta?.traceparent === "string") picked["_meta.traceparent"] = meta.traceparent;
      return text(JSON.stringify(picked));
    },
  );

  server.registerResource(
    "all_notes",
    "notes://all",
    { title: "All notes", description: "Every note as a JSON array", mimeType: "application/json" },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify([...notes.values()]) }] }),
  );

  server.registerResource(
    "note",
    new ResourceTemplate("notes://note/{id}", {
      // Listing expands the template, so resources/list changes when notes do.
      list: () => ({
        resources: [...notes.values()].map((n) => ({ uri: `notes://note/${n.id}`, name: n.title, mimeType: "text/plain" })),
      }),
    }),
    { title: "Note", description: "One note's body", mimeType: "text/plain" },
    (uri, { id }) => {
      const note = typeof id === "string" ? notes.get(id) : undefined;
      if (!note) throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${uri.href}`);
      return { contents: [{ uri: uri.href, mimeType: "text/plain", text: `# ${note.title}\n\n${note.body}` }] };
    },
  );

  server.registerPrompt(
    "summarize_notes",
    { title: "Summarize notes", description: "Ask the model to summarise all current notes." },
    () => ({
      messages: [
        {
          role: "user",
          content: {
            type: "text",
            text:
              notes.size === 0
                ? "There are no notes yet. Say so briefly."
                : `Summarise these notes as a short bullet list:\n${[...notes.values()]
                    .map((n) => `- ${n.title}: ${n.body}`)
                    .join("\n")}`,
          },
        },
      ],
    }),
  );

  return server;
}

if (isMain(import.meta.url)) {
  await runBackend({ name: "notes", defaultPort: 3102, createServer: createNotesServer });
}
