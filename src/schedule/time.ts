import { readFileSync, readlinkSync } from 'node:fs';

/**
 * A date in local time (the TZ environment variable's zone when set, as the process
 * started with it), minutes precision, with the zone; or in the zone given.
 */
export function formatLocal(date: Date, timeZone: string = Intl.DateTimeFormat().resolvedOptions().timeZone): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(date);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)!.value;
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')} ${timeZone}`;
}

/** The same instant in UTC, seconds precision. */
export function formatUtc(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * The system's zone (what cron and the service managers' clocks read): the zone
 * /etc/localtime links to, or /etc/timezone; UTC when neither exists; undefined when
 * it cannot be told (a copied zone file).
 */
export function systemTimeZone(): string | undefined {
  try {
    const target = readlinkSync('/etc/localtime');
    const m = /zoneinfo\/(.+)$/.exec(target);
    if (m) return m[1];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return readTimezoneFile() ?? 'UTC';
    }
  }
  return readTimezoneFile();
}

function readTimezoneFile(): string | undefined {
  try {
    return readFileSync('/etc/timezone', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
