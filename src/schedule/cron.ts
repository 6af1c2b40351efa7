import { join } from 'node:path';
import { shQuote } from '../protocol/quote.js';
import type { Cadence, TillInvocation } from './spec.js';

/**
 * till's crontab line. It carries its own marker as a trailing shell comment, so the
 * line is recognisable (and replaceable) without touching any other line:
 *   0 3 * * * TILL_HOME=/h PATH=… /usr/bin/node /x/till.mjs schedule run --trigger cron >> /h/logs/sync.log 2>&1 # till-sync (managed by till; TILL_HOME=/h)
 * It runs `till schedule run`, not `till sync`, so a sync that fails before it can
 * record itself (unreadable state, a crash) is still recorded as a failed run.
 * A daily time maps to `M H * * *` only when cron's clock (the system zone) is the zone
 * next_run is computed in; otherwise, and for every interval (cron cannot count "every
 * N hours since the last run"), the line is a check every 5 minutes that runs
 * `till schedule run --if-due`: the sync then starts within 5 minutes of next_run.
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

/** How often the --if-due check runs: the most a sync starts after next_run. */
export const CRON_CHECK_MINUTES = 5;

/** Zone names that mean the same clock for this purpose (`:Europe/Berlin`, `Etc/UTC`). */
function zoneKey(zone: string): string {
  const z = zone.replace(/^:/, '').replace(/^(posix|right)\//, '');
  return /^(Etc\/)?(UTC|UCT|Universal|Zulu|GMT|GMT[+-]?0|Greenwich)$/.test(z) ? 'UTC' : z;
}

/**
 * Does cron's clock (the system zone) read like the zone till computes next_run in?
 * TZ unset: both are the system zone. TZ set: only when it names the system zone.
 */
export function cronClockMatches(inv: Pick<TillInvocation, 'tz' | 'systemTz'>): boolean {
  if (!inv.tz) return true;
  return inv.systemTz !== undefined && zoneKey(inv.tz) === zoneKey(inv.systemTz);
}

export function cronTiming(cadence: Cadence, clockMatches = true): CronTiming {
  if (cadence.kind === 'daily' && clockMatches)
    return { fields: `${cadence.minute} ${cadence.hour} * * *`, ifDue: false };
  return { fields: `*/${CRON_CHECK_MINUTES} * * * *`, ifDue: true };
}

/** PATH for a scheduled run: the absolute entries of the enabling shell's PATH, without control characters. */
export function schedulerPath(path: string | undefined): string | undefined {
  const printable = (d: string) => [...d].every((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f);
  const dirs = (path ?? '').split(':').filter((d) => d.startsWith('/') && printable(d));
  return dirs.length ? [...new Set(dirs)].join(':') : undefined;
}

export function renderCronLine(inv: TillInvocation, cadence: Cadence): string {
  const { fields, ifDue } = cronTiming(cadence, cronClockMatches(inv));
  const tillArgs = ['schedule', 'run', ...(ifDue ? ['--if-due'] : []), '--trigger', 'cron'];
  const path = schedulerPath(inv.path);
  const command = [
    `TILL_HOME=${shQuote(inv.tillHome)}`,
    ...(inv.tz ? [`TZ=${shQuote(inv.tz)}`] : []),
    ...(path ? [`PATH=${shQuote(path)}`] : []),
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
  /** The cadence the line encodes; undefined for the --if-due check (schedule.json decides). */
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
    }
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
