/**
 * Opaque pagination cursors over a merged list (2025-11-25 server/utilities/pagination: cursors
 * are opaque strings; an invalid one is answered with -32602).
 *
 * The session keeps each backend's complete list, so a cursor only needs the offset into the
 * merged list and the generation of that list: a cursor from before a list change is refused
 * rather than silently skipping or repeating items.
 */
import { fromBase64, toBase64Url } from "../protocol/encoding.ts";

export interface Cursor {
  offset: number;
  generation: string;
}

export function encodeCursor(cursor: Cursor): string {
  return toBase64Url(JSON.stringify({ o: cursor.offset, g: cursor.generation }));
}

export function decodeCursor(text: unknown): Cursor | null {
  if (typeof text !== "string" || text.length === 0 || text.length > 256) return null;
  const bytes = fromBase64(text);
  if (!bytes) return null;
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    if (typeof value !== "object" || value === null) return null;
    const { o, g } = value as { o?: unknown; g?: unknown };
    if (typeof o !== "number" || !Number.isInteger(o) || o < 0 || typeof g !== "string") return null;
    return { offset: o, generation: g };
  } catch {
    return null;
  }
}
