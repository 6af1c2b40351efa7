import { join } from 'node:path';
import { shQuote } from '../ssh/quote.js';
import type { Cadence, TillInvocation } from './spec.js';

/**
 * till's crontab line. It carries its own marker as a trailing shell comment, so the
 * line is recognisable (and replaceable) without touching any other line:
 *   0 3 * * * TILL_HOME=/h /usr/bin/node /x/till.mjs sync --trigger cron >> /h/logs/sync.log 2>&1 # till-sync (managed by till; TILL_HOME=/h)
 * Intervals that divide 24 hours map to `0 *\/N * * *`; any other interval becomes an
 * hourly `till schedule run --if-due`, which runs the sync when schedule.json's
 * next_run is due (cron cannot count "every N hours since the last run").
 */
export const CRON_MARKER_PREFIX = '# till-sync (managed by till; TILL_HOME=';

export function cronMarker(tillHome: string): string {
  return `${CRON_MARKER_PREFIX}${tillHome})`;
}

/** cron turns an unescaped % in the command into a newline: write it as \%. */
function cronEscape(command: string): string {
  return command.replace(/%/g, '\\%');
}

function cronUnescape(command: string): string {
  return command.replace(/\\%/g, '%');
}

export type CronTiming = { fields: string; ifDue: boolean };

export function cronTiming(cadence: Cadence): CronTiming {
  if (cadence.kind === 'daily') return { fields: `${cadence.minute} ${cadence.hour} * * *`, ifDue: false };
  if (24 % cadence.hours === 0) return { fields: cadence.hours === 1 ? '0 * * * *' : `0 */${cadence.hours} * * *`, ifDue: false };
  return { fields: '0 * * * *', ifDue: true };
}

export function renderCronLine(inv: TillInvocation, cadence: Cadence): string {
  const { fields, ifDue } = cronTiming(cadence);
  const tillArgs = ifDue ? ['schedule', 'run', '--if-due', '--trigger', 'cron'] : ['sync', '--trigger', 'cron'];
  const command = [
    `TILL_HOME=${shQuote(inv.tillHome)}`,
    ...(inv.tz ? [`TZ=${shQuote(inv.tz)}`] : []),
    ...[inv.node, inv.script].map(shQuote),
    ...tillArgs,
    '>>',
    shQuote(join(inv.logsDir, 'sync.log')),
    '2>&1',
    cronMarker(inv.tillHome),
  ].join(' ');
  return `${fields} ${cronEscape(command)}`;
}

export interface ParsedCronLine {
  tillHome: string;
  fields: string;
  /** The cadence the line encodes; undefined for the hourly --if-due check (schedule.json decides). */
  cadence?: Cadence;
  ifDue: boolean;
  command: string;
}

/** Reads back a line written by renderCronLine; undefined for any other line. */
export function parseCronLine(line: string): ParsedCronLine | undefined {
  const m = /^(\S+) (\S+) (\S+) (\S+) (\S+) (.*)$/.exec(line);
  if (!m) return undefined;
  const command = cronUnescape(m[6]!);
  const at = command.lastIndexOf(CRON_MARKER_PREFIX);
  if (at === -1 || !command.endsWith(')')) return undefined;
  const tillHome = command.slice(at + CRON_MARKER_PREFIX.length, -1);
  const [minute, hour, dom, month, dow] = m.slice(1, 6) as [string, string, string, string, string];
  const fields = [minute, hour, dom, month, dow].join(' ');
  const ifDue = command.includes(' schedule run --if-due ');
  let cadence: Cadence | undefined;
  if (!ifDue && dom === '*' && month === '*' && dow === '*') {
    if (/^\d+$/.test(minute) && /^\d+$/.test(hour)) {
      cadence = { kind: 'daily', hour: Number(hour), minute: Number(minute) };
    } else if (minute === '0' && hour === '*') cadence = { kind: 'interval', hours: 1 };
    else if (minute === '0' && /^\*\/\d+$/.test(hour)) cadence = { kind: 'interval', hours: Number(hour.slice(2)) };
  }
  return { tillHome, fields, cadence, ifDue, command };
}

/** Lines of a crontab with their line endings kept, so untouched lines stay byte for byte. */
function splitKeepingEnds(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function isOurs(line: string, tillHome: string): boolean {
  return parseCronLine(line.replace(/\n$/, ''))?.tillHome === tillHome;
}

export function findTillCronLine(crontab: string, tillHome: string): string | undefined {
  return splitKeepingEnds(crontab)
    .map((l) => l.replace(/\n$/, ''))
    .find((l) => parseCronLine(l)?.tillHome === tillHome);
}

/** Puts till's line in place of this TILL_HOME's old one (or at the end); other lines untouched. */
export function upsertCronLine(crontab: string, line: string, tillHome: string): string {
  const lines = splitKeepingEnds(crontab);
  const at = lines.findIndex((l) => isOurs(l, tillHome));
  if (at !== -1) {
    const rest = lines.filter((l, i) => i <= at || !isOurs(l, tillHome));
    rest[at] = `${line}\n`;
    return rest.join('');
  }
  const base = crontab === '' || crontab.endsWith('\n') ? crontab : `${crontab}\n`;
  return `${base}${line}\n`;
}

/** Removes this TILL_HOME's line(s); every other line stays byte for byte. */
export function removeCronLine(crontab: string, tillHome: string): string {
  return splitKeepingEnds(crontab)
    .filter((l) => !isOurs(l, tillHome))
    .join('');
}
