/**
 * Tool definition pinning: a hash of what a backend says a tool is, so a definition that changes
 * after it was first seen (a "rug pull": new description, wider schema) is noticed.
 */
import { canonicalJson, sha256Hex } from "../protocol/encoding.ts";

/** One tool definition as the pin store records it (durable-objects/tenant/TenantObject.ts). */
export interface PinInput {
  backend: string;
  tool: string;
  hash: string;
}

/** "changed": the definition differs from the one approved (policy "quarantine" hides it). */
export type PinStatus = "approved" | "changed";

/** The fields that define what a tool does; display-only fields are left out. */
const PINNED_FIELDS = ["name", "description", "inputSchema", "outputSchema", "annotations"] as const;

/** SHA-256 (hex) of a tool's pinned fields. */
export async function toolHash(tool: Record<string, unknown>): Promise<string> {
  const pinned: Record<string, unknown> = {};
  for (const field of PINNED_FIELDS) if (tool[field] !== undefined) pinned[field] = tool[field];
  return sha256Hex(canonicalJson(pinned));
}
