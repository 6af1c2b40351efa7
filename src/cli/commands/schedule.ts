import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { Option } from 'commander';
import { ExitCode, FailedError, TillError, UsageError } from '../../core/errors.js';
import { isRunLocked } from '../../core/run-lock.js';
import { computeNextRun, scheduleStore, type RunRecord } from '../../core/state/schedule.js';
import {
  applyPlan,
  checkNotOwnedElsewhere,
  detectInstalled,
  detectScheduler,
  lingerWarning,
  parseSchedulerKind,
  planDisable,
  planEnable,
  readCrontab,
  type Plan,
  type SchedulerKind,
  type UserContext,
} from '../../schedule/install.js';
import {
  currentInvocation,
  customSyncCommand,
  dueState,
  ensureNextRun,
  runAndRecord,
  tillSyncCommand,
} from '../../schedule/run.js';
import {
  applyCadence,
  cadenceOf,
  describeCadence,
  parseDailyAt,
  parseIntervalHours,
  type Cadence,
} from '../../schedule/spec.js';
import { formatLocal, formatUtc, zoneFromTz } from '../../schedule/time.js';
import { watchState } from '../../watch/daemon.js';
import { rotateIfOver, SYNC_LOG_MAX_BYTES } from '../../watch/log.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { triggerOption } from '../options.js';
import { writeFd } from '../output/fd.js';
import { renderTable } from '../output/table.js';
import { formatDuration, printable } from '../output/terminal.js';

export function userContext(): UserContext {
  return { userHome: homedir(), env: process.env, uid: process.getuid?.() ?? 0 };
}

function whenText(iso: string | null | undefined): string {
  if (!iso) return 'not scheduled';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? `unreadable (${iso})` : `${formatLocal(d)} (${formatUtc(d)})`;
}

function planJson(plan: Plan) {
  return {
    scheduler: plan.scheduler,
    files: plan.write.map((f) => ({ path: f.path, content: f.content })),
    remove: plan.remove,
    ...(plan.removeDirs?.length ? { remove_dirs: plan.removeDirs } : {}),
    ...(plan.crontab ? { crontab: plan.crontab } : {}),
    commands: [...plan.before, ...plan.after].map((s) => s.run),
  };
}

function renderPlan(plan: Plan, verb: 'install' | 'remove'): string {
  const lines: string[] = [`would ${verb} the ${plan.scheduler} scheduler:`];
  for (const step of plan.before)
    lines.push(`run: ${step.run.join(' ')}${step.fallback ? `  (or: ${step.fallback.join(' ')})` : ''}`);
  for (const f of plan.write) lines.push(`--- write ${f.path}`, f.content.trimEnd(), '---');
  for (const f of plan.remove) lines.push(`remove: ${f}`);
  for (const d of plan.removeDirs ?? []) lines.push(`remove if empty (enable created it): ${d}/`);
  if (plan.crontab) {
    lines.push(
      plan.crontab.after === null
        ? "--- crontab would be removed (till's line was its only content)"
        : '--- crontab would become:',
      ...(plan.crontab.after === null ? [] : [plan.crontab.after.trimEnd(), '---']),
    );
  }
  for (const step of plan.after)
    lines.push(`run: ${step.run.join(' ')}${step.fallback ? `  (or: ${step.fallback.join(' ')})` : ''}`);
  return lines.join('\n');
}

export function registerScheduleCommands(program: TillCommand, cli: Cli): void {
  const schedule = program
    .command('schedule')
    .description(
      'when till sync runs: show, set, enable/disable the platform scheduler (systemd, launchd, cron), run now',
    )
    .example('till schedule set --daily-at 03:30 && till schedule enable', 'sync every night at 03:30')
    .example('till schedule show', 'when the next sync runs, and how the last ones went');
  const store = () => scheduleStore(cli.paths());

  schedule
    .command('show')
    .description(
      'print the schedule, next run (local and UTC), installed scheduler, watch daemon, failures and recent runs',
    )
    .example('till schedule show', 'next run, scheduler, daemon, last runs')
    .example('till schedule show --json', 'as JSON')
    .option('--json', 'print it as one JSON document')
    .action(async (opts: { json?: boolean }) => {
      zoneFromTz(); // local times are shown: an unknown TZ is refused, not taken as UTC
      const paths = cli.paths();
      const file = await store().read();
      const sync = file.sync as typeof file.sync & { consecutive_failures?: number; last_error?: string | null };
      const cadence = cadenceOf(sync);
      const installed = await detectInstalled(paths.home, userContext());
      const watch = await watchState(paths);
      const history = [...(file.history ?? [])].reverse();
      const next = sync.next_run ? new Date(sync.next_run) : null;
      if (opts.json) {
        cli.json({
          schedule: {
            enabled: sync.enabled,
            daily_at: sync.daily_at ?? null,
            interval_hours: sync.interval_hours ?? null,
            description: describeCadence(cadence),
          },
          next_run: sync.next_run ?? null,
          next_run_local: next && !Number.isNaN(next.getTime()) ? formatLocal(next) : null,
          last_run: sync.last_run ?? null,
          status: sync.status ?? null,
          consecutive_failures: sync.consecutive_failures ?? 0,
          last_error: sync.last_error ?? null,
          schedulers: installed,
          watch,
          history,
        });
        return;
      }
      const rows: Array<[string, string]> = [
        [
          'schedule',
          `${describeCadence(cadence)}${sync.enabled || watch.running ? '' : ' (not enabled: till schedule enable, or till watch)'}`,
        ],
        ['next run', whenText(sync.next_run)],
        [
          'scheduler',
          installed.length
            ? installed.map((i) => `${i.scheduler} (${i.detail}; ${i.locations.join(', ')})`).join('; ')
            : 'none installed',
        ],
        [
          'watch',
          watch.running
            ? `running (pid ${watch.pid}, since ${watch.started})`
            : watch.stale
              ? `not running (stale pid ${watch.pid} recorded)`
              : 'not running',
        ],
        ['last run', sync.last_run ? `${whenText(sync.last_run)}: ${sync.status ?? '?'}` : 'never'],
        ['failures', `${sync.consecutive_failures ?? 0} in a row`],
        ['last error', sync.last_error ?? '-'],
      ];
      const width = Math.max(...rows.map(([k]) => k.length));
      // The last error may quote a host: shown, not obeyed.
      cli.out(rows.map(([k, v]) => `${k.padEnd(width)}  ${printable(v)}`).join('\n'));
      if (history.length) {
        cli.out(`\nlast runs (newest first, ${history.length} kept):`);
        cli.out(
          renderTable(
            ['STARTED', 'STATUS', 'TRIGGER', 'DURATION', 'ERROR'],
            history.map((h) => {
              const r = h as RunRecord;
              return [
                h.started,
                h.status,
                r.trigger ?? '-',
                h.duration_ms !== undefined ? formatDuration(h.duration_ms) : '-',
                r.error ?? '',
              ];
            }),
          ),
        );
      }
    });

  schedule
    .command('set')
    .description('set when till sync runs: --daily-at HH:MM (local time) or --interval-hours N; recomputes next_run')
    .example('till schedule set --daily-at 03:30', 'every day at 03:30 local time')
    .example('till schedule set --interval-hours 6', 'every 6 hours')
    .option('--daily-at <HH:MM>', 'every day at this local time (TZ honoured), 00:00–23:59')
    .option('--interval-hours <N>', 'every N hours (1–8760)')
    .option('--json', 'print the new sync settings as JSON')
    .action(async (opts: { dailyAt?: string; intervalHours?: string; json?: boolean }) => {
      if ((opts.dailyAt === undefined) === (opts.intervalHours === undefined)) {
        throw new UsageError('give exactly one of --daily-at HH:MM or --interval-hours N');
      }
      zoneFromTz();
      const cadence: Cadence =
        opts.dailyAt !== undefined
          ? { kind: 'daily', ...parseDailyAt(opts.dailyAt) }
          : { kind: 'interval', hours: parseIntervalHours(opts.intervalHours!) };
      const now = new Date();
      const sync = await store().update((file) => {
        applyCadence(file.sync, cadence);
        file.sync.next_run = computeNextRun(file.sync, now).toISOString();
        return file.sync;
      });
      const installed = await detectInstalled(cli.paths().home, userContext());
      if (opts.json) cli.json({ sync, installed_schedulers: installed.map((i) => i.scheduler) });
      else cli.err(`schedule: ${describeCadence(cadence)}; next run ${whenText(sync.next_run)}`);
      for (const i of installed) {
        cli.err(
          `the installed ${i.scheduler} scheduler still has the old times: run 'till schedule enable --scheduler ${i.scheduler}' to update it`,
        );
      }
    });

  schedule
    .command('enable')
    .description(
      'install the platform scheduler for this user (systemd user timer, launchd agent or a crontab line) and report which',
    )
    .example('till schedule enable', 'install the systemd timer, launchd agent or crontab line')
    .example('till schedule enable --scheduler cron --dry-run', 'show what cron would get; change nothing')
    .addOption(
      new Option('--scheduler <kind>', 'force one instead of detecting it').choices(['systemd', 'launchd', 'cron']),
    )
    .option('--dry-run', 'print the files and commands it would install; change nothing')
    .option('--json', 'print what was (or would be) installed as JSON')
    .action(async (opts: { scheduler?: string; dryRun?: boolean; json?: boolean }) => {
      zoneFromTz(); // the unit or crontab line carries TZ
      const paths = cli.paths();
      const user = userContext();
      const file = await store().read();
      const cadence = cadenceOf(file.sync);
      const inv = currentInvocation(paths, process.argv[1]);
      const kind: SchedulerKind = opts.scheduler
        ? parseSchedulerKind(opts.scheduler)
        : await detectScheduler(process.platform, user);
      await checkNotOwnedElsewhere(kind, paths.home, user);
      const crontab = kind === 'cron' ? await readCrontab() : null;
      const plan = planEnable(kind, inv, cadence, user, crontab);
      if (opts.dryRun) {
        if (opts.json) cli.json({ dryRun: true, ...planJson(plan) });
        else cli.out(renderPlan(plan, 'install'));
        return;
      }
      await mkdir(paths.logsDir, { recursive: true, mode: 0o700 });
      const applied = await applyPlan(plan, 'enable');
      if (kind === 'systemd') {
        const linger = await lingerWarning(userInfo().username, user);
        if (linger) applied.warnings.push(linger);
      }
      const sync = await store().update((f) => {
        f.sync.enabled = true;
        // Remember the directories made for the files, so disable leaves none behind (kept across re-enables).
        const had = f.installed?.[kind]?.created_dirs ?? [];
        if (applied.createdDirs.length || had.length)
          f.installed = { ...f.installed, [kind]: { created_dirs: [...new Set([...had, ...applied.createdDirs])] } };
        if (!dueState(f, new Date()).nextRun) f.sync.next_run = computeNextRun(f.sync, new Date()).toISOString();
        return f.sync;
      });
      const others = (await detectInstalled(paths.home, user)).filter((i) => i.scheduler !== kind);
      if (opts.json) {
        cli.json({
          dryRun: false,
          ...planJson(plan),
          ran: applied.ran,
          warnings: applied.warnings,
          next_run: sync.next_run,
        });
      } else {
        const where = plan.write.map((f) => f.path).join(', ') || 'crontab';
        cli.err(
          `installed the ${kind} scheduler (${where}): ${describeCadence(cadence)}, logs in ${paths.logsDir}/sync.log`,
        );
        cli.err(`next run ${whenText(sync.next_run)}`);
        for (const w of applied.warnings) cli.err(`warning: ${w}`);
      }
      for (const o of others)
        cli.err(
          `warning: the ${o.scheduler} scheduler is installed too, so syncs would run twice; remove it: till schedule disable --scheduler ${o.scheduler}`,
        );
    });

  schedule
    .command('disable')
    .description('remove exactly what enable installed (every scheduler found for this TILL_HOME, or the one named)')
    .example('till schedule disable', 'remove what enable installed')
    .addOption(new Option('--scheduler <kind>', 'remove only this one').choices(['systemd', 'launchd', 'cron']))
    .option('--dry-run', 'print what it would remove; change nothing')
    .option('--json', 'print what was (or would be) removed as JSON')
    .action(async (opts: { scheduler?: string; dryRun?: boolean; json?: boolean }) => {
      const paths = cli.paths();
      const user = userContext();
      // Read (and so check) schedule.json before anything is removed: an unreadable one stops here, with nothing changed.
      const file = await store().read();
      const found = (await detectInstalled(paths.home, user)).filter(
        (i) => !opts.scheduler || i.scheduler === opts.scheduler,
      );
      const plans: Plan[] = [];
      for (const f of found) {
        plans.push(
          planDisable(
            f,
            user,
            f.scheduler === 'cron' ? await readCrontab() : null,
            paths.home,
            file.installed?.[f.scheduler]?.created_dirs ?? [],
          ),
        );
      }
      if (opts.dryRun) {
        if (opts.json) cli.json({ dryRun: true, removed: plans.map(planJson) });
        else cli.out(plans.length ? plans.map((p) => renderPlan(p, 'remove')).join('\n\n') : 'nothing to remove');
        return;
      }
      const results = [];
      for (const plan of plans) results.push({ ...planJson(plan), ...(await applyPlan(plan, 'disable')) });
      if (!opts.scheduler || found.length) {
        await store().update((f) => {
          f.sync.enabled = false;
          for (const p of plans) delete f.installed?.[p.scheduler];
        });
      }
      if (opts.json) {
        cli.json({ dryRun: false, removed: results });
        return;
      }
      if (plans.length === 0)
        cli.err(
          `no till scheduler is installed for TILL_HOME=${paths.home}${opts.scheduler ? ` (looked for ${opts.scheduler})` : ''}`,
        );
      for (const r of results) {
        cli.err(
          `removed the ${r.scheduler} scheduler (${[...r.remove, ...(r.crontab ? ['crontab line'] : []), ...(r.remove_dirs ?? []).map((d) => `${d}/ if empty`)].join(', ')})`,
        );
        for (const w of r.warnings) cli.err(`warning: ${w}`);
      }
    });

  schedule
    .command('run')
    .description('run till sync now and record it exactly as a scheduled run (exit 0 success, 1 failure)')
    .example('till schedule run', 'sync now, recorded like a scheduled run')
    .example('till schedule run --if-due', 'only if the next run is due')
    .option(
      '--if-due',
      "only when schedule.json's next_run is due (what cron's hourly line runs); otherwise exit 0 quietly",
    )
    .option('--trigger <name>', 'the trigger recorded with the run', triggerOption, 'schedule-run')
    .addOption(
      new Option(
        '--sync-command <path>',
        'run <path> sync --trigger <name> instead of this till (for tests and wrappers)',
      ).hideHelp(),
    )
    .option('--json', 'print the recorded run as JSON (the sync output then goes to stderr)')
    .action(async (opts: { ifDue?: boolean; trigger: string; syncCommand?: string; json?: boolean }) => {
      const paths = cli.paths();
      // The scheduler appends this run's output to sync.log: keep it bounded, as watch.log is.
      rotateIfOver(join(paths.logsDir, 'sync.log'), SYNC_LOG_MAX_BYTES);
      if (opts.ifDue) {
        const now = new Date();
        const state = dueState(await store().read(), now);
        const next = state.nextRun ?? (await ensureNextRun(paths, now));
        if (next.getTime() > now.getTime()) {
          if (opts.json) cli.json({ ran: false, next_run: next.toISOString() });
          return;
        }
      }
      // A sync that is still running (a long one, or one started by hand) is not a failure
      // of this run: nothing is started or recorded; the next check tries again.
      if (await isRunLocked(paths, 'sync')) {
        if (opts.json) cli.json({ ran: false, running: true });
        else cli.err('another till sync is running on this TILL_HOME: nothing started, nothing recorded');
        return;
      }
      const cmd = opts.syncCommand
        ? customSyncCommand(opts.syncCommand, opts.trigger)
        : tillSyncCommand(currentInvocation(paths, process.argv[1]), opts.trigger);
      const toStdout = (b: Buffer) => writeFd(opts.json ? 2 : 1, b);
      const toStderr = (b: Buffer) => writeFd(2, b);
      // Ctrl-C / SIGTERM: stop the sync, still record it (as cancelled), exit 130.
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let r;
      try {
        r = await runAndRecord(paths, cmd, opts.trigger, {
          signal: stop.signal,
          onStdout: toStdout,
          onStderr: toStderr,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      const next = (await store().read()).sync.next_run;
      if (opts.json) cli.json({ ran: true, run: r.record, recorded_by: r.recordedBy, next_run: next ?? null });
      else cli.err(`sync ${r.record.status}${r.record.error ? `: ${r.record.error}` : ''}; next run ${whenText(next)}`);
      if (stop.signal.aborted) throw new TillError('', ExitCode.interrupted);
      // A sync stopped by a state file (exit 4) says so in the exit code too, as `till sync` would.
      if (r.record.status !== 'success')
        throw r.result.exitCode === ExitCode.state ? new TillError('', ExitCode.state) : new FailedError('');
    });
}
