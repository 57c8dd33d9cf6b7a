#include "admin/dashboard_page.h"

namespace portico::admin {

namespace {

// Everything the page shows is put in with textContent, never innerHTML: route names and
// upstream addresses come from config and must not become markup.
constexpr std::string_view page = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portico</title>
<style>
  :root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#6b7280; --line:#e3e6eb;
          --ok:#15803d; --warn:#b45309; --bad:#b91c1c; --accent:#2563eb; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
         background:var(--bg); color:var(--ink); }
  header { display:flex; align-items:center; gap:12px; padding:12px 20px;
           background:var(--ink); color:#fff; }
  header h1 { font-size:18px; margin:0; font-weight:600; }
  header .spacer { flex:1; }
  header button { background:transparent; color:#fff; border:1px solid #fff6; border-radius:4px;
                  padding:4px 10px; cursor:pointer; }
  main { padding:16px 20px; display:grid; gap:16px; }
  .cards { display:flex; flex-wrap:wrap; gap:12px; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:6px;
          padding:10px 14px; min-width:130px; }
  .card .label { color:var(--muted); font-size:12px; }
  .card .value { font-size:22px; font-weight:600; font-variant-numeric:tabular-nums; }
  section { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:12px 14px; }
  section h2 { font-size:15px; margin:0 0 8px; }
  table { border-collapse:collapse; width:100%; }
  th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top;
           font-variant-numeric:tabular-nums; }
  th { color:var(--muted); font-weight:500; font-size:12px; }
  .badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; color:#fff; }
  .ok { background:var(--ok); } .warn { background:var(--warn); } .bad { background:var(--bad); }
  .muted { color:var(--muted); }
  #problems { color:var(--bad); min-height:1em; }
  canvas { width:100%; height:120px; display:block; }
</style>
</head>
<body>
<header>
  <h1>Portico</h1>
  <span id="ready" class="badge warn">…</span>
  <span class="spacer"></span>
  <span id="updated" class="muted"></span>
  <button id="token-button" type="button">Token</button>
</header>
<main>
  <div id="problems"></div>
  <div class="cards" id="traffic-cards"></div>
  <section>
    <h2>Traffic <span class="muted">(requests/s, <span style="color:var(--bad)">5xx/s</span>, last 2 minutes)</span></h2>
    <canvas id="chart" width="1200" height="120"></canvas>
  </section>
  <div class="cards" id="stats-cards"></div>
  <section><h2>Routes</h2><div id="routes" class="muted">loading…</div></section>
  <section><h2>Upstream targets</h2><div id="upstreams" class="muted">loading…</div></section>
</main>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
const storageKey = 'portico_admin_token';
const samples = [];
let token = '';
let gaveUp = false;
let previous = null;

// The token comes from the address (#token=... or #...), which is then cleared from the bar,
// or from this tab's session storage; it is sent only to /admin/* on this listener.
(function readToken() {
  const hash = location.hash.slice(1);
  if (hash) {
    token = decodeURIComponent(hash.startsWith('token=') ? hash.slice(6) : hash);
    window.history.replaceState(null, '', location.pathname + location.search);
  } else {
    token = sessionStorage.getItem(storageKey) || '';
  }
  if (token) sessionStorage.setItem(storageKey, token);
})();

function askToken() {
  const entered = prompt('Admin token (admin.token in portico.yaml)');
  if (entered === null) { gaveUp = true; return false; }
  token = entered.trim();
  sessionStorage.setItem(storageKey, token);
  gaveUp = false;
  return true;
}
$('token-button').addEventListener('click', () => { if (askToken()) poll(); });

async function get(path, asText) {
  const headers = {};
  if (token && path.startsWith('/admin/')) headers['Authorization'] = 'Bearer ' + token;
  const response = await fetch(path, { headers, cache: 'no-store' });
  if (!response.ok) {
    const error = new Error(path + ' answered ' + response.status);
    error.status = response.status;
    throw error;
  }
  return asText ? response.text() : response.json();
}

function parseLabels(text) {
  const labels = {};
  const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

function parseMetrics(text) {
  const result = { routes: new Map(), total: 0, errors: 0, active: null };
  for (const line of text.split('\n')) {
    if (line.startsWith('portico_requests_total{')) {
      const close = line.lastIndexOf('}');
      const labels = parseLabels(line.slice('portico_requests_total{'.length, close));
      const value = Number(line.slice(close + 1).trim());
      const route = result.routes.get(labels.route) || { requests: 0, errors: 0 };
      route.requests += value;
      result.total += value;
      if (Number(labels.status) >= 500) { route.errors += value; result.errors += value; }
      result.routes.set(labels.route, route);
    } else if (line.startsWith('portico_active_connections ')) {
      result.active = Number(line.split(' ')[1]);
    }
  }
  return result;
}

function card(parent, label, value) {
  const div = document.createElement('div');
  div.className = 'card';
  const l = document.createElement('div');
  l.className = 'label';
  l.textContent = label;
  const v = document.createElement('div');
  v.className = 'value';
  v.textContent = value;
  div.append(l, v);
  parent.append(div);
}

function format(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return Math.abs(n) >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString() : n.toFixed(1);
}

function badge(td, text, kind) {
  const span = document.createElement('span');
  span.className = 'badge ' + kind;
  span.textContent = text;
  td.append(span);
}

// True is bad news for some keys (ejected, open, failing), good news for the rest.
function fillCell(td, value, column) {
  if (value === null || value === undefined) { td.textContent = '—'; td.className = 'muted'; return; }
  if (typeof value === 'boolean') {
    const badWhenTrue = /eject|open|fail|down|unhealthy|drain/i.test(column);
    badge(td, value ? 'yes' : 'no', value !== badWhenTrue ? 'ok' : 'bad');
    return;
  }
  if (typeof value === 'string') {
    if (/^(closed|healthy|up|ok)$/i.test(value)) return badge(td, value, 'ok');
    if (/^half[-_ ]?open$/i.test(value)) return badge(td, value, 'warn');
    if (/^(open|unhealthy|down|ejected)$/i.test(value)) return badge(td, value, 'bad');
  }
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (text.length > 160) text = text.slice(0, 157) + '…';
  td.textContent = text;
}

function table(container, rows, firstColumns) {
  container.replaceChildren();
  container.className = '';
  if (rows.length === 0) { container.textContent = 'none'; container.className = 'muted'; return; }
  const columns = [];
  for (const c of firstColumns) if (rows.some((r) => c in r)) columns.push(c);
  for (const r of rows) for (const c of Object.keys(r)) if (!columns.includes(c)) columns.push(c);
  columns.splice(12);
  const t = document.createElement('table');
  const head = t.createTHead().insertRow();
  for (const c of columns) {
    const th = document.createElement('th');
    th.textContent = c.replace(/_/g, ' ');
    head.append(th);
  }
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const c of columns) fillCell(tr.insertCell(), r[c], c);
  }
  container.append(t);
}

// Hooks may answer an array, {"routes": [...]}, or an object keyed by name.
function rowsOf(value, key) {
  if (Array.isArray(value)) return value.map((v) => (v && typeof v === 'object' ? v : { value: v }));
  if (value && Array.isArray(value[key])) return rowsOf(value[key], key);
  if (value && typeof value === 'object') {
    return Object.entries(value).map(([name, v]) =>
      v && typeof v === 'object' && !Array.isArray(v) ? { name, ...v } : { name, value: v });
  }
  return [];
}

// One row per target, carrying its upstream's own scalar fields (breaker state, balancer).
function targetRows(upstreams) {
  const rows = [];
  for (const u of rowsOf(upstreams, 'upstreams')) {
    const own = { upstream: u.name ?? u.upstream };
    for (const [k, v] of Object.entries(u)) {
      if (k !== 'name' && k !== 'targets' && (v === null || typeof v !== 'object')) own[k] = v;
    }
    if (!Array.isArray(u.targets) || u.targets.length === 0) { rows.push(own); continue; }
    for (const t of u.targets) rows.push({ ...own, ...(t && typeof t === 'object' ? t : { target: t }) });
  }
  return rows;
}

function drawChart() {
  const canvas = $('chart');
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height, pad = 4;
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1, ...samples.map((p) => p.rate));
  ctx.fillStyle = '#6b7280';
  ctx.font = '12px system-ui';
  ctx.fillText(format(max) + '/s', 6, 14);
  const line = (key, color) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    samples.forEach((p, i) => {
      const x = w - (samples.length - 1 - i) * (w / 59);
      const y = h - pad - (p[key] / max) * (h - 2 * pad - 16);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  };
  line('rate', '#2563eb');
  line('errorRate', '#b91c1c');
}

async function poll() {
  const problems = [];
  let needToken = false;
  const note = (what) => (error) => {
    if (error.status === 401) {
      needToken = true;
    } else if (error.status !== 404) {
      problems.push(what + ': ' + error.message);
    }
    return null;
  };
  const [metrics, routes, upstreams, stats, ready] = await Promise.all([
    get('/metrics', true).catch(note('metrics')),
    get('/admin/routes').catch(note('routes')),
    get('/admin/upstreams').catch(note('upstreams')),
    get('/admin/stats').catch(note('stats')),
    fetch('/ready', { cache: 'no-store' }).then((r) => r.ok).catch(() => null),
  ]);

  const readyBadge = $('ready');
  readyBadge.textContent = ready === null ? 'unreachable' : ready ? 'ready' : 'not ready';
  readyBadge.className = 'badge ' + (ready ? 'ok' : 'bad');

  const parsed = metrics ? parseMetrics(metrics) : null;
  const traffic = $('traffic-cards');
  traffic.replaceChildren();
  if (parsed) {
    const now = performance.now() / 1000;
    let rate = null, errorRate = null;
    if (previous && parsed.total >= previous.total) {
      const dt = Math.max(0.001, now - previous.time);
      rate = (parsed.total - previous.total) / dt;
      errorRate = (parsed.errors - previous.errors) / dt;
      samples.push({ rate, errorRate });
      if (samples.length > 60) samples.shift();
      drawChart();
    }
    previous = { time: now, total: parsed.total, errors: parsed.errors };
    card(traffic, 'requests/s', format(rate));
    card(traffic, '5xx/s', format(errorRate));
    card(traffic, 'requests', format(parsed.total));
    card(traffic, '5xx', format(parsed.errors));
    card(traffic, 'active connections', format(parsed.active));
  }

  const statsCards = $('stats-cards');
  statsCards.replaceChildren();
  if (stats && typeof stats === 'object') {
    for (const [k, v] of Object.entries(stats)) {
      if (v === null || typeof v !== 'object') card(statsCards, k.replace(/_/g, ' '), typeof v === 'number' ? format(v) : String(v));
    }
  }

  if (routes) {
    const rows = rowsOf(routes, 'routes').map((r) => {
      const counts = parsed && parsed.routes.get(String(r.name ?? r.route ?? r.id ?? ''));
      return { ...r, requests: counts ? counts.requests : 0, '5xx': counts ? counts.errors : 0 };
    });
    table($('routes'), rows, ['name', 'route', 'methods', 'path', 'match', 'upstream', 'requests', '5xx']);
  }
  if (upstreams) {
    table($('upstreams'), targetRows(upstreams),
          ['upstream', 'target', 'url', 'healthy', 'ejected', 'breaker', 'circuit', 'active_connections']);
  }

  if (needToken) {
    problems.unshift('The admin API needs a token: use the Token button.');
    if (!gaveUp && askToken()) setTimeout(poll, 0);
  }
  $('problems').textContent = problems.join(' · ');
  $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
}

poll();
setInterval(poll, 2000);
</script>
</body>
</html>
)page";

}  // namespace

std::string_view dashboard_page() {
  return page;
}

}  // namespace portico::admin
