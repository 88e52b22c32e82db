/**
 * The console's script (served as /admin/console/console.js). Plain browser JavaScript, no
 * framework, no build step. Every datum comes from the admin API with the bearer token from
 * sessionStorage. Text from tenants and backends (tool names, descriptions, errors) is untrusted:
 * it only ever reaches the page as text nodes, never as markup (the CSP's Trusted Types
 * requirement would refuse an innerHTML anyway).
 *
 * Kept as a string so the Worker can serve it with no asset pipeline; it must not contain a
 * backtick or a dollar-brace (test/unit/observe/console.test.ts checks that it parses). The Logins
 * and Tunnels tabs live in logins.ts and tunnels.ts, spliced in before the wiring (they share this
 * closure's helpers).
 */
import { LOGINS_JS } from "./logins.ts";
import { TUNNELS_JS } from "./tunnels.ts";
import { ACCESS_JS } from "./access.ts";

const MAIN_JS = String.raw`"use strict";
(function () {
  var TOKEN_KEY = "edge-mcp-gateway.admin-token";
  var TENANT_KEY = "edge-mcp-gateway.tenant";
  var REFRESH_MS = 10000;
  var state = { tenant: null, tab: "overview", timer: null, doc: null };

  function $(id) { return document.getElementById(id); }

  /** Builds an element; children are nodes or strings (always text, never markup). */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = String(v);
        else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      el.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
    }
    return el;
  }

  function badge(text, kind) { return h("span", { class: "badge " + (kind || text), text: text }); }
  function num(n) { return h("td", { class: "num", text: n === null || n === undefined ? "–" : String(n) }); }
  function cell(v) { return h("td", null, v === null || v === undefined || v === "" ? "–" : v); }
  /** A tab's status line: its text, and its kind ("success", "error" or none) as its class. */
  function sayIn(id, text, kind) { var el = $(id); el.textContent = text; el.className = kind || ""; }

  function ago(ms) {
    if (!ms) return "–";
    var s = Math.round((Date.now() - ms) / 1000);
    if (s < 0) return "in " + until(ms);
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }
  function until(ms) {
    var s = Math.max(0, Math.round((ms - Date.now()) / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    return Math.round(s / 3600) + " h";
  }
  function when(ms) { var el = h("span", { title: new Date(ms).toISOString(), text: ago(ms) }); return el; }
  function errorsText(errors) {
    var keys = Object.keys(errors || {});
    if (keys.length === 0) return "0";
    return keys.map(function (k) { return k + " " + errors[k]; }).join(", ");
  }

  function fill(tableId, rows, columns) {
    var body = $(tableId).tBodies[0];
    body.replaceChildren();
    if (rows.length === 0) {
      body.append(h("tr", null, h("td", { class: "empty", colspan: columns, text: "nothing yet" })));
      return;
    }
    rows.forEach(function (r) { body.append(r); });
  }

  // --- the admin API ----------------------------------------------------------------------

  function ApiError(status, message) { this.status = status; this.message = message; }

  async function api(path, options) {
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) { showLogin(""); throw new ApiError(401, "signed out"); }
    var init = { method: (options && options.method) || "GET", headers: { authorization: "Bearer " + token }, cache: "no-store" };
    if (options && options.body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    var res = await fetch("/admin" + path, init);
    var text = await res.text();
    var body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin("The admin token was refused.");
      throw new ApiError(401, "unauthorized");
    }
    if (!res.ok) {
      var message = body && typeof body.error === "string" ? body.error : body && body.error && body.error.message ? body.error.message : "HTTP " + res.status;
      throw new ApiError(res.status, message);
    }
    return body;
  }

  function tenantPath(suffix) { return "/tenants/" + encodeURIComponent(state.tenant) + suffix; }

  // --- sign in ----------------------------------------------------------------------------

  function showLogin(message) {
    stopTimer();
    $("app").hidden = true;
    $("top-controls").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    try {
      await start();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) $("login-error").textContent = "Could not reach the admin API: " + e.message;
    }
  }

  async function start() {
    var listed = await api("/tenants");
    $("login").hidden = true;
    $("app").hidden = false;
    $("top-controls").hidden = false;
    var select = $("tenant");
    select.replaceChildren();
    listed.tenants.forEach(function (id) { select.append(h("option", { value: id, text: id })); });
    var remembered = sessionStorage.getItem(TENANT_KEY);
    state.tenant = listed.tenants.indexOf(remembered) >= 0 ? remembered : listed.tenants[0] || null;
    if (state.tenant) select.value = state.tenant;
    show(state.tab);
  }

  // --- tabs -------------------------------------------------------------------------------

  var loaders = {};
  /** Loads of a view may overlap (a refresh, a filter); only the newest may fill it. */
  var generations = {};
  function fresh(view) {
    var mine = (generations[view] = (generations[view] || 0) + 1);
    return function stale() { return generations[view] !== mine; };
  }

  function stopTimer() { if (state.timer) { clearInterval(state.timer); state.timer = null; } }

  function show(tab) {
    state.tab = tab;
    stopTimer();
    document.querySelectorAll("#tabs button").forEach(function (b) { b.setAttribute("aria-selected", String(b.dataset.tab === tab)); });
    document.querySelectorAll(".view").forEach(function (v) { v.hidden = v.id !== "view-" + tab; });
    if (!state.tenant) return;
    run(loaders[tab]);
    if (["overview", "sessions", "tunnels", "approvals", "connections"].indexOf(tab) >= 0) state.timer = setInterval(function () { run(loaders[tab]); }, REFRESH_MS);
  }

  function run(loader) {
    if (!loader) return;
    loader().catch(function (e) { if (!(e instanceof ApiError && e.status === 401)) console.warn("console:", e.message); });
  }

  // --- overview ---------------------------------------------------------------------------

  loaders.overview = async function () {
    var stale = fresh("overview");
    // Probe first: the probes are metrics too, so the health history read next includes them.
    var probes = (await api(tenantPath("/health"))).backends;
    var m = await api(tenantPath("/metrics?minutes=60"));
    if (stale()) return;
    var t = m.totals;
    var p95 = m.backends.reduce(function (a, b) { return Math.max(a, b.latencyMs ? b.latencyMs.p95 : 0); }, 0);
    var cards = [
      ["Requests", t.requests], ["Request failures", t.requestErrors], ["Tool calls", t.calls],
      ["Denials", t.denials], ["Rate-limited", t.rateLimited], ["Backend p95 ms", p95], ["Live sessions", m.sessions],
    ];
    $("stat-cards").replaceChildren.apply($("stat-cards"), cards.map(function (c) {
      return h("div", { class: "stat", "data-stat": c[0] }, h("div", { class: "value", text: c[1] }), h("div", { class: "label", text: c[0] }));
    }));
    $("metrics-window").textContent = "last " + m.minutes + " min";
    $("probed-at").textContent = "probed " + new Date().toLocaleTimeString();
    var traffic = {};
    m.health.forEach(function (x) { traffic[x.backend] = x; });
    fill("backends-table", probes.map(function (p) {
      var tr = traffic[p.backend] || {};
      return h("tr", { "data-backend": p.backend },
        cell(h("strong", { text: p.backend })),
        cell(p.connectors === undefined ? p.transport : p.transport + " · " + p.connectors + (p.connectors === 1 ? " connector" : " connectors")), cell(badge(p.status)),
        num(p.latencyMs), cell(p.protocolVersion), cell(p.server),
        cell(badge(tr.status || "unknown")),
        cell(tr.lastError ? tr.lastError + " (" + ago(tr.lastErrorAt) + ")" : p.error));
    }), 8);
    fill("requests-table", m.requests.map(function (r) {
      return h("tr", null, cell(h("span", { class: "mono", text: r.method })), cell(r.tool), num(r.count), cell(errorsText(r.errors)),
        num(r.latencyMs && r.latencyMs.p50), num(r.latencyMs && r.latencyMs.p95));
    }), 6);
    fill("backend-calls-table", m.backends.map(function (r) {
      return h("tr", null, cell(r.backend), cell(h("span", { class: "mono", text: r.method })), cell(r.tool), num(r.count), cell(errorsText(r.errors)),
        num(r.latencyMs && r.latencyMs.p50), num(r.latencyMs && r.latencyMs.p95), num(r.latencyMs && r.latencyMs.max));
    }), 8);
    var refusals = m.denials.map(function (d) { return h("tr", null, cell(badge("denied " + d.reason, "deny")), cell(d.backend), cell(d.method), cell(d.tool), num(d.count)); })
      .concat(m.rateLimits.map(function (d) { return h("tr", null, cell(badge("rate limited", "rate_limited")), cell(d.backend), cell(d.method), cell(d.tool), num(d.count)); }));
    fill("refusals-table", refusals, 5);
  };

  // --- catalog ----------------------------------------------------------------------------

  loaders.catalog = async function () {
    var q = "?sub=" + encodeURIComponent($("catalog-sub").value) + "&roles=" + encodeURIComponent($("catalog-roles").value) + "&scopes=" + encodeURIComponent($("catalog-scopes").value);
    var stale = fresh("catalog");
    var c = await api(tenantPath("/catalog" + q));
    if (stale()) return;
    var failed = c.failed.length ? "; unreachable: " + c.failed.map(function (f) { return f.backend + " (" + f.error + ")"; }).join(", ") : "";
    $("catalog-note").textContent = "Policy version " + c.policyVersion + ", pinning " + c.pinning + ", " + c.items.length + " items" + failed;
    fill("catalog-table", c.items.map(function (i) {
      return h("tr", { "data-item": i.name, class: i.visible ? "" : "hidden-item" },
        cell(h("span", { class: "mono", text: i.name, title: i.description || "" })), cell(i.kind), cell(i.backend),
        cell(badge(i.visible ? "yes" : "no", i.visible ? "allow" : "deny")), cell(badge(i.decision)), cell(i.rule),
        cell(h("span", { class: "why", text: i.reason })));
    }), 7);
  };

  // --- sessions ---------------------------------------------------------------------------

  loaders.sessions = async function () {
    var stale = fresh("sessions");
    var s = await api(tenantPath("/sessions"));
    if (stale()) return;
    fill("sessions-table", s.sessions.map(function (x) {
      return h("tr", { "data-session": x.id }, cell(h("span", { class: "mono", title: x.id, text: x.id.slice(0, 12) + "…" })), cell(x.principal), cell(x.client),
        cell(x.protocolVersion), cell(when(x.createdAt)), cell(when(x.lastSeenAt)), cell("in " + until(x.expiresAt)), num(x.requests));
    }), 8);
  };

  // --- audit ------------------------------------------------------------------------------

  loaders.audit = async function () {
    var form = $("audit-form");
    var params = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (el) { if (el.name && el.value) params.set(el.name, el.value); });
    params.set("limit", "100");
    $("audit-error").textContent = "";
    var a;
    var stale = fresh("audit");
    try { a = await api(tenantPath("/audit?" + params.toString())); }
    catch (e) { if (!stale()) $("audit-error").textContent = e.message; throw e; }
    if (stale()) return;
    fill("audit-table", a.events.map(function (e) {
      var detail = e.detail || {};
      var trace = typeof detail.traceparent === "string" ? detail.traceparent.split("-")[1] : "";
      return h("tr", null, cell(when(e.at)), cell(e.principal), cell(h("span", { class: "mono", text: e.method })), cell(e.backend), cell(e.item),
        cell(badge(e.decision)), cell(badge(e.outcome)), num(e.latencyMs), cell(detail.rule), cell(h("span", { class: "mono", title: detail.traceparent || "", text: trace.slice(0, 12) })));
    }), 10);
  };

  // --- pins -------------------------------------------------------------------------------

  loaders.pins = async function () {
    var stale = fresh("pins");
    var p = await api(tenantPath("/pins"));
    if (stale()) return;
    fill("pins-table", p.pins.map(function (pin) {
      var approve = pin.status === "changed"
        ? h("button", { type: "button", text: "Approve", onclick: function () { approvePin(pin); } })
        : null;
      return h("tr", { "data-pin": pin.backend + "/" + pin.tool }, cell(pin.backend), cell(h("span", { class: "mono", text: pin.tool })), cell(badge(pin.status)),
        cell(when(pin.firstSeen)), cell(pin.changedAt ? when(pin.changedAt) : "–"), cell(approve));
    }), 6);
  };

  async function approvePin(pin) {
    var msg = $("pins-message");
    try {
      var r = await api(tenantPath("/pins/" + encodeURIComponent(pin.backend) + "/" + encodeURIComponent(pin.tool) + "/approve"), { method: "POST" });
      msg.className = "success";
      msg.textContent = "Approved " + pin.backend + "/" + pin.tool + "; tenant version " + r.version + ".";
    } catch (e) {
      msg.className = "error";
      msg.textContent = e.message;
    }
    run(loaders.pins);
  }

  // --- policy -----------------------------------------------------------------------------

  loaders.policy = async function () {
    var doc = await api(tenantPath(""));
    state.doc = doc;
    $("policy-editor").value = JSON.stringify(doc.policy, null, 2);
    $("policy-version").textContent = "version " + doc.version;
    say("", "");
  };

  function say(text, kind) { sayIn("policy-message", text, kind); }

  // Each validate or save takes a ticket; only the newest may write the message, so the answer
  // to an earlier click that arrives late cannot overwrite what a later click found.
  var ticket = 0;
  function begin() {
    ticket += 1;
    say("Checking…", "");
    return ticket;
  }
  function sayFor(t, text, kind) {
    if (t === ticket) say(text, kind);
  }

  /** The document a PUT would take: the loaded one with the edited policy; null (and a message) when the editor is not JSON. */
  function edited() {
    var policy;
    try { policy = JSON.parse($("policy-editor").value); }
    catch (e) { say("policy: not JSON (" + e.message + ")", "error"); return null; }
    var doc = Object.assign({}, state.doc, { policy: policy });
    delete doc.id;
    delete doc.version;
    return doc;
  }

  async function validatePolicy(t) {
    if (t === undefined) t = begin();
    var doc = edited();
    if (!doc) return false;
    try {
      var r = await api(tenantPath("/validate"), { method: "POST", body: doc });
      sayFor(t, "Valid. Saving stores it as version " + r.version + ".", "success");
      return true;
    } catch (e) {
      sayFor(t, e.message, "error");
      return false;
    }
  }

  async function savePolicy() {
    var t = begin();
    var doc = edited();
    if (!doc) return;
    try {
      var current = await api(tenantPath(""));
      if (current.version !== state.doc.version) {
        sayFor(t, "The tenant changed to version " + current.version + " since this editor loaded it; Reload, then edit again.", "error");
        return;
      }
      if (!(await validatePolicy(t))) return;
      var saved = await api(tenantPath(""), { method: "PUT", body: doc });
      state.doc = saved;
      $("policy-version").textContent = "version " + saved.version;
      sayFor(t, "Saved as version " + saved.version + ".", "success");
    } catch (e) {
      sayFor(t, e.message, "error");
    }
  }

`;

const WIRING_JS = String.raw`
  // --- wiring -----------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    $("login-form").addEventListener("submit", signIn);
    $("logout").addEventListener("click", function () { sessionStorage.removeItem(TOKEN_KEY); showLogin("Signed out."); });
    $("refresh").addEventListener("click", function () { run(loaders[state.tab]); });
    $("tenant").addEventListener("change", function (e) { state.tenant = e.target.value; sessionStorage.setItem(TENANT_KEY, state.tenant); show(state.tab); });
    document.querySelectorAll("#tabs button").forEach(function (b) { b.addEventListener("click", function () { show(b.dataset.tab); }); });
    $("catalog-form").addEventListener("submit", function (e) { e.preventDefault(); run(loaders.catalog); });
    $("audit-form").addEventListener("submit", function (e) { e.preventDefault(); run(loaders.audit); });
    $("policy-validate").addEventListener("click", function () { validatePolicy(); });
    $("policy-save").addEventListener("click", function () { savePolicy(); });
    $("policy-reload").addEventListener("click", function () { run(loaders.policy); });
    if (sessionStorage.getItem(TOKEN_KEY)) start().catch(function () { showLogin(""); });
    else showLogin("");
  });
})();
`;

export const CONSOLE_JS = MAIN_JS + LOGINS_JS + TUNNELS_JS + ACCESS_JS + WIRING_JS;
