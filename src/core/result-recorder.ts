import type { HostResult } from './fanout.js';

/**
 * Records a fleet run's results while it runs, instead of once at its end, so one host
 * that takes long (frozen, up to its bound) does not hold back what every other host's
 * result says (`till watch`'s view of the fleet, /metrics). Results wait in a batch; the
 * batch is written once its oldest result has waited `maxWaitMs`, and at the end of the
 * run. A run whose hosts all finish within `maxWaitMs` is written once, as before: the
 * database is not rewritten per host. Writes never overlap, and keep the results' order.
 */
export class ResultRecorder<T> {
  private batch: HostResult<T>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private failure: { err: unknown } | undefined;

  constructor(
    private readonly record: (batch: readonly HostResult<T>[]) => Promise<void>,
    private readonly maxWaitMs: number,
  ) {}

  add(result: HostResult<T>): void {
    this.batch.push(result);
    this.timer ??= setTimeout(() => void this.write(), this.maxWaitMs);
  }

  /** Writes what is left; rejects with the first write's error, if any failed (later batches are still tried). */
  async flush(): Promise<void> {
    await this.write();
    if (this.failure) throw this.failure.err;
  }

  private write(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return this.writing;
    this.writing = this.writing.then(() =>
      this.record(batch).catch((err: unknown) => {
        this.failure ??= { err };
      }),
    );
    return this.writing;
  }
}

/** How long a finished host's result may wait before it is written: longer for big fleets, whose database is big. */
export function recordWaitMs(hosts: number): number {
  return Math.max(2_000, hosts * 10);
}
