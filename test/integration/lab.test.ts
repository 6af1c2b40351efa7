import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startLab } from '../lab/lab.js';
import { processesMentioning, processesOfUid, userExists } from '../lab/procs.js';
import { waitUntil } from '../lab/till.js';

describe('the test lab', () => {
  it('stop() leaves no sshd, no user, no process of its users and no folder', async () => {
    const lab = await startLab(2);
    const users = lab.hosts.map((h) => [h.user, h.uid] as const);
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
    expect(leftoverPids.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    expect(existsSync(lab.dir)).toBe(false);
  });
});
