import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockRoot, rootLockDir, type RootLock } from '../../src/gate/lock.js';

const home = mkdtempSync('/tmp/t-unit-glock-');
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** The release of a lock that must have been taken. */
const taken = (lock: RootLock) => {
  if (!lock.ok) throw new Error(`not taken: ${lock.reason}`);
  return lock.release;
};

describe("the gate's lock on a deploy root", () => {
  it('one holder at a time per root; another root is not held up; released, it is free', async () => {
    const release = taken(await lockRoot(home, '/srv/app', 5_000));
    // the key is told the root it sent, not whose session holds it (the pid is for the log)
    expect(await lockRoot(home, '/srv/app', 300)).toEqual({
      ok: false,
      reason: 'another till session is working on /srv/app; try again later',
      detail: `held by pid ${process.pid}`,
    });
    taken(await lockRoot(home, '/srv/other', 300))();
    // a waiter gets it as soon as it is released
    const waiting = lockRoot(home, '/srv/app', 5_000);
    setTimeout(release, 200);
    taken(await waiting)();
    expect(existsSync(rootLockDir(home, '/srv/app'))).toBe(false);
  });

  it('breaks a lock whose gate is gone (a killed process), and only that', async () => {
    const dir = rootLockDir(home, '/srv/stale');
    mkdirSync(dir, { recursive: true });
    // pid 2^22 + 1 is above Linux's pid_max: no such process
    writeFileSync(join(dir, 'pid'), `${2 ** 22 + 1}\n`);
    taken(await lockRoot(home, '/srv/stale', 1_000))();
    // a live holder (this process, as another gate would be) is waited for
    mkdirSync(dir);
    writeFileSync(join(dir, 'pid'), `${process.ppid}\n`);
    expect(await lockRoot(home, '/srv/stale', 300)).toMatchObject({
      ok: false,
      reason: 'another till session is working on /srv/stale; try again later',
    });
    rmSync(dir, { recursive: true, force: true });
  });

  it('a lock it cannot make is one sentence naming the root; the errno text and the lock path are for the log', async () => {
    const h = mkdtempSync(join(home, 'h-'));
    mkdirSync(join(h, '.till'));
    const cannot = 'the gate cannot lock /srv/app on this host; its owner finds why in ~/.till/logs/gate.log';
    // ~/.till/locks is a file
    writeFileSync(join(h, '.till/locks'), '');
    const notDir = await lockRoot(h, '/srv/app', 300);
    expect(notDir).toMatchObject({ ok: false, reason: cannot });
    expect(!notDir.ok && notDir.detail).toMatch(/ENOTDIR|EEXIST/);
    rmSync(join(h, '.till/locks'));
    // ~/.till/locks cannot be written (a root test process writes anywhere: only as another user)
    if (process.getuid?.() !== 0) {
      mkdirSync(join(h, '.till/locks'), { mode: 0o500 });
      const denied = await lockRoot(h, '/srv/app', 300);
      expect(denied).toMatchObject({ ok: false, reason: cannot, detail: expect.stringMatching(/EACCES/) });
      chmodSync(join(h, '.till/locks'), 0o700);
    }
    // and once it can: taken, nothing left behind
    taken(await lockRoot(h, '/srv/app', 300))();
    expect(readdirSync(join(h, '.till/locks'))).toEqual([]);
  });
});
