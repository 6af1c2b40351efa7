import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { JobOutcome } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { buildControlExitArgs, buildSshArgs, type MasterAddress, type SshCallOptions } from './args.js';
import { classifySsh } from './outcome.js';
import { runProcess, type ProcessResult, type RunOptions } from './process.js';

export interface RemoteCallOptions extends SshCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  input?: string | Buffer;
  onStdout?: RunOptions['onStdout'];
  onStderr?: RunOptions['onStderr'];
  onStdin?: RunOptions['onStdin'];
}

/** Runs one remote shell line on a host through till's config and alias. */
export function sshRun(
  paths: TillPaths,
  name: string,
  command: string,
  opts: RemoteCallOptions = {},
): Promise<ProcessResult> {
  return runProcess('ssh', buildSshArgs(paths, name, command, opts), {
    signal: opts.signal,
    timeoutMs: opts.timeoutMs,
    input: opts.input,
    onStdout: opts.onStdout,
    onStderr: opts.onStderr,
    onStdin: opts.onStdin,
  });
}

/** A session on the person's terminal (or one command with its output passed through). */
export function sshInteractive(
  paths: TillPaths,
  name: string,
  command: string | undefined,
  tty: boolean,
): Promise<ProcessResult> {
  return runProcess('ssh', buildSshArgs(paths, name, command, { tty }), { interactive: true });
}

/** Closes a host's ControlMaster, if one runs (at `at`, where the config no longer says); never fails. */
export async function closeMaster(paths: TillPaths, name: string, at?: MasterAddress): Promise<void> {
  await runProcess('ssh', buildControlExitArgs(paths, name, at), { timeoutMs: 5_000 });
}

/**
 * Asks every ControlMaster of this TILL_HOME to stop (`ssh -O stop`): it takes no new
 * sessions, lets the ones in use finish, then exits. The next call logs in afresh, with
 * till's key, so a key removed from a host's authorized_keys shows instead of hiding
 * behind a master that authenticated before. Never fails; returns how many were asked.
 */
export async function stopMasters(paths: TillPaths): Promise<number> {
  let sockets: string[];
  try {
    sockets = await readdir(paths.controlDir);
  } catch {
    return 0;
  }
  // The socket is named by ControlPath itself: no host alias (or config) is needed to reach it.
  // A few at a time: a big fleet has thousands of masters.
  const limit = pLimit(16);
  const results = await Promise.all(
    sockets.map((s) =>
      limit(() =>
        runProcess('ssh', ['-F', '/dev/null', '-o', `ControlPath=${join(paths.controlDir, s)}`, '-O', 'stop', 'till'], {
          timeoutMs: 5_000,
        }),
      ),
    ),
  );
  return results.filter((r) => r.exitCode === 0).length;
}

/** A process result as a fan-out job outcome. */
export function toOutcome<T>(result: ProcessResult, data?: T): JobOutcome<T> {
  const failure = classifySsh(result);
  return {
    ok: failure === undefined,
    ...(failure ? { failure } : {}),
    // Ended by till (Ctrl-C, --timeout): ssh's own exit code says nothing about the remote command.
    exitCode: failure?.kind === 'cancelled' || failure?.kind === 'deadline' ? null : result.exitCode,
    stdout: result.stdout,
    stderr: result.stderr,
    ...(data !== undefined ? { data } : {}),
  };
}
