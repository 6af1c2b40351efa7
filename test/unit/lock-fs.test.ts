/** The lock folders' owner file (src/core/lock-fs.ts): written by whoever takes a lock, read by whoever waits for one. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_FS } from '../../src/core/lock-fs.js';
import { tillPaths } from '../../src/core/paths.js';
import { withRunLock } from '../../src/core/run-lock.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (): string => {
  const d = mkdtempSync('/tmp/t-');
  dirs.push(d);
  return d;
};
const deadPid = (): number => spawnSync('true').pid!;

describe('lock owner', () => {
  it('a run lock names this process while it is held, and goes with the lock', async () => {
    const home = tmp();
    const lock = join(home, 'state', 'sync.run.lock');
    const seen = await withRunLock(tillPaths(home), 'sync', 'till sync', async () =>
      readFileSync(join(lock, 'owner'), 'utf8'),
    );
    expect(seen).toBe(`${process.pid} ${hostname()}`);
    expect(existsSync(lock)).toBe(false);
  });

  it("a dead owner's lock looks stale; a live one's, another machine's and an ownerless one keep their mtime", () => {
    const dir = join(tmp(), 'x.lock');
    mkdirSync(dir);
    expect(LOCK_FS.statSync(dir).mtime.getTime()).toBeGreaterThan(Date.now() - 60_000);
    writeFileSync(join(dir, 'owner'), `${process.pid} ${hostname()}`);
    expect(LOCK_FS.statSync(dir).mtime.getTime()).toBeGreaterThan(Date.now() - 60_000);
    writeFileSync(join(dir, 'owner'), `${deadPid()} other-${hostname()}`);
    expect(LOCK_FS.statSync(dir).mtime.getTime()).toBeGreaterThan(Date.now() - 60_000);
    writeFileSync(join(dir, 'owner'), `${deadPid()} ${hostname()}`);
    expect(LOCK_FS.statSync(dir).mtime.getTime()).toBe(0);
  });

  it('a dead lock another till took over after it was judged is not removed', () => {
    const dir = join(tmp(), 'x.lock');
    mkdirSync(dir);
    writeFileSync(join(dir, 'owner'), `${deadPid()} ${hostname()}`);
    expect(LOCK_FS.statSync(dir).mtime.getTime()).toBe(0);
    // Meanwhile another (live) till removed it and made it again.
    writeFileSync(join(dir, 'owner'), `${process.ppid} ${hostname()}`);
    expect(() => LOCK_FS.rmdirSync(dir)).toThrow(expect.objectContaining({ code: 'ELOCKED' }));
    expect(existsSync(dir)).toBe(true);
    LOCK_FS.rmdirSync(dir);
    expect(existsSync(dir)).toBe(false);
  });

  it('a dead lock seen by a check and then gone does not stop this till releasing the lock it takes there', () => {
    const dir = join(tmp(), 'x.lock');
    mkdirSync(dir);
    writeFileSync(join(dir, 'owner'), `${deadPid()} ${hostname()}`);
    expect(LOCK_FS.statSync(dir).mtime.getTime()).toBe(0);
    // Another till took the dead lock over and released it; then this one takes it.
    rmSync(dir, { recursive: true });
    LOCK_FS.mkdirSync(dir);
    expect(readFileSync(join(dir, 'owner'), 'utf8')).toBe(`${process.pid} ${hostname()}`);
    LOCK_FS.rmdirSync(dir);
    expect(existsSync(dir)).toBe(false);
  });
});
