/**
 * The console's HTML shell. It holds no data and no secret: it asks for the admin token, keeps it
 * in sessionStorage (gone with the tab), and the script fetches everything from the bearer-checked
 * admin API. Served with a strict Content-Security-Policy (routes.ts): no inline script or style,
 * so the markup below has neither.
 */
export const CONSOLE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Edge MCP Gateway · console</title>
<link rel="stylesheet" href="/admin/console/console.css">
<script src="/admin/console/console.js" defer></script>
</head>
<body>
<header class="top">
  <h1>Edge MCP Gateway <span class="muted">console</span></h1>
  <div class="top-controls" id="top-controls" hidden>
    <label>Tenant <select id="tenant"></select></label>
    <button type="button" id="refresh" title="Reload this view">Refresh</button>
    <button type="button" id="logout">Sign out</button>
  </div>
</header>

<section id="login" class="card narrow" hidden>
  <h2>Sign in</h2>
  <p>Paste the gateway's admin token (<code>ADMIN_TOKEN</code>; locally in <code>.dev.vars</code>). It stays in this tab only.</p>
  <form id="login-form" autocomplete="off">
    <label>Admin token <input type="password" id="token" name="token" required spellcheck="false"></label>
    <button type="submit">Sign in</button>
  </form>
  <p id="login-error" class="error" role="alert"></p>
</section>

<div id="app" hidden>
  <nav class="tabs" id="tabs">
    <button type="button" data-tab="overview">Overview</button>
    <button type="button" data-tab="catalog">Catalog</button>
    <button type="button" data-tab="sessions">Sessions</button>
    <button type="button" data-tab="audit">Audit</button>
    <button type="button" data-tab="pins">Pins</button>
    <button type="button" data-tab="policy">Policy</button>
    <button type="button" data-tab="logins">Logins</button>
    <button type="button" data-tab="tunnels">Tunnels</button>
    <button type="button" data-tab="approvals">Approvals</button>
    <button type="button" data-tab="connections">Connections</button>
  </nav>

  <section id="view-overview" class="view" hidden>
    <div class="cards" id="stat-cards"></div>
    <div class="card">
      <div class="card-head"><h2>Backends</h2><span class="muted" id="probed-at"></span></div>
      <table id="backends-table"><thead><tr><th>Backend</th><th>Transport</th><th>Probe</th><th>Latency</th><th>Protocol</th><th>Server</th><th>History</th><th>Last failure</th></tr></thead><tbody></tbody></table>
    </div>
    <div class="card">
      <div class="card-head"><h2>Requests</h2><span class="muted" id="metrics-window"></span></div>
      <table id="requests-table"><thead><tr><th>Method</th><th>Tool</th><th>Count</th><th>Failures</th><th>p50 ms</th><th>p95 ms</th></tr></thead><tbody></tbody></table>
    </div>
    <div class="card">
      <h2>Backend calls</h2>
      <table id="backend-calls-table"><thead><tr><th>Backend</th><th>Method</th><th>Tool</th><th>Count</th><th>Failures</th><th>p50 ms</th><th>p95 ms</th><th>max ms</th></tr></thead><tbody></tbody></table>
    </div>
    <div class="card">
      <h2>Denials and rate limits</h2>
      <table id="refusals-table"><thead><tr><th>Kind</th><th>Backend</th><th>Method</th><th>Tool</th><th>Count</th></tr></thead><tbody></tbody></table>
    </div>
  </section>

  <section id="view-catalog" class="view" hidden>
    <div class="card">
      <h2>Catalog as a principal sees it</h2>
      <form id="catalog-form" class="inline">
        <label>Subject <input id="catalog-sub" value="alice" required spellcheck="false"></label>
        <label>Roles <input id="catalog-roles" placeholder="analyst, sales" spellcheck="false"></label>
        <label>Scopes <input id="catalog-scopes" placeholder="mcp:tools" spellcheck="false"></label>
        <button type="submit">Evaluate</button>
      </form>
      <p id="catalog-note" class="muted"></p>
      <table id="catalog-table"><thead><tr><th>Name</th><th>Kind</th><th>Backend</th><th>In lists</th><th>Call</th><th>Rule</th><th>Why</th></tr></thead><tbody></tbody></table>
    </div>
  </section>

  <section id="view-sessions" class="view" hidden>
    <div class="card">
      <h2>Live sessions</h2>
      <table id="sessions-table"><thead><tr><th>Session</th><th>Principal</th><th>Client</th><th>Protocol</th><th>Started</th><th>Last seen</th><th>Expires</th><th>Requests</th></tr></thead><tbody></tbody></table>
    </div>
  </section>

  <section id="view-audit" class="view" hidden>
    <div class="card">
      <h2>Audit trail</h2>
      <form id="audit-form" class="inline">
        <label>Principal <input name="principal" spellcheck="false"></label>
        <label>Method <input name="method" placeholder="tools/call" spellcheck="false"></label>
        <label>Backend <input name="backend" spellcheck="false"></label>
        <label>Item <input name="item" spellcheck="false"></label>
        <label>Decision <select name="decision"><option value="">any</option><option>allow</option><option>deny</option></select></label>
        <label>Outcome <select name="outcome"><option value="">any</option><option>ok</option><option>error</option><option>denied</option><option>timeout</option><option>rate_limited</option><option>cancelled</option></select></label>
        <button type="submit">Filter</button>
      </form>
      <p id="audit-error" class="error" role="alert"></p>
      <table id="audit-table"><thead><tr><th>Time</th><th>Principal</th><th>Method</th><th>Backend</th><th>Item</th><th>Decision</th><th>Outcome</th><th>ms</th><th>Rule</th><th>Trace</th></tr></thead><tbody></tbody></table>
    </div>
  </section>

  <section id="view-pins" class="view" hidden>
    <div class="card">
      <h2>Pinned tool definitions</h2>
      <p class="muted">A definition that changed since it was approved waits here; under <code>pinning: "quarantine"</code> it is hidden until approved.</p>
      <p id="pins-message" role="status"></p>
      <table id="pins-table"><thead><tr><th>Backend</th><th>Tool</th><th>Status</th><th>First seen</th><th>Changed</th><th></th></tr></thead><tbody></tbody></table>
    </div>
  </section>

  <section id="view-policy" class="view" hidden>
    <div class="card">
      <div class="card-head"><h2>Policy</h2><span id="policy-version" class="badge"></span></div>
      <p class="muted">The tenant's <code>policy</code> as JSON. Validate checks it against the schema (and every CEL condition) without saving; Save stores it as the next version.</p>
      <textarea id="policy-editor" spellcheck="false" rows="22"></textarea>
      <div class="actions">
        <button type="button" id="policy-validate">Validate</button>
        <button type="button" id="policy-save" class="primary">Save</button>
        <button type="button" id="policy-reload">Reload</button>
      </div>
      <p id="policy-message" role="status"></p>
    </div>
  </section>

  <section id="view-logins" class="view" hidden>
    <p id="logins-note" class="muted" hidden>This tenant has no authorization server (<code>auth.oauth</code>).</p>
    <p id="logins-message" role="status"></p>
    <div class="card" id="grants-card">
      <h2>Grants</h2>
      <p class="muted">Each sign-in through the gateway's authorization server; revoking one ends its refresh tokens at once and its access tokens and sessions within seconds.</p>
      <table id="grants-table"><thead><tr><th>User</th><th>Client</th><th>Scopes</th><th>Created</th><th>Last used</th><th>Expires</th><th>Status</th><th></th></tr></thead><tbody></tbody></table>
    </div>
    <div class="card" id="clients-card">
      <h2>Clients</h2>
      <p class="muted">Configured clients, clients with grants, registered ones and blocked ones. Revoking a client ends all its grants and refuses it until restored.</p>
      <table id="clients-table"><thead><tr><th>Name</th><th>Client id</th><th>Kind</th><th>Active grants</th><th>Status</th><th></th></tr></thead><tbody></tbody></table>
    </div>
    <div class="card" id="keys-card">
      <h2>Signing key</h2>
      <p class="muted">A new key signs from now on; tokens signed by the old one stay valid until they expire.</p>
      <div class="actions"><button type="button" id="oauth-rotate">Rotate signing key</button></div>
    </div>
  </section>

  <section id="view-tunnels" class="view" hidden>
    <p id="tunnels-note" class="muted" hidden>This tenant has no tunnel backend (<code>transport: "tunnel"</code>).</p>
    <p id="tunnels-message" role="status"></p>
    <div class="card" id="tunnel-issued" hidden>
      <div class="card-head"><h2>New key for <span id="tunnel-issued-backend"></span></h2><button type="button" id="tunnel-issued-hide">Hide</button></div>
      <p class="muted">Shown once; the gateway keeps only its hash. Run the connector where the server is:</p>
      <p><code id="tunnel-issued-key" class="mono"></code></p>
      <p><code id="tunnel-issued-command" class="mono"></code></p>
    </div>
    <div id="tunnels-list" class="view-list"></div>
  </section>

  <section id="view-approvals" class="view" hidden>
    <div class="card">
      <h2>Approvals</h2>
      <p class="muted">Calls a policy rule holds for a human's yes (<code>requireApproval</code>): waiting ones first, then those of the last day. An approval is for this user, tool, exact arguments and policy version, and is spent by one call.</p>
      <p id="approvals-message" role="status"></p>
      <table id="approvals-table"><thead><tr><th>Asked</th><th>User</th><th>Tool</th><th>Arguments</th><th>Approver</th><th>State</th><th>Decided by</th><th></th></tr></thead><tbody></tbody></table>
    </div>
  </section>

  <section id="view-connections" class="view" hidden>
    <div class="card">
      <h2>Connections</h2>
      <p class="muted">Users' own grants at backends that act for them (<code>auth.type: "user_oauth"</code>). The tokens stay encrypted in the vault and are never shown; forgetting a grant deletes them.</p>
      <p id="connections-message" role="status"></p>
      <table id="connections-table"><thead><tr><th>User</th><th>Backend</th><th>Connected</th><th>Refreshed</th><th>Token expires</th><th>Scope</th><th></th></tr></thead><tbody></tbody></table>
    </div>
  </section>
</div>
</body>
</html>
`;
