/**
 * Why a host's job failed, as the fan-out engine and every report see it. The kinds
 * are ssh's and rsync's (ssh/outcome.ts classifies their results into them) plus the
 * engine's own (deadline, cancelled); they live here so the engine below ssh can name them.
 */
export type FailureKind =
  | 'refused'
  | 'timeout'
  | 'unreachable'
  | 'dns'
  | 'closed'
  | 'auth'
  | 'hostkey-changed'
  | 'hostkey-unknown'
  | 'connection'
  | 'remote'
  | 'deadline'
  | 'cancelled'
  | 'local'
  | 'spawn';

export interface Failure {
  kind: FailureKind;
  /** A connection-level failure: the remote command never ran (or its fate is unknown). */
  connection: boolean;
  /** Worth another attempt: the network may come back; a refused key will not. */
  retryable: boolean;
  message: string;
}

/**
 * Thrown by a host's job to end that host with this failure at once, never retried: a
 * refusal found before anything was sent (an argument the host's gate would refuse). The
 * fan-out engine reports it as the host's result; any other error a job throws is a bug.
 */
export class HostFailure extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
    this.name = 'HostFailure';
  }
}
