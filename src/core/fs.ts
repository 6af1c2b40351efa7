import { randomBytes } from 'node:crypto';
import {
  accessSync,
  mkdir as mkdirCallback,
  mkdirSync,
  realpath,
  realpathSync,
  rmdir,
  rmdirSync,
  stat as statCallback,
  statSync,
  utimes,
  utimesSync,
} from 'node:fs';
import { chmod, chown, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * The fs given to proper-lockfile (its `fs` option): only the calls it makes. Given
 * node:fs itself (its default, once the build replaced graceful-fs), its sync adapter
 * copies every property of it (`{ ...fs }`), which reads `fs.ReadStream` and so loads
 * Node's streams and fs/promises: ~1.5 ms at the journal's locked write after every command.
 */
export const LOCK_FS = {
  mkdir: mkdirCallback,
  mkdirSync,
  realpath,
  realpathSync,
  rmdir,
  rmdirSync,
  stat: statCallback,
  statSync,
  utimes,
  utimesSync,
};

/**
 * Whether a path exists: the file itself is read later, with its own errors. A path that
 * cannot be reached (EACCES on a folder above it) is an error, not "missing": taking it
 * for missing made till call an unreadable TILL_HOME "not initialised" and try to
 * create a key over one it cannot see. Synchronous (a local stat): every command asks
 * it first, and an asynchronous first file operation costs a start libuv's threads.
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    accessSync(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

export interface AtomicWriteOptions {
  /** The file's mode (default: the replaced file's, or 0666 less the umask for a new one). */
  mode?: number;
  /** fsync the data before the rename (default true): a crash then leaves the old text or the new one. */
  fsync?: boolean;
  /**
   * Asked with the temp file written, just before the rename: false leaves `file` as it
   * is (the temp file removed) and makes the write return false (a re-check of a file
   * that others change without till's lock).
   */
  beforeRename?: () => Promise<boolean>;
}

/**
 * Replaces `file` with `data` atomically: a temp file beside it is written in full,
 * synced, and renamed over it. A write that cannot complete (ENOSPC, EDQUOT) throws and
 * leaves `file` exactly as it was, and no temp file. The owner of a replaced file is
 * kept (when running as root, as write-file-atomic did).
 *
 * Not write-file-atomic 7 (the last version for Node 20): it makes ONE write() call and
 * ignores a short count, and on a nearly full disk the kernel writes what fits and
 * reports no error, so it renamed a truncated temp file over the state file (a 38 KB
 * health history became its first 12 KB, found by test/e2e/disk-full.test.ts).
 */
export async function writeFileAtomic(
  file: string,
  data: string | Buffer,
  opts: AtomicWriteOptions = {},
): Promise<boolean> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const old = await stat(file).catch(() => undefined);
  const mode = opts.mode ?? (old ? old.mode & 0o7777 : undefined);
  let handle;
  try {
    handle = await open(tmp, 'wx', mode ?? 0o666);
    // FileHandle.writeFile writes until every byte is written, or throws (ENOSPC).
    await handle.writeFile(data);
    if (opts.fsync !== false) await handle.sync();
    await handle.close();
    handle = undefined;
    if (mode !== undefined) await chmod(tmp, mode); // open()'s mode passes through the umask
    if (old && process.getuid?.() === 0) await chown(tmp, old.uid, old.gid);
    if (opts.beforeRename !== undefined && !(await opts.beforeRename())) {
      await rm(tmp, { force: true });
      return false;
    }
    await rename(tmp, file);
    return true;
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** How old a dead till's temp file must be before another till removes it. */
const STALE_TEMP_MS = 60_000;

/**
 * Removes the temp files writeFileAtomic left beside `files` (all in one folder) in a
 * till that was killed mid-write (`.<name>.<pid>.<hex>.tmp`): only those whose process is
 * gone and that are older than a minute. Best effort: a temp it cannot remove stays for
 * the next write.
 */
export async function removeStaleTemps(files: readonly string[], now = Date.now()): Promise<void> {
  const dir = dirname(files[0]!);
  const prefixes = files.map((f) => `.${basename(f)}.`);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.endsWith('.tmp')) continue;
    const prefix = prefixes.find((p) => name.startsWith(p) && /^\d+\.[0-9a-f]+\.tmp$/.test(name.slice(p.length)));
    if (prefix === undefined) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (pid === process.pid || pidExists(pid)) continue;
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (st === undefined || now - st.mtimeMs < STALE_TEMP_MS) continue;
    await rm(path, { force: true }).catch(() => undefined);
  }
}

/** Is a process with this pid alive? EPERM means it is, under another user. */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
