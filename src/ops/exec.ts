import type { HostJob } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { remoteScript } from '../protocol/wire.js';
import { sshRun, toOutcome } from '../ssh/client.js';
import { syntheticResult } from '../ssh/process.js';
import type { WarmClient } from '../watch/warm-client.js';

/**
 * How `host exec --stop-remote` (and `--timeout`) runs a line so that ending its ssh
 * (Ctrl-C, the timeout) also ends the command on the host. ssh without a terminal only
 * closes the session: the remote command would run on (until it writes to the closed
 * pipe), as with plain ssh, pssh or Ansible. Not the default: it costs two short-lived
 * processes per host (~20 ms of host CPU here; a warm run over 50 loopback hosts went
 * from 0.9× to 1.2× pssh's time). So the line runs in the user's login shell ($1, exactly as
 * written, stdin /dev/null) next to a watcher that reads the session's stdin, which
 * till holds open and never writes: end-of-file there means the session is gone, and
 * the watcher ends the session's process group (sshd makes one per session). When the
 * command ends first, the watcher is ended and the command's exit code passes through.
 * One line: a csh/tcsh login shell cannot take a newline inside the quoted `sh -c` argument.
 * Not a registered gate script: a restricted key refuses exec whatever its form.
 */
export const EXEC_SCRIPT = [
  'exec 3<&0',
  '"${SHELL:-/bin/sh}" -c "$1" </dev/null & c=$!',
  '{ while read -r _; do :; done; kill -TERM 0; } <&3 & w=$!',
  'exec 3<&-',
  'wait "$c"; rc=$?',
  'kill "$w" 2>/dev/null',
  'exit "$rc"',
].join('; ');

/** The remote command line of `host exec` for one shell line. */
export function execCommand(line: string): string {
  return remoteScript(EXEC_SCRIPT, [line]);
}

/** Runs one shell line on a host; its stdout, stderr and exit code are the result. */
export function execJob(
  paths: TillPaths,
  line: string,
  opts: {
    connectTimeout?: number;
    timeoutMs?: number;
    stopRemote?: boolean;
    onOutput?: (host: string, stream: 'stdout' | 'stderr', chunk: Buffer) => void;
    /** `watch --keep-warm`'s sessions: tried first; a host without one takes ssh. */
    warm?: WarmClient;
    /** Told of each host that ran over a session. */
    onWarm?: (host: string) => void;
  } = {},
): HostJob<undefined> {
  return async ({ name, entry, signal }) => {
    if (opts.warm !== undefined && entry.restricted !== true) {
      const r = await opts.warm.run(name, line, signal);
      if (r.kind === 'cancelled') return toOutcome(syntheticResult({ cancelled: true }));
      if (r.kind === 'broken') {
        // The command may have started: running it again could run it twice.
        return {
          ok: false,
          failure: {
            kind: 'closed',
            connection: true,
            retryable: false,
            message: `${r.message}; it may have run, so it was not run again`,
          },
          exitCode: null,
          stdout: '',
          stderr: '',
        };
      }
      if (r.kind === 'done') {
        opts.onWarm?.(name);
        const stdout = Buffer.from(r.stdout, 'base64');
        const stderr = Buffer.from(r.stderr, 'base64');
        if (stdout.length > 0) opts.onOutput?.(name, 'stdout', stdout);
        if (stderr.length > 0) opts.onOutput?.(name, 'stderr', stderr);
        return toOutcome(
          syntheticResult({
            exitCode: r.exitCode,
            stdout: stdout.toString('utf8'),
            stderr: stderr.toString('utf8'),
            durationMs: r.ms,
          }),
        );
      }
      // unavailable: nothing was started; the normal path below.
    }
    // A restricted key's gate refuses any exec; sent bare, its refusal names the command.
    const wrapped = opts.stopRemote === true && entry.restricted !== true;
    const result = await sshRun(paths, name, wrapped ? execCommand(line) : line, {
      signal,
      // Held open and never written: its end-of-file on the host is the session's end.
      onStdin: wrapped ? () => undefined : undefined,
      connectTimeout: opts.connectTimeout,
      timeoutMs: opts.timeoutMs,
      onStdout: opts.onOutput ? (c) => opts.onOutput!(name, 'stdout', c) : undefined,
      onStderr: opts.onOutput ? (c) => opts.onOutput!(name, 'stderr', c) : undefined,
    });
    return toOutcome(result);
  };
}
