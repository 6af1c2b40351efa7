import type { Writable } from 'node:stream';

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

/** A result made without a process of its own (refused before the spawn, or run over a warm session): `over` fills in what is known. */
export function syntheticResult(over: Partial<ProcessResult> = {}): ProcessResult {
  return {
    command: 'ssh',
    args: [],
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: '',
    durationMs: 0,
    timedOut: false,
    cancelled: false,
    ...over,
  };
}

export interface RunOptions {
  timeoutMs?: number;
  /**
   * Ends the process when aborted: a cancel (`cancelled`), or, when the reason is a
   * `TimeoutError` (AbortSignal.timeout, the engine's per-host bound), a deadline (`timedOut`).
   */
  signal?: AbortSignal;
  /** Written to stdin, which is then closed; default: stdin is /dev/null. */
  input?: string | Buffer;
  /**
   * Keep stdin open as a pipe and hand it over right after the start: the caller writes
   * and ends it while the process runs (host health answers its script). Ended at exit.
   */
  onStdin?: (stdin: Writable) => void;
  /** Inherit the terminal (interactive `host ssh`). */
  interactive?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

const KILL_GRACE_MS = 2_000;

/** An abort whose reason is a TimeoutError (AbortSignal.timeout's, or the engine's per-host bound): a deadline, not a cancel. */
export function isDeadline(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && (signal.reason as { name?: unknown } | undefined)?.name === 'TimeoutError';
}
/** How long output may still arrive after an ended child exits. */
const STREAM_DRAIN_MS = 100;

/** node:child_process, loaded on the first spawn: a command that starts nothing (host list) never pays for it. */
let childProcess: Promise<typeof import('node:child_process')> | undefined;

export async function runProcess(command: string, args: string[], opts: RunOptions = {}): Promise<ProcessResult> {
  const started = performance.now();
  const { spawn } = await (childProcess ??= import('node:child_process'));
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let cancelled = false;
    let spawnError: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    if (opts.signal?.aborted) {
      const deadline = isDeadline(opts.signal);
      resolve({
        command,
        args,
        exitCode: null,
        signal: null,
        stdout: '',
        stderr: '',
        durationMs: 0,
        timedOut: deadline,
        cancelled: !deadline,
      });
      return;
    }

    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(command, args, {
        stdio: opts.interactive
          ? 'inherit'
          : [opts.input === undefined && opts.onStdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        env: opts.env ?? process.env,
        cwd: opts.cwd,
      });
    } catch (e) {
      // spawn throws, rather than emitting 'error', for what the kernel refuses at once
      // (E2BIG: one argument over 128 KiB): a failure to start, like ENOENT, never a crash.
      resolve(syntheticResult({ command, args, spawnError: (e as Error).message }));
      return;
    }

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
      if (isDeadline(opts.signal)) timedOut = true;
      else cancelled = true;
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
    } else if (child.stdin && opts.onStdin) {
      child.stdin.on('error', () => undefined);
      opts.onStdin(child.stdin);
    }
    // An ssh that multiplexes over a master hands its stdout/stderr to the master
    // process, so after we end it the pipes stay open until the remote command ends
    // on its own. Once a cancelled or timed-out child has exited, stop reading.
    child.on('exit', () => {
      if (opts.onStdin && child.stdin && !child.stdin.writableEnded) child.stdin.end();
      if (!cancelled && !timedOut) return;
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, STREAM_DRAIN_MS).unref();
    });
    child.on('error', (e) => {
      spawnError = e.message;
    });
    child.on('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
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
    });
  });
}
