/**
 * The operator dashboard: one static page. It holds no data and no secret; the browser asks
 * for an API client token once (kept in sessionStorage) and reads the same authenticated
 * endpoints as curl does. Reading uses only recorded history, so an open dashboard never
 * starts a workflow; the buttons do, and say so.
 */
import { createHash } from 'node:crypto';

const STYLE = `
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  body { margin: 0 auto; max-width: 1100px; padding: 1.5rem; }
  h1 { font-size: 1.4rem; margin: 0 0 1rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e3e6eb; font-size: .9rem; }
  .badge { padding: .1rem .5rem; border-radius: .8rem; font-size: .8rem; font-weight: 600; }
  .healthy, .completed { background: #dff5e3; color: #17602a; } .degraded, .running { background: #fff2cc; color: #7a5a00; }
  .unhealthy, .failed, .compensated, .cancelled, .unmanaged { background: #fde2e1; color: #8a1c17; } .unknown { background: #e8eaee; } .own { background: #e2ecfd; color: #1b4a8f; }
  button { font: inherit; padding: .3rem .7rem; cursor: pointer; } #login { background: #fff; padding: 1rem; max-width: 28rem; }
  #notice { min-height: 1.2rem; margin: .5rem 0; } ul { margin: .3rem 0; padding-left: 1.2rem; }
`;

function scriptFor(options: { temporalUiUrl: string | null; namespace: string }): string {
  const config = JSON.stringify(options).replace(/</g, '\\u003c');
  return `
const config = ${config};
const el = (id) => document.getElementById(id);
const text = (value) => document.createTextNode(value == null ? '—' : String(value));
function cell(row, content) { const td = document.createElement('td'); td.append(content instanceof Node ? content : text(content)); row.append(td); return td; }
function badge(state) { const span = document.createElement('span'); span.className = 'badge ' + (state || 'unknown'); span.textContent = state || 'unknown'; return span; }
/** A link to a workflow (its latest run) or to one run of it in the Temporal UI; its id as text without a UI. */
function workflowLink(id, runId, label) {
  if (!config.temporalUiUrl) return text(runId || id);
  const a = document.createElement('a');
  a.href = config.temporalUiUrl + '/namespaces/' + encodeURIComponent(config.namespace) + '/workflows/' + encodeURIComponent(id) + (runId ? '/' + encodeURIComponent(runId) + '/history' : '');
  a.textContent = label || 'Temporal UI'; a.target = '_blank'; a.rel = 'noopener'; return a;
}
function withLink(content, id, runId) { const span = document.createElement('span'); span.append(content, text(' '), workflowLink(id, runId, 'run')); return span; }
async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: { ...(init.headers || {}), authorization: 'Bearer ' + sessionStorage.getItem('tw-token') } });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) { sessionStorage.removeItem('tw-token'); showLogin('That token was refused.'); throw new Error('unauthorized'); }
  if (!response.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + response.status));
  return body.data;
}
function notice(message) { el('notice').textContent = message; }
async function refresh() {
  const [history, tokens, apiTokens, rotations, fleet] = await Promise.all([api('/tokens/history?limit=1'), api('/service-tokens'), api('/api-tokens'), api('/rotations?limit=10'), api('/fan-outs?limit=3')]);
  const last = history.history[0];
  el('overall').replaceWith(Object.assign(badge(last ? last.overall_health : 'unknown'), { id: 'overall' }));
  el('checked-at').textContent = last ? 'Last check ' + last.timestamp + ': account token ' + (last.account_token_valid ? 'valid' : 'invalid') + ', ' + last.account_token_missing_perms + ' missing; user token ' + (last.user_token_valid ? 'valid' : 'invalid') + ', ' + last.user_token_missing_perms + ' missing.' : 'No health check recorded yet.';
  const body = el('service-tokens'); body.replaceChildren();
  for (const t of tokens.service_tokens) {
    const row = document.createElement('tr');
    cell(row, t.name); cell(row, t.account_id); cell(row, t.strategy);
    cell(row, t.days_to_expiry == null ? '—' : t.days_to_expiry + ' days');
    cell(row, t.last_rotation ? withLink(badge(t.last_rotation.status), t.workflow_id, t.last_rotation.run_id) : '—');
    cell(row, t.targets.join(', '));
    cell(row, '').append(rotateButton('service-tokens', t), text(' '), workflowLink(t.workflow_id));
    body.append(row);
  }
  showApiTokens(apiTokens.api_tokens);
  const runs = el('fan-outs'); runs.replaceChildren();
  for (const f of fleet.fan_outs) {
    const row = document.createElement('tr'); const p = f.progress;
    cell(row, f.started_at); cell(row, f.type); cell(row, badge(f.status.toLowerCase()));
    cell(row, p ? p.completed + ' of ' + p.total : '—'); cell(row, p ? p.running : '—'); cell(row, p ? p.waiting : '—'); cell(row, p ? p.failed : '—');
    cell(row, p && p.eta_seconds != null ? Math.ceil(p.eta_seconds / 60) + ' min' : '—');
    cell(row, workflowLink(f.workflow_id, f.run_id, 'run'));
    runs.append(row);
  }
  await showDiscovered();
  const rot = el('rotations'); rot.replaceChildren();
  for (const r of rotations.rotations) {
    const row = document.createElement('tr');
    cell(row, r.started_at); cell(row, r.token); cell(row, r.mode); cell(row, r.triggered_by); cell(row, badge(r.status));
    cell(row, r.steps.map((s) => s.step + (s.outcome === 'ok' ? '' : ' (' + s.outcome + ')')).join(' → '));
    cell(row, workflowLink(r.workflow_id, r.run_id, 'run'));
    rot.append(row);
  }
}
/** API tokens: expiry and renewal from the latest recorded check (none is started), rotation for those with rotate:. */
function showApiTokens(list) {
  const body = el('api-tokens'); body.replaceChildren();
  for (const t of list) {
    const row = document.createElement('tr'); const h = t.health;
    const name = cell(row, t.name); if (t.self) name.append(text(' '), Object.assign(badge('own'), { title: "token-warden's own token" }));
    cell(row, t.account_id); cell(row, t.kind);
    const before = h && t.last_rotation && t.last_rotation.finished_at > h.checked_at ? ' (checked before the last rotation)' : '';
    cell(row, !h ? '—' : (h.expires_on == null ? 'never' : Math.floor((Date.parse(h.expires_on) - Date.now()) / 86400000) + ' days') + before);
    cell(row, t.next_rotation_at ? t.next_rotation_at.slice(0, 10) : '—');
    cell(row, t.last_rotation ? withLink(badge(t.last_rotation.status), t.workflow_id, t.last_rotation.run_id) : '—');
    cell(row, t.rotate ? t.rotate.targets.join(', ') : 'not rotated (checked only)');
    const actions = cell(row, '');
    if (t.rotate) actions.append(rotateButton('api-tokens', t), text(' '), workflowLink(t.workflow_id));
    body.append(row);
  }
}
/** Starts a rotation of a service or API token; the notice names its workflow, and the page follows it. */
function rotateButton(kind, t) {
  const button = document.createElement('button'); button.textContent = 'Rotate'; button.dataset.token = t.name;
  button.onclick = async () => {
    try { const started = await api('/' + kind + '/' + encodeURIComponent(t.name) + '/rotate?account_id=' + encodeURIComponent(t.account_id), { method: 'POST' }); notice('Rotation of ' + t.name + ' started: ' + started.workflow_id); }
    catch (error) { notice('Rotation of ' + t.name + ' not started: ' + error.message); }
    follow();
  };
  return button;
}
/** Credentials an auditor asks about: nobody manages them, they never expire, or nobody used them for 90 days. */
async function showDiscovered() {
  const queries = ['unmanaged=true', 'no_expiry=true', 'unused_days=' + UNUSED_DAYS];
  const pages = await Promise.all(queries.map((q) => api('/inventory/discovered?limit=100&' + q).catch(() => null)));
  const run = pages[0] && pages[0].last_run;
  el('discovered-at').textContent = run ? 'Last discovery ' + run.finished_at + ': ' + run.credentials + ' credentials, ' + run.unmanaged + ' unmanaged, ' + run.without_expiry + ' without expiry (' + run.cloudflare_calls + ' Cloudflare requests).' : 'No discovery recorded yet.';
  const rows = new Map();
  for (const page of pages) for (const c of page ? page.credentials : []) rows.set(c.account_id + '/' + c.kind + '/' + c.id, c);
  const body = el('discovered'); body.replaceChildren();
  for (const c of rows.values()) {
    const row = document.createElement('tr'); row.dataset.kind = c.kind;
    cell(row, c.name); cell(row, c.kind); cell(row, c.account_id);
    cell(row, c.managed ? 'managed (' + c.inventory_name + ')' : badge('unmanaged'));
    cell(row, c.expires_in_days == null ? 'never' : c.expires_in_days + ' days');
    cell(row, c.unused_days + ' days'); cell(row, c.status);
    body.append(row);
  }
}
const UNUSED_DAYS = 90;
let following;
/** After an action, refresh every 2 s for a minute so the run is seen to finish. */
function follow() {
  clearInterval(following);
  const until = Date.now() + 60000;
  following = setInterval(() => { if (Date.now() > until) clearInterval(following); refresh().catch(() => {}); }, 2000);
}
setInterval(() => { if (!el('main').hidden) refresh().catch(() => {}); }, 30000);
el('check').onclick = async () => {
  notice('Checking API tokens…');
  try {
    const health = await api('/tokens/health');
    const list = el('recommendations'); list.replaceChildren(...health.recommendations.map((r) => { const li = document.createElement('li'); li.textContent = r; return li; }));
    notice('Check finished: ' + health.overall_health);
    await refresh();
  } catch (error) { notice('Check failed: ' + error.message); }
};
function showLogin(message) { el('main').hidden = true; el('login').hidden = false; if (message) notice(message); }
el('login').onsubmit = (event) => { event.preventDefault(); sessionStorage.setItem('tw-token', el('token').value); el('login').hidden = true; el('main').hidden = false; refresh().catch((e) => notice(e.message)); };
if (sessionStorage.getItem('tw-token')) { el('main').hidden = false; refresh().catch((e) => notice(e.message)); } else showLogin();
`;
}

/** CSP that allows exactly this page's inline style and script, nothing from elsewhere. */
export function dashboardCsp(options: { temporalUiUrl: string | null; namespace: string }): string {
  const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  return `default-src 'none'; style-src ${hash(STYLE)}; script-src ${hash(scriptFor(options))}; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`;
}

export function dashboardPage(options: { temporalUiUrl: string | null; namespace: string }): string {
  const script = scriptFor(options);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>token-warden</title>
<style>${STYLE}</style>
</head>
<body>
<h1>token-warden</h1>
<div id="notice" role="status"></div>
<form id="login" hidden>
  <label>API client token <input id="token" type="password" autocomplete="off" required></label>
  <button type="submit">Open</button>
  <p>The token stays in this tab (sessionStorage) and is sent only to this API.</p>
</form>
<main id="main" hidden>
  <section aria-labelledby="health-title">
    <h2 id="health-title">API tokens <span id="overall" class="badge unknown">unknown</span></h2>
    <p id="checked-at">No health check recorded yet.</p>
    <button id="check">Check now (starts a checkTokenHealth run)</button>
    <ul id="recommendations"></ul>
    <table><thead><tr><th>Token</th><th>Account</th><th>Kind</th><th>Expires in</th><th>Next rotation</th><th>Last rotation</th><th>Stores</th><th></th></tr></thead><tbody id="api-tokens"></tbody></table>
  </section>
  <section aria-labelledby="st-title">
    <h2 id="st-title">Service tokens</h2>
    <table><thead><tr><th>Token</th><th>Account</th><th>Strategy</th><th>Expires in</th><th>Last rotation</th><th>Stores</th><th></th></tr></thead><tbody id="service-tokens"></tbody></table>
  </section>
  <section aria-labelledby="fleet-title">
    <h2 id="fleet-title">Fleet rotations and expiry sweeps</h2>
    <table><thead><tr><th>Started</th><th>Run</th><th>Status</th><th>Done</th><th>Running</th><th>Waiting</th><th>Failed</th><th>ETA</th><th>In Temporal</th></tr></thead><tbody id="fan-outs"></tbody></table>
  </section>
  <section aria-labelledby="disc-title">
    <h2 id="disc-title">Credentials in the accounts: unmanaged, never expiring or unused for 90 days</h2>
    <p id="discovered-at">No discovery recorded yet.</p>
    <table><thead><tr><th>Name</th><th>Kind</th><th>Account</th><th>Managed</th><th>Expires in</th><th>Unused for</th><th>Status</th></tr></thead><tbody id="discovered"></tbody></table>
  </section>
  <section aria-labelledby="rot-title">
    <h2 id="rot-title">Recent rotations</h2>
    <table><thead><tr><th>Started</th><th>Token</th><th>Mode</th><th>By</th><th>Status</th><th>Steps</th><th>In Temporal</th></tr></thead><tbody id="rotations"></tbody></table>
  </section>
</main>
<script>${script}</script>
</body>
</html>`;
}
