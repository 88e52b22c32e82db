/**
 * The merged catalog as one principal would see it, with the policy's decision on every item and
 * the reason, in words an operator can act on. Pure: the admin API (catalog.ts beside it)
 * fetches the backends' lists and the pins, this merges them with the session's own rules
 * (worker/broker/merge.ts) and decides with the session's own engine (worker/policy/engine.ts).
 *
 * A call is decided with its arguments; here there are none, so a rule whose `when` condition
 * reads `args` is reported as conditional rather than guessed at (one that does not is decided).
 */
import { curateList } from "../broker/curation.ts";
import { mergeList, type BackendList, type ListKind } from "../broker/merge.ts";
import { decide, isVisible, matchingRules, readsArgs, type ItemKind } from "../policy/engine.ts";
import type { Principal } from "../policy/principal.ts";
import { DEFAULT_CATALOG } from "../tenant/catalog.ts";
import type { TenantConfig } from "../tenant/schema.ts";

export interface PinView {
  backend: string;
  tool: string;
  status: "approved" | "changed";
}

export interface CatalogEntry {
  kind: ItemKind;
  /** The name the client sees (the URI, for a resource). */
  name: string;
  backend: string;
  /** The backend's own name (or the URI). */
  original: string;
  description: string | null;
  /** Tool definitions only: the pin status ("changed" = differs from the approved definition). */
  pin: "approved" | "changed" | null;
  /** Whether the item is in this principal's lists. */
  visible: boolean;
  /** The decision on a call without arguments. */
  decision: "allow" | "deny" | "insufficient_scope";
  /** The rule that decided, or null for the policy's default (or "pinning:quarantine"). */
  rule: string | null;
  /** Matching rules whose `when` condition decides per call. */
  conditional: string[];
  reason: string;
}

const KIND_OF: Partial<Record<ListKind, ItemKind>> = { tools: "tool", prompts: "prompt", resources: "resource" };
/** Descriptions are for recognising an item, not for reading it. */
const MAX_DESCRIPTION_CHARS = 200;

export function inspectCatalog(
  config: TenantConfig,
  principal: Principal,
  lists: Partial<Record<ListKind, BackendList[]>>,
  pins: readonly PinView[],
): CatalogEntry[] {
  const pinOf = new Map(pins.map((p) => [`${p.backend}\u0000${p.tool}`, p.status]));
  const entries: CatalogEntry[] = [];
  for (const [listKind, kind] of Object.entries(KIND_OF) as [ListKind, ItemKind][]) {
    // Tools as the tenant's curation exposes them (aliases, overrides, allowlist: docs/catalog.md).
    const all = mergeList(listKind, lists[listKind] ?? [], config.naming);
    const merged = listKind === "tools" ? curateList(all, config.catalog ?? DEFAULT_CATALOG, config.naming.separator) : all;
    for (const [i, item] of merged.items.entries()) {
      const origin = merged.origins[i]!;
      const policyItem = { kind, backend: origin.backend, name: origin.original };
      const pin = kind === "tool" ? (pinOf.get(`${origin.backend}\u0000${origin.original}`) ?? null) : null;
      const conditional = matchingRules(config.policy, principal, policyItem)
        .filter((r) => r.when !== undefined && readsArgs(r.when))
        .map((r) => r.id);
      const description = typeof item.description === "string" ? item.description.slice(0, MAX_DESCRIPTION_CHARS) : null;
      const base = { kind, name: kind === "resource" ? origin.original : String(item.name), backend: origin.backend, original: origin.original, description, pin, conditional };
      if (pin === "changed" && config.policy.pinning === "quarantine") {
        entries.push({ ...base, visible: false, decision: "deny", rule: "pinning:quarantine", reason: "quarantined: the definition changed since it was approved; approve it under Pins" });
        continue;
      }
      const visible = isVisible(config.policy, principal, policyItem, { tenant: config.id });
      const decision = decide(config.policy, principal, policyItem, { tenant: config.id, args: {} });
      let reason: string;
      if (decision.effect === "insufficient_scope") reason = `rule ${decision.rule} allows, with scopes ${decision.scopes.join(" ")} the principal lacks`;
      else if (decision.rule !== null) reason = `rule ${decision.rule} ${decision.effect === "allow" ? "allows" : "denies"}`;
      else reason = decision.effect === "allow" ? "no rule decides; the default is allow" : "no rule allows; the default is deny";
      if (conditional.length > 0) reason += `; conditional on the call's arguments: ${conditional.join(", ")}`;
      if (pin === "changed") reason += "; definition changed since approval (flagged)";
      entries.push({ ...base, visible, decision: decision.effect, rule: decision.rule, reason });
    }
  }
  return entries;
}
