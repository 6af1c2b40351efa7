import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { errorMessage, FailedError } from './errors.js';
import { LOCK_FS } from './fs.js';
import type { TillPaths } from './paths.js';

/** Is a run of `name` going on now (its lock held and fresh)? For callers that would rather wait than fail. */
export async function isRunLocked(paths: TillPaths, name: string): Promise<boolean> {
  return lockfile
    .check(join(paths.stateDir, `${name}.run`), { realpath: false, stale: 30_000, fs: LOCK_FS })
    .catch(() => false);
}

/**
 * One run at a time of an operation on this TILL_HOME (e.g. `sync`: two at once on one
 * checkout would have git fail on index.lock halfway). Not waited for: the second run
 * fails at once, naming the lock, and changes nothing. The lock's mtime is refreshed
 * while the run lives, so a run that died leaves a lock that goes stale in 30 s.
 */
export async function withRunLock<T>(paths: TillPaths, name: string, what: string, run: () => Promise<T>): Promise<T> {
  await mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  const target = join(paths.stateDir, `${name}.run`);
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(target, {
      realpath: false,
      fs: LOCK_FS,
      stale: 30_000,
      update: 10_000,
      retries: 0,
      onCompromised: () => undefined,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new FailedError(
        `another ${what} is running on this TILL_HOME (lock ${target}.lock); this one did nothing. Run it again when that one has ended (a lock a killed run left is free 30 s after it died)`,
      );
    }
    throw new FailedError(`could not take the lock ${target}.lock: ${errorMessage(err)}`);
  }
  try {
    return await run();
  } finally {
    await release().catch(() => undefined);
  }
}
