/**
 * The fs given to proper-lockfile (its `fs` option) for every lock till takes on this
 * machine (the state files' `<file>.lock`, the run locks), with one addition: the lock
 * folder names its owner.
 *
 * proper-lockfile judges a lock by its folder's mtime, refreshed while the holder lives,
 * so a till killed with -9 leaves a lock the next till waits for, silently, until it is
 * stale (15 s; 30 s for a run lock). Here each lock folder gets a file `owner` when it is
 * made ("<pid> <hostname>"). A lock whose owner is a process gone from this machine is
 * reported stale at once (its mtime as the epoch), so proper-lockfile's own takeover
 * takes it now. A live owner, another machine's (a TILL_HOME on a shared disk), or none
 * (a lock being made, or left by an older till) is judged by its mtime, as before.
 *
 * Only the calls proper-lockfile makes. Given node:fs itself (its default, once the
 * build replaced graceful-fs), its sync adapter copies every property of it
 * (`{ ...fs }`), which reads `fs.ReadStream` and so loads Node's streams and
 * fs/promises: ~1.5 ms at the journal's locked write after every command.
 */
import {
  mkdirSync,
  readFileSync,
  realpath,
  realpathSync,
  rmdirSync,
  statSync,
  unlinkSync,
  utimes,
  utimesSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pidExists } from './fs.js';

const OWNER = 'owner';

/** Who made a lock: this process on this machine. */
function me(): string {
  return `${process.pid} ${hostname()}`;
}

function ownerOf(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, OWNER), 'utf8');
  } catch {
    return undefined;
  }
}

/** The owner text of a lock whose owner is a process gone from this machine; undefined otherwise. */
export function deadOwner(dir: string): string | undefined {
  const text = ownerOf(dir);
  const m = text === undefined ? null : /^(\d+) (\S+)$/.exec(text);
  if (m === null || m[2] !== hostname()) return undefined;
  const pid = Number(m[1]);
  return pid === process.pid || pidExists(pid) ? undefined : text;
}

/**
 * Locks this process reported stale for a dead owner, and that owner: proper-lockfile
 * removes such a lock next, and must not remove another till's that took its place
 * meanwhile (a till that took the dead lock over first, and made it again).
 */
const reportedDead = new Map<string, string>();

function lockMkdirSync(dir: string): void {
  mkdirSync(dir);
  // Ours now: a dead owner seen before (by a check, or a takeover another till finished) no longer applies.
  reportedDead.delete(dir);
  try {
    writeFileSync(join(dir, OWNER), me(), { mode: 0o600 });
  } catch {
    // No owner (a full disk): the lock is judged by its mtime alone, as a lock without one is.
  }
}

function lockStatSync(dir: string): Stats {
  const st = statSync(dir);
  const dead = deadOwner(dir);
  if (dead === undefined) return st;
  reportedDead.set(dir, dead);
  // proper-lockfile reads only the mtime: the epoch makes the lock stale for any threshold.
  return { ...st, mtime: new Date(0) } as Stats;
}

function lockRmdirSync(dir: string): void {
  const dead = reportedDead.get(dir);
  reportedDead.delete(dir);
  const owner = ownerOf(dir);
  if (dead !== undefined && owner !== dead && owner !== me()) {
    // Not the dead till's lock any more: another till took it over and holds it now.
    throw Object.assign(new Error(`${dir} was taken over meanwhile`), { code: 'ELOCKED' });
  }
  try {
    unlinkSync(join(dir, OWNER));
  } catch {
    // none (an older till's lock, or one whose owner could not be written)
  }
  rmdirSync(dir);
}

/** A callback form of a sync call (proper-lockfile's async lock): the calls are a few local syscalls. */
function callback<A extends unknown[], R>(fn: (...args: A) => R) {
  return (...args: [...A, (err: NodeJS.ErrnoException | null, result?: R) => void]): void => {
    const cb = args.pop() as (err: NodeJS.ErrnoException | null, result?: R) => void;
    let result: R;
    try {
      result = fn(...(args as unknown as A));
    } catch (err) {
      process.nextTick(cb, err as NodeJS.ErrnoException);
      return;
    }
    process.nextTick(cb, null, result);
  };
}

export const LOCK_FS = {
  mkdir: callback(lockMkdirSync),
  mkdirSync: lockMkdirSync,
  realpath,
  realpathSync,
  rmdir: callback(lockRmdirSync),
  rmdirSync: lockRmdirSync,
  stat: callback(lockStatSync),
  statSync: lockStatSync,
  utimes,
  utimesSync,
};
