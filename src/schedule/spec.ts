import { UsageError } from '../core/errors.js';
import type { SyncSettings } from '../core/state/schedule.js';
import { plural } from '../core/format.js';

/** When scheduled syncs happen: every day at a local time, or every N hours. */
export type Cadence = { kind: 'daily'; hour: number; minute: number } | { kind: 'interval'; hours: number };

export const MAX_INTERVAL_HOURS = 8760;

/** `HH:MM`, 00:00–23:59, as `set --daily-at` takes it. */
export function parseDailyAt(value: string): { hour: number; minute: number } {
  const m = /^(\d{1,2}):(\d{2})$/.exec(value.trim());
  const hour = m ? Number(m[1]) : NaN;
  const minute = m ? Number(m[2]) : NaN;
  if (!m || hour > 23 || minute > 59) {
    throw new UsageError(`--daily-at takes a local time HH:MM from 00:00 to 23:59, got ${JSON.stringify(value)}`);
  }
  return { hour, minute };
}

export function parseIntervalHours(value: string): number {
  if (!/^\d+$/.test(value.trim()))
    throw new UsageError(
      `--interval-hours takes a whole number of hours from 1 to ${MAX_INTERVAL_HOURS}, got ${JSON.stringify(value)}`,
    );
  const n = Number(value);
  if (n < 1 || n > MAX_INTERVAL_HOURS)
    throw new UsageError(`--interval-hours takes a whole number of hours from 1 to ${MAX_INTERVAL_HOURS}, got ${n}`);
  return n;
}

export function formatHHMM(hour: number, minute: number): string {
  return `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
}

/** The cadence schedule.json describes: `daily_at` wins when set (as computeNextRun does). */
export function cadenceOf(sync: SyncSettings): Cadence {
  if (sync.daily_at) {
    const { hour, minute } = parseDailyAt(sync.daily_at);
    return { kind: 'daily', hour, minute };
  }
  return { kind: 'interval', hours: sync.interval_hours ?? 24 };
}

/** What `set` stores: daily_at set → interval_hours 24; interval set → daily_at null (as in the seed). */
export function applyCadence(sync: SyncSettings, cadence: Cadence): void {
  if (cadence.kind === 'daily') {
    sync.daily_at = formatHHMM(cadence.hour, cadence.minute);
    sync.interval_hours = 24;
  } else {
    sync.daily_at = null;
    sync.interval_hours = cadence.hours;
  }
}

export function describeCadence(c: Cadence): string {
  return c.kind === 'daily'
    ? `daily at ${formatHHMM(c.hour, c.minute)} (local time)`
    : `every ${plural(c.hours, 'hour')}`;
}

/** How a scheduler starts till: absolute node, absolute till script, and where logs go. */
export interface TillInvocation {
  node: string;
  script: string;
  tillHome: string;
  logsDir: string;
  /** The TZ at enable time, passed on so the scheduled sync computes next_run in the same zone. */
  tz?: string;
  /** The system's zone (what cron's clock reads), when known: cron lines depend on it. */
  systemTz?: string;
  /** The enabling shell's PATH, passed on so git, rsync and ssh are found where that shell finds them. */
  path?: string;
}
