/**
 * `till watch` and `till schedule run` starting the real `till sync` against real sshd
 * hosts (set up with `till host setup`, so each runs its own till): the run till sync
 * records itself (recorded_by 'sync'), the hosts it synced, a host that is down, and
 * cancelling a sync that hangs because a host does not answer (its sshd is stopped
 * with SIGSTOP: the connection is accepted, the banner never comes).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab/lab.js';
import { closeMasters, homeWithHosts, till, tillOk, waitUntil, type TillRun } from '../lab/till.js';

interface Run {
  started: string;
  status: string;
  trigger?: string;
  hosts?: { total: number; synced: number; failed: number };
}

describe('watch and schedule run with a real sync of sshd hosts', { timeout: 300_000 }, () => {
  let home: string;
  let lab: Lab;
  const schedule = () => JSON.parse(readFileSync(join(home, 'schedule.json'), 'utf8'));
  const runs = (): Run[] => (existsSync(join(home, 'schedule.json')) ? (schedule().history ?? []) : []);
  const edit = (f: (s: { sync: { next_run: string } }) => void) => {
    const s = schedule();
    f(s);
    writeFileSync(join(home, 'schedule.json'), JSON.stringify(s, null, 2));
  };
  const lastSync = async (name: string): Promise<string | null> =>
    (
      JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout).hosts as Array<{
        name: string;
        last_sync?: string | null;
      }>
    ).find((h) => h.name === name)?.last_sync ?? null;
  const watchLog = () => readFileSync(join(home, 'logs', 'watch.log'), 'utf8');

  beforeAll(async () => {
    ({ home, lab } = await homeWithHosts(2));
    await tillOk(home, ['host', 'setup', '--all'], { timeoutMs: 240_000 });
    await tillOk(home, ['schedule', 'set', '--daily-at', '03:00']);
  }, 300_000);

  afterAll(async () => {
    lab?.stop();
    if (home) await closeMasters(home);
  });

  it('schedule run: till sync syncs both hosts and records the run itself (recorded_by sync)', async () => {
    const r = await tillOk(home, ['schedule', 'run', '--json'], { timeoutMs: 180_000 });
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      ran: true,
      recorded_by: 'sync',
      run: { status: 'success', trigger: 'schedule-run', hosts: { total: 2, synced: 2, failed: 0 } },
    });
    expect(runs().at(-1)).toMatchObject({ status: 'success', trigger: 'schedule-run', hosts: { total: 2, synced: 2 } });
    expect(schedule().sync).toMatchObject({ status: 'success', consecutive_failures: 0 });
    for (const h of ['h0', 'h1'])
      expect(Date.parse((await lastSync(h))!)).toBeGreaterThanOrEqual(Date.parse(out.run.started));
  });

  it('watch: a sync due in a few seconds runs the real sync, which records the hosts it synced', async () => {
    const before = runs().length;
    edit((s) => (s.sync.next_run = new Date(Date.now() + 3_000).toISOString()));
    let child: ChildProcess | undefined;
    const done = till(home, ['watch'], { timeoutMs: 240_000, onSpawn: (c) => (child = c) });
    await waitUntil(() => runs().length === before + 1, 180_000, 'the watch sync is recorded');
    const run = runs().at(-1)!;
    expect(run).toMatchObject({ status: 'success', trigger: 'watch', hosts: { total: 2, synced: 2, failed: 0 } });
    for (const h of ['h0', 'h1'])
      expect(Date.parse((await lastSync(h))!)).toBeGreaterThanOrEqual(Date.parse(run.started));
    expect(new Date(schedule().sync.next_run).getTime()).toBeGreaterThan(Date.now());
    child!.kill('SIGTERM');
    expect((await done).code).toBe(0);
    expect(watchLog()).toMatch(/sync success, recorded by till sync; next run /);
    expect(runs()).toHaveLength(before + 1);
  });

  it('one host down: schedule run exits 1 and records a failed (partial) run, failures 1 in a row', async () => {
    lab.hosts[1]!.stop();
    try {
      const r = await till(home, ['schedule', 'run', '--json'], { timeoutMs: 180_000 });
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({
        recorded_by: 'sync',
        run: { status: 'partial', hosts: { total: 2, synced: 1, failed: 1 } },
      });
      const show = JSON.parse((await tillOk(home, ['schedule', 'show', '--json'])).stdout);
      expect(show).toMatchObject({ status: 'partial', consecutive_failures: 1 });
      expect((await tillOk(home, ['schedule', 'show'])).stdout).toMatch(/failures\s+1 in a row/);
    } finally {
      await lab.hosts[1]!.start();
    }
    const ok = JSON.parse((await tillOk(home, ['schedule', 'run', '--json'], { timeoutMs: 180_000 })).stdout);
    expect(ok.run.status).toBe('success');
    expect(schedule().sync.consecutive_failures).toBe(0);
  });

  it('SIGTERM to watch while the sync hangs on a host that does not answer: cancelled, recorded, exit 0', async () => {
    const before = runs().length;
    const logFrom = existsSync(join(home, 'logs', 'watch.log')) ? watchLog().length : 0;
    lab.hosts[0]!.pause();
    try {
      edit((s) => (s.sync.next_run = new Date(Date.now() - 1_000).toISOString()));
      let child: ChildProcess | undefined;
      const done: Promise<TillRun> = till(home, ['watch'], { timeoutMs: 240_000, onSpawn: (c) => (child = c) });
      await waitUntil(
        () =>
          existsSync(join(home, 'logs', 'watch.log')) &&
          /sync due \(next_run [^)]+\): running /.test(watchLog().slice(logFrom)),
        90_000,
        'the sync has started',
      );
      child!.kill('SIGTERM');
      const r = await done;
      expect(r.code).toBe(0);
      expect(runs()).toHaveLength(before + 1);
      expect(runs().at(-1)).toMatchObject({ status: 'cancelled', trigger: 'watch' });
      expect(schedule().sync.status).toBe('cancelled');
      expect(schedule().watch ?? null).toBeNull();
    } finally {
      lab.hosts[0]!.resume();
    }
  });

  it('Ctrl-C stops a `schedule run` whose sync hangs on a host: recorded as cancelled, exit 130', async () => {
    const before = runs().length;
    lab.hosts[0]!.pause();
    try {
      let child: ChildProcess | undefined;
      let stdout = '';
      const done = till(home, ['schedule', 'run'], {
        timeoutMs: 240_000,
        onSpawn: (c) => {
          child = c;
          c.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
          c.stderr!.on('data', (d: Buffer) => (stdout += d.toString()));
        },
      });
      // The sync prints its plan before it connects; wait for any output of it.
      await waitUntil(() => stdout.length > 0, 90_000, 'the sync has started');
      child!.kill('SIGINT');
      const r = await done;
      expect(r.code).toBe(130);
      expect(runs()).toHaveLength(before + 1);
      expect(runs().at(-1)).toMatchObject({ status: 'cancelled', trigger: 'schedule-run' });
    } finally {
      lab.hosts[0]!.resume();
    }
  });
});
