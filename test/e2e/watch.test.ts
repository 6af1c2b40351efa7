/**
 * `till watch` and `till schedule run` as a person runs them. The sync they start is a
 * stand-in script (`--sync-command`, a hidden option): it appends its arguments to a
 * file, so the test can count syncs, and fails or hangs on request. It records nothing
 * itself, so these tests also show the runner recording the run (as it does when
 * `till sync` fails before it can). Every wait polls a file or a command; no sleeps.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { computeNextRun, type SyncSettings } from '../../src/core/state/schedule.js';
import { startLab } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk, waitUntil, type TillRun } from '../lab/till.js';

const TZ = 'America/New_York';
const env = { TZ };
const homes: Array<() => void> = [];
afterEach(() => {
  for (const c of homes.splice(0)) c();
});

/** schedule.json as these tests read and hand-edit it. */
interface Sched {
  sync: SyncSettings & { next_run: string; consecutive_failures?: number };
  history: Array<{ started: string; finished: string; status: string; trigger?: string }>;
  watch?: { pid: number; started: string } | null;
}

function setup(): { home: string; script: string; schedule: () => Sched; calls: () => string[]; edit: (f: (s: Sched) => void) => void } {
  const { home, cleanup } = tempHome();
  homes.push(cleanup);
  const script = join(home, 'fake-sync');
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'echo "$*" >> "$TILL_HOME/sync-calls"',
      'echo "fake sync $*"',
      'if [ -f "$TILL_HOME/fail" ]; then echo "boom: $(cat "$TILL_HOME/fail")" >&2; exit 1; fi',
      'if [ -f "$TILL_HOME/slow" ]; then exec sleep 120; fi',
      'exit 0',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  const file = join(home, 'schedule.json');
  return {
    home,
    script,
    schedule: () => JSON.parse(readFileSync(file, 'utf8')),
    calls: () => (existsSync(join(home, 'sync-calls')) ? readFileSync(join(home, 'sync-calls'), 'utf8').trim().split('\n') : []),
    edit: (f) => {
      const s = JSON.parse(readFileSync(file, 'utf8'));
      f(s);
      writeFileSync(file, JSON.stringify(s, null, 2));
    },
  };
}

function startWatch(home: string, args: string[]): { child: () => ChildProcess; done: Promise<TillRun> } {
  let child: ChildProcess | undefined;
  const done = till(home, ['watch', ...args], { env, timeoutMs: 180_000, onSpawn: (c) => (child = c) });
  return { child: () => child!, done };
}

describe('till watch', () => {
  it('runs one sync when a hand-edited next_run is due, records it, computes the next run, exits 0 on SIGTERM', async () => {
    const t = setup();
    await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
    t.edit((s) => (s.sync.next_run = new Date(Date.now() + 3_000).toISOString()));
    const w = startWatch(t.home, ['--sync-command', t.script]);
    await waitUntil(() => t.schedule().watch?.pid === w.child().pid, 90_000, 'watch recorded in schedule.json');

    const second = await till(t.home, ['watch', '--sync-command', t.script], { env });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/already running \(pid \d+/);
    expect((await till(t.home, ['watch', '--status'], { env })).code).toBe(0);
    const status = JSON.parse((await tillOk(t.home, ['watch', '--status', '--json'], { env })).stdout);
    expect(status).toMatchObject({ running: true, pid: w.child().pid, stale: false });

    await waitUntil(() => (t.schedule().history ?? []).length === 1, 90_000, 'the sync is recorded');
    const s = t.schedule();
    expect(t.calls()).toEqual(['sync --trigger watch']);
    expect(s.history[0]).toMatchObject({ status: 'success', trigger: 'watch', error: null });
    expect(s.sync).toMatchObject({ status: 'success', last_run: s.history[0]!.started, consecutive_failures: 0 });
    const saved = process.env.TZ;
    process.env.TZ = TZ;
    try {
      expect(s.sync.next_run).toBe(computeNextRun(s.sync, new Date(s.history[0]!.finished)).toISOString());
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
    expect(new Date(s.sync.next_run).getTime()).toBeGreaterThan(Date.now());

    w.child().kill('SIGTERM');
    const r = await w.done;
    expect(r.code).toBe(0);
    expect(t.schedule().watch ?? null).toBeNull();
    expect(t.calls()).toHaveLength(1);
    const status2 = await till(t.home, ['watch', '--status'], { env });
    expect(status2.code).toBe(3);
    const log = readFileSync(join(t.home, 'logs', 'watch.log'), 'utf8');
    expect(log).toMatch(/sync success, recorded by watch; next run /);
    expect(log).toMatch(/\[sync\] fake sync sync --trigger watch/);
    expect(log).toMatch(/watch stopped/);
  });

  it('runs a run missed during downtime once, then schedules from now', async () => {
    const t = setup();
    await tillOk(t.home, ['schedule', 'set', '--interval-hours', '6'], { env });
    t.edit((s) => (s.sync.next_run = new Date(Date.now() - 3 * 86_400_000).toISOString()));
    const w = startWatch(t.home, ['--sync-command', t.script]);
    await waitUntil(() => (t.schedule().history ?? []).length === 1, 90_000, 'the missed sync is recorded');
    const next = new Date(t.schedule().sync.next_run).getTime();
    expect(next).toBeGreaterThan(Date.now() + 5 * 3_600_000);
    expect(t.calls()).toHaveLength(1);
    // --stop: SIGTERM to the recorded pid, then it waits for the pid to clear.
    const stop = await tillOk(t.home, ['watch', '--stop'], { env });
    expect(stop.stderr).toMatch(/stopped till watch/);
    expect((await w.done).code).toBe(0);
    expect(t.schedule().watch ?? null).toBeNull();
    expect(t.calls()).toHaveLength(1);
  });

  it('cancels a running sync on SIGTERM and records it as cancelled', async () => {
    const t = setup();
    writeFileSync(join(t.home, 'slow'), '');
    await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
    t.edit((s) => (s.sync.next_run = new Date(Date.now() - 1_000).toISOString()));
    const w = startWatch(t.home, ['--sync-command', t.script]);
    await waitUntil(() => t.calls().length === 1, 90_000, 'the sync has started');
    w.child().kill('SIGTERM');
    const r = await w.done;
    expect(r.code).toBe(0);
    const s = t.schedule();
    expect(s.watch ?? null).toBeNull();
    expect(s.history).toHaveLength(1);
    expect(s.history[0]).toMatchObject({ status: 'cancelled', trigger: 'watch' });
    expect(s.sync.status).toBe('cancelled');
  });

  it('a stale pid of a dead process blocks nothing', async () => {
    const t = setup();
    await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
    const dead = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
    t.edit((s) => (s.watch = { pid: Number(dead), started: '2020-01-01T00:00:00Z' }));
    const st = await till(t.home, ['watch', '--status'], { env });
    expect(st.code).toBe(3);
    expect(st.stderr).toMatch(/stale pid/);
    const w = startWatch(t.home, ['--sync-command', t.script]);
    await waitUntil(() => t.schedule().watch?.pid === w.child().pid, 90_000, 'the new watch is recorded');
    expect((await till(t.home, ['watch', '--status'], { env })).code).toBe(0);
    await tillOk(t.home, ['watch', '--stop'], { env });
    expect((await w.done).code).toBe(0);
    expect((await till(t.home, ['watch', '--stop'], { env })).code).toBe(3);
  });

  it('runs periodic health as a child; a till without that command is logged once and does not stop the watch', async () => {
    const t = setup();
    await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
    const w = startWatch(t.home, ['--sync-command', t.script, '--health-interval', '10s']);
    const logFile = join(t.home, 'logs', 'watch.log');
    await waitUntil(() => existsSync(logFile) && /host health(: this till has no such command yet| exit )/.test(readFileSync(logFile, 'utf8')), 90_000, 'health ran');
    expect((await till(t.home, ['watch', '--status'], { env })).code).toBe(0);
    w.child().kill('SIGINT');
    expect((await w.done).code).toBe(0);
    expect(readFileSync(logFile, 'utf8').match(/no such command yet/g)?.length ?? 0).toBeLessThanOrEqual(1);
  });

  it('--audit-interval logs each new finding of the periodic audit once: a key added on a real host', async () => {
    const t = setup();
    await tillOk(t.home, ['host', 'init']);
    const lab = await startLab(1, { authorizedKey: readFileSync(join(t.home, 'ssh', 'till_federation_ed25519.pub'), 'utf8') });
    try {
      const h = lab.hosts[0]!;
      await tillOk(t.home, ['host', 'add', 'h0', h.spec]);
      await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env });
      const w = startWatch(t.home, ['--sync-command', t.script, '--audit-interval', '10s']);
      const logFile = join(t.home, 'logs', 'watch.log');
      const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
      // The first audit records the baseline.
      await waitUntil(() => /host audit exit 0 /.test(log()), 90_000, 'the first audit');
      execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'intruder', '-f', join(t.home, 'intruder')], { stdio: 'ignore' });
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
    const t = setup();
    const r = await till(t.home, ['watch', '--audit-interval', '2s'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--audit-interval takes a duration like 90s, 5m, 1h or 1d \(10s to 7d\), got "2s"/);
    expect((await till(t.home, ['watch', '--audit-interval', 'daily'], { env })).code).toBe(2);
  });

  it('refuses a bad --health-interval with exit 2', async () => {
    const t = setup();
    const r = await till(t.home, ['watch', '--health-interval', '2s'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--health-interval takes a duration/);
  });
});

describe('till schedule run / failures', () => {
  it('records failures (status, consecutive_failures, error) visible in schedule show, and a success resets them', async () => {
    const t = setup();
    await tillOk(t.home, ['schedule', 'set', '--interval-hours', '12'], { env });
    writeFileSync(join(t.home, 'fail'), 'disk full');
    for (const n of [1, 2]) {
      const r = await till(t.home, ['schedule', 'run', '--sync-command', t.script], { env });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/fake sync sync --trigger schedule-run/);
      expect(r.stderr).toMatch(/sync failed: exit 1: boom: disk full/);
      const show = JSON.parse((await tillOk(t.home, ['schedule', 'show', '--json'], { env })).stdout);
      expect(show).toMatchObject({ status: 'failed', consecutive_failures: n, last_error: 'exit 1: boom: disk full' });
    }
    const text = (await tillOk(t.home, ['schedule', 'show'], { env })).stdout;
    expect(text).toMatch(/failures\s+2 in a row/);
    expect(text).toMatch(/last error\s+exit 1: boom: disk full/);
    expect(text).toMatch(/failed\s+schedule-run/);

    rmSync(join(t.home, 'fail'));
    const ok = JSON.parse((await tillOk(t.home, ['schedule', 'run', '--sync-command', t.script, '--json'], { env })).stdout);
    expect(ok).toMatchObject({ ran: true, run: { status: 'success', trigger: 'schedule-run' }, recorded_by: 'runner' });
    const show = JSON.parse((await tillOk(t.home, ['schedule', 'show', '--json'], { env })).stdout);
    expect(show).toMatchObject({ status: 'success', consecutive_failures: 0, last_error: null });
    expect(show.history.map((h: { status: string }) => h.status)).toEqual(['success', 'failed', 'failed']);
  });

  it('Ctrl-C stops a running `schedule run`, records it as cancelled, exits 130', async () => {
    const t = setup();
    writeFileSync(join(t.home, 'slow'), '');
    let child: ChildProcess | undefined;
    const done = till(t.home, ['schedule', 'run', '--sync-command', t.script], { env, onSpawn: (c) => (child = c) });
    await waitUntil(() => t.calls().length === 1, 90_000, 'the sync has started');
    child!.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(t.schedule().history[0]).toMatchObject({ status: 'cancelled', trigger: 'schedule-run' });
  });

  it('--if-due runs only when next_run is due', async () => {
    const t = setup();
    await tillOk(t.home, ['schedule', 'set', '--interval-hours', '5'], { env });
    const quiet = await tillOk(t.home, ['schedule', 'run', '--if-due', '--trigger', 'cron', '--sync-command', t.script], { env });
    expect(quiet.stdout + quiet.stderr).toBe('');
    expect(t.calls()).toEqual([]);
    t.edit((s) => (s.sync.next_run = new Date(Date.now() - 60_000).toISOString()));
    await tillOk(t.home, ['schedule', 'run', '--if-due', '--trigger', 'cron', '--sync-command', t.script], { env });
    expect(t.calls()).toEqual(['sync --trigger cron']);
    expect(t.schedule().history[0]).toMatchObject({ trigger: 'cron', status: 'success' });
  });

  it('validates set: exactly one of --daily-at / --interval-hours, in range (exit 2)', async () => {
    const t = setup();
    for (const args of [[], ['--daily-at', '24:00'], ['--interval-hours', '0'], ['--daily-at', '03:00', '--interval-hours', '2']]) {
      const r = await till(t.home, ['schedule', 'set', ...args], { env });
      expect(r.code, args.join(' ')).toBe(2);
    }
    const r = await tillOk(t.home, ['schedule', 'set', '--daily-at', '07:30', '--json'], { env });
    expect(JSON.parse(r.stdout).sync).toMatchObject({ daily_at: '07:30', interval_hours: 24 });
  });
});
