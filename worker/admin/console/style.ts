/** The console's stylesheet (served as /admin/console/console.css; no inline styles under the CSP). */
export const CONSOLE_CSS = String.raw`
:root {
  --bg: #f5f6f8; --card: #fff; --ink: #1d2330; --muted: #6b7280; --line: #e3e6eb;
  --accent: #f38020; --ok: #1a7f37; --bad: #c62828; --warn: #b26a00; --chip: #eef1f5;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
[hidden] { display: none !important; }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 10px; }
code { background: var(--chip); padding: 0 4px; border-radius: 4px; font-size: 12.5px; }
.muted { color: var(--muted); font-weight: normal; }
.top { display: flex; align-items: center; justify-content: space-between; padding: 12px 20px; background: #1d2330; color: #fff; }
.top .muted { color: #aab2c0; }
.top-controls { display: flex; gap: 8px; align-items: center; }
.top-controls label { color: #d5dae3; }
.tabs { display: flex; gap: 4px; padding: 10px 20px 0; border-bottom: 1px solid var(--line); background: var(--card); }
.tabs button { border: 0; border-bottom: 3px solid transparent; background: none; padding: 8px 12px; font-weight: 600; color: var(--muted); cursor: pointer; border-radius: 0; }
.tabs button[aria-selected="true"] { color: var(--ink); border-bottom-color: var(--accent); }
.view { padding: 16px 20px; display: grid; gap: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; overflow-x: auto; }
.card.narrow { max-width: 460px; margin: 60px auto; }
.card-head { display: flex; justify-content: space-between; align-items: baseline; gap: 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.stat .value { font-size: 22px; font-weight: 700; }
.stat .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:hover { background: #fafbfc; }
td.empty { color: var(--muted); font-style: italic; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: var(--chip); }
.badge.up, .badge.allow, .badge.ok, .badge.approved { background: #e3f4e8; color: var(--ok); }
.badge.down, .badge.deny, .badge.error, .badge.denied, .badge.changed, .badge.timeout { background: #fde7e7; color: var(--bad); }
.badge.pending, .badge.insufficient_scope, .badge.rate_limited, .badge.unknown, .badge.skipped, .badge.cancelled { background: #fff3dc; color: var(--warn); }
form.inline { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; margin-bottom: 10px; }
label { display: flex; flex-direction: column; gap: 3px; font-size: 12px; color: var(--muted); }
.top-controls label { flex-direction: row; align-items: center; gap: 6px; }
input, select, textarea, button { font: inherit; }
input, select { padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; color: var(--ink); background: #fff; }
button { padding: 5px 12px; border: 1px solid var(--line); border-radius: 6px; background: #fff; cursor: pointer; color: var(--ink); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }
textarea { width: 100%; font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace; padding: 10px; border: 1px solid var(--line); border-radius: 6px; }
.actions { display: flex; gap: 8px; margin-top: 10px; }
.error { color: var(--bad); font-weight: 600; }
.success { color: var(--ok); font-weight: 600; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
.why { color: var(--muted); max-width: 420px; }
.view-list { display: grid; gap: 16px; }
.view-list table + table { margin-top: 12px; }
#tunnel-issued code { word-break: break-all; }
.row-actions { display: flex; gap: 6px; }
.args { display: inline-block; max-width: 360px; word-break: break-all; }
`;
