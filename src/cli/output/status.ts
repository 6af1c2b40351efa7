import { formatBytes } from '../../core/units.js';
import { pickRows, sparkline, type HostRow, type HostState, type StatusView } from '../../status/model.js';
import { renderTable } from './table.js';
import { formatAge, type Colors } from './terminal.js';

/** Points drawn per sparkline in the terminal (the HTML page draws them all). */
export const TERMINAL_TREND = 10;

export function formatUntil(iso: string | null | undefined, now: number): string {
  if (!iso) return 'not scheduled';
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return 'not scheduled';
  if (ms <= 0) return 'due now';
  const m = Math.round(ms / 60_000);
  if (m < 60) return `in ${m}m`;
  if (m < 60 * 48) return `in ${Math.round(m / 60)}h`;
  return `in ${Math.round(m / 1440)}d`;
}

function paintState(c: Colors, state: HostState): string {
  return state === 'ok' ? c.green(state) : state === 'degraded' ? c.yellow(state) : state === 'down' ? c.red(state) : c.dim('unchecked');
}

/** The newest point sits at the right edge, so rows with a shorter history still line up in time. */
function trendCell(values: Array<number | null>, last: string, width: number): string {
  if (width === 0) return last;
  return `${sparkline(values, width).padStart(width)} ${last}`;
}

export interface TextOptions {
  colors: Colors;
  /** Host rows that fit (a terminal's height); Infinity shows every host. */
  maxRows: number;
  /** Characters per line for the note column; Infinity: no truncation. */
  width: number;
  now: number;
}

/** The terminal view: a summary line, groups, then one line per host (problems first when they do not all fit). */
export function renderStatusText(view: StatusView, o: TextOptions): string {
  const c = o.colors;
  const s = view.summary;
  const parts = [`${s.total} host${s.total === 1 ? '' : 's'}`, c.green(`${s.ok} ok`)];
  if (s.degraded) parts.push(c.yellow(`${s.degraded} degraded`));
  if (s.down) parts.push(c.red(`${s.down} down`));
  if (s.unknown) parts.push(c.dim(`${s.unknown} never checked`));
  const sched = view.schedule;
  const sync = sched.lastRun ? `sync ${formatAge(sched.lastRun, o.now)} (${sched.lastStatus ?? '?'})` : 'sync never ran';
  const next = sched.enabled ? `, next ${formatUntil(sched.nextRun, o.now)}` : ', schedule off';
  const out: string[] = [`${c.bold('till status')}  ${parts.join(', ')}  ·  ${sync}${next}`, ''];
  if (s.total === 0) return `${out[0]}\nno hosts yet; add one with: till host add <name> <user@host>\n`;

  let budget = o.maxRows;
  if (view.groups.length > 0) {
    const groups = view.groups.length > 8 && Number.isFinite(o.maxRows)
      ? [...view.groups].sort((a, b) => b.down + b.degraded - (a.down + a.degraded) || (a.name < b.name ? -1 : 1)).slice(0, 8)
      : view.groups;
    const rows = groups.map((g) => [g.name, g.total, g.ok === g.total ? c.green(`${g.ok}/${g.total}`) : `${g.ok}/${g.total}`, g.degraded ? c.yellow(String(g.degraded)) : '0', g.down ? c.red(String(g.down)) : '0']);
    out.push(renderTable(['GROUP', 'HOSTS', 'OK', 'DEGRADED', 'DOWN'], rows).trimEnd());
    if (groups.length < view.groups.length) out.push(c.dim(`… ${view.groups.length - groups.length} more groups`));
    out.push('');
    budget -= groups.length + 2;
  }

  const { shown, hidden } = pickRows(view.hosts, Math.max(3, budget - 3)) // title, blank line, table header;
  const width = Math.min(TERMINAL_TREND, Math.max(0, ...shown.map((h) => Math.max(h.latencyTrend.length, h.loadTrend.length))));
  const rows = shown.map((h: HostRow) => [
    h.name,
    paintState(c, h.state),
    h.status,
    formatAge(h.lastHealth, o.now),
    formatAge(h.lastTest, o.now),
    formatAge(h.lastSync, o.now),
    formatAge(h.lastDeploy, o.now),
    h.release ?? '-',
    trendCell(h.latencyTrend, h.latencyMs === null ? '-' : `${h.latencyMs}ms`, width),
    trendCell(h.loadTrend, h.load1 === null ? '-' : `${h.load1}/${h.cpus ?? '?'}`, width),
    h.diskFreeBytes === null ? '-' : formatBytes(h.diskFreeBytes),
    h.reasons[0] ?? '',
  ]);
  const table = renderTable(['HOST', 'STATE', 'STATUS', 'CHECKED', 'TESTED', 'SYNCED', 'DEPLOYED', 'RELEASE', 'LATENCY', 'LOAD', 'DISK', 'NOTE'], rows);
  // The note (first reason) takes what is left of the line.
  const lines = table.trimEnd().split('\n');
  out.push(...lines.map((l) => (Number.isFinite(o.width) && visibleLength(l) > o.width ? truncateVisible(l, o.width) : l)));
  if (hidden.total > 0) {
    const what = [`${hidden.ok} ok`, hidden.unknown ? `${hidden.unknown} never checked` : ''].filter(Boolean).join(', ');
    out.push(c.dim(`… and ${hidden.total} more hosts (${what}); all of them: till status --all, or --json`));
  }
  return `${out.join('\n')}\n`;
}

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-9;]*m/g;

function visibleLength(line: string): number {
  return line.replace(ANSI_RE, '').length;
}

/** Cuts a line to `width` visible characters, keeping colour codes balanced by resetting at the end. */
function truncateVisible(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      // eslint-disable-next-line no-control-regex
      const m = /^\x1b\[[0-9;]*m/.exec(line.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length - 1;
        continue;
      }
    }
    if (visible >= width - 1) return `${out}…${line.includes('\x1b[') ? '\x1b[0m' : ''}`;
    out += line[i];
    visible += 1;
  }
  return out;
}
