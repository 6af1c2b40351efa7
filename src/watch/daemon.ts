import { TillError, errorMessage } from '../core/errors.js';
import { scheduleStore } from '../core/state/schedule.js';
import type { TillPaths } from '../core/paths.js';
import { dueState, ensureNextRun, runAndRecord, type SyncCommand } from '../schedule/run.js';
import { isRunLocked } from '../core/run-lock.js';
import { stopMasters } from '../ssh/client.js';
import { runProcess } from '../ssh/process.js';
import type { RotatingLog } from './log.js';
import { isWatchProcess, processStartMark, type RecordedWatch } from './pid.js';

/** Re-read schedule.json at least this often, so a due (or hand-edited) next_run starts within a minute. */
export const WATCH_POLL_MS = 30_000;

/** A second `till watch` while one runs: exit 2, like any precondition that is not met. */
export class WatchRunningError extends TillError {
  constructor(pid: number, started: string) {
    super(
      `till watch is already running (pid ${pid}, since ${started})`,
      2,
      'stop it first: till watch --stop (or see: till watch --status)',
    );
  }
}

/** A periodic till command the daemon runs as a child process (host health, host audit). */
export interface WatchTask {
  name: string;
  intervalMs: number;
  command: SyncCommand;
  /** Log each stdout line (`[name] line`) not printed by the previous run: `host audit --quiet` prints one finding a line. */
  logNewLines?: boolean;
  /**
   * After each run: a note for the run's log line and lines to log (`[name] line`):
   * the health task names every host whose state changed.
   */
  afterRun?: () => Promise<{ note?: string; lines: string[] }>;
  /** Before each run; what it returns is logged (`[name] line`). */
  beforeRun?: () => Promise<string | undefined>;
}

/**
 * Something that lives as long as the daemon (the lead wires `--metrics <addr>` here:
 * startMetricsServer). start() resolves once it serves, and returns how to stop it.
 */
export interface WatchService {
  name: string;
  start(log: (message: string) => void): Promise<() => Promise<void>>;
}

export interface WatchOptions {
  paths: TillPaths;
  sync: SyncCommand;
  tasks?: WatchTask[];
  services?: WatchService[];
  log: RotatingLog;
  pollMs?: number;
  pid?: number;
}

export interface WatchState {
  running: boolean;
  pid: number | null;
  started: string | null;
  /** A recorded pid whose process is gone or is another process now (the daemon was killed): it blocks nothing. */
  stale: boolean;
}

export async function watchState(paths: TillPaths): Promise<WatchState> {
  const watch = (await scheduleStore(paths).read()).watch;
  if (!watch) return { running: false, pid: null, started: null, stale: false };
  const alive = await isWatchProcess(watch as RecordedWatch);
  return { running: alive, pid: watch.pid, started: watch.started, stale: !alive };
}

/** Records this daemon in schedule.json, under the lock, unless another live one is there. */
export async function claimWatch(paths: TillPaths, pid: number, now = new Date()): Promise<void> {
  const mark = await processStartMark(pid);
  await scheduleStore(paths).update(async (file) => {
    const w = file.watch;
    if (w && w.pid !== pid && (await isWatchProcess(w as RecordedWatch))) throw new WatchRunningError(w.pid, w.started);
    file.watch = { pid, started: now.toISOString(), ...(mark !== undefined ? { proc_start: mark } : {}) };
  });
}

export async function releaseWatch(paths: TillPaths, pid: number): Promise<void> {
  await scheduleStore(paths).update((file) => {
    if (file.watch?.pid === pid) file.watch = null;
  });
}

/** A till child's reason for failing: its `error:` line (a hint follows it), else its last line. */
export function whyItFailed(stderr: string): string {
  const lines = stderr
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const error = [...lines].reverse().find((l) => l.startsWith('error: '));
  return error !== undefined ? error.slice('error: '.length) : (lines.pop() ?? '');
}

/** Turns a child's output chunks into whole lines for the log. */
function lineWriter(prefix: string, log: RotatingLog) {
  let pending = '';
  return {
    push: (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) log.write(`${prefix} ${l}`);
    },
    flush: () => {
      if (pending !== '') log.write(`${prefix} ${pending}`);
      pending = '';
    },
  };
}

/**
 * The foreground daemon. Every poll (≤ 30 s, sooner when next_run is nearer) it
 * re-reads schedule.json, so a next_run edited by hand is honoured; when next_run is
 * due it runs one sync (a run missed while the machine slept runs once, and the record
 * computes the next run from now); a missing next_run is computed from the schedule.
 * Periodic tasks run as child processes, never two of the same at once; a task whose
 * command does not exist yet ("unknown command") is logged once and dropped.
 * Resolves when `signal` aborts: a running sync is cancelled and recorded, the pid is
 * cleared from schedule.json.
 */
export async function runWatch(opts: WatchOptions, signal: AbortSignal): Promise<void> {
  const { paths, log } = opts;
  const pid = opts.pid ?? process.pid;
  const pollMs = opts.pollMs ?? WATCH_POLL_MS;
  await claimWatch(paths, pid);
  const jobs = new AbortController();
  const running = new Set<Promise<void>>();
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  let wake: () => void = () => undefined;
  let lastReadError = '';
  try {
    log.write(`watch started (pid ${pid}), TILL_HOME=${paths.home}`);
    for (const service of opts.services ?? [])
      stops.push({ name: service.name, stop: await service.start((m) => log.write(`[${service.name}] ${m}`)) });

    const track = (p: Promise<void>) => {
      running.add(p);
      void p.finally(() => {
        running.delete(p);
        wake();
      });
    };
    let syncing = false;
    let busyLogged = false;
    const tasks = (opts.tasks ?? []).map((t) => ({
      ...t,
      nextAt: Date.now(),
      busy: false,
      dropped: false,
      lastLines: new Set<string>(),
    }));

    while (!signal.aborted) {
      const now = new Date();
      let waitMs = pollMs;
      try {
        const file = await scheduleStore(paths).read();
        lastReadError = '';
        let { due, nextRun } = dueState(file, now);
        if (!nextRun) {
          nextRun = await ensureNextRun(paths, now);
          due = nextRun.getTime() <= now.getTime();
          log.write(`next_run was missing or unreadable; next run ${nextRun.toISOString()}`);
        }
        const busy = due && !syncing && (await isRunLocked(paths, 'sync'));
        if (busy && !busyLogged)
          log.write('sync due, but another till sync is running on this TILL_HOME; trying again when it has ended');
        busyLogged = busy;
        if (due && !syncing && !busy) {
          syncing = true;
          log.write(
            `sync due (next_run ${nextRun.toISOString()}): running ${[opts.sync.command, ...opts.sync.args].join(' ')}`,
          );
          const out = lineWriter('[sync]', log);
          const err = lineWriter('[sync]', log);
          track(
            runAndRecord(paths, opts.sync, 'watch', { signal: jobs.signal, onStdout: out.push, onStderr: err.push })
              .then(async (r) => {
                out.flush();
                err.flush();
                const next = (await scheduleStore(paths).read()).sync.next_run;
                const recorded = r.recordedBy === 'sync' ? 'recorded by till sync' : 'recorded by watch';
                log.write(
                  `sync ${r.record.status}${r.record.error ? ` (${r.record.error})` : ''}, ${recorded}; next run ${next}`,
                );
              })
              .catch((e: unknown) => {
                log.write(`sync could not be recorded: ${errorMessage(e)}`);
              })
              .finally(() => {
                syncing = false;
              }),
          );
        } else if (!due) {
          waitMs = Math.min(waitMs, Math.max(nextRun.getTime() - now.getTime(), 0) + 50);
        } else if (busy) {
          waitMs = Math.min(waitMs, 2_000); // start as soon as the other sync has ended
        }
      } catch (e) {
        const message = errorMessage(e);
        if (message !== lastReadError) log.write(`cannot read the schedule: ${message}`);
        lastReadError = message;
      }

      for (const task of tasks) {
        if (task.dropped || task.busy) continue;
        if (Date.now() >= task.nextAt) {
          task.busy = true;
          task.nextAt = Date.now() + task.intervalMs;
          const before = task.beforeRun
            ? task.beforeRun().then(
                (note) => void (note && log.write(`[${task.name}] ${note}`)),
                (e: unknown) => void log.write(`[${task.name}] ${errorMessage(e)}`),
              )
            : Promise.resolve();
          track(
            before
              .then(() =>
                runProcess(task.command.command, task.command.args, {
                  env: { ...process.env, TILL_HOME: paths.home },
                  signal: jobs.signal,
                }),
              )
              .then(async (r) => {
                task.busy = false;
                if (r.cancelled) return;
                if (r.exitCode !== 0 && /unknown command/i.test(r.stderr)) {
                  task.dropped = true;
                  log.write(
                    `${task.name}: this till has no such command yet (${r.stderr.trim().split('\n')[0]}); not running it again`,
                  );
                  return;
                }
                if (task.logNewLines) {
                  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
                  for (const l of lines) if (!task.lastLines.has(l)) log.write(`[${task.name}] ${l.slice(0, 1000)}`);
                  task.lastLines = new Set(lines);
                }
                const last = whyItFailed(r.stderr).slice(0, 300);
                const tail = r.exitCode === 0 || last === '' ? '' : `: ${last}`;
                const after = await task.afterRun?.().catch((e: unknown) => ({
                  note: `cannot read the result: ${errorMessage(e)}`,
                  lines: [],
                }));
                const note = after?.note ? ` (${after.note})` : '';
                log.write(`${task.name} exit ${r.exitCode ?? r.signal} in ${r.durationMs} ms${note}${tail}`);
                for (const l of after?.lines ?? []) log.write(`[${task.name}] ${l}`);
              })
              .catch((e: unknown) => {
                task.busy = false;
                log.write(`${task.name}: ${errorMessage(e)}`);
              }),
          );
        }
        if (!task.busy) waitMs = Math.min(waitMs, Math.max(task.nextAt - Date.now(), 0) + 50);
      }

      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(waitMs, 100));
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          wake = () => undefined;
          resolve();
        }
        wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
    log.write(`stopping: ${running.size ? `cancelling ${running.size} running job(s)` : 'nothing running'}`);
  } finally {
    jobs.abort();
    await Promise.allSettled([...running]);
    for (const s of stops.reverse())
      await s.stop().catch((e: unknown) => log.write(`[${s.name}] stop failed: ${errorMessage(e)}`));
    // The ssh masters its runs opened would outlive it by ControlPersist: nothing is left running.
    const masters = await stopMasters(paths);
    if (masters > 0) log.write(`stopped ${masters} ssh master connection(s)`);
    await releaseWatch(paths, pid).catch((e: unknown) =>
      log.write(`could not clear the pid from schedule.json: ${errorMessage(e)}`),
    );
    log.write('watch stopped');
  }
}
