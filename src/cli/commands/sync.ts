import { homedir } from 'node:os';
import { errorMessage, ExitCode, SetupError, UsageError } from '../../core/errors.js';
import type { FleetReport, Target } from '../../core/fanout.js';
import { installationsStore, listInstallations } from '../../core/installations.js';
import { Inventory } from '../../inventory/inventory.js';
import { checkControlPath } from '../../core/paths.js';
import { withRunLock } from '../../core/run-lock.js';
import { applyRunRecord, scheduleStore } from '../../core/state/schedule.js';
import {
  buildRunRecord,
  hostSyncJob,
  localFailed,
  syncInstallations,
  type HostSyncData,
  type LocalSyncResult,
} from '../../ops/sync.js';
import { gateDeployRoots } from '../../ops/sync-local.js';
import type { Cli } from '../context.js';
import {
  addFleetOptions,
  hasTargets,
  interruptSignal,
  listHostsIfAsked,
  runFleetWithProgress,
  type FleetOpts,
} from '../fleet.js';
import type { TillCommand } from '../help.js';
import { triggerOption } from '../options.js';
import { fleetJson, renderSummary } from '../output/reporter.js';
import { renderTable } from '../output/table.js';
import { formatDuration, Painted } from '../output/terminal.js';
import { hostInstallationNotes, localSummary, syncTargets } from './remote.js';
import { plural } from '../../core/format.js';

interface SyncOpts extends FleetOpts {
  localOnly?: boolean;
  hostsOnly?: boolean;
  dryRun?: boolean;
  trigger: string;
}

const short = (sha: string | null) => (sha ? sha.slice(0, 10) : '-');

function change(r: LocalSyncResult): string {
  if (r.status === 'updated' || (r.status === 'would-update' && r.from !== r.to))
    return `${short(r.from)}..${short(r.to)}${r.behind ? ` (${plural(r.behind, 'commit')})` : ''}`;
  return short(r.from);
}

function renderLocal(cli: Cli, results: readonly LocalSyncResult[]): string {
  const c = cli.stdoutColor;
  const paint = (s: LocalSyncResult['status']) =>
    s === 'failed' ? c.red(s) : s === 'skipped' ? c.yellow(s) : s === 'updated' ? c.green(s) : s;
  return renderTable(
    ['INSTALLATION', 'RESULT', 'COMMIT', 'BRANCH', 'DETAIL'],
    results.map((r) => [
      r.name,
      new Painted(paint(r.status)),
      change(r),
      r.branch ? `${r.branch}${r.upstream ? ` -> ${r.upstream}` : ''}` : '-',
      r.reason ?? '',
    ]),
  );
}

export function registerSyncCommand(program: TillCommand, cli: Cli): void {
  addFleetOptions(
    program
      .command('sync')
      .description(
        "fast-forward local git installations (git pull --ff-only; dirty, diverged or detached ones are skipped), then run each set-up host's own `till sync --local-only` in parallel; records the run in schedule.json",
      )
      .example('till sync', 'pull local checkouts, then sync every set-up host')
      .example('till sync --group web --dry-run', 'what would be pulled, for group web; change nothing')
      .option('--local-only', 'only the local installations (what a host runs; needs no host database)')
      .option('--hosts-only', 'only the hosts')
      .option('-n, --dry-run', 'report what would be pulled; change no checkout and no host, record nothing')
      .option(
        '--trigger <name>',
        'what started this run, recorded in the history (manual, timer, watch…)',
        triggerOption,
        'manual',
      ),
  ).action(async (patterns: string[], opts: SyncOpts) => {
    if (opts.localOnly && opts.hostsOnly) throw new UsageError('--local-only and --hosts-only exclude each other');
    const hostSelection = hasTargets(patterns, opts) || opts.limit !== undefined;
    if (opts.localOnly && hostSelection) throw new UsageError('--local-only takes no host targets');
    const paths = cli.paths();
    const dryRun = opts.dryRun === true;
    const json = opts.json === true;
    if (opts.listHosts) {
      // The hosts the run would sync, before its lock is taken or anything is contacted.
      let targets: Target[] = [];
      if (!opts.localOnly) {
        const inventory = new Inventory(paths);
        const known = hostSelection || opts.hostsOnly || (await inventory.store.exists());
        if (known) targets = syncTargets(cli, await inventory.read(), patterns, opts);
      }
      listHostsIfAsked(cli, targets, opts);
      return;
    }
    // One sync at a time per TILL_HOME (two on one checkout: git fails on index.lock); a dry run changes nothing.
    const run = async (): Promise<void> => {
      const started = new Date();
      // The hosts are resolved before anything changes: a mistyped target, an unknown
      // group or an unreadable database stops the run with no checkout pulled.
      let inventory: Inventory | null = null;
      let targets: Target[] = [];
      if (!opts.localOnly) {
        checkControlPath(paths);
        inventory = new Inventory(paths);
        let db;
        try {
          db = await inventory.read();
        } catch (err) {
          if (!(err instanceof SetupError) || hostSelection || opts.hostsOnly) throw err;
          inventory = null;
          if (!json) cli.err('no host database here (till host init); syncing local installations only');
        }
        if (db) {
          targets = syncTargets(cli, db, patterns, opts);
          if (targets.length === 0 && !json) cli.err('no host has till set up; no hosts to sync');
        }
      }
      const list = opts.hostsOnly ? null : listInstallations(await installationsStore(paths).read());
      // And the run's record must be writable before there is a run to record.
      if (!dryRun) await scheduleStore(paths).read();

      const interrupt = interruptSignal();
      let local: LocalSyncResult[] | null = null;
      let hosts: FleetReport<HostSyncData> | null = null;
      // Once a checkout may have changed, an error still records the run and prints what was done.
      let broken: unknown;
      try {
        if (list)
          local = await syncInstallations(list, {
            dryRun,
            signal: interrupt.signal,
            // A host's deploy roots hold uploads, never checkouts to pull (ops/sync-local.ts).
            deployRoots: gateDeployRoots(paths.home, homedir()),
            onHost: opts.trigger === 'remote',
          });
        if (inventory && targets.length > 0 && !interrupt.signal.aborted) {
          const job = hostSyncJob(paths, {
            dryRun,
            connectTimeout: opts.connectTimeout,
            timeoutMs: opts.timeout && opts.timeout * 1000,
          });
          const report = await runFleetWithProgress(cli, targets, () => job, opts, interrupt.signal);
          hosts = report;
          // A dry run leaves the database alone: no last_sync, no failure counts.
          if (!dryRun) {
            const now = new Date().toISOString();
            await inventory.recordResults(report.results, (entry) => void (entry.last_sync = now));
          }
        }
      } catch (err) {
        if (local === null && hosts === null) throw err;
        broken = err;
      } finally {
        interrupt.dispose();
      }

      const cancelled = interrupt.signal.aborted;
      const finished = new Date();
      const record = buildRunRecord({
        started,
        finished,
        trigger: opts.trigger,
        local,
        hosts: hosts?.summary ?? null,
        cancelled,
        error: broken === undefined ? undefined : errorMessage(broken),
      });
      let recorded = false;
      if (!dryRun) {
        try {
          await scheduleStore(paths).update((f) => applyRunRecord(f, record));
          recorded = true;
        } catch (err) {
          broken ??= err; // reported below, after the results it could not record
        }
      }
      const localOk = local === null || localFailed(local).length === 0;
      const ok = localOk && (hosts === null || hosts.ok) && !cancelled && broken === undefined;

      if (json) {
        cli.json({
          ok,
          dryRun,
          status: record.status,
          local,
          hosts: hosts
            ? fleetJson(hosts, (r) => ({ local: (r.data as HostSyncData | undefined)?.local ?? null }))
            : null,
          recorded,
          durationMs: record.duration_ms,
        });
      } else {
        if (local !== null) {
          if (local.length === 0) cli.err('no local installations registered (till installation add <path>)');
          else cli.out(renderLocal(cli, local));
        }
        const notes = hosts ? hostInstallationNotes(hosts.results) : [];
        if (notes.length > 0) cli.out(notes.join('\n'));
        if (hosts)
          cli.out(
            renderSummary(cli, hosts as FleetReport, [
              ['INSTALLATIONS', (r) => localSummary(r.data as HostSyncData | undefined)],
            ]),
          );
        const what = dryRun
          ? 'dry run: nothing changed, nothing recorded'
          : recorded
            ? `recorded in ${paths.scheduleFile}`
            : 'not recorded';
        cli.err(
          `sync ${record.status} in ${formatDuration(record.duration_ms)}${record.error ? ` (${record.error})` : ''}; ${what}`,
        );
      }
      cli.exitCode = cancelled ? ExitCode.interrupted : ok ? ExitCode.ok : ExitCode.hostFailed;
      if (broken !== undefined) throw broken;
    };
    if (dryRun) await run();
    else await withRunLock(paths, 'sync', 'till sync', run);
  });
}
