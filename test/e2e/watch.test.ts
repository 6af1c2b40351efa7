/**
 * `till watch` and `till schedule run` as a person runs them, starting the real
 * `till sync` of the built CLI. The TILL_HOME has a host database but no hosts and no
 * installations, so a sync is quick and succeeds (and records itself); a corrupt
 * hosts-local.json makes it fail before it can record anything, which shows the runner
 * recording the failure. Syncs against real sshd hosts, and cancelling one that hangs,
 * are in watch-sync.test.ts. Every wait polls a file or a command; no sleeps.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import lockfile from 'proper-lockfile';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncSettings } from '../../src/core/state/schedule.js';
import { formatLocal } from '../../src/schedule/time.js';
import { startLab } from '../lab/lab.js';
import { closeMasters, tempHome, till, TILL_BIN, tillOk, waitUntil, type TillRun } from '../lab/till.js';

const TZ = 'America/New_York';
const env = { TZ };
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** schedule.json as these tests read and hand-edit it. */
interface Sched {
  sync: SyncSettings & { next_run: string; consecutive_failures?: number; last_error?: string | null };
  history: Array<{
    started: string;
    finished: string;
    status: string;
    trigger?: string;
    error?: string | null;
    hosts?: { total: number };
  }>;
  watch?: { pid: number; started: string; proc_start?: string } | null;
}

async function setup(): Promise<{
  home: string;
  schedule: () => Sched;
  runs: () => number;
  edit: (f: (s: Sched) => void) => void;
  breakHosts: () => void;
  fixHosts: () => void;
}> {
  const { home, cleanup } = tempHome();
  cleanups.push(cleanup);
  await tillOk(home, ['host', 'init'], { env });
  const file = join(home, 'schedule.json');
  const hostsFile = join(home, 'hosts-local.json');
  const hosts = existsSync(hostsFile) ? readFileSync(hostsFile, 'utf8') : undefined;
  const schedule = (): Sched => JSON.parse(readFileSync(file, 'utf8'));
  return {
    home,
    schedule,
    runs: () => (existsSync(file) ? (schedule().history ?? []).length : 0),
    edit: (f) => {
      const s = JSON.parse(readFileSync(file, 'utf8'));
      f(s);
      writeFileSync(file, JSON.stringify(s, null, 2));
    },
    breakHosts: () => writeFileSync(hostsFile, '{bad'),
    fixHosts: () => (hosts === undefined ? writeFileSync(hostsFile, '') : writeFileSync(hostsFile, hosts)),
  };
}

function startWatch(home: string, args: string[] = []): { child: () => ChildProcess; done: Promise<TillRun> } {
  let child: ChildProcess | undefined;
  const done = till(home, ['watch', ...args], { env, timeoutMs: 180_000, onSpawn: (c) => (child = c) });
  return { child: () => child!, done };
}

/** A live process that is not till watch (a reused pid looks like this). */
function otherProcess(): ChildProcess {
  const p = spawn('sleep', ['300'], { stdio: 'ignore' });
  cleanups.push(() => p.kill('SIGKILL'));
  return p;
}

const alive = (pid: number) => spawnSync('kill', ['-0', String(pid)]).status === 0;

describe('till watch', { timeout: 240_000 }, () => {
  it('runs one real sync when a hand-edited next_run is due, records it, computes the next run, exits 0 on SIGTERM', async () => {
    const t = await setup();
    await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
    t.edit((s) => (s.sync.next_run = new Date(Date.now() + 3_000).toISOString()));
    const w = startWatch(t.home);
    await waitUntil(() => t.schedule().watch?.pid === w.child().pid, 90_000, 'watch recorded in schedule.json');
    expect(t.schedule().watch!.proc_start).toMatch(/\S/);

    const second = await till(t.home, ['watch'], { env });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/already running \(pid \d+/);
    expect((await till(t.home, ['watch', '--status'], { env })).code).toBe(0);
    const status = JSON.parse((await tillOk(t.home, ['watch', '--status', '--json'], { env })).stdout);
    expect(status).toMatchObject({ running: true, pid: w.child().pid, stale: false });
    // show, while the watch runs: no "not enabled" advice, the watch named.
    const showing = (await tillOk(t.home, ['schedule', 'show'], { env })).stdout;
    expect(showing).toMatch(/^schedule\s+daily at 03:00 \(local time\)$/m);
    expect(showing).toMatch(new RegExp(`^watch\\s+running \\(pid ${w.child().pid}, since `, 'm'));

    await waitUntil(() => t.runs() === 1, 90_000, 'the sync is recorded');
    const s = t.schedule();
    expect(s.history[0]).toMatchObject({ status: 'success', trigger: 'watch', error: null, hosts: { total: 0 } });
    expect(s.sync).toMatchObject({ status: 'success', last_run: s.history[0]!.started, consecutive_failures: 0 });
    // The next 03:00 in the watch's TZ after the run (the zone is read here, not set: process.env.TZ
    // changed at run time would not reach a worker thread's clock).
    const next = new Date(s.sync.next_run);
    const finished = new Date(s.history[0]!.finished);
    expect(formatLocal(next, TZ)).toMatch(/ 03:00 America\/New_York$/);
    expect(next.getTime()).toBeGreaterThan(finished.getTime());
    expect(next.getTime() - finished.getTime()).toBeLessThanOrEqual(25 * 3_600_000);
    expect(next.getTime()).toBeGreaterThan(Date.now());

    w.child().kill('SIGTERM');
    const r = await w.done;
    expect(r.code).toBe(0);
    expect(t.schedule().watch ?? null).toBeNull();
    expect(t.runs()).toBe(1);
    const status2 = await till(t.home, ['watch', '--status'], { env });
    expect(status2.code).toBe(3);
    const log = readFileSync(join(t.home, 'logs', 'watch.log'), 'utf8');
    expect(log).toMatch(/sync success, recorded by till sync; next run /);
    expect(log).toMatch(/\[sync\] sync success in /);
    expect(log).toMatch(/watch stopped/);
  });

  it('waits while another till sync runs instead of recording a failure, then runs the due sync', async () => {
    const t = await setup();
    await tillOk(t.home, ['schedule', 'set', '--interval-hours', '6'], { env });
    t.edit((s) => (s.sync.next_run = new Date(Date.now() - 60_000).toISOString()));
    mkdirSync(join(t.home, 'state'), { recursive: true });
    const release = await lockfile.lock(join(t.home, 'state', 'sync.run'), {
      realpath: false,
      stale: 30_000,
      update: 10_000,
    });
    let released = false;
    try {
      const w = startWatch(t.home);
      const logFile = join(t.home, 'logs', 'watch.log');
      await waitUntil(
        () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('another till sync is running'),
        90_000,
        'the watch to see the running sync',
      );
      // So does a scheduler's `schedule run`: nothing started, nothing recorded, exit 0.
      const r = await tillOk(t.home, ['schedule', 'run', '--trigger', 'cron', '--json'], { env });
      expect(JSON.parse(r.stdout)).toEqual({ ran: false, running: true });
      expect(t.runs()).toBe(0);
      await release();
      released = true;
      await waitUntil(() => t.runs() === 1, 90_000, 'the due sync after the other one ended');
      expect(t.schedule().history[0]).toMatchObject({ status: 'success', trigger: 'watch' });
      w.child().kill('SIGTERM');
      expect((await w.done).code).toBe(0);
    } finally {
      if (!released) await release();
    }
  });

  it('runs a run missed during downtime once, then schedules from now', async () => {
    const t = await setup();
    await tillOk(t.home, ['schedule', 'set', '--interval-hours', '6'], { env });
    t.edit((s) => (s.sync.next_run = new Date(Date.now() - 3 * 86_400_000).toISOString()));
    const w = startWatch(t.home);
    await waitUntil(() => t.runs() === 1, 90_000, 'the missed sync is recorded');
    const next = new Date(t.schedule().sync.next_run).getTime();
    expect(next).toBeGreaterThan(Date.now() + 5 * 3_600_000);
    // --stop: SIGTERM to the recorded pid, then it waits for the pid to clear.
    const stop = await tillOk(t.home, ['watch', '--stop'], { env });
    expect(stop.stderr).toMatch(/stopped till watch/);
    expect((await w.done).code).toBe(0);
    expect(t.schedule().watch ?? null).toBeNull();
    expect(t.runs()).toBe(1);
  });

  it('a stale pid of a dead process blocks nothing', async () => {
    const t = await setup();
    await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
    const dead = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
    t.edit((s) => (s.watch = { pid: Number(dead), started: '2020-01-01T00:00:00Z' }));
    const st = await till(t.home, ['watch', '--status'], { env });
    expect(st.code).toBe(3);
    expect(st.stderr).toMatch(/stale pid/);
    const w = startWatch(t.home);
    await waitUntil(() => t.schedule().watch?.pid === w.child().pid, 90_000, 'the new watch is recorded');
    expect((await till(t.home, ['watch', '--status'], { env })).code).toBe(0);
    await tillOk(t.home, ['watch', '--stop'], { env });
    expect((await w.done).code).toBe(0);
    expect((await till(t.home, ['watch', '--stop'], { env })).code).toBe(3);
  });

  it('a recorded pid now used by another process is stale: it blocks nothing and is never signalled', async () => {
    const t = await setup();
    await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
    const other = otherProcess();
    const pid = other.pid!;
    // As an older till recorded it (no start mark), and as this one does (a mark of another process).
    for (const record of [
      { pid, started: '2020-01-01T00:00:00Z' },
      { pid, started: '2020-01-01T00:00:00Z', proc_start: '1' },
    ]) {
      t.edit((s) => (s.watch = record));
      const st = await till(t.home, ['watch', '--status', '--json'], { env });
      expect(st.code).toBe(3);
      expect(JSON.parse(st.stdout)).toMatchObject({ running: false, pid, stale: true });
      const stop = await till(t.home, ['watch', '--stop'], { env });
      expect(stop.code).toBe(3);
      expect(stop.stderr).toMatch(/till watch is not running/);
      expect(alive(pid)).toBe(true);
    }
    const w = startWatch(t.home);
    await waitUntil(
      () => t.schedule().watch?.pid === w.child().pid,
      90_000,
      'the new watch is recorded despite the reused pid',
    );
    await tillOk(t.home, ['watch', '--stop'], { env });
    expect((await w.done).code).toBe(0);
    expect(alive(pid)).toBe(true);
    expect(other.exitCode).toBeNull();
  });

  it('runs periodic health as a child and logs how it ended', async () => {
    const t = await setup();
    await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
    const w = startWatch(t.home, ['--health-interval', '10s']);
    const logFile = join(t.home, 'logs', 'watch.log');
    const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    await waitUntil(() => /host health exit \d+ in \d+ ms/.test(log()), 90_000, 'health ran');
    expect((await till(t.home, ['watch', '--status'], { env })).code).toBe(0);
    w.child().kill('SIGINT');
    expect((await w.done).code).toBe(0);
    expect(log()).not.toContain('no such command');
  });

  it('a till without host health (an older one): logged once, never run again, and the watch goes on', async () => {
    const t = await setup();
    await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
    // This till with `host health` unknown to it: commander's own refusal, as an older till gives it.
    const older = join(t.home, 'older-till.mjs');
    writeFileSync(
      older,
      [
        "if (process.argv[2] === 'host' && process.argv[3] === 'health') process.argv[3] = 'health-not-in-this-version';",
        `await import(${JSON.stringify(pathToFileURL(TILL_BIN).href)});`,
      ].join('\n'),
    );
    let child: ChildProcess | undefined;
    // The watch runs its periodic tasks with the script it was started as: this one.
    const done = till(t.home, ['watch', '--health-interval', '10s', '--audit-interval', '10s'], {
      env,
      script: older,
      timeoutMs: 180_000,
      onSpawn: (c) => (child = c),
    });
    const logFile = join(t.home, 'logs', 'watch.log');
    const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    const audits = () => log().match(/host audit exit \d+ /g)?.length ?? 0;
    await waitUntil(() => log().includes('host health: this till has no such command yet'), 90_000, 'the refusal');
    expect(log()).toMatch(
      /host health: this till has no such command yet \(error: unknown command 'health-not-in-this-version'/,
    );
    // Both tasks share the interval: by the second audit, health was due again.
    await waitUntil(() => audits() >= 2, 90_000, 'two audits');
    expect((await till(t.home, ['watch', '--status'], { env })).code).toBe(0);
    child!.kill('SIGINT');
    expect((await done).code).toBe(0);
    expect(log().match(/no such command/g)).toHaveLength(1);
    expect(log()).not.toMatch(/host health exit/);
  });

  it('--audit-interval logs each new finding of the periodic audit once: a key added on a real host', async () => {
    const t = await setup();
    const lab = await startLab(1, {
      authorizedKey: readFileSync(join(t.home, 'ssh', 'till_federation_ed25519.pub'), 'utf8'),
    });
    try {
      const h = lab.hosts[0]!;
      await tillOk(t.home, ['host', 'add', 'h0', h.spec]);
      await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
      const w = startWatch(t.home, ['--audit-interval', '10s']);
      const logFile = join(t.home, 'logs', 'watch.log');
      const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
      // The first audit records the baseline.
      await waitUntil(() => /host audit exit 0 /.test(log()), 90_000, 'the first audit');
      execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'intruder', '-f', join(t.home, 'intruder')], {
        stdio: 'ignore',
      });
      appendFileSync(join(h.home, '.ssh', 'authorized_keys'), readFileSync(join(t.home, 'intruder.pub'), 'utf8'));
      const fp = execFileSync('ssh-keygen', ['-lf', join(t.home, 'intruder.pub')], { encoding: 'utf8' }).split(' ')[1]!;
      const finding = `[host audit] h0: high key-added: unknown key added since the last audit: ED25519 256-bit key ${fp} (intruder)`;
      await waitUntil(() => log().includes(finding), 90_000, 'the key-added finding in watch.log');
      // The run after it folds the key into the baseline: no finding, nothing logged again.
      const runs = () => log().match(/host audit exit \d+ /g)?.length ?? 0;
      const after = runs();
      await waitUntil(() => runs() > after, 90_000, 'the next audit');
      w.child().kill('SIGINT');
      expect((await w.done).code).toBe(0);
      expect(log().split(finding).length - 1).toBe(1);
      expect(log()).toMatch(/host audit exit 1 in \d+ ms\n/);
    } finally {
      lab.stop();
      await closeMasters(t.home);
    }
  }, 300_000);

  it('refuses an --audit-interval under 10 s with exit 2', async () => {
    const t = await setup();
    const r = await till(t.home, ['watch', '--audit-interval', '2s'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--audit-interval takes a duration like 90s, 5m, 1h or 1d \(10s to 7d\), got "2s"/);
    expect((await till(t.home, ['watch', '--audit-interval', 'daily'], { env })).code).toBe(2);
  });

  it('refuses a bad --health-interval with exit 2', async () => {
    const t = await setup();
    const r = await till(t.home, ['watch', '--health-interval', '2s'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--health-interval takes a duration/);
  });
});

describe('till schedule run / failures', { timeout: 240_000 }, () => {
  it('records failures (status, consecutive_failures, till’s error line) visible in schedule show, and a success resets them', async () => {
    const t = await setup();
    await tillOk(t.home, ['schedule', 'set', '--interval-hours', '12'], { env });
    t.breakHosts();
    const error = `exit 4: ${t.home}/hosts-local.json is not valid JSON`;
    for (const n of [1, 2]) {
      const r = await till(t.home, ['schedule', 'run'], { env });
      expect(r.code).toBe(4);
      expect(r.stderr).toContain(`sync failed: ${error}`);
      const show = JSON.parse((await tillOk(t.home, ['schedule', 'show', '--json'], { env })).stdout);
      expect(show).toMatchObject({ status: 'failed', consecutive_failures: n });
      expect(show.last_error).toContain(error);
      expect(show.last_error).not.toMatch(/hint/);
    }
    const text = (await tillOk(t.home, ['schedule', 'show'], { env })).stdout;
    expect(text).toMatch(/failures\s+2 in a row/);
    expect(text).toMatch(new RegExp(`last error\\s+${error.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    expect(text).toMatch(/failed\s+schedule-run/);

    t.fixHosts();
    const ok = JSON.parse((await tillOk(t.home, ['schedule', 'run', '--json'], { env })).stdout);
    expect(ok).toMatchObject({ ran: true, run: { status: 'success', trigger: 'schedule-run' }, recorded_by: 'sync' });
    const show = JSON.parse((await tillOk(t.home, ['schedule', 'show', '--json'], { env })).stdout);
    expect(show).toMatchObject({ status: 'success', consecutive_failures: 0, last_error: null });
    expect(show.history.map((h: { status: string }) => h.status)).toEqual(['success', 'failed', 'failed']);
  });

  it('--if-due runs only when next_run is due', async () => {
    const t = await setup();
    await tillOk(t.home, ['schedule', 'set', '--interval-hours', '5'], { env });
    const quiet = await tillOk(t.home, ['schedule', 'run', '--if-due', '--trigger', 'cron'], { env });
    expect(quiet.stdout + quiet.stderr).toBe('');
    expect(t.runs()).toBe(0);
    t.edit((s) => (s.sync.next_run = new Date(Date.now() - 60_000).toISOString()));
    await tillOk(t.home, ['schedule', 'run', '--if-due', '--trigger', 'cron'], { env });
    expect(t.runs()).toBe(1);
    expect(t.schedule().history[0]).toMatchObject({ trigger: 'cron', status: 'success' });
  });

  it("schedule run rotates the scheduler's sync.log past 1 MiB, even when the run is not due", async () => {
    const t = await setup();
    await tillOk(t.home, ['schedule', 'set', '--interval-hours', '5'], { env });
    const log = join(t.home, 'logs', 'sync.log');
    writeFileSync(log, 'x'.repeat(1024 * 1024 + 1));
    await tillOk(t.home, ['schedule', 'run', '--if-due', '--trigger', 'cron'], { env });
    expect(existsSync(log)).toBe(false);
    expect(statSync(`${log}.1`).size).toBe(1024 * 1024 + 1);
  });

  it('set and show print the schedule and next run in local time and UTC', async () => {
    const t = await setup();
    for (const args of [
      [],
      ['--daily-at', '24:00'],
      ['--interval-hours', '0'],
      ['--daily-at', '03:00', '--interval-hours', '2'],
    ]) {
      const r = await till(t.home, ['schedule', 'set', ...args], { env });
      expect(r.code, args.join(' ')).toBe(2);
    }
    const r = await tillOk(t.home, ['schedule', 'set', '--daily-at', '07:30', '--json'], { env });
    expect(JSON.parse(r.stdout).sync).toMatchObject({ daily_at: '07:30', interval_hours: 24 });

    const set = await tillOk(t.home, ['schedule', 'set', '--daily-at', '07:30'], { env });
    const next = new Date(t.schedule().sync.next_run);
    const utc = `${next.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
    expect(set.stderr).toMatch(
      new RegExp(
        `^schedule: daily at 07:30 \\(local time\\); next run \\d{4}-\\d\\d-\\d\\d 07:30 America/New_York \\(${utc}\\)$`,
        'm',
      ),
    );
    expect(
      new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(
        next,
      ),
    ).toBe('07:30');
    const show = (await tillOk(t.home, ['schedule', 'show'], { env })).stdout;
    expect(show).toMatch(
      /^schedule\s+daily at 07:30 \(local time\) \(not enabled: till schedule enable, or till watch\)$/m,
    );
    expect(show).toMatch(new RegExp(`^next run\\s+\\d{4}-\\d\\d-\\d\\d 07:30 America/New_York \\(${utc}\\)$`, 'm'));
    expect(show).toMatch(/^watch\s+not running$/m);
    expect(show).toMatch(/^last run\s+never$/m);
  });
});
