import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab/lab.js';
import { closeMasters, homeWithHosts, till, tillOk, type TillRun } from '../lab/till.js';

/**
 * A frozen host (its sshd and every session it started stopped with SIGSTOP: the TCP
 * connection is accepted, then nothing answers) costs a fleet command one bound, not
 * the 74-91 s of ServerAlive waits and banner timeouts it cost before, and holds up no
 * other host's result. Real sshd hosts; the built till, as a person runs it.
 */
let lab: Lab;
let home: string;

interface Result {
  host: string;
  ok: boolean;
  status: string;
  error: string | null;
  durationMs: number;
  attempts: number;
  health?: { up: boolean; at: string; downKind?: string | null; reasons: string[] } | null;
}
const byHost = (stdout: string): Record<string, Result> =>
  Object.fromEntries((JSON.parse(stdout) as { results: Result[] }).results.map((r) => [r.host, r]));
const healthAt = async (name: string): Promise<string | undefined> =>
  (JSON.parse((await tillOk(home, ['host', 'show', name, '--json'])).stdout) as { health?: { at: string } }).health?.at;
// The machine running the suite is often loaded far past 4 × its cores: load is not what this tests.
const HEALTH = ['host', 'health', '--load-max', '10000', '--disk-min', '0'];

beforeAll(async () => {
  ({ home, lab } = await homeWithHosts(3));
  // Every host answers, and each now has a ControlMaster: the frozen one's master hangs with it.
  await tillOk(home, [...HEALTH, '--all']);
});

afterAll(async () => {
  lab?.stop();
  if (home) await closeMasters(home);
});

describe('a frozen host', { timeout: 120_000 }, () => {
  it('host health: down with "no answer" at its 20 s bound; the others are recorded while it is still waited for', async () => {
    const frozen = lab.hosts[1]!;
    frozen.pause();
    try {
      const started = new Date();
      let child: ChildProcess | undefined;
      let ended = false;
      const run: Promise<TillRun> = till(home, [...HEALTH, '--all', '--json'], {
        timeoutMs: 110_000,
        onSpawn: (c) => (child = c),
      }).finally(() => (ended = true));
      // While the run still waits for h1, h0's and h2's new snapshots are already in the database.
      let othersSeenWhileRunning = false;
      while (!ended) {
        const [a, c] = await Promise.all([healthAt('h0'), healthAt('h2')]);
        if (a && c && Date.parse(a) >= started.getTime() && Date.parse(c) >= started.getTime() && !ended) {
          othersSeenWhileRunning = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      const r = await run;
      expect(child).toBeDefined();
      expect(othersSeenWhileRunning).toBe(true);
      expect(r.code).toBe(1);
      const res = byHost(r.stdout);
      expect(res.h0).toMatchObject({ ok: true, status: 'ok' });
      expect(res.h2).toMatchObject({ ok: true, status: 'ok' });
      expect(res.h1).toMatchObject({ ok: false, status: 'unreachable' });
      expect(res.h1!.error).toMatch(/^no answer within 20 s: /);
      expect(res.h1!.health).toMatchObject({ up: false, downKind: 'timeout' });
      // The bound, not ServerAlive plus two banner timeouts (74-91 s before).
      expect(res.h1!.durationMs).toBeLessThan(20_000 + 5_000);
      const metrics = (await tillOk(home, ['metrics'])).stdout;
      expect(metrics).toContain('till_host_up{host="h1"} 0');
      expect(metrics).toContain('till_host_down_reason{host="h1",reason="timeout"} 1');
      expect(metrics).toContain('till_host_up{host="h0"} 1');
    } finally {
      frozen.resume();
    }
    // Thawed: up again at the next check.
    const back = byHost((await tillOk(home, [...HEALTH, 'h1', '--json'])).stdout);
    expect(back.h1).toMatchObject({ ok: true, health: { up: true } });
    expect((await tillOk(home, ['metrics'])).stdout).toContain('till_host_up{host="h1"} 1');
  });

  it('--timeout is the bound on the whole host, for host test and host exec too', async () => {
    const frozen = lab.hosts[2]!;
    frozen.pause();
    try {
      const test = await till(home, ['host', 'test', 'h2', 'h0', '--json', '--timeout', '3'], { timeoutMs: 60_000 });
      expect(test.code).toBe(1);
      const t = byHost(test.stdout);
      expect(t.h0).toMatchObject({ ok: true });
      expect(t.h2).toMatchObject({ ok: false, status: 'unreachable' });
      expect(t.h2!.error).toMatch(/^no answer within 3 s: /);

      const exec = await till(home, ['host', 'exec', 'h2', 'h0', '--json', '--timeout', '3', '--', 'echo hi'], {
        timeoutMs: 60_000,
      });
      expect(exec.code).toBe(1);
      const e = byHost(exec.stdout);
      expect(e.h0).toMatchObject({ ok: true });
      // exec cannot tell a frozen host from a slow command: a deadline, which counts toward nothing.
      expect(e.h2).toMatchObject({ ok: false, status: 'failed', error: 'timed out (per-host --timeout)', attempts: 1 });
      expect(e.h2!.durationMs).toBeLessThan(3_000 + 5_000);
    } finally {
      frozen.resume();
    }
  });
});
