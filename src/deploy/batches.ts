import { UsageError } from '../core/errors.js';

/**
 * Progressive switching, as data: which hosts switch together (`--canary N`,
 * `--batch-size N|P%`), and how many failures a run may have (`--max-fail N|P%`). Pure;
 * src/ops/deploy-run.ts runs the plan.
 */

/** A number of hosts, or a share of them. */
export type Amount = { count: number } | { percent: number };

/** `3` or `25%`, as `--batch-size` and `--max-fail` take it. */
export function parseAmount(option: string, value: string, min: number): Amount {
  const m = /^(\d{1,7})(%?)$/.exec(value);
  if (!m)
    throw new UsageError(
      `${option} takes a number of hosts or a percentage (e.g. 2 or 25%), got ${JSON.stringify(value)}`,
    );
  const n = Number(m[1]);
  if (m[2] === '%') {
    if (n > 100 || (min > 0 && n === 0))
      throw new UsageError(`${option} takes a percentage from ${min > 0 ? 1 : 0}% to 100%, got ${value}`);
    return { percent: n };
  }
  if (n < min) throw new UsageError(`${option} takes at least ${min}, got ${n}`);
  return { count: n };
}

export function formatAmount(a: Amount): string {
  return 'count' in a ? String(a.count) : `${a.percent}%`;
}

/**
 * How many failures a run of `total` hosts may have: N, or P% of `total` (rounded down):
 * a run stops when it has more than this many.
 */
export function failLimit(maxFail: Amount, total: number): number {
  return 'count' in maxFail ? maxFail.count : Math.floor((maxFail.percent * total) / 100);
}

/**
 * The batches in which `hosts` (in target order) switch: the first `canary` alone first
 * (when canary > 0), then the rest `batchSize` at a time (N, or P% of the rest rounded
 * up, at least 1); without a batch size, the rest in one batch.
 */
export function planBatches(hosts: readonly string[], canary: number, batchSize: Amount | null): string[][] {
  const batches: string[][] = [];
  const canaries = hosts.slice(0, canary);
  if (canaries.length > 0) batches.push(canaries);
  const rest = hosts.slice(canaries.length);
  if (rest.length === 0) return batches;
  const size =
    batchSize === null
      ? rest.length
      : 'count' in batchSize
        ? batchSize.count
        : Math.max(1, Math.ceil((batchSize.percent * rest.length) / 100));
  for (let i = 0; i < rest.length; i += size) batches.push(rest.slice(i, i + size));
  return batches;
}
