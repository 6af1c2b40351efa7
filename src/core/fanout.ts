import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import pRetry, { AbortError } from 'p-retry';
import { HostFailure, type Failure } from './failure.js';
import type { HostEntry } from './state/hosts.js';

/**
 * The one fan-out engine: every multi-host command (test, exec, setup, deploy, sync,
 * health…) is a job it runs per host, with bounded concurrency, retries of
 * connection failures with exponential backoff and jitter, cancellation, and events
 * for progress. A remote command that ran and failed is never retried.
 */
export interface Target {
  name: string;
  entry: HostEntry;
}

export interface JobContext {
  name: string;
  entry: HostEntry;
  attempt: number;
  signal: AbortSignal;
}

export interface JobOutcome<T = unknown> {
  ok: boolean;
  failure?: Failure;
  exitCode?: number | null;
  stdout?: string;
  stderr?: string;
  data?: T;
}

export type HostJob<T> = (ctx: JobContext) => Promise<JobOutcome<T>>;

/** ok: succeeded; failed: ran and failed; unreachable: never connected; skipped: never started. */
export type ResultStatus = 'ok' | 'failed' | 'unreachable' | 'skipped';

export interface HostResult<T = unknown> {
  host: string;
  ok: boolean;
  status: ResultStatus;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  attempts: number;
  durationMs: number;
  error: string | null;
  failureKind: string | null;
  data?: T;
}

export interface FleetSummary {
  total: number;
  ok: number;
  failed: number;
  unreachable: number;
  skipped: number;
}

export interface FleetReport<T = unknown> {
  ok: boolean;
  summary: FleetSummary;
  results: HostResult<T>[];
  cancelled: boolean;
}

export type FleetEvent<T = unknown> =
  | { type: 'start'; host: string }
  /** The wait before the next attempt is delayMs to maxDelayMs (jitter: p-retry's randomize). */
  | { type: 'retry'; host: string; attempt: number; delayMs: number; maxDelayMs: number; error: string }
  | { type: 'done'; result: HostResult<T> };

export interface FleetOptions<T = unknown> {
  /** Hosts in flight at once. */
  parallel?: number;
  /** Attempts per host for connection failures (1 = no retry). */
  attempts?: number;
  /** Hosts marked unreachable get one attempt, so a dead host does not slow every run. */
  singleAttemptFor?: (target: Target) => boolean;
  /** Fresh connections in flight to one sshd endpoint (its MaxStartups starts dropping at 10). */
  perEndpoint?: number;
  backoff?: { minMs: number; maxMs: number; factor: number };
  /**
   * A bound on one host's whole job: every attempt and every wait between them. When it
   * passes, the host's signal aborts with a `TimeoutError` (the process layer ends its
   * child as a deadline, not a cancel) and the host's result is its last attempt's
   * outcome, or a `deadline` failure. A frozen host then costs this long, not its retries.
   */
  hostTimeoutMs?: number;
  /** Abort: no new hosts start, running ones are cancelled, the rest are reported skipped. */
  signal?: AbortSignal;
  onEvent?: (event: FleetEvent<T>) => void;
}

/**
 * Default in-flight hosts. A cold connection costs ~77 ms of client CPU; 32 keeps a
 * small controller busy without piling up handshakes, as `pssh -p 32` does.
 */
export const DEFAULT_PARALLEL = 32;
export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_PER_ENDPOINT = 10;
export const DEFAULT_BACKOFF = { minMs: 500, maxMs: 8_000, factor: 2 };

/** A failed attempt, thrown to p-retry: as an AbortError when it must not be retried. */
class AttemptFailed extends Error {
  constructor(readonly outcome: JobOutcome) {
    // Only retried attempts' messages are shown (retry events), and those carry a failure.
    super(outcome.failure?.message);
  }
}

// Stryker disable next-line BooleanLiteral: nothing reads retryable once a host is cancelled
const CANCELLED: Failure = { kind: 'cancelled', connection: false, retryable: false, message: 'cancelled' };

/** The abort reason of a host's bound: a TimeoutError, as AbortSignal.timeout gives. */
export function hostDeadlineReason(ms: number): DOMException {
  return new DOMException(`no result within ${formatBound(ms)}`, 'TimeoutError');
}

function formatBound(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * After a host's bound aborts its signal, how long its attempt in hand has to come back
 * with its own verdict (its process ended: ~2 s for SIGTERM then SIGKILL) before the
 * engine gives up on it: a job that does not heed its signal holds up nothing for long.
 */
export const BOUND_GRACE_MS = 3_000;

/**
 * The signal one host's job sees: the fleet's, plus its own bound when there is one.
 * Hand-made rather than AbortSignal.any, so nothing stays attached to the fleet's signal
 * once the host is done (`dispose`).
 */
function hostSignal(
  fleet: AbortSignal,
  boundMs: number | undefined,
): { signal: AbortSignal; deadline: Promise<never> | undefined; dispose: () => void } {
  if (boundMs === undefined) return { signal: fleet, deadline: undefined, dispose: () => undefined };
  const own = new AbortController();
  const onFleet = () => own.abort(fleet.reason);
  if (fleet.aborted) own.abort(fleet.reason);
  else fleet.addEventListener('abort', onFleet, { once: true });
  let passed: (reason: unknown) => void = () => undefined;
  // Rejects a grace after the bound, even if the job in hand does not heed its signal.
  const deadline = new Promise<never>((_, reject) => (passed = reject));
  deadline.catch(() => undefined);
  const reason = hostDeadlineReason(boundMs);
  const timer = setTimeout(() => own.abort(reason), boundMs);
  const giveUp = setTimeout(() => passed(reason), boundMs + BOUND_GRACE_MS);
  return {
    signal: own.signal,
    deadline,
    dispose: () => {
      clearTimeout(timer);
      clearTimeout(giveUp);
      fleet.removeEventListener('abort', onFleet);
    },
  };
}

function cancelledOutcome<T>(o: JobOutcome<T>): JobOutcome<T> {
  return { ...o, ok: false, failure: CANCELLED, exitCode: null };
}

/** What `perEndpoint` counts: one address (host and port), or one jump host. */
export function endpointKey(t: Target): string {
  return t.entry.jump !== undefined ? `jump:${t.entry.jump}` : `${t.entry.host}:${t.entry.port}`;
}

export function summarize(results: readonly HostResult[]): FleetSummary {
  const s: FleetSummary = { total: results.length, ok: 0, failed: 0, unreachable: 0, skipped: 0 };
  for (const r of results) s[r.status] += 1;
  return s;
}

export async function runFleet<T>(
  targets: readonly Target[],
  job: HostJob<T>,
  opts: FleetOptions<T> = {},
): Promise<FleetReport<T>> {
  const parallel = Math.max(1, opts.parallel ?? DEFAULT_PARALLEL);
  const attempts = Math.max(1, opts.attempts ?? DEFAULT_ATTEMPTS);
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const perEndpoint = Math.max(1, opts.perEndpoint ?? DEFAULT_PER_ENDPOINT);
  const signal = opts.signal ?? new AbortController().signal;
  // Every host in flight listens on it (ssh child, backoff wait): not a leak.
  setMaxListeners(0, signal);
  const global = pLimit(parallel);
  const endpoints = new Map<string, ReturnType<typeof pLimit>>();
  const emit = (e: FleetEvent<T>) => opts.onEvent?.(e);

  const skipped = (name: string): HostResult<T> => ({
    host: name,
    ok: false,
    status: 'skipped',
    exitCode: null,
    stdout: '',
    stderr: '',
    attempts: 0,
    durationMs: 0,
    error: 'not started (interrupted)',
    failureKind: null,
  });

  const runOne = async (target: Target): Promise<HostResult<T>> => {
    if (signal.aborted) return skipped(target.name);
    emit({ type: 'start', host: target.name });
    const started = performance.now();
    const maxAttempts = opts.singleAttemptFor?.(target) ? 1 : attempts;
    const host = hostSignal(signal, opts.hostTimeoutMs);
    let attempt = 0;
    let outcome: JobOutcome<T>;
    // p-retry rejects once the signal is aborted, even when the attempt in hand succeeded.
    let succeeded: JobOutcome<T> | undefined;
    // What the host's bound leaves as its result when it passes during a wait between attempts.
    let lastFailed: JobOutcome<T> | undefined;
    try {
      const tries = pRetry(
        async () => {
          attempt += 1;
          let o: JobOutcome<T>;
          try {
            o = await job({ name: target.name, entry: target.entry, attempt, signal: host.signal });
          } catch (e) {
            // A refusal found before anything was sent: the host's result, as it is.
            if (e instanceof HostFailure) throw new AbortError(new AttemptFailed({ ok: false, failure: e.failure }));
            // A job that throws anything else has a bug, not a flaky connection: trying it
            // again only repeats it (and its side effects) before the same crash.
            throw new AbortError(e instanceof Error ? e : new Error(String(e)));
          }
          if (o.ok) {
            succeeded = o;
            return o;
          }
          lastFailed = o;
          // Ctrl-C in a terminal reaches the ssh children too, and one may die of it before
          // till sees the signal: a failure after the abort is the abort, never the host's.
          if (signal.aborted) throw new AbortError(new AttemptFailed(cancelledOutcome(o)));
          const retryable = o.failure?.retryable === true && o.failure.connection && !host.signal.aborted;
          if (!retryable) throw new AbortError(new AttemptFailed(o));
          throw new AttemptFailed(o);
        },
        {
          retries: maxAttempts - 1,
          factor: backoff.factor,
          minTimeout: backoff.minMs,
          maxTimeout: backoff.maxMs,
          randomize: true,
          signal: host.signal,
          onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
            if (retriesLeft > 0 && !host.signal.aborted) {
              const delayMs = Math.min(backoff.maxMs, backoff.minMs * backoff.factor ** (attemptNumber - 1));
              emit({
                type: 'retry',
                host: target.name,
                attempt: attemptNumber,
                delayMs,
                maxDelayMs: Math.min(backoff.maxMs, delayMs * 2),
                error: error.message,
              });
            }
          },
        },
      );
      if (host.deadline) tries.catch(() => undefined); // what it ends with after the bound is not heard
      outcome = await (host.deadline ? Promise.race([tries, host.deadline]) : tries);
    } catch (err) {
      // p-retry rethrows an AbortError's original error; an abort during a backoff wait
      // rejects with the signal's reason; anything else is a bug in the job.
      if (succeeded !== undefined) outcome = succeeded;
      else if (err instanceof AttemptFailed) outcome = err.outcome as JobOutcome<T>;
      else if (signal.aborted) outcome = { ok: false, failure: CANCELLED };
      else if (host.signal.aborted) {
        // The host's bound passed while it waited to try again: its last attempt is its result.
        outcome = lastFailed ?? {
          ok: false,
          failure: {
            kind: 'deadline',
            connection: false,
            retryable: false,
            message: `no result within ${formatBound(opts.hostTimeoutMs ?? 0)}`,
          },
        };
      } else throw err;
    } finally {
      host.dispose();
    }
    const failure = outcome.failure;
    const result: HostResult<T> = {
      host: target.name,
      ok: outcome.ok,
      status: outcome.ok ? 'ok' : failure?.connection ? 'unreachable' : 'failed',
      exitCode: outcome.exitCode ?? null,
      stdout: outcome.stdout ?? '',
      stderr: outcome.stderr ?? '',
      attempts: attempt,
      durationMs: Math.round(performance.now() - started),
      error: outcome.ok ? null : (failure?.message ?? 'failed'),
      failureKind: failure?.kind ?? null,
      ...(outcome.data !== undefined ? { data: outcome.data } : {}),
    };
    emit({ type: 'done', result });
    return result;
  };

  const results = await Promise.all(
    targets.map((t) => {
      const key = endpointKey(t);
      let limit = endpoints.get(key);
      if (!limit) {
        limit = pLimit(perEndpoint);
        endpoints.set(key, limit);
      }
      return limit(() => global(() => runOne(t)));
    }),
  );
  const summary = summarize(results);
  return { ok: summary.ok === summary.total, summary, results, cancelled: signal.aborted };
}
