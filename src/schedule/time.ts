import { readFileSync, readlinkSync } from 'node:fs';

/** A date in local time (the TZ environment variable's zone when set), minutes precision, with the zone. */
export function formatLocal(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())} ${zone}`;
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
