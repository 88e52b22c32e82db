/**
 * The tenant's policy applied inside a session: which merged items a principal sees and whether
 * a call may leave. Quarantined tool definitions (pinning "quarantine", definition changed since
 * approval) are treated exactly like denied ones.
 */
import type { ListKind } from "../broker/merge.ts";
import type { Principal } from "../policy/principal.ts";
import { decide, isVisible, type Decision, type ItemKind, type PolicyItem } from "../policy/engine.ts";
import type { TenantConfig } from "../tenant/schema.ts";
import type { Catalog, Visibility } from "./catalog.ts";

export const ITEM_KIND: Record<ListKind, ItemKind> = {
  tools: "tool",
  prompts: "prompt",
  resources: "resource",
  resourceTemplates: "resource",
};

function quarantined(config: TenantConfig, catalog: Catalog, item: PolicyItem): boolean {
  return item.kind === "tool" && config.policy.pinning === "quarantine" && catalog.pinStatus(item.backend, item.name) === "changed";
}

export function visibility(config: TenantConfig, principal: Principal, catalog: Catalog): Visibility {
  return (kind, origin) => {
    const item = { kind: ITEM_KIND[kind], backend: origin.backend, name: origin.original };
    return !quarantined(config, catalog, item) && isVisible(config.policy, principal, item, { tenant: config.id });
  };
}

export function decideCall(config: TenantConfig, principal: Principal, catalog: Catalog, item: PolicyItem, args: Record<string, unknown>): Decision {
  if (quarantined(config, catalog, item)) return { effect: "deny", rule: "pinning:quarantine" };
  return decide(config.policy, principal, item, { tenant: config.id, args });
}
