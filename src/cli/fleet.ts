import type { Command } from 'commander';
import { ExitCode, UsageError } from '../core/errors.js';
import {
  DEFAULT_ATTEMPTS,
  DEFAULT_PARALLEL,
  runFleet,
  type FleetEvent,
  type FleetReport,
  type HostJob,
  type HostResult,
  type Target,
} from '../core/fanout.js';
import type { Inventory } from '../inventory/inventory.js';
import type { HostEntry } from '../core/state/hosts.js';
import { recordWaitMs, ResultRecorder } from '../core/result-recorder.js';
import { cutUnfinishedAppend, knownHostsSize } from '../ops/host-keys.js';
import { resolveTargets, type ResolveOptions } from '../core/targets.js';
import type { Cli } from './context.js';
import { currentOperation, handleInterrupts } from './journal.js';
import { collect, intOption, secondsOption } from './options.js';
import { FleetReporter, fleetJson, renderSummary } from './output/reporter.js';

export interface FleetOpts {
  group?: string[];
  all?: boolean;
  limit?: string;
  listHosts?: boolean;
  parallel?: number;
  serial?: boolean;
  retries?: number;
  timeout?: number;
  connectTimeout?: number;
  json?: boolean;
}

/** Targets and fan-out options shared by every multi-host command. */
export function addFleetOptions<C extends Command>(cmd: C): C {
  return (
    cmd
      .argument(
        '[targets...]',
        'host patterns: names, globs (web-*), ranges (web[01-10]), @group, !exclude, &intersect',
      )
      // No default value: commander would print `(default: [])` in every command's help.
      .option('-g, --group <group>', 'every host of a group (repeatable)', collect)
      .option('-a, --all', 'every host in the database')
      .option('-l, --limit <pattern>', 'further narrow the selected hosts to this pattern')
      .option('--list-hosts', 'print the hosts this would run on, one per line, and stop (contacts nothing)')
      .option(
        '-p, --parallel <n>',
        `hosts in flight at once (default ${DEFAULT_PARALLEL})`,
        intOption('--parallel', 1, 1000),
      )
      .option('--serial', 'one host at a time (same as --parallel 1)')
      .option(
        '--retries <n>',
        `attempts per host for connection failures (default ${DEFAULT_ATTEMPTS})`,
        intOption('--retries', 1, 20),
      )
      .option('--timeout <seconds>', 'give up on a host after this long', secondsOption('--timeout', 0.1, 86_400))
      .option('--connect-timeout <seconds>', 'ssh ConnectTimeout (default 10)', intOption('--connect-timeout', 1, 600))
      .option('--json', 'print one JSON document on stdout')
  );
}

/** Fan-out options that contradict each other: refused before anything runs. */
function checkFanoutOptions(opts: FleetOpts): void {
  if (opts.serial && opts.parallel !== undefined && opts.parallel !== 1) {
    throw new UsageError(`--serial and --parallel ${opts.parallel} contradict each other`, 'give one of them');
  }
}

/** Whether the command was given targets of its own (patterns, --group or --all; --limit only narrows). */
export function hasTargets(patterns: string[], opts: FleetOpts): boolean {
  return patterns.length > 0 || (opts.group ?? []).length > 0 || opts.all === true;
}

/** The targets of a fleet command; warnings (an exclusion that matched nothing) go to stderr. */
export function selectTargets(
  cli: Cli,
  db: Parameters<typeof resolveTargets>[0],
  patterns: string[],
  opts: FleetOpts,
  resolve: ResolveOptions = {},
): Target[] {
  checkFanoutOptions(opts);
  const { targets, warnings } = resolveTargets(
    db,
    { patterns, groups: opts.group ?? [], all: opts.all === true, limit: opts.limit },
    resolve,
  );
  for (const w of warnings) cli.err(`warning: ${w}`);
  currentOperation()?.noteTargets(targets.map((t) => t.name));
  return targets;
}

/**
 * `--list-hosts`: prints the hosts a command would run on (one per line, or
 * `{"hosts": [...]}` with --json) and tells the command to stop there. Called right
 * after the targets are known, before anything is contacted, locked or written.
 */
export function listHostsIfAsked(cli: Cli, targets: readonly Target[], opts: FleetOpts): boolean {
  if (opts.listHosts !== true) return false;
  if (opts.json === true) cli.json({ hosts: targets.map((t) => t.name) });
  else if (targets.length > 0) cli.out(targets.map((t) => t.name).join('\n'));
  return true;
}

/**
 * SIGINT/SIGTERM stop the run: no new hosts start, running ones are cancelled, the
 * summary is still printed and the database saved. A second Ctrl-C exits at once.
 */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let count = 0;
  const handler = () => {
    count += 1;
    if (count > 1) process.exit(ExitCode.interrupted);
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  const handled = handleInterrupts();
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      handled();
    },
  };
}

/** What a fleet command's job may use of the progress display. */
export interface FleetHooks {
  output: FleetReporter['output'];
  /** Redraws the live line (its detail changed). */
  refresh: () => void;
}

export interface FleetCommand<T> {
  cli: Cli;
  inventory: Inventory;
  targets: Target[];
  opts: FleetOpts;
  job: (hooks: FleetHooks) => HostJob<T>;
  /** What the live line shows after its count (transfers under way); a job calls hooks.refresh when it changed. */
  detail?: () => string;
  /** Applies a successful result to its database entry. */
  onSuccess?: (entry: HostEntry, result: HostResult<T>) => void;
  /** Applies any attempted (not skipped or cancelled) result, before onSuccess. */
  onAttempt?: (entry: HostEntry, result: HostResult<T>) => void;
  /** Stream per-host output as prefixed lines (exec). */
  stream?: boolean;
  /** Print each host's output as one block when it is done (exec --group-output). */
  grouped?: boolean;
  extraJson?: (r: HostResult<T>) => Record<string, unknown>;
  extraColumns?: Array<[string, (r: HostResult<T>) => string]>;
  /** Print something before the summary (e.g. grouped output). */
  beforeSummary?: (report: FleetReport<T>) => void;
  /** For periodic runs: no per-host progress lines and no summary table (the command reports what matters). */
  quiet?: boolean;
  /** false for dry runs: nothing is written to the database. */
  record?: boolean;
  /** Records more from results once the database holds them (health history); given every batch recorded. */
  recordMore?: (results: readonly HostResult<T>[]) => Promise<void>;
  /**
   * Record results while the run goes on (ResultRecorder), not only at its end: one host
   * that takes until its bound does not hold back what the others found (watch, metrics).
   */
  recordAsDone?: boolean;
  /** A bound on each host's whole job, every attempt included (the engine's hostTimeoutMs). */
  hostTimeoutMs?: number;
}

/** What a run adds to the fan-out options: a bound per host, and who else hears each finished host. */
export interface RunExtras<T> {
  hostTimeoutMs?: number;
  onDone?: (result: HostResult<T>) => void;
}

/**
 * The engine with the fan-out options and live progress: what every fleet command
 * runs. Hosts marked unreachable get one attempt.
 */
export async function runFleetWithProgress<T>(
  cli: Cli,
  targets: Target[],
  job: (hooks: FleetHooks) => HostJob<T>,
  opts: FleetOpts,
  signal: AbortSignal,
  display: { stream?: boolean; grouped?: boolean; quiet?: boolean; detail?: () => string } = {},
  extras: RunExtras<T> = {},
): Promise<FleetReport<T>> {
  checkFanoutOptions(opts);
  const reporter = new FleetReporter(cli, targets.length, {
    json: opts.json === true,
    stream: display.stream === true,
    grouped: display.grouped === true,
    quietDone: display.quiet === true,
    ...(display.detail ? { detail: display.detail } : {}),
  });
  const knownHostsBefore = await knownHostsSize(cli.paths());
  try {
    const report = await runFleet(targets, job({ output: reporter.output, refresh: () => reporter.refresh() }), {
      parallel: opts.serial ? 1 : opts.parallel,
      attempts: opts.retries,
      singleAttemptFor: (t) => t.entry.status === 'unreachable',
      hostTimeoutMs: extras.hostTimeoutMs,
      signal,
      onEvent: (e) => {
        reporter.onEvent(e as FleetEvent);
        if (e.type === 'done') extras.onDone?.(e.result);
      },
    });
    // Hosts never started (interrupted) have no progress event: the journal gets them here.
    for (const r of report.results) currentOperation()?.noteResult(r);
    return report;
  } finally {
    reporter.stop();
    // ssh's own append of a new host key that a full disk cut short: cut back to what it was.
    await cutUnfinishedAppend(cli.paths(), knownHostsBefore).catch(() => false);
  }
}

/** Runs a job on the targets through the engine, records results, reports, returns the exit code. */
export async function runFleetCommand<T>(c: FleetCommand<T>): Promise<number> {
  const { cli, opts } = c;
  const json = opts.json === true;
  const record = async (results: readonly HostResult<T>[]) => {
    await c.inventory.recordResults(results, c.onSuccess, c.onAttempt);
    await c.recordMore?.(results);
  };
  const recorder =
    c.record !== false && c.recordAsDone ? new ResultRecorder<T>(record, recordWaitMs(c.targets.length)) : undefined;
  const interrupt = interruptSignal();
  let report: FleetReport<T>;
  try {
    report = await runFleetWithProgress(
      cli,
      c.targets,
      c.job,
      opts,
      interrupt.signal,
      { stream: c.stream, grouped: c.grouped, quiet: c.quiet, ...(c.detail ? { detail: c.detail } : {}) },
      { hostTimeoutMs: c.hostTimeoutMs, onDone: recorder && ((r) => recorder.add(r)) },
    );
  } finally {
    interrupt.dispose();
  }
  // Report first: if the database cannot be written, the run's output is not lost.
  if (json) {
    cli.json(fleetJson(report as FleetReport, c.extraJson as ((r: HostResult) => Record<string, unknown>) | undefined));
  } else {
    c.beforeSummary?.(report);
    if (!c.quiet)
      cli.out(
        renderSummary(
          cli,
          report as FleetReport,
          c.extraColumns as Array<[string, (r: HostResult) => string]> | undefined,
        ),
      );
  }
  if (recorder) await recorder.flush();
  else if (c.record !== false) await record(report.results);
  if (report.cancelled) return ExitCode.interrupted;
  return report.ok ? ExitCode.ok : ExitCode.hostFailed;
}
