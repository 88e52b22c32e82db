/**
 * Tool definition pinning: a hash of what a backend says a tool is, so a definition that changes
 * after it was first seen (a "rug pull": new description, wider schema) is noticed.
 */
import { canonicalJson, sha256Hex } from "../protocol/encoding.ts";

/** One tool as a catalog saw it, sent to the tenant's object to be pinned (TenantObject.pin). */
export interface PinInput {
  backend: string;
  tool: string;
  hash: string;
}

/** "changed": the backend's definition differs from the one approved (at first sight or by an admin). */
export type PinStatus = "approved" | "changed";

/** A stored pin, as the admin API lists it. */
export interface PinRecord {
  backend: string;
  tool: string;
  hash: string;
  approvedHash: string;
  status: PinStatus;
  firstSeen: number;
  changedAt: number | null;
}

/** The fields that define what a tool does; display-only fields are left out. */
const PINNED_FIELDS = ["name", "description", "inputSchema", "outputSchema", "annotations"] as const;

/** SHA-256 (hex) of a tool's pinned fields. */
export async function toolHash(tool: Record<string, unknown>): Promise<string> {
  const pinned: Record<string, unknown> = {};
  for (const field of PINNED_FIELDS) if (tool[field] !== undefined) pinned[field] = tool[field];
  return sha256Hex(canonicalJson(pinned));
}
