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

/**
 * `--trigger` of `till sync` and `till schedule run`: what started a run (manual, timer,
 * cron, watch…), recorded in schedule.json's history. One rule for both.
 */
export function triggerOption(value: string): string {
  if (/^[a-z][a-z0-9-]{0,31}$/.test(value)) return value;
  throw new UsageError(
    `invalid --trigger ${JSON.stringify(value)}: a trigger is a short lowercase name`,
    'a lowercase letter, then up to 31 of a-z, 0-9 and - (e.g. manual, timer, watch)',
  );
}

/**
 * A text option that means nothing when empty or blank: `--check ''` would check nothing,
 * `--source ''` would quietly be the current directory. A usage error, before any work.
 */
export function nonBlankOption(name: string, hint: string) {
  return (value: string): string => {
    if (value.trim() === '') throw new UsageError(`${name} is empty`, hint);
    return value;
  };
}

/** `--installation <name>` of deploy, diff and health --drift. */
export const installationOption = nonBlankOption(
  '--installation',
  'name one (see: till installation list), or leave it out for the default',
);

/** `--source <dir>` of deploy, diff and health --drift: `.` says the current directory. */
export const sourceOption = nonBlankOption('--source', 'name the directory, e.g. --source . for this one');
