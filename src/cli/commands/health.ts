import { UsageError } from '../../core/errors.js';
import { Inventory } from '../../inventory/inventory.js';
import { checkControlPath } from '../../core/paths.js';
import {
  DEFAULT_HISTORY_PER_HOST,
  DEFAULT_HISTORY_TOTAL,
  healthHistoryStore,
  type HealthSnapshot,
  type HistoryLimits,
} from '../../core/state/health.js';
import type { HostResult } from '../../core/fanout.js';
import { formatBytes, parseSizeThreshold, type SizeThreshold } from '../../core/units.js';
import { DEFAULT_THRESHOLDS, healthJob, recordHealth, type HealthThresholds } from '../../ops/health.js';
import { probeBoundMs } from '../../ops/test.js';
import type { Cli } from '../context.js';
import { addFleetOptions, listHostsIfAsked, runFleetCommand, selectTargets, type FleetOpts } from '../fleet.js';
import type { TillCommand } from '../help.js';
import { resolveSource } from '../../deploy/source.js';
import { collect, installationOption, sourceOption } from '../options.js';
import { sharedPaths } from './deploy.js';

interface HealthOpts extends FleetOpts {
  diskMin?: SizeThreshold[];
  memMin?: SizeThreshold[];
  loadMax?: number;
  drift?: boolean;
  source?: string;
  installation?: string;
  shared?: string[];
}

/** History bounds: TILL_HEALTH_HISTORY_LIMIT (per host) and TILL_HEALTH_HISTORY_TOTAL (all hosts). */
export function historyLimits(env: NodeJS.ProcessEnv = process.env): HistoryLimits {
  const read = (key: string, fallback: number): number => {
    const raw = env[key];
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < 1)
      throw new UsageError(`${key} must be a whole number of at least 1, got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  return {
    perHost: read('TILL_HEALTH_HISTORY_LIMIT', DEFAULT_HISTORY_PER_HOST),
    total: read('TILL_HEALTH_HISTORY_TOTAL', DEFAULT_HISTORY_TOTAL),
  };
}

function collectSize(option: string) {
  return (value: string, previous: SizeThreshold[] = []): SizeThreshold[] => [
    ...previous,
    parseSizeThreshold(option, value),
  ];
}

function loadOption(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0)
    throw new UsageError(`--load-max takes a load per CPU core above 0 (e.g. 4), got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Options to thresholds; `--disk-min 0` turns the disk check off. */
export function thresholdsFrom(opts: {
  diskMin?: SizeThreshold[];
  memMin?: SizeThreshold[];
  loadMax?: number;
}): HealthThresholds {
  const active = (list: SizeThreshold[]) => list.filter((t) => ('percent' in t ? t.percent > 0 : t.bytes > 0));
  return {
    diskMin: opts.diskMin && opts.diskMin.length > 0 ? active(opts.diskMin) : DEFAULT_THRESHOLDS.diskMin,
    memMin: opts.memMin && opts.memMin.length > 0 ? active(opts.memMin) : DEFAULT_THRESHOLDS.memMin,
    loadMaxPerCore: opts.loadMax ?? DEFAULT_THRESHOLDS.loadMaxPerCore,
  };
}

/** The JSON `health` object and the table columns read the same snapshot. */
function cell(r: HostResult<HealthSnapshot>, f: (s: HealthSnapshot) => string): string {
  return r.data && r.data.up && r.data.os !== null ? f(r.data) : '-';
}

export function registerHealthCommand(host: TillCommand, cli: Cli): void {
  addFleetOptions(
    host
      .command('health')
      .description(
        'one ssh call per host (one script, which also times the ssh round trip): up, ssh latency, uptime, load, CPUs, memory, free disk at tekton_path, OS, till version, current release; ' +
          'stores the snapshot and appends it to the history; a host that has not answered within 20 s (--timeout) is down; exit 1 if a host is down or degraded',
      )
      .example('till host health --all', 'up, latency, load, memory, disk and release of every host')
      .example('till host health --group db --disk-min 20%', 'degraded below 20 % free disk')
      .example(
        'till host health --all --drift --source ./app',
        'also degraded where the live release drifted from ./app',
      )
      .option(
        '--disk-min <size|N%>',
        'degraded below this free disk at tekton_path (repeatable; default 10% and 1GiB; 0 turns it off)',
        collectSize('--disk-min'),
      )
      .option(
        '--load-max <per-core>',
        `degraded when load1 is above this many times the CPU count (default ${DEFAULT_THRESHOLDS.loadMaxPerCore})`,
        loadOption,
      )
      .option(
        '--mem-min <size|N%>',
        'degraded below this available memory (repeatable; default: no check)',
        collectSize('--mem-min'),
      )
      .option(
        '--drift',
        'also compare each live release with the source as host diff does (a file list per host; never by default): degraded when it differs',
      )
      .option('--source <dir>', 'with --drift: the local directory to compare with', sourceOption)
      .option(
        '--installation <name>',
        'with --drift: an installation (default: the default installation)',
        installationOption,
      )
      .option('--shared <path>', 'with --drift: a persistent path the deploy kept, not compared (repeatable)', collect),
  ).action(async (patterns: string[], opts: HealthOpts) => {
    const paths = cli.paths();
    checkControlPath(paths);
    const limits = historyLimits();
    const thresholds = thresholdsFrom(opts);
    if (opts.drift !== true)
      for (const [given, name] of [
        [opts.source, '--source'],
        [opts.installation, '--installation'],
        [opts.shared, '--shared'],
      ] as const)
        if (given !== undefined) throw new UsageError(`${name} goes with --drift`);
    // --timeout bounds each host's whole check; without it, a default that a frozen host meets.
    const boundMs = opts.timeout !== undefined ? opts.timeout * 1000 : probeBoundMs(opts.connectTimeout);
    const inventory = new Inventory(paths);
    const targets = selectTargets(cli, await inventory.read(), patterns, opts);
    if (listHostsIfAsked(cli, targets, opts)) return;
    const drift =
      opts.drift === true
        ? {
            source: await resolveSource(paths, { source: opts.source, installation: opts.installation }),
            shared: sharedPaths(opts.shared ?? []),
          }
        : undefined;
    // The history is appended to after the run: a file that cannot take it stops us
    // now, before any host is contacted or the database changes.
    await healthHistoryStore(paths).read();
    cli.exitCode = await runFleetCommand<HealthSnapshot>({
      cli,
      inventory,
      targets,
      opts,
      hostTimeoutMs: boundMs,
      recordAsDone: true,
      job: () =>
        healthJob(paths, {
          thresholds,
          ...(drift ? { drift } : {}),
          connectTimeout: opts.connectTimeout,
          timeoutMs: opts.timeout && opts.timeout * 1000,
          boundMs,
        }),
      extraJson: (r) => ({ health: r.data ?? null }),
      extraColumns: [
        ['LATENCY', (r) => cell(r, (s) => (s.latencyMs === null ? '-' : `${s.latencyMs}ms`))],
        ['LOAD', (r) => cell(r, (s) => (s.load1 === null ? '-' : `${s.load1}/${s.cpus ?? '?'}cpu`))],
        ['MEM AVAIL', (r) => cell(r, (s) => `${formatBytes(s.memAvailableBytes)}/${formatBytes(s.memTotalBytes)}`)],
        ['DISK FREE', (r) => cell(r, (s) => `${formatBytes(s.diskFreeBytes)}/${formatBytes(s.diskTotalBytes)}`)],
        ['OS', (r) => cell(r, (s) => `${s.os ?? '?'}/${s.arch ?? '?'}`)],
        ['TILL', (r) => cell(r, (s) => s.tillVersion ?? '-')],
        ['RELEASE', (r) => cell(r, (s) => s.release ?? '-')],
        ...(drift
          ? [
              [
                'DRIFT',
                (r: HostResult<HealthSnapshot>) =>
                  cell(r, (s) => (s.drift ? String(s.drift.changed + s.drift.added + s.drift.removed) : '?')),
              ] as [string, (r: HostResult<HealthSnapshot>) => string],
            ]
          : []),
      ],
      recordMore: (results) => recordHealth(paths, inventory, results, limits),
    });
  });
}
