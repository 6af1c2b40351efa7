import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';

/**
 * The gate's lock on one deploy root. Every gated operation on a root (a deploy script,
 * an upload into its releases) holds it from the gate's check until the command exits,
 * so no other session can turn a checked folder into a symlink in between (the rsync
 * server enters its destination long after the gate resolved it). docs/gate.md says why
 * a lock rather than rsync's --munge-links.
 *
 * A lock is a folder `~/.till/locks/root-<hash>` holding the holder's pid; mkdir(2) is
 * atomic. The holder is a live gate on this host, waiting for its command; a lock whose
 * pid is gone (a killed gate) is stale and is broken, under a second mkdir lock so two
 * waiters never both break it.
 */

/**
 * How long a session waits for another one on the same root. Less than the 120 s a
 * controller gives a deploy script: a gate must not run a script after its controller
 * has given up on it.
 */
export const ROOT_LOCK_WAIT_MS = 90_000;
/** A breaker's lock older than this was left by a killed gate. */
const BREAK_STALE_MS = 30_000;
const POLL_MS = 50;

export function rootLockDir(home: string, root: string): string {
  const hash = createHash('sha256').update(root).digest('hex').slice(0, 20);
  return posix.join(home, '.till', 'locks', `root-${hash}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holder(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(posix.join(dir, 'pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Breaks `dir` if its holder is gone; true when it was (or is already) gone. */
function breakStale(dir: string): boolean {
  const breaker = `${dir}.break`;
  try {
    mkdirSync(breaker);
  } catch {
    if (ageMs(breaker) > BREAK_STALE_MS) rmSync(breaker, { recursive: true, force: true });
    return false;
  }
  try {
    const pid = holder(dir);
    // No pid yet: its holder is between mkdir and write, unless that was long ago.
    const stale = pid === undefined ? ageMs(dir) > BREAK_STALE_MS : !alive(pid);
    if (stale) rmSync(dir, { recursive: true, force: true });
    return stale;
  } finally {
    rmSync(breaker, { recursive: true, force: true });
  }
}

/**
 * Takes the lock of `root`, waiting for another session that holds it; returns its
 * release. Throws when it is still held after `waitMs`.
 */
export async function lockRoot(home: string, root: string, waitMs = ROOT_LOCK_WAIT_MS): Promise<() => void> {
  const dir = rootLockDir(home, root);
  mkdirSync(posix.dirname(dir), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      mkdirSync(dir, { mode: 0o700 });
      writeFileSync(posix.join(dir, 'pid'), `${process.pid}\n`);
      return () => rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (breakStale(dir)) continue;
    if (Date.now() > deadline)
      throw new Error(`another till session is working on ${root} (pid ${holder(dir) ?? '?'}); try again later`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
