/**
 * The console's Tunnels tab (part of /admin/console/console.js; script.ts splices it into the
 * script's closure, so it uses that file's helpers: $, h, cell, badge, fill, when, sayIn, api,
 * tenantPath, fresh, run, loaders, state, ApiError). For each backend with `transport: "tunnel"`
 * (docs/tunnels.md) it shows the connectors attached now and the connector keys, issues a key
 * (shown once, with the `npm run connect` command that uses it) and revokes one, which closes
 * the connectors that attached with it. Everything goes through the admin API
 * (worker/admin/tunnels.ts); the tab refreshes itself like the overview, so a connector that
 * attaches or drops shows within seconds.
 *
 * Same rules as script.ts: text only, never markup; no backtick and no dollar-brace.
 */
export const TUNNELS_JS = String.raw`
  // --- tunnels (backends reached through a connector) ----------------------------------------

  function tunnelsSay(text, kind) { sayIn("tunnels-message", text, kind); }

  function tbody(rows) {
    var body = h("tbody");
    rows.forEach(function (r) { body.append(r); });
    return body;
  }

  var tunnelsTenant = null;
  loaders.tunnels = async function () {
    var stale = fresh("tunnels");
    if (tunnelsTenant !== state.tenant) { tunnelsTenant = state.tenant; tunnelsSay("", ""); $("tunnel-issued").hidden = true; }
    var doc = await api(tenantPath(""));
    var names = (doc.backends || []).filter(function (b) { return b.transport === "tunnel"; }).map(function (b) { return b.name; });
    var views = await Promise.all(names.map(async function (name) {
      try {
        return { name: name, view: await api(tenantPath("/tunnels/" + encodeURIComponent(name) + "/keys")) };
      } catch (e) {
        // The backend left the tenant between the two reads.
        if (e instanceof ApiError && (e.status === 404 || e.status === 400)) return null;
        throw e;
      }
    }));
    if (stale()) return;
    $("tunnels-note").hidden = names.length > 0;
    $("tunnels-list").replaceChildren.apply($("tunnels-list"), views.filter(Boolean).map(tunnelCard));
  };

  function tunnelCard(t) {
    var connectors = t.view.connectors;
    var byKey = {};
    connectors.forEach(function (c) { byKey[c.keyId] = (byKey[c.keyId] || 0) + 1; });
    var status = connectors.length > 0
      ? badge(connectors.length + (connectors.length === 1 ? " connector" : " connectors"), "up")
      : badge("no connector", "down");
    var connectorRows = connectors.length === 0
      ? [h("tr", null, h("td", { class: "empty", colspan: 3, text: "none attached: the backend reads as down" }))]
      : connectors.map(function (c) {
        return h("tr", { "data-connector": c.id }, cell(h("span", { class: "mono", text: c.id })), cell(h("span", { class: "mono", text: c.keyId })), cell(when(c.since)));
      });
    var keyRows = t.view.keys.length === 0
      ? [h("tr", null, h("td", { class: "empty", colspan: 4, text: "no key: issue one for the connector" }))]
      : t.view.keys.map(function (k) {
        return h("tr", { "data-key": k.id },
          cell(h("span", { class: "mono", text: k.id })), cell(when(k.createdAt)), h("td", { class: "num", text: String(byKey[k.id] || 0) }),
          cell(h("button", { type: "button", text: "Revoke", onclick: function () { revokeTunnelKey(t.name, k.id); } })));
      });
    return h("div", { class: "card", "data-tunnel": t.name },
      h("div", { class: "card-head" }, h("h2", { text: t.name }), status),
      h("table", { class: "tunnel-connectors" },
        h("thead", null, h("tr", null, h("th", { text: "Connector" }), h("th", { text: "Key" }), h("th", { text: "Attached" }))),
        tbody(connectorRows)),
      h("table", { class: "tunnel-keys" },
        h("thead", null, h("tr", null, h("th", { text: "Key id" }), h("th", { text: "Issued" }), h("th", { class: "num", text: "Connectors" }), h("th", null))),
        tbody(keyRows)),
      h("div", { class: "actions" }, h("button", { type: "button", class: "primary", text: "Issue a key", onclick: function () { issueTunnelKey(t.name); } })));
  }

  function connectCommand(backend, key) {
    return "npm run connect -- --gateway " + location.origin + " --tenant " + state.tenant + " --backend " + backend + " --key " + key + " -- <command> [args…]";
  }

  async function issueTunnelKey(backend) {
    try {
      var r = await api(tenantPath("/tunnels/" + encodeURIComponent(backend) + "/keys"), { method: "POST" });
      $("tunnel-issued-key").textContent = r.key;
      $("tunnel-issued-command").textContent = connectCommand(backend, r.key);
      $("tunnel-issued-backend").textContent = backend + " (" + r.id + ")";
      $("tunnel-issued").hidden = false;
      tunnelsSay("Issued key " + r.id + " for " + backend + ". Copy it now: it is not shown again.", "success");
    } catch (e) {
      tunnelsSay(e.message, "error");
    }
    run(loaders.tunnels);
  }

  async function revokeTunnelKey(backend, id) {
    try {
      await api(tenantPath("/tunnels/" + encodeURIComponent(backend) + "/keys/" + encodeURIComponent(id)), { method: "DELETE" });
      tunnelsSay("Revoked key " + id + " of " + backend + "; connectors that attached with it are closed.", "success");
      if ($("tunnel-issued-backend").textContent === backend + " (" + id + ")") $("tunnel-issued").hidden = true;
    } catch (e) {
      tunnelsSay(e.message, "error");
    }
    run(loaders.tunnels);
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("tunnel-issued-hide").addEventListener("click", function () { $("tunnel-issued").hidden = true; $("tunnel-issued-key").textContent = ""; });
  });
`;
