import { formatBytes } from '../../core/units.js';
import { pickRows, sparkline, type HostRow, type HostState, type StatusView } from '../../status/model.js';
import { outdatedGatesNote } from './gates.js';
import { renderTable } from './table.js';
import { plural } from '../../core/format.js';
import { formatAge, Painted, printable, type Colors } from './terminal.js';

/** On a narrow terminal, the columns left out (in this order) until a host line fits. */
export const NARROW_DROP_ORDER = ['BY', 'TESTED', 'SYNCED', 'DEPLOYED', 'STATUS', 'CHECKED'];

/** `ann@laptop 3fa9c2d1+`: who deployed the release, from which commit (+: a dirty tree). */
export function deployedByCell(h: Pick<HostRow, 'deployedBy' | 'commit' | 'dirty'>): string {
  const commit = h.commit ? ` ${h.commit.slice(0, 8)}${h.dirty ? '+' : ''}` : '';
  return h.deployedBy || commit ? printable(`${h.deployedBy ?? '?'}${commit}`) : '-';
}

/** The NOTE of a host: why it is down or degraded, else its manual lock (host text: escaped). */
function noteOf(h: HostRow): string {
  if (h.reasons[0] !== undefined) return h.reasons[0];
  if (h.lock) return `locked by ${h.lock.by ?? '?'}${h.lock.message ? `: ${h.lock.message}` : ''}`;
  return '';
}

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
  return state === 'ok'
    ? c.green(state)
    : state === 'degraded'
      ? c.yellow(state)
      : state === 'down'
        ? c.red(state)
        : c.dim('unchecked');
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
  /** Characters per line (a terminal's width): longer lines are cut, and the reasons move under the table; Infinity: no limit. */
  width: number;
  now: number;
}

/** The terminal view: a summary line, groups, then one line per host (problems first when they do not all fit). */
export function renderStatusText(view: StatusView, o: TextOptions): string {
  const c = o.colors;
  const s = view.summary;
  const parts = [plural(s.total, 'host'), c.green(`${s.ok} ok`)];
  if (s.degraded) parts.push(c.yellow(`${s.degraded} degraded`));
  if (s.down) parts.push(c.red(`${s.down} down`));
  if (s.unknown) parts.push(c.dim(`${s.unknown} never checked`));
  const sched = view.schedule;
  const sync = sched.lastRun
    ? `sync ${formatAge(sched.lastRun, o.now)} (${sched.lastStatus ?? '?'})`
    : 'sync never ran';
  const next = sched.enabled ? `, next ${formatUntil(sched.nextRun, o.now)}` : ', schedule off';
  const title = `${c.bold('till status')}  ${parts.join(', ')}  ·  ${sync}${next}`;
  if (s.total === 0) return `${title}\nno hosts yet; add one with: till host add <name> <user@host>\n`;
  // A narrow screen gets the schedule on a line of its own.
  const out: string[] =
    visibleLength(title) > o.width
      ? [`${c.bold('till status')}  ${parts.join(', ')}`, `${sync}${next}`, '']
      : [title, ''];

  // Restricted hosts whose gate is older than this till: a footnote, whichever rows fit.
  const gateNote = outdatedGatesNote(
    view.hosts.filter((h) => h.gateOutdated === true),
    view.version,
    'till status --json: "gateOutdated": true',
  );
  const gateLines =
    gateNote === null ? [] : ['', ...(Number.isFinite(o.width) ? wrap(gateNote, o.width, '    ') : [gateNote])];
  let budget = o.maxRows - (out.length - 2) - gateLines.length;
  if (view.groups.length > 0) {
    const groups =
      view.groups.length > 8 && Number.isFinite(o.maxRows)
        ? [...view.groups]
            .sort((a, b) => b.down + b.degraded - (a.down + a.degraded) || (a.name < b.name ? -1 : 1))
            .slice(0, 8)
        : view.groups;
    const rows = groups.map((g) => [
      g.name,
      g.total,
      g.ok === g.total ? new Painted(c.green(`${g.ok}/${g.total}`)) : `${g.ok}/${g.total}`,
      g.degraded ? new Painted(c.yellow(String(g.degraded))) : '0',
      g.down ? new Painted(c.red(String(g.down))) : '0',
    ]);
    out.push(renderTable(['GROUP', 'HOSTS', 'OK', 'DEGRADED', 'DOWN'], rows).trimEnd());
    if (groups.length < view.groups.length) out.push(c.dim(`… ${view.groups.length - groups.length} more groups`));
    out.push('');
    budget -= groups.length + 2;
  }

  const hostTable = (rowBudget: number, drop: ReadonlySet<string>, trend = TERMINAL_TREND) => {
    const picked = pickRows(view.hosts, Math.max(3, rowBudget - 3)); // title, blank line, table header
    const width = Math.min(
      trend,
      Math.max(0, ...picked.shown.map((h) => Math.max(h.latencyTrend.length, h.loadTrend.length))),
    );
    const columns: Array<[string, (h: HostRow) => string | Painted]> = [
      ['HOST', (h) => h.name],
      ['STATE', (h) => new Painted(paintState(c, h.state))],
      ['STATUS', (h) => h.status],
      ['CHECKED', (h) => formatAge(h.lastHealth, o.now)],
      ['TESTED', (h) => formatAge(h.lastTest, o.now)],
      ['SYNCED', (h) => formatAge(h.lastSync, o.now)],
      ['DEPLOYED', (h) => formatAge(h.lastDeploy, o.now)],
      ['RELEASE', (h) => h.release ?? '-'],
      ['BY', deployedByCell],
      ['LATENCY', (h) => trendCell(h.latencyTrend, h.latencyMs === null ? '-' : `${h.latencyMs}ms`, width)],
      ['LOAD', (h) => trendCell(h.loadTrend, h.load1 === null ? '-' : `${h.load1}/${h.cpus ?? '?'}`, width)],
      ['DISK', (h) => (h.diskFreeBytes === null ? '-' : formatBytes(h.diskFreeBytes))],
      ['NOTE', (h) => printable(noteOf(h))],
    ];
    const kept = columns.filter(([name]) => !drop.has(name));
    const rows = picked.shown.map((h) => kept.map(([, cell]) => cell(h)));
    return {
      ...picked,
      lines: renderTable(
        kept.map(([name]) => name),
        rows,
      )
        .trimEnd()
        .split('\n'),
    };
  };
  let table = hostTable(budget, new Set());
  let notes: string[] = [];
  if (Number.isFinite(o.width) && table.lines.some((l) => visibleLength(l) > o.width)) {
    // The line is cut, and the NOTE column (why a host is down or degraded) would go
    // first: the reasons move under the table, whole, wrapped to the width. They get up
    // to half the rows; the host rows the rest.
    const troubled = view.hosts.filter((h) => (h.state === 'down' || h.state === 'degraded') && h.reasons.length > 0);
    const maxNoteLines = Number.isFinite(budget) ? Math.max(2, Math.floor(budget / 2)) : Infinity;
    let shownNotes = 0;
    for (const h of troubled) {
      const wrapped = wrap(`${h.name}: ${printable(h.reasons.join('; '))}`, o.width, '    ');
      if (notes.length + wrapped.length > maxNoteLines - (shownNotes < troubled.length - 1 ? 1 : 0)) break;
      notes.push(...wrapped.map((l, i) => (i === 0 ? (h.state === 'down' ? c.red(l) : c.yellow(l)) : l)));
      shownNotes += 1;
    }
    if (shownNotes < troubled.length)
      notes.push(c.dim(`… ${troubled.length - shownNotes} more problems; every reason: till status --json`));
    notes = ['', ...notes];
    // Then, until the rest fits, the columns a glance needs least go, the ages first.
    const drop = new Set(['NOTE']);
    const fits = (t: { lines: string[] }) => t.lines.every((l) => visibleLength(l) <= o.width);
    table = hostTable(budget - notes.length, drop);
    for (const column of NARROW_DROP_ORDER) {
      if (fits(table)) break;
      drop.add(column);
      table = hostTable(budget - notes.length, drop);
    }
    if (!fits(table)) table = hostTable(budget - notes.length, drop, 5);
  }
  const { hidden } = table;
  out.push(
    ...table.lines.map((l) =>
      Number.isFinite(o.width) && visibleLength(l) > o.width ? truncateVisible(l, o.width) : l,
    ),
  );
  if (hidden.total > 0) {
    const what = [`${hidden.ok} ok`, hidden.unknown ? `${hidden.unknown} never checked` : '']
      .filter(Boolean)
      .join(', ');
    out.push(c.dim(`… and ${hidden.total} more hosts (${what}); all of them: till status --all, or --json`));
  }
  out.push(...notes, ...gateLines.map((l) => (l === '' ? l : c.yellow(l))));
  return `${out.join('\n')}\n`;
}

/** Words onto lines of at most `width` characters (a longer word is cut); later lines indented. Pure. */
export function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  const limit = () => Math.max(1, lines.length === 0 ? width : width - indent.length);
  let line = '';
  for (let word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length <= limit()) {
      line += ` ${word}`;
      continue;
    }
    if (line !== '') lines.push(line);
    for (let n = limit(); word.length > n; n = limit()) {
      lines.push(word.slice(0, n));
      word = word.slice(n);
    }
    line = word;
  }
  if (line !== '') lines.push(line);
  return lines.map((l, k) => (k === 0 ? l : `${indent}${l}`));
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
