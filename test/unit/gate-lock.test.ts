import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockRoot, rootLockDir } from '../../src/gate/lock.js';

const home = mkdtempSync('/tmp/t-unit-glock-');
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe("the gate's lock on a deploy root", () => {
  it('one holder at a time per root; another root is not held up; released, it is free', async () => {
    const release = await lockRoot(home, '/srv/app', 5_000);
    await expect(lockRoot(home, '/srv/app', 300)).rejects.toThrow(
      `another till session is working on /srv/app (pid ${process.pid}); try again later`,
    );
    const other = await lockRoot(home, '/srv/other', 300);
    other();
    // a waiter gets it as soon as it is released
    const waiting = lockRoot(home, '/srv/app', 5_000);
    setTimeout(release, 200);
    (await waiting)();
    expect(existsSync(rootLockDir(home, '/srv/app'))).toBe(false);
  });

  it('breaks a lock whose gate is gone (a killed process), and only that', async () => {
    const dir = rootLockDir(home, '/srv/stale');
    mkdirSync(dir, { recursive: true });
    // pid 2^22 + 1 is above Linux's pid_max: no such process
    writeFileSync(join(dir, 'pid'), `${2 ** 22 + 1}\n`);
    const release = await lockRoot(home, '/srv/stale', 1_000);
    release();
    // a live holder (this process, as another gate would be) is waited for
    mkdirSync(dir);
    writeFileSync(join(dir, 'pid'), `${process.ppid}\n`);
    await expect(lockRoot(home, '/srv/stale', 300)).rejects.toThrow(/another till session/);
    rmSync(dir, { recursive: true, force: true });
  });
});
