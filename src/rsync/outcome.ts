import { gateRefusal } from '../protocol/wire.js';
import { classifySsh, remoteFailure, type Failure } from '../ssh/outcome.js';
import type { ProcessResult } from '../ssh/process.js';

/**
 * rsync exit codes that can mean "ssh never connected or the connection dropped":
 * 255 is ssh's own; 5 (error starting client-server protocol), 12 (protocol data
 * stream), 30 (timeout in data send/receive) and 35 (timeout waiting for daemon
 * connection) are what rsync reports when its ssh transport dies. They count as
 * connection failures only when ssh's stderr says so; otherwise they are rsync errors
 * on a working connection. Every rsync till runs (setup's copy, a deploy's transfer,
 * its dry run) is judged here.
 */
export const RSYNC_TRANSPORT_CODES: readonly number[] = [5, 12, 30, 35];

const RSYNC_CODES: Record<number, string> = {
  1: 'syntax or usage error',
  2: 'protocol incompatibility',
  3: 'errors selecting input/output files or folders',
  5: 'error starting the client-server protocol',
  10: 'error in socket I/O',
  11: 'error in file I/O',
  12: 'error in the rsync protocol data stream',
  23: 'partial transfer due to error',
  24: 'some source files vanished',
  30: 'timeout in data send/receive',
  35: 'timeout waiting for daemon connection',
  127: 'rsync not found on the host',
};

/** The first rsync error line, for a one-line message. */
function rsyncReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    // A fused deploy prepare reports on stderr with TILL_ markers: not rsync's words.
    .filter((l) => l !== '' && !l.startsWith('TILL_'));
  return lines.find((l) => /^rsync( error)?:/.test(l)) ?? lines[0] ?? '';
}

/** What an rsync-over-ssh result means, in the engine's terms (retryable connection failure or not). */
export function classifyRsync(result: ProcessResult): Failure | undefined {
  const code = result.exitCode;
  const refused = code !== 0 ? gateRefusal(result.stderr) : undefined;
  if (refused !== undefined) return remoteFailure(`refused by till gate on the host: ${refused}`);
  if (code !== null && RSYNC_TRANSPORT_CODES.includes(code)) {
    const viaSsh = classifySsh(result, [code]);
    // classifySsh's catch-all kind 'connection' means no ssh error was recognised.
    if (viaSsh && viaSsh.connection && viaSsh.kind !== 'connection') return viaSsh;
  }
  const failure = classifySsh(result, [255]);
  if (failure === undefined || failure.connection || failure.kind !== 'remote' || code === null) return failure;
  const what = RSYNC_CODES[code] ?? 'failed';
  const reason = rsyncReason(result.stderr);
  return { ...failure, message: `rsync exit ${code} (${what})${reason !== '' ? `: ${reason}` : ''}` };
}
