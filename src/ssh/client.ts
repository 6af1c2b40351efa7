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
