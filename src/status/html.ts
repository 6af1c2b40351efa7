import { formatBytes } from '../core/units.js';
import { formatAge } from '../core/format.js';
import type { HostRow, HostState, StatusView } from './model.js';
import { plural } from '../core/format.js';

/**
 * `till status --html`: the same view as the terminal, as one self-contained page:
 * inline CSS, inline SVG charts, no script, no external asset, so it opens from a
 * file, an e-mail attachment or a CI artifact in any browser. Pure.
 */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );
}

const COLORS: Record<HostState, string> = { ok: '#2f9e44', degraded: '#e8a317', down: '#e03131', unknown: '#adb5bd' };

function until(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return 'unknown';
  if (ms <= 0) return 'due now';
  const m = Math.round(ms / 60_000);
  return m < 60 ? `in ${m}m` : m < 2880 ? `in ${Math.round(m / 60)}h` : `in ${Math.round(m / 1440)}d`;
}

function timeCell(iso: string | null, now: number): string {
  return iso
    ? `<time class="age" datetime="${escapeHtml(iso)}" title="${escapeHtml(iso)}">${escapeHtml(formatAge(iso, now))}</time>`
    : '<span class="muted">never</span>';
}

/** A small line chart of a series (gaps where the host was down), with its last value. */
export function sparklineSvg(
  values: ReadonlyArray<number | null>,
  opts: { width?: number; height?: number; color: string; label: string },
): string {
  const w = opts.width ?? 64;
  const h = opts.height ?? 28;
  const nums = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (nums.length === 0) return '<span class="muted">no data</span>';
  const min = Math.min(...nums);
  const max = Math.max(...nums);
  const pad = 3;
  const step = values.length > 1 ? (w - 2 * pad) / (values.length - 1) : 0;
  const y = (v: number) => (max === min ? h / 2 : h - pad - ((v - min) / (max - min)) * (h - 2 * pad));
  const segments: string[][] = [];
  let current: string[] = [];
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      if (current.length) segments.push(current);
      current = [];
      return;
    }
    current.push(`${(pad + i * step).toFixed(1)},${y(v).toFixed(1)}`);
  });
  if (current.length) segments.push(current);
  const lines = segments
    .map((seg) =>
      seg.length === 1
        ? `<circle cx="${seg[0]!.split(',')[0]}" cy="${seg[0]!.split(',')[1]}" r="2" fill="${opts.color}"/>`
        : `<polyline fill="none" stroke="${opts.color}" stroke-width="1.5" stroke-linejoin="round" points="${seg.join(' ')}"/>`,
    )
    .join('');
  const downs = values
    .map((v, i) =>
      v === null
        ? `<rect x="${(pad + i * step - 1).toFixed(1)}" y="${h - 4}" width="2" height="4" fill="${COLORS.down}"/>`
        : '',
    )
    .join('');
  const title = `${opts.label}: min ${round(min)}, max ${round(max)}, ${plural(values.length, 'check')}`;
  return `<svg class="spark" role="img" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><title>${escapeHtml(title)}</title>${lines}${downs}</svg>`;
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/** A horizontal bar split by state: the fleet in one picture. */
function stateBarSvg(view: StatusView): string {
  const w = 600;
  const h = 18;
  const total = view.summary.total || 1;
  let x = 0;
  const rects = (['ok', 'degraded', 'down', 'unknown'] as const)
    .filter((s) => view.summary[s] > 0)
    .map((s) => {
      const width = (view.summary[s] / total) * w;
      const r = `<rect x="${x.toFixed(1)}" y="0" width="${width.toFixed(1)}" height="${h}" fill="${COLORS[s]}"><title>${view.summary[s]} ${s}</title></rect>`;
      x += width;
      return r;
    })
    .join('');
  return `<svg class="bar" role="img" width="100%" height="${h}" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none"><title>hosts by state</title>${rects}</svg>`;
}

function badge(state: HostState): string {
  return `<span class="badge ${state}">${state === 'unknown' ? 'never checked' : state}</span>`;
}

function usage(free: number | null, total: number | null): string {
  if (free === null) return '<span class="muted">-</span>';
  const pct = total ? Math.round((1 - free / total) * 100) : null;
  const bar = pct === null ? '' : `<span class="meter"><span style="width:${pct}%"></span></span>`;
  return `${bar}${escapeHtml(formatBytes(free))}`;
}

/** Who deployed the release, from which commit, and the manual lock: host text, escaped. */
function recordHtml(hr: HostRow): string {
  const by = [
    hr.deployedBy ? `by ${hr.deployedBy}` : '',
    hr.commit ? `${hr.commit.slice(0, 8)}${hr.dirty ? '+' : ''}` : '',
  ]
    .filter((x) => x !== '')
    .join(' · ');
  const lock = hr.lock
    ? `<div class="small"><strong>locked</strong> by ${escapeHtml(hr.lock.by ?? '?')}${hr.lock.message ? `: ${escapeHtml(hr.lock.message)}` : ''}</div>`
    : '';
  return `${by ? `<div class="muted small">${escapeHtml(by)}</div>` : ''}${lock}`;
}

/** The remote till's version; on a restricted host whose gate is older than this till, marked so. */
function tillHtml(hr: HostRow, version: string): string {
  if (!hr.tillVersion) return '';
  if (hr.gateOutdated !== true) return `<div class="muted small">till ${escapeHtml(hr.tillVersion)}</div>`;
  return `<div class="small gate-old" title="${escapeHtml(`till gate older than this till (${version}): till host setup ${hr.name}`)}">till ${escapeHtml(hr.tillVersion)} · gate older than ${escapeHtml(version)}</div>`;
}

function hostRow(hr: HostRow, now: number, version: string): string {
  const latency = hr.latencyMs === null ? '' : `<span class="num">${hr.latencyMs} ms</span>`;
  const load =
    hr.load1 === null ? '' : `<span class="num" title="load1 / CPUs">${hr.load1}${hr.cpus ? `/${hr.cpus}` : ''}</span>`;
  // Reasons are listed under "Needs attention"; the row keeps them as a tooltip.
  const title = hr.reasons.length ? ` title="${escapeHtml(hr.reasons.join('\n'))}"` : '';
  return [
    `<tr class="host ${hr.state}" id="host-${escapeHtml(hr.name)}" data-host="${escapeHtml(hr.name)}">`,
    `<td><strong>${escapeHtml(hr.name)}</strong><div class="muted small addr" title="${escapeHtml(hr.address)}">${escapeHtml(hr.address)}</div>${hr.groups.length ? `<div class="small">${hr.groups.map((g) => `<span class="tag">${escapeHtml(g)}</span>`).join(' ')}</div>` : ''}</td>`,
    `<td${title}>${badge(hr.state)}<div class="muted small">${escapeHtml(hr.status)}</div></td>`,
    `<td>${timeCell(hr.lastHealth, now)}</td>`,
    `<td>${timeCell(hr.lastTest, now)}</td>`,
    `<td>${timeCell(hr.lastSync, now)}</td>`,
    `<td>${timeCell(hr.lastDeploy, now)}</td>`,
    `<td>${hr.release ? `<code>${escapeHtml(hr.release)}</code>` : '<span class="muted">-</span>'}${recordHtml(hr)}${tillHtml(hr, version)}</td>`,
    `<td class="chart">${sparklineSvg(hr.latencyTrend, { color: '#1971c2', label: `${hr.name} ssh latency (ms)` })}${latency}</td>`,
    `<td class="chart">${sparklineSvg(hr.loadTrend, { color: '#9c36b5', label: `${hr.name} load1` })}${load}</td>`,
    `<td class="num">${usage(hr.memAvailableBytes, hr.memTotalBytes)}</td>`,
    `<td class="num">${usage(hr.diskFreeBytes, hr.diskTotalBytes)}</td>`,
    '</tr>',
  ].join('');
}

const CSS = `
:root{color-scheme:light;--fg:#212529;--muted:#868e96;--line:#e9ecef;--bg:#f8f9fa}
*{box-sizing:border-box}
body{margin:0;padding:20px;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:15px;margin:24px 0 8px}
.muted{color:var(--muted)}.small{font-size:12px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0 8px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:110px}
.card b{display:block;font-size:24px}
.card.ok b{color:${COLORS.ok}}.card.degraded b{color:${COLORS.degraded}}.card.down b{color:${COLORS.down}}.card.unknown b{color:${COLORS.unknown}}
.bar{display:block;max-width:600px;border-radius:4px;margin:4px 0 8px}
table{font-size:13px;border-collapse:collapse;background:#fff;border:1px solid var(--line);border-radius:8px;width:100%}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600;background:#fff}
tr.host.down{background:#fff5f5}tr.host.degraded{background:#fff9db}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.badge.gate{background:${COLORS.degraded}}.gate-old{color:#a15c00}
.badge.ok{background:${COLORS.ok}}.badge.degraded{background:${COLORS.degraded}}.badge.down{background:${COLORS.down}}.badge.unknown{background:${COLORS.unknown}}
time.age{white-space:nowrap}
.problems{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 16px 8px 32px;margin:8px 0}
.problems li{margin:2px 0}
a{color:inherit}
/* user@address:port may break anywhere: a long one must not widen the table past the window. */
.addr{max-width:16em;overflow-wrap:anywhere}
.tag{display:inline-block;background:var(--line);border-radius:3px;padding:0 5px;margin-top:2px}
.chart{white-space:nowrap}.chart svg{vertical-align:middle;margin-right:6px}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.meter{display:inline-block;width:28px;height:6px;background:var(--line);border-radius:3px;margin-right:6px;vertical-align:middle;overflow:hidden}
.meter span{display:block;height:100%;background:#495057}
code{font-size:12px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
table.groups{width:auto;min-width:480px}
footer{margin-top:16px;font-size:12px;color:var(--muted)}
`;

export interface HtmlOptions {
  /** Ask the browser to reload the page every N seconds (`status --watch --html`). */
  refreshSeconds?: number;
}

export function renderStatusHtml(view: StatusView, opts: HtmlOptions = {}): string {
  const now = Date.parse(view.generatedAt);
  const s = view.summary;
  const sched = view.schedule;
  const cards = (['ok', 'degraded', 'down', 'unknown'] as const)
    .map((st) => `<div class="card ${st}"><b>${s[st]}</b>${st === 'unknown' ? 'never checked' : st}</div>`)
    .join('');
  const groups = view.groups.length
    ? `<h2>Groups</h2><table class="groups"><thead><tr><th>Group</th><th class="n">Hosts</th><th class="n">OK</th><th class="n">Degraded</th><th class="n">Down</th><th class="n">Never checked</th></tr></thead><tbody>${view.groups
        .map(
          (g) =>
            `<tr class="group"><td>${escapeHtml(g.name)}</td><td class="n">${g.total}</td><td class="n">${g.ok}</td><td class="n">${g.degraded}</td><td class="n">${g.down}</td><td class="n">${g.unknown}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '';
  const syncLine = sched.lastRun
    ? `last sync ${escapeHtml(formatAge(sched.lastRun, now))} (${escapeHtml(sched.lastStatus ?? '?')})`
    : 'sync never ran';
  const next =
    sched.enabled && sched.nextRun
      ? `, next <time datetime="${escapeHtml(sched.nextRun)}">${escapeHtml(until(sched.nextRun, now))}</time>`
      : sched.enabled
        ? ''
        : ', schedule off';
  const rows = view.hosts.map((h) => hostRow(h, now, view.version)).join('\n');
  const troubled = view.hosts.filter((h) => h.state === 'down' || h.state === 'degraded');
  const listed = troubled.slice(0, 50);
  const outdated = view.hosts.filter((h) => h.gateOutdated === true);
  const gates = outdated.slice(0, 50);
  const problems =
    troubled.length || outdated.length
      ? `<h2>Needs attention</h2><ul class="problems">${listed
          .map(
            (h) =>
              `<li>${badge(h.state)} <a href="#host-${escapeHtml(h.name)}"><strong>${escapeHtml(h.name)}</strong></a> <span class="small">${escapeHtml(h.reasons.join('; '))}</span></li>`,
          )
          .join(
            '',
          )}${troubled.length > listed.length ? `<li class="muted">… and ${troubled.length - listed.length} more below</li>` : ''}${gates
          .map(
            (h) =>
              `<li class="gate-old"><span class="badge gate">old gate</span> <a href="#host-${escapeHtml(h.name)}"><strong>${escapeHtml(h.name)}</strong></a> <span class="small">till gate ${escapeHtml(h.tillVersion ?? '?')} is older than this till (${escapeHtml(view.version)}): fixes to the gate reach the host only when it runs a newer till; upgrade: <code>till host setup ${escapeHtml(h.name)}</code></span></li>`,
          )
          .join(
            '',
          )}${outdated.length > gates.length ? `<li class="muted">… and ${outdated.length - gates.length} more old gates (till status --json)</li>` : ''}</ul>`
      : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${opts.refreshSeconds ? `<meta http-equiv="refresh" content="${Math.max(1, Math.round(opts.refreshSeconds))}">\n` : ''}<title>till status: ${s.ok}/${s.total} ok</title>
<style>${CSS}</style>
</head>
<body>
<h1>till status</h1>
<div class="muted">generated <time datetime="${escapeHtml(view.generatedAt)}">${escapeHtml(view.generatedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}</time> · ${syncLine}${next}</div>
<div class="cards"><div class="card"><b>${s.total}</b>hosts</div>${cards}</div>
${stateBarSvg(view)}
${problems}
${groups}
<h2>Hosts</h2>
<table class="hosts">
<thead><tr><th>Host</th><th>State</th><th>Checked</th><th>Tested</th><th>Synced</th><th>Deployed</th><th>Release</th><th>SSH latency</th><th>Load 1m</th><th>Mem avail</th><th>Disk free</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<footer>Trends: the last ${view.hosts.reduce((m, h) => Math.max(m, h.latencyTrend.length), 0)} health checks per host from $TILL_HOME/state/health-history.json (gaps: host down). Refresh with <code>till host health --all</code>.</footer>
</body>
</html>
`;
}
