import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Option } from 'commander';
import { FailedError, UsageError, errorMessage } from '../../core/errors.js';
import { plural } from '../../core/format.js';
import { writeFileAtomic } from '../../core/fs.js';
import { loadFleetState } from '../../metrics/fleet.js';
import { renderStatusHtml } from '../../status/html.js';
import { buildStatusView, type StatusView } from '../../status/model.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { secondsOption } from '../options.js';
import { renderStatusText } from '../output/status.js';
import { terminalColumns, terminalRows } from '../output/terminal.js';

interface StatusOpts {
  json?: boolean;
  watch?: number | true;
  html?: string;
  all?: boolean;
}

export const DEFAULT_WATCH_SECONDS = 5;

/**
 * The `--html` target, checked before anything is rendered: a file name (not a
 * folder) in an existing folder this user may write. Returns the absolute path.
 */
export function checkHtmlTarget(file: string): string {
  if (file.trim() === '')
    throw new UsageError('--html needs a file name, got an empty string', 'e.g. till status --html status.html');
  const path = resolve(file);
  const dir = dirname(path);
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch {
    throw new UsageError(
      `--html ${file}: the folder ${dir} does not exist`,
      'create it first, or name a file in an existing folder',
    );
  }
  if (!dirStat.isDirectory()) throw new UsageError(`--html ${file}: ${dir} is not a folder`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`--html ${file}: the folder ${dir} is not writable by this user`);
  }
  let target;
  try {
    target = statSync(path);
  } catch {
    return path; // a new file
  }
  if (target.isDirectory())
    throw new UsageError(
      `--html ${file}: ${path} is a folder, not a file`,
      `name a file, e.g. ${resolve(path, 'status.html')}`,
    );
  return path;
}

/** Waits `ms`, or less if SIGINT/SIGTERM arrives; says which. */
function sleepOrSignal(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolveSleep) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop.removeEventListener('abort', done);
      resolveSleep();
    }
    stop.addEventListener('abort', done, { once: true });
  });
}

export function registerStatusCommand(program: TillCommand, cli: Cli): void {
  program
    .command('status')
    .description(
      'the whole fleet at a glance from local state (no network): per host state, status, last test/sync/deploy, release, ' +
        'latency and load trends from the health history; groups summarized',
    )
    .example('till status', 'the fleet at a glance')
    .example('till status --watch 10', 'redrawn every 10 seconds')
    .example('till status --html /var/www/fleet.html', 'a self-contained HTML page')
    .addOption(new Option('--json', 'print the view as one JSON document').conflicts('html'))
    .option(
      '--watch [seconds]',
      `redraw every N seconds until Ctrl-C (default ${DEFAULT_WATCH_SECONDS})`,
      secondsOption('--watch', 1, 86_400),
    )
    .option(
      '--html <file>',
      'write a self-contained HTML page (inline CSS and SVG charts, no script) instead; with --watch, rewrite it every N seconds',
    )
    .option('--all', 'list every host even when they do not fit on the screen')
    .note('The numbers come from the last `till host health` runs; run it (or `till watch`) to refresh them.')
    .note(
      'A restricted host whose till, and so its till gate, is older than this till is named in a footnote with the command that upgrades it ("gateOutdated" in --json; "Needs attention" in the page; docs/gate.md).',
    )
    .action(async (opts: StatusOpts) => {
      if (opts.watch !== undefined && opts.json)
        throw new UsageError('--watch and --json do not go together', 'run `till status --json` as often as you need');
      const htmlFile = opts.html === undefined ? undefined : checkHtmlTarget(opts.html);
      const paths = cli.paths();
      const view = async (): Promise<StatusView> =>
        buildStatusView(await loadFleetState(paths, { history: true }), new Date());
      const interval = opts.watch === undefined ? undefined : opts.watch === true ? DEFAULT_WATCH_SECONDS : opts.watch;

      const frame = async (): Promise<void> => {
        const v = await view();
        if (htmlFile !== undefined) {
          try {
            await writeFileAtomic(htmlFile, renderStatusHtml(v, { refreshSeconds: interval }));
          } catch (err) {
            // The folder was checked; what is left is the disk (full, read-only, removed meanwhile).
            throw new FailedError(`cannot write ${htmlFile}: ${errorMessage(err).replace(/, \w+ '[^']*'$/, '')}`);
          }
          cli.err(`wrote ${htmlFile} (${plural(v.hosts.length, 'host')})`);
          return;
        }
        if (opts.json) {
          cli.json(v);
          return;
        }
        const tty = process.stdout.isTTY === true;
        // A terminal that reports 0 columns or rows does not know its size: 120 × 40 then.
        const rows = opts.all || !tty ? Infinity : Math.max(10, (terminalRows(process.stdout) ?? 40) - 1);
        const text = renderStatusText(v, {
          colors: cli.stdoutColor,
          maxRows: rows,
          width: tty ? (terminalColumns(process.stdout) ?? 120) : Infinity,
          now: Date.now(),
        });
        // On a terminal each redraw replaces the last; elsewhere frames follow each other.
        if (interval !== undefined && tty) cli.write(`\x1b[H\x1b[2J${text}`);
        else cli.write(interval !== undefined ? `${text}\n` : text);
      };

      if (interval === undefined) {
        await frame();
        return;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        while (!stop.signal.aborted) {
          await frame();
          await sleepOrSignal(interval * 1000, stop.signal);
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
