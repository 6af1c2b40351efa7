import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { SetupError } from '../core/errors.js';
import type { TillPaths } from '../core/paths.js';
import {
  applyRunRecord,
  computeNextRun,
  scheduleStore,
  type RunRecord,
  type ScheduleFile,
} from '../core/state/schedule.js';
import { runProcess, type ProcessResult } from '../ssh/process.js';
import type { TillInvocation } from './spec.js';
import { systemTimeZone } from './time.js';

/**
 * How a scheduler or the watch daemon starts till: this node and the till script that
 * is running now (bin/till.mjs or the bundle), both absolute and with symlinks
 * resolved, so a unit file keeps working whatever PATH the scheduler has.
 */
export function currentInvocation(
  paths: TillPaths,
  argv1: string | undefined,
  tz: string | undefined = process.env.TZ,
): TillInvocation {
  if (!argv1) throw new SetupError('cannot tell which till script is running (process.argv[1] is empty)');
  let script: string;
  try {
    script = realpathSync(resolve(argv1));
  } catch {
    throw new SetupError(`cannot resolve the running till script ${argv1}`);
  }
  const systemTz = systemTimeZone();
  return {
    node: realpathSync(process.execPath),
    script,
    tillHome: paths.home,
    logsDir: paths.logsDir,
    ...(tz ? { tz } : {}),
    ...(systemTz ? { systemTz } : {}),
    ...(process.env.PATH ? { path: process.env.PATH } : {}),
  };
}

export interface SyncCommand {
  command: string;
  args: string[];
}

/** `till sync --trigger <trigger>` as a child process of this till. */
export function tillSyncCommand(inv: TillInvocation, trigger: string): SyncCommand {
  return { command: inv.node, args: [inv.script, 'sync', '--trigger', trigger] };
}

/** A stand-in sync command (`watch --sync-command`): run as `<path> sync --trigger <trigger>`. */
export function customSyncCommand(path: string, trigger: string): SyncCommand {
  return { command: resolve(path), args: ['sync', '--trigger', trigger] };
}

/** Is schedule.json's next_run due? An unparsable hand edit counts as missing. */
export function dueState(file: ScheduleFile, now: Date): { due: boolean; nextRun: Date | null } {
  const raw = file.sync.next_run;
  const t = raw ? Date.parse(raw) : NaN;
  if (Number.isNaN(t)) return { due: false, nextRun: null };
  return { due: t <= now.getTime(), nextRun: new Date(t) };
}

/** Fills in a missing (or unreadable) next_run from the schedule; returns the next run. */
export async function ensureNextRun(paths: TillPaths, now: Date): Promise<Date> {
  return scheduleStore(paths).update((file) => {
    const state = dueState(file, now);
    if (state.nextRun) return state.nextRun;
    const next = computeNextRun(file.sync, now);
    file.sync.next_run = next.toISOString();
    return next;
  });
}

export interface RecordedRun {
  record: RunRecord;
  /** 'sync' when till sync recorded its own run, 'runner' when this module did. */
  recordedBy: 'sync' | 'runner';
  result: ProcessResult;
}

/**
 * What went wrong, from the child's stderr: its `error:` line when it has one (till
 * prints the error, then a hint), else its last line.
 */
export function errorOf(r: ProcessResult): string {
  if (r.spawnError) return `could not start ${r.command}: ${r.spawnError}`;
  if (r.cancelled) return 'cancelled';
  if (r.timedOut) return 'timed out';
  const lines = r.stderr
    .trim()
    .split('\n')
    // eslint-disable-next-line no-control-regex -- colour codes around `error:`
    .map((l) => l.replace(/\u001b\[[0-9;]*m/g, '').trim())
    .filter(Boolean);
  const error = [...lines].reverse().find((l) => l.startsWith('error: '));
  const last = error ? error.slice('error: '.length) : lines.pop();
  const how = r.signal ? `killed by ${r.signal}` : `exit ${r.exitCode}`;
  return (last ? `${how}: ${last}` : how).slice(0, 500);
}

/**
 * Runs a sync as a child process and makes sure the run is recorded in schedule.json.
 * `till sync` records its own runs; if the child did not (it failed before it could,
 * or it is a stand-in command), the run is recorded here with the same applyRunRecord,
 * its status taken from the exit code. Either way last_run, status, next_run (from
 * now, so missed runs are not replayed), failures in a row and history are updated.
 */
export async function runAndRecord(
  paths: TillPaths,
  cmd: SyncCommand,
  trigger: string,
  opts: { signal?: AbortSignal; onStdout?: (b: Buffer) => void; onStderr?: (b: Buffer) => void } = {},
): Promise<RecordedRun> {
  const store = scheduleStore(paths);
  const before = (await store.read()).sync.last_run ?? null;
  const started = new Date();
  const result = await runProcess(cmd.command, cmd.args, {
    env: { ...process.env, TILL_HOME: paths.home },
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onStdout ? { onStdout: opts.onStdout } : {}),
    ...(opts.onStderr ? { onStderr: opts.onStderr } : {}),
  });
  const finished = new Date();
  return store.update((file) => {
    if ((file.sync.last_run ?? null) !== before) {
      const own = [...(file.history ?? [])].reverse().find((h) => h.started === file.sync.last_run) as
        RunRecord | undefined;
      const record: RunRecord = own ?? {
        started: file.sync.last_run ?? started.toISOString(),
        finished: finished.toISOString(),
        status: (file.sync.status as RunRecord['status']) ?? 'failed',
        duration_ms: finished.getTime() - started.getTime(),
      };
      return { record, recordedBy: 'sync' as const, result };
    }
    const ok = result.exitCode === 0;
    const record: RunRecord = {
      started: started.toISOString(),
      finished: finished.toISOString(),
      status: ok ? 'success' : result.cancelled ? 'cancelled' : 'failed',
      duration_ms: finished.getTime() - started.getTime(),
      trigger,
      error: ok ? null : errorOf(result),
    };
    applyRunRecord(file, record);
    return { record, recordedBy: 'runner' as const, result };
  });
}
