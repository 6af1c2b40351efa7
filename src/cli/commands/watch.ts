import { join } from 'node:path';
import { Option } from 'commander';
import {
  ExitCode,
  FailedError,
  fileErrorText,
  pathErrorText,
  permissionError,
  StateError,
  UsageError,
} from '../../core/errors.js';
import { Inventory } from '../../inventory/inventory.js';
import type { TillPaths } from '../../core/paths.js';
import { scheduleStore } from '../../core/state/schedule.js';
import { currentInvocation, customSyncCommand, tillSyncCommand } from '../../schedule/run.js';
import { runWatch, watchState, type WatchService, type WatchTask } from '../../watch/daemon.js';
import { isWatchProcess, type RecordedWatch } from '../../watch/pid.js';
import { RotatingLog } from '../../watch/log.js';
import { healthTask } from '../../watch/health-task.js';
import { collectMetricFamilies } from '../../metrics/collect.js';
import { renderPrometheus } from '../../metrics/prometheus.js';
import { checkBindAddress, parseListenAddress, startMetricsServer } from '../../metrics/server.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { nonBlankOption } from '../options.js';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `5m`, `1h`, `1d` (a bare number is seconds), from 10 s (or `minMs`) to 7 days. */
export function parseDuration(name: string, value: string, minMs = 10_000): number {
  const m = /^(\d+)([smhd]?)$/.exec(value.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] || 's']! : NaN;
  if (!m || ms < minMs || ms > 7 * 86_400_000) {
    throw new UsageError(
      `${name} takes a duration like 90s, 5m, 1h or 1d (${minMs / 1000}s to 7d), got ${JSON.stringify(value)}`,
    );
  }
  return ms;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return check();
}

/** `till watch`: the foreground scheduler for machines without systemd/launchd/cron. */
export function registerWatchCommand(program: TillCommand, cli: Cli): void {
  program
    .command('watch')
    .description(
      'foreground daemon: runs till sync when schedule.json next_run is due (and optional periodic health/audit); --status, --stop',
    )
    .example(
      'till watch --health-interval 15m',
      'sync when due and check health every 15 minutes (in tmux or as a service)',
    )
    .example('till watch --status', 'is a watch daemon running for this TILL_HOME?')
    .example('till watch --stop', 'stop it')
    .option(
      '--health-interval <duration>',
      'also run `till host health --all` this often (e.g. 15m); each host is given half of it (10 s to 20 s), and each change of a host between up, degraded and down is logged',
    )
    .option(
      '--reauth-interval <duration>',
      "with --health-interval: log in to every host afresh this often (default 10m), so a host that removed till's key shows as down",
    )
    .option(
      '--audit-interval <duration>',
      'also run `till host audit --all --quiet` this often (e.g. 1d) and log each new high finding',
    )
    .option(
      '--metrics <addr:port>',
      'also serve the `till metrics` exposition at http://<addr:port>/metrics (loopback only)',
    )
    .option('--metrics-allow-remote', 'allow --metrics on a non-loopback address (the metrics name every host)')
    .option(
      '--keep-warm',
      'also keep a master connection open to every till-ready (or deployed) host, re-opened after a drop; closed by --stop',
    )
    .addOption(
      new Option(
        '--keep-warm-interval <duration>',
        'how often --keep-warm checks its masters (default 30s)',
      ).hideHelp(),
    )
    .option('--status', 'exit 0 if a watch daemon runs for this TILL_HOME, 3 if none does')
    .option('--stop', 'send SIGTERM to the running watch daemon and wait until it has stopped')
    .option('--json', 'with --status: print {running, pid, started, stale} as JSON')
    .addOption(
      new Option(
        '--sync-command <path>',
        'run <path> sync --trigger watch instead of this till (for tests and wrappers)',
      )
        .argParser(nonBlankOption('--sync-command', 'name the program to run instead of this till'))
        .hideHelp(),
    )
    .note('Logs go to $TILL_HOME/logs/watch.log (rotated to watch.log.1 at 1 MiB) and to stderr.')
    .note(
      'Stop with Ctrl-C or SIGTERM: a running sync is cancelled and recorded, and the pid is cleared from schedule.json. A second watch for the same TILL_HOME is refused (exit 2).',
    )
    .action(
      async (opts: {
        healthInterval?: string;
        reauthInterval?: string;
        auditInterval?: string;
        metrics?: string;
        metricsAllowRemote?: boolean;
        keepWarm?: boolean;
        keepWarmInterval?: string;
        status?: boolean;
        stop?: boolean;
        json?: boolean;
        syncCommand?: string;
      }) => {
        const paths = cli.paths();
        if (opts.status && opts.stop) throw new UsageError('give --status or --stop, not both');
        if (opts.status) {
          const state = await watchState(paths);
          if (opts.json) cli.json(state);
          else if (state.running) cli.out(`till watch is running (pid ${state.pid}, since ${state.started})`);
          else
            cli.err(
              state.stale
                ? `till watch is not running (stale pid ${state.pid} recorded; it blocks nothing)`
                : 'till watch is not running',
            );
          if (!state.running) cli.exitCode = ExitCode.notRunning;
          return;
        }
        if (opts.stop) {
          const state = await watchState(paths);
          if (!state.running || state.pid === null) {
            cli.err('till watch is not running');
            cli.exitCode = ExitCode.notRunning;
            return;
          }
          const pid = state.pid;
          const recorded = { ...(await scheduleStore(paths).read()).watch, pid } as RecordedWatch;
          try {
            process.kill(pid, 'SIGTERM');
          } catch (err) {
            throw new FailedError(
              `cannot signal till watch (pid ${pid}): ${(err as NodeJS.ErrnoException).code === 'ESRCH' ? 'no such process' : fileErrorText(err)}`,
            );
          }
          // The daemon cancels a running sync (SIGTERM, SIGKILL after 2 s) and records it before it clears its pid.
          const stopped = await waitFor(
            async () => (await scheduleStore(paths).read()).watch?.pid !== pid || !(await isWatchProcess(recorded)),
            60_000,
          );
          if (!stopped) throw new FailedError(`till watch (pid ${pid}) did not stop within 60 s`);
          cli.err(`stopped till watch (pid ${pid})`);
          return;
        }

        const tasks: WatchTask[] = [];
        const inv = opts.syncCommand ? undefined : currentInvocation(paths, process.argv[1]);
        const tillArgs = (args: string[]) => {
          const i = inv ?? currentInvocation(paths, process.argv[1]);
          return { command: i.node, args: [i.script, ...args] };
        };
        if (opts.reauthInterval !== undefined && opts.healthInterval === undefined)
          throw new UsageError('--reauth-interval only applies with --health-interval');
        if (opts.healthInterval !== undefined)
          tasks.push(
            healthTask(
              paths,
              parseDuration('--health-interval', opts.healthInterval),
              tillArgs,
              opts.reauthInterval === undefined ? undefined : parseDuration('--reauth-interval', opts.reauthInterval),
            ),
          );
        // --quiet: one line per high finding or failed host, each logged when it first appears.
        if (opts.auditInterval !== undefined)
          tasks.push({
            name: 'host audit',
            intervalMs: parseDuration('--audit-interval', opts.auditInterval),
            command: tillArgs(['host', 'audit', '--all', '--quiet']),
            logNewLines: true,
          });
        const sync = opts.syncCommand ? customSyncCommand(opts.syncCommand, 'watch') : tillSyncCommand(inv!, 'watch');
        const services: WatchService[] = [];
        if (opts.metrics !== undefined) {
          // Refused before the daemon starts: a non-loopback bind is a usage error (exit 2).
          const listen = parseListenAddress(opts.metrics, '--metrics');
          checkBindAddress(listen.address, opts.metricsAllowRemote === true);
          services.push({
            name: 'metrics',
            start: async (log) => {
              const server = await startMetricsServer({
                ...listen,
                allowRemote: opts.metricsAllowRemote === true,
                render: async () => renderPrometheus(await collectMetricFamilies(paths)),
                onError: (err) => log(`metrics scrape failed: ${pathErrorText(err)}`),
              });
              log(`serving metrics at ${server.url}`);
              return () => server.close();
            },
          });
        }

        if (opts.keepWarmInterval !== undefined && !opts.keepWarm)
          throw new UsageError('--keep-warm-interval goes with --keep-warm');
        if (opts.keepWarm) {
          const { keepWarmService } = await import('../../watch/keep-warm.js');
          services.push(
            keepWarmService({
              paths,
              sessions: true,
              inventory: new Inventory(paths),
              intervalMs:
                opts.keepWarmInterval === undefined
                  ? undefined
                  : parseDuration('--keep-warm-interval', opts.keepWarmInterval, 1_000),
            }),
          );
        }

        const log = watchLog(paths);
        const stop = new AbortController();
        const onSignal = (sig: NodeJS.Signals) => {
          if (!stop.signal.aborted) log.write(`received ${sig}`);
          stop.abort();
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        try {
          await runWatch({ paths, sync, tasks, services, log }, stop.signal);
        } finally {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
      },
    );
}

/** The daemon's log, its folder made first: one that cannot be (a file in the way) stops the watch before it starts. */
function watchLog(paths: TillPaths): RotatingLog {
  const file = join(paths.logsDir, 'watch.log');
  try {
    return new RotatingLog(
      file,
      undefined,
      (text) => process.stderr.write(text),
      (problem) => process.stderr.write(`till watch: ${problem}\n`),
    );
  } catch (err) {
    throw (
      permissionError(err, paths.home) ??
      new StateError(
        `cannot make the folder of ${file}: ${pathErrorText(err)}`,
        `see ls -la ${paths.home}: move what is in the way, then start till watch again`,
      )
    );
  }
}
