/**
 * Opaque pagination cursors over a merged list (2025-11-25 server/utilities/pagination: cursors
 * are opaque strings; an invalid one is answered with -32602).
 *
 * The session keeps each backend's complete list, so a cursor only needs the offset into the
 * merged list and the generation of that list: a cursor from before a list change is refused
 * rather than silently skipping or repeating items.
 */

export interface Cursor {
  offset: number;
  generation: string;
}

export function encodeCursor(cursor: Cursor): string {
  return btoa(JSON.stringify({ o: cursor.offset, g: cursor.generation })).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

export function decodeCursor(text: unknown): Cursor | null {
  if (typeof text !== "string" || text.length === 0 || text.length > 256) return null;
  try {
    const padded = text.replaceAll("-", "+").replaceAll("_", "/");
    const value = JSON.parse(atob(padded + "=".repeat((4 - (padded.length % 4)) % 4))) as unknown;
    if (typeof value !== "object" || value === null) return null;
    const { o, g } = value as { o?: unknown; g?: unknown };
    if (typeof o !== "number" || !Number.isInteger(o) || o < 0 || typeof g !== "string") return null;
    return { offset: o, generation: g };
  } catch {
    return null;
  }
}
