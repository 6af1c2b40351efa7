import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { OWNER_FINDS_WHY } from './decide.js';

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

/** What lockRoot gives: the lock's release, or the refusal the key is told and what the log keeps. */
export type RootLock = { ok: true; release: () => void } | { ok: false; reason: string; detail: string };

/**
 * Takes the lock of `root`, waiting for another session that holds it. Never throws:
 * when it is still held after `waitMs`, or the lock cannot be made (a full disk,
 * ~/.till/locks unwritable or not a folder), the key is told so in one sentence that
 * names only the root it sent; the holder's pid and the error (errno text, the lock's
 * path) are for the gate's log.
 */
export async function lockRoot(home: string, root: string, waitMs = ROOT_LOCK_WAIT_MS): Promise<RootLock> {
  const dir = rootLockDir(home, root);
  try {
    mkdirSync(posix.dirname(dir), { recursive: true, mode: 0o700 });
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (take(dir)) return { ok: true, release: () => remove(dir) };
      if (breakStale(dir)) continue;
      // The pid is no business of the key's (it is the host's process counter, and whose session).
      if (Date.now() > deadline)
        return {
          ok: false,
          reason: `another till session is working on ${root}; try again later`,
          detail: `held by pid ${holder(dir) ?? '?'}`,
        };
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } catch (err) {
    return {
      ok: false,
      reason: `the gate cannot lock ${root} on this host; ${OWNER_FINDS_WHY}`,
      detail: (err as Error).message,
    };
  }
}

/** mkdir's the lock and writes this gate's pid into it: true when taken, false when held; throws on any other error. */
function take(dir: string): boolean {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeFileSync(posix.join(dir, 'pid'), `${process.pid}\n`);
  } catch (err) {
    // Not left without a pid: every other session would wait BREAK_STALE_MS for it.
    remove(dir);
    throw err;
  }
  return true;
}

/** Removes a lock; one it cannot remove has a dead gate's pid, and the next session breaks it. */
function remove(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // see above
  }
}
