/**
 * The console's Logins tab (part of /admin/console/console.js; script.ts splices it into the
 * script's closure, so it uses that file's helpers: $, h, cell, num, badge, fill, sayIn, api, tenantPath,
 * fresh, run, loaders, ApiError). It shows the tenant's authorization server (auth.oauth): its
 * grants, its clients and a key rotation, all through the admin API (worker/admin/oauth.ts).
 *
 * Same rules as script.ts: text only, never markup; no backtick and no dollar-brace.
 */
export const LOGINS_JS = String.raw`
  // --- logins (the tenant's authorization server) ------------------------------------------

  function isoAgo(iso) { return iso ? when(Date.parse(iso)) : "–"; }
  function isoUntil(iso) {
    if (!iso) return "–";
    var ms = Date.parse(iso);
    return h("span", { title: new Date(ms).toISOString(), text: ms > Date.now() ? "in " + until(ms) : "expired" });
  }
  function clientKind(c) {
    if (c.registered) return "registered";
    if (c.configured) return "configured";
    if (/^https:\/\//.test(c.clientId)) return "metadata document";
    return "other";
  }
  function loginsSay(text, kind) { sayIn("logins-message", text, kind); }
  function oauthPanels(visible) {
    $("logins-note").hidden = visible;
    ["grants-card", "clients-card", "keys-card", "logins-message"].forEach(function (id) { $(id).hidden = !visible; });
  }

  var loginsTenant = null;
  loaders.logins = async function () {
    var stale = fresh("logins");
    if (loginsTenant !== state.tenant) { loginsTenant = state.tenant; loginsSay("", ""); }
    var doc = await api(tenantPath(""));
    var oauth = doc.auth && doc.auth.oauth;
    if (!oauth) {
      if (!stale()) oauthPanels(false);
      return;
    }
    var answers;
    try {
      answers = await Promise.all([api(tenantPath("/oauth/grants")), api(tenantPath("/oauth/clients"))]);
    } catch (e) {
      // The tenant lost auth.oauth between the two reads: the same note.
      if (e instanceof ApiError && e.status === 404) { if (!stale()) oauthPanels(false); return; }
      throw e;
    }
    if (stale()) return;
    oauthPanels(true);
    fill("grants-table", answers[0].grants.map(function (g) {
      var active = !g.revokedAt;
      var status = active ? badge("active", "allow") : badge("revoked", "deny");
      var revoke = active ? h("button", { type: "button", text: "Revoke", onclick: function () { revokeGrant(g); } }) : null;
      return h("tr", { "data-grant": g.id },
        cell(h("span", { title: (g.roles || []).length ? "roles: " + g.roles.join(", ") : "no roles", text: g.sub })),
        cell(h("span", { title: g.clientId, text: g.clientName || g.clientId })),
        cell(h("span", { class: "mono", title: g.resource || "", text: g.scope || "–" })),
        cell(isoAgo(g.createdAt)), cell(isoAgo(g.lastUsedAt)), cell(isoUntil(g.expiresAt)),
        cell(active ? status : h("span", { title: g.revokedReason || "" }, status, " ", h("span", { class: "muted", text: g.revokedReason || "" }))),
        cell(revoke));
    }), 8);
    // Configured clients are listed even before their first sign-in, so they can be blocked ahead.
    var byId = {};
    var clients = answers[1].clients.map(function (c) { byId[c.clientId] = c; return c; });
    (oauth.clients || []).forEach(function (k) {
      var c = byId[k.clientId];
      if (!c) clients.push(c = byId[k.clientId] = { clientId: k.clientId, clientName: k.clientName, registered: false, blocked: false, activeGrants: 0 });
      c.configured = true;
      if (!c.clientName || c.clientName === c.clientId) c.clientName = k.clientName;
    });
    fill("clients-table", clients.map(function (c) {
      var action = c.blocked
        ? h("button", { type: "button", text: "Restore", onclick: function () { clientAction(c, "restore"); } })
        : h("button", { type: "button", text: "Revoke", onclick: function () { clientAction(c, "revoke"); } });
      return h("tr", { "data-client": c.clientId },
        cell(h("strong", { text: c.clientName || c.clientId })), cell(h("span", { class: "mono", text: c.clientId })), cell(clientKind(c)),
        num(c.activeGrants), cell(c.blocked ? badge("blocked", "deny") : badge("allowed", "allow")), cell(action));
    }), 6);
  };

  async function revokeGrant(g) {
    try {
      await api(tenantPath("/oauth/grants/" + encodeURIComponent(g.id)), { method: "DELETE" });
      loginsSay("Revoked the grant of " + g.sub + " to " + (g.clientName || g.clientId) + ".", "success");
    } catch (e) {
      loginsSay(e.message, "error");
    }
    run(loaders.logins);
  }

  async function clientAction(c, action) {
    var name = c.clientName || c.clientId;
    try {
      var r = await api(tenantPath("/oauth/clients/" + action), { method: "POST", body: { clientId: c.clientId } });
      if (action === "revoke") loginsSay("Blocked " + name + "; " + r.revokedGrants + " grant(s) revoked.", "success");
      else loginsSay(r.restored ? "Restored " + name + "." : name + " was not blocked.", "success");
    } catch (e) {
      loginsSay(e.message, "error");
    }
    run(loaders.logins);
  }

  async function rotateKey() {
    loginsSay("Rotating…", "");
    try {
      var r = await api(tenantPath("/oauth/keys/rotate"), { method: "POST" });
      loginsSay("New signing key " + r.kid + "; tokens signed by the old one stay valid until they expire.", "success");
    } catch (e) {
      loginsSay(e.message, "error");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("oauth-rotate").addEventListener("click", function () { rotateKey(); });
  });
`;
