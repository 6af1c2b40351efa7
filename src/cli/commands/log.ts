import { UsageError } from '../../core/errors.js';
import { readOperations, type OperationRecord } from '../../core/state/operations.js';
import { validateName } from '../../core/validate.js';
import { shQuote } from '../../protocol/quote.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { intOption } from '../options.js';
import { renderTable } from '../output/table.js';
import { formatDuration, printable } from '../output/terminal.js';

const SINCE_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * `--since`: an age (`90s`, `30m`, `2h`, `7d`, `2w`), a day (`2025-01-05`, from local
 * midnight) or a time (`2025-01-05T10:00`, local, or with `Z`/an offset).
 */
export function parseSince(value: string, now = new Date()): Date {
  const text = value.trim();
  const age = /^(\d+)([smhdw])$/.exec(text);
  if (age) return new Date(now.getTime() - Number(age[1]) * SINCE_UNITS[age[2]!]!);
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (day) {
    const d = new Date(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    if (d.getMonth() === Number(day[2]) - 1 && d.getDate() === Number(day[3])) return d;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return new Date(t);
  }
  throw new UsageError(
    `--since takes an age (30m, 2h, 7d, 2w), a day (2025-01-05) or a time (2025-01-05T10:00), got ${JSON.stringify(value)}`,
  );
}

/** `2025-01-05 10:00:12` in local time (TZ when set). */
function localTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const COMMAND_WIDTH = 60;

function shownCommand(r: OperationRecord): string {
  const line = ['till', ...r.argv.map((a) => (a === '--' ? a : shQuote(a)))].join(' ');
  return line.length > COMMAND_WIDTH ? `${line.slice(0, COMMAND_WIDTH - 1)}…` : line;
}

function shownTargets(r: OperationRecord): string {
  if (r.targets.length === 0) return '-';
  const first = r.targets.slice(0, 3).join(',');
  return r.targets.length > 3 ? `${first} +${r.targets.length - 3}` : first;
}

/** `3 ok, 1 unreachable`; `-` when no host ran. */
function shownResults(r: OperationRecord): string {
  if (r.results.length === 0) return '-';
  const counts = new Map<string, number>();
  for (const h of r.results) counts.set(h.status, (counts.get(h.status) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
}

function shownExit(r: OperationRecord): string {
  return r.interrupted !== null ? `${r.exitCode} (${r.interrupted})` : String(r.exitCode);
}

export function registerLogCommand(program: TillCommand, cli: Cli): void {
  const log = program
    .command('log')
    .description('the operations journal: who ran which till command on which hosts, and how it ended (newest last)')
    .option('--host <name>', 'only commands that targeted this host')
    .option('--since <when>', 'only commands started since: an age (30m, 2h, 7d), a day (2025-01-05) or a time')
    .option('--command <command>', 'only this command: deploy, "host deploy", exec…')
    .option('-n, --max-count <n>', 'only the newest N (after the other filters)', intOption('-n', 1, 1_000_000))
    .option('--json', 'print {"operations": [...], "corrupt": [...]} as JSON')
    .example('till log --since 12h', 'what was run on the fleet since last night')
    .example('till log --host web1 --command deploy -n 5', "web1's last five deploys")
    .example('till log --json --since 2025-01-05', 'every record since that day, as JSON');
  log.action(async (opts: { host?: string; since?: string; command?: string; maxCount?: number; json?: boolean }) => {
    if (opts.host !== undefined) validateName(opts.host);
    const since = opts.since !== undefined ? parseSince(opts.since) : undefined;
    if (opts.command !== undefined && opts.command.trim() === '') throw new UsageError('--command is empty');
    const { records, corrupt } = await readOperations(cli.paths().logsDir, {
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(opts.command !== undefined ? { command: opts.command } : {}),
      ...(opts.maxCount !== undefined ? { last: opts.maxCount } : {}),
    });
    for (const c of corrupt) cli.err(`warning: ${c.file}${c.line > 0 ? ` line ${c.line}` : ''}: ${c.error}; skipped`);
    if (opts.json) {
      cli.json({ operations: records, corrupt });
      return;
    }
    if (records.length === 0) {
      cli.err('no operations recorded (yet, or matching these filters)');
      return;
    }
    cli.out(
      renderTable(
        ['TIME', 'OPERATOR', 'COMMAND', 'TARGETS', 'RESULTS', 'EXIT', 'DURATION'],
        records.map((r) => [
          localTime(r.time),
          printable(r.operator),
          printable(shownCommand(r)),
          printable(shownTargets(r)),
          shownResults(r),
          shownExit(r),
          formatDuration(r.durationMs),
        ]),
      ),
    );
  });
}
