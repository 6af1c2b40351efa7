import { readFileSync, readlinkSync } from 'node:fs';
import { UsageError } from '../core/errors.js';

/** Whether Intl (the zone database Node carries) knows a zone name. */
export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The zone TZ names (`:Europe/Berlin` as `Europe/Berlin`), or undefined when TZ is unset
 * or empty. A zone Intl does not know is refused: Node would quietly run on UTC, so
 * `--daily-at 03:00` would mean 03:00 UTC while a timer or crontab written with that TZ
 * would be refused (systemd) or follow the system zone (cron).
 */
export function zoneFromTz(tz: string | undefined = process.env.TZ): string | undefined {
  if (tz === undefined || tz === '') return undefined;
  const zone = tz.startsWith(':') ? tz.slice(1) : tz;
  if (isKnownTimeZone(zone)) return zone;
  throw new UsageError(
    `TZ=${JSON.stringify(tz).slice(1, -1)} is not a time zone this system knows, so a local time cannot be told`,
    'set TZ to a zone name such as Europe/Berlin or UTC (see /usr/share/zoneinfo), or unset it to use the system zone',
  );
}

/**
 * The zone local times are in: Node's (TZ's when set), or UTC where Node has none it can
 * name (an empty TZ gives `Etc/Unknown`, an unknown one nothing): Node's clock runs on
 * UTC then.
 */
export function localTimeZone(): string {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone as string | undefined;
  return zone !== undefined && isKnownTimeZone(zone) ? zone : 'UTC';
}

/**
 * A date in local time (the TZ environment variable's zone when set, as the process
 * started with it), minutes precision, with the zone; or in the zone given.
 */
export function formatLocal(date: Date, timeZone: string = localTimeZone()): string {
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
