/**
 * The console's Approvals and Connections tabs (part of /admin/console/console.js; script.ts
 * splices it into the script's closure, so it uses that file's helpers: $, h, cell, badge, fill,
 * when, until, sayIn, api, tenantPath, fresh, run, loaders, state).
 *
 * - Approvals (docs/approvals.md): the gated calls waiting for a yes, then those of the last day;
 *   an operator approves or denies a pending one (recorded as `operator:admin`). The arguments
 *   shown are the ones the approval stored, with the tenant's redaction applied.
 * - Connections (docs/connections.md): which user connected which backend that acts for them;
 *   forgetting one deletes the user's stored grant (never shown: only its dates and scope), so
 *   their next call there asks them to connect again.
 *
 * Both go through the admin API (worker/admin/approvals.ts, worker/admin/connections.ts) and
 * refresh themselves like the overview, so a new request shows within seconds.
 * Same rules as script.ts: text only, never markup; no backtick and no dollar-brace.
 */
export const ACCESS_JS = String.raw`
  // --- approvals and connections (acting for users) ------------------------------------------

  /** What an approval is now: a pending one past its expiry can no longer be decided. */
  function approvalState(a) {
    if (a.state === "pending") return a.expiresAt <= Date.now() ? "expired" : "pending";
    return a.usedAt ? a.state + ", used" : a.state;
  }

  var accessTenant = { approvals: null, connections: null };
  function newTenant(view) {
    if (accessTenant[view] === state.tenant) return;
    accessTenant[view] = state.tenant;
    sayIn(view + "-message", "", "");
  }

  loaders.approvals = async function () {
    var stale = fresh("approvals");
    newTenant("approvals");
    var list = (await api(tenantPath("/approvals"))).approvals;
    if (stale()) return;
    fill("approvals-table", list.map(function (a) {
      var now = approvalState(a);
      var open = now === "pending";
      var actions = open
        ? h("span", { class: "row-actions" },
          h("button", { type: "button", class: "primary", text: "Approve", onclick: function () { decide(a, "approve"); } }),
          h("button", { type: "button", text: "Deny", onclick: function () { decide(a, "deny"); } }))
        : null;
      return h("tr", { "data-approval": a.id },
        cell(when(a.createdAt)), cell(a.principal),
        cell(h("span", { class: "mono", title: a.backend + " / " + a.tool, text: a.exposedName })),
        cell(h("span", { class: "mono args", text: JSON.stringify(a.args) })),
        cell(a.approvers.length ? a.approvers.join(" or ") : "the caller"),
        cell(badge(now, open ? "pending" : a.state === "pending" ? "expired" : a.state)),
        cell(a.decidedBy ? h("span", { title: a.decidedAt ? new Date(a.decidedAt).toISOString() : "", text: a.decidedBy }) : open ? "expires in " + until(a.expiresAt) : null),
        cell(actions));
    }), 8);
  };

  async function decide(a, decision) {
    try {
      await api(tenantPath("/approvals/" + encodeURIComponent(a.id)), { method: "POST", body: { decision: decision } });
      sayIn("approvals-message", (decision === "approve" ? "Approved " : "Denied ") + a.exposedName + " for " + a.principal + ". Their next identical call " + (decision === "approve" ? "runs." : "is refused."), "success");
    } catch (e) {
      sayIn("approvals-message", e.message, "error");
    }
    run(loaders.approvals);
  }

  loaders.connections = async function () {
    var stale = fresh("connections");
    newTenant("connections");
    var list = (await api(tenantPath("/connections"))).connections;
    if (stale()) return;
    fill("connections-table", list.map(function (c) {
      return h("tr", { "data-connection": c.principal + "/" + c.backend },
        cell(c.principal), cell(c.backend), cell(when(c.connectedAt)), cell(when(c.updatedAt)),
        cell(c.expiresAt ? (c.expiresAt > Date.now() ? "in " + until(c.expiresAt) : "expired (refreshed on next use)") : "no expiry"),
        cell(c.scope ? h("span", { class: "mono", text: c.scope }) : null),
        cell(h("button", { type: "button", text: "Forget", onclick: function () { forget(c); } })));
    }), 7);
  };

  async function forget(c) {
    try {
      await api(tenantPath("/connections/" + encodeURIComponent(c.principal) + "/" + encodeURIComponent(c.backend)), { method: "DELETE" });
      sayIn("connections-message", "Forgot the grant of " + c.principal + " at " + c.backend + "; their next call there asks them to connect again.", "success");
    } catch (e) {
      sayIn("connections-message", e.message, "error");
    }
    run(loaders.connections);
  }
`;
