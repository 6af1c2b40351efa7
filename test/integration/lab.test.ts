import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startLab } from '../lab/lab.js';
import { isLive, processesMentioning, processesOfUid, userExists } from '../lab/procs.js';
import { waitUntil } from '../lab/till.js';

describe('the test lab', () => {
  it('stop() leaves no sshd, no user, no process of its users and no folder', async () => {
    const lab = await startLab(2);
    const operator = lab.addUser();
    expect(operator.home.startsWith(`${lab.dir}/`)).toBe(true);
    const users = [...lab.hosts, operator].map((h) => [h.user, h.uid] as const);
    let leftoverPids: number[] = [];
    try {
      expect(processesMentioning(`${lab.dir}/`).length).toBeGreaterThanOrEqual(2);
      for (const [user] of users) expect(userExists(user)).toBe(true);
      // Something a test left running on the host, outside sshd's tree: userdel would refuse the user.
      const leftover = spawn('/usr/sbin/runuser', ['-u', users[0]![0], '--', 'sleep', '600'], {
        detached: true,
        stdio: 'ignore',
      });
      leftover.unref();
      await waitUntil(() => (leftoverPids = processesOfUid(users[0]![1])).length > 0, 20_000, 'the leftover process');
    } finally {
      lab.stop();
    }
    expect(processesMentioning(`${lab.dir}/`)).toEqual([]);
    for (const [user] of users) expect(userExists(user), user).toBe(false);
    // (by pid, not by uid: a removed uid may already belong to another test's new lab user)
    // SIGKILL is sent, not awaited: a process may still be exiting, or be a zombie its parent
    // (PID 1 for an orphan) has not reaped yet. Neither runs anything: both count as gone.
    await waitUntil(() => leftoverPids.every((pid) => !isLive(pid)), 10_000, 'the leftover process to end');
    expect(existsSync(lab.dir)).toBe(false);
  });

  it('isLive: a running process is live; a zombie and a pid that is gone are not', async () => {
    // sh starts `sleep 0` in the background, then becomes `sleep 30`, which never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0 & exec sleep 30'], { stdio: 'ignore' });
    try {
      const childrenOf = (pid: number) =>
        readdirSync('/proc')
          .filter((p) => /^\d+$/.test(p))
          .filter((p) => {
            try {
              const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
              return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
            } catch {
              return false;
            }
          })
          .map(Number);
      let zombie = 0;
      await waitUntil(
        () => {
          zombie = childrenOf(parent.pid!).find((p) => existsSync(`/proc/${p}`) && !isLive(p)) ?? 0;
          return zombie !== 0;
        },
        10_000,
        'the zombie',
      );
      expect(existsSync(`/proc/${zombie}`)).toBe(true);
      expect(readFileSync(`/proc/${zombie}/stat`, 'utf8')).toMatch(/\) Z /);
      expect(isLive(parent.pid!)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
    await waitUntil(() => !isLive(parent.pid!), 10_000, 'sleep 30 to end');
    expect(isLive(2 ** 22 + 1)).toBe(false);
  });
});
