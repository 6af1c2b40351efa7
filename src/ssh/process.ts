import { spawn } from 'node:child_process';

/**
 * The one place till starts ssh, rsync, ssh-keygen and git. A result carries what a
 * person needs to explain a failure: exit code, signal, both streams and duration.
 * Output is collected without a size limit, and stdin is closed by default so a
 * remote command that reads stdin cannot hang till.
 */
export interface ProcessResult {
  command: string;
  args: string[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  cancelled: boolean;
  /** Set when the binary could not be started at all (ENOENT…). */
  spawnError?: string;
}

export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Written to stdin, which is then closed; default: stdin is /dev/null. */
  input?: string | Buffer;
  /** Inherit the terminal (interactive `host ssh`). */
  interactive?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

const KILL_GRACE_MS = 2_000;
/** After exit, how long output may still arrive through inherited pipes. */
const EXIT_DRAIN_MS = 500;

export function runProcess(command: string, args: string[], opts: RunOptions = {}): Promise<ProcessResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let cancelled = false;
    let spawnError: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    if (opts.signal?.aborted) {
      resolve({ command, args, exitCode: null, signal: null, stdout: '', stderr: '', durationMs: 0, timedOut: false, cancelled: true });
      return;
    }

    const child = spawn(command, args, {
      stdio: opts.interactive ? 'inherit' : [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });

    const stop = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    const timer =
      opts.timeoutMs !== undefined && opts.timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            stop();
          }, opts.timeoutMs)
        : undefined;
    const onAbort = () => {
      cancelled = true;
      stop();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout?.on('data', (chunk: Buffer) => {
      out.push(chunk);
      opts.onStdout?.(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      err.push(chunk);
      opts.onStderr?.(chunk);
    });
    if (child.stdin && opts.input !== undefined) {
      child.stdin.on('error', () => undefined); // the process may exit before reading it all
      child.stdin.end(opts.input);
    }
    child.on('error', (e) => {
      spawnError = e.message;
    });
    let settled = false;
    const finish = (code: number | null, sig: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (drainTimer) clearTimeout(drainTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        command,
        args,
        exitCode: code,
        signal: sig,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        durationMs: Math.round(performance.now() - started),
        timedOut,
        cancelled,
        ...(spawnError !== undefined ? { spawnError } : {}),
      });
    };
    // An ssh mux client hands its stdio to the ControlMaster, so after the client is
    // killed (timeout, Ctrl-C) the pipes stay open until the remote command ends.
    // Once the process has exited, give its output a short grace to drain, then go.
    let drainTimer: NodeJS.Timeout | undefined;
    child.on('exit', (code, sig) => {
      drainTimer = setTimeout(() => finish(code, sig), timedOut || cancelled ? 0 : EXIT_DRAIN_MS);
    });
    child.on('close', finish);
  });
}
