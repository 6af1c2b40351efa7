import type { HostJob } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { sshRun, toOutcome } from '../ssh/client.js';

/** Runs one shell line on a host; its stdout, stderr and exit code are the result. */
export function execJob(paths: TillPaths, line: string, opts: { connectTimeout?: number; timeoutMs?: number; onOutput?: (host: string, stream: 'stdout' | 'stderr', chunk: Buffer) => void } = {}): HostJob<undefined> {
  return async ({ name, signal }) => {
    const result = await sshRun(paths, name, line, {
      signal,
      connectTimeout: opts.connectTimeout,
      timeoutMs: opts.timeoutMs,
      onStdout: opts.onOutput ? (c) => opts.onOutput!(name, 'stdout', c) : undefined,
      onStderr: opts.onOutput ? (c) => opts.onOutput!(name, 'stderr', c) : undefined,
    });
    return toOutcome(result);
  };
}
