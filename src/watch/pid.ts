import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { pidExists } from '../core/fs.js';
import { runProcess } from '../ssh/process.js';

/**
 * Is a recorded watch pid still that watch? A pid alone is not enough: after the
 * daemon was killed, the number can be reused by any process, which must then neither
 * block a new watch nor receive `--stop`'s SIGTERM. The daemon records its process
 * start mark next to the pid; a live process with another mark is someone else.
 */
export interface RecordedWatch {
  pid: number;
  started: string;
  /** The process start mark (Linux: /proc/<pid>/stat starttime; elsewhere: ps lstart). */
  proc_start?: string;
}

async function ps(pid: number, field: string): Promise<string | undefined> {
  // lstart is printed in the caller's zone and locale: fixed here, so the daemon and a later check agree.
  const r = await runProcess('ps', ['-o', `${field}=`, '-p', String(pid)], {
    timeoutMs: 10_000,
    env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
  });
  const out = r.stdout.trim();
  return r.exitCode === 0 && out !== '' ? out : undefined;
}

/** When the process started, as an opaque mark that only the same process reproduces; undefined if unknown. */
export async function processStartMark(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime); the command name in field 2 may hold spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === 'ENOENT' &&
      (await readFile('/proc/self/stat').then(
        () => true,
        () => false,
      ))
    )
      return undefined;
  }
  return ps(pid, 'lstart'); // macOS and other systems without /proc
}

/** The process's arguments (undefined when they cannot be read). */
async function processArgs(pid: number): Promise<string[] | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  } catch {
    return (await ps(pid, 'command'))?.split(/\s+/);
  }
}

/**
 * The recorded daemon is running: the pid is alive and is the same process (same start
 * mark), or, for a record without a mark, a process running `… till… watch`.
 */
export async function isWatchProcess(watch: RecordedWatch): Promise<boolean> {
  if (!pidExists(watch.pid)) return false;
  if (watch.proc_start !== undefined) {
    // A vanished process has no mark (undefined): not running either.
    return (await processStartMark(watch.pid)) === watch.proc_start;
  }
  const args = await processArgs(watch.pid);
  if (!args) return true; // cannot tell: the pid is alive, so do not start a second daemon
  return args.includes('watch') && args.some((a) => /till/.test(basename(a)));
}
