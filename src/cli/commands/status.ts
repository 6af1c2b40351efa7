import { resolve } from 'node:path';
import type { Command } from 'commander';
import writeFileAtomic from 'write-file-atomic';
import { UsageError } from '../../core/errors.js';
import { loadFleetState } from '../../metrics/fleet.js';
import { renderStatusHtml } from '../../status/html.js';
import { buildStatusView, type StatusView } from '../../status/model.js';
import type { Cli } from '../context.js';
import { secondsOption } from '../options.js';
import { renderStatusText } from '../output/status.js';

interface StatusOpts {
  json?: boolean;
  watch?: number | true;
  html?: string;
  all?: boolean;
}

export const DEFAULT_WATCH_SECONDS = 5;

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

export function registerStatusCommand(program: Command, cli: Cli): void {
  program
    .command('status')
    .description(
      'the whole fleet at a glance from local state (no network): per host state, status, last test/sync/deploy, release, ' +
        'latency and load trends from the health history; groups summarized',
    )
    .option('--json', 'print the view as one JSON document')
    .option('--watch [seconds]', `redraw every N seconds until Ctrl-C (default ${DEFAULT_WATCH_SECONDS})`, secondsOption('--watch', 1, 86_400))
    .option('--html <file>', 'write a self-contained HTML page (inline CSS and SVG charts, no script) instead; with --watch, rewrite it every N seconds')
    .option('--all', 'list every host even when they do not fit on the screen')
    .addHelpText('after', '\nThe numbers come from the last `till host health` runs; run it (or `till watch`) to refresh them.')
    .action(async (opts: StatusOpts) => {
      if (opts.watch !== undefined && opts.json) throw new UsageError('--watch and --json do not go together', 'run `till status --json` as often as you need');
      const paths = cli.paths();
      const view = async (): Promise<StatusView> => buildStatusView(await loadFleetState(paths), new Date());
      const interval = opts.watch === undefined ? undefined : opts.watch === true ? DEFAULT_WATCH_SECONDS : opts.watch;

      const frame = async (): Promise<void> => {
        const v = await view();
        if (opts.html !== undefined) {
          const file = resolve(opts.html);
          await writeFileAtomic(file, renderStatusHtml(v, { refreshSeconds: interval }));
          cli.err(`wrote ${file} (${v.hosts.length} hosts)`);
          return;
        }
        if (opts.json) {
          cli.json(v);
          return;
        }
        const tty = process.stdout.isTTY === true;
        const rows = opts.all || !tty ? Infinity : Math.max(10, (process.stdout.rows ?? 40) - 1);
        const text = renderStatusText(v, { colors: cli.stdoutColor, maxRows: rows, width: tty ? (process.stdout.columns ?? 120) : Infinity, now: Date.now() });
        // On a terminal each redraw replaces the last; elsewhere frames follow each other.
        if (interval !== undefined && tty) process.stdout.write(`\x1b[H\x1b[2J${text}`);
        else process.stdout.write(interval !== undefined ? `${text}\n` : text);
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
