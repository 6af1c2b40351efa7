import { UsageError } from '../core/errors.js';

/** Repeatable option collector for commander. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value))
      throw new UsageError(`${name} takes a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    const n = Number(value);
    if (n < min || n > max) throw new UsageError(`${name} takes a whole number from ${min} to ${max}, got ${n}`);
    return n;
  };
}

/** Seconds, possibly fractional ("0.5"), within bounds. */
export function secondsOption(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+(\.\d+)?$/.test(value))
      throw new UsageError(`${name} takes a number of seconds, got ${JSON.stringify(value)}`);
    const n = Number(value);
    if (n < min || n > max) throw new UsageError(`${name} takes ${min} to ${max} seconds, got ${n}`);
    return n;
  };
}
