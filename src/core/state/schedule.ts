import * as z from 'zod';
import './zod.js';
import type { TillPaths } from '../paths.js';
import { JsonFileStore } from './store.js';

/** schedule.json: the seed's `sync` block, plus a bounded run history and the watch daemon's pid. */
export const HISTORY_LIMIT = 50;

const runRecord = z.looseObject({
  started: z.string(),
  finished: z.string().optional(),
  status: z.string(),
  duration_ms: z.number().optional(),
});

export const scheduleFileSchema = z.looseObject({
  sync: z.looseObject({
    enabled: z.boolean().default(false),
    interval_hours: z.number().positive().nullable().optional(),
    daily_at: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'not HH:MM')
      .nullable()
      .optional(),
    next_run: z.string().nullable().optional(),
    last_run: z.string().nullable().optional(),
    status: z.string().nullable().optional(),
  }),
  history: z.array(runRecord).optional(),
  watch: z.looseObject({ pid: z.number().int(), started: z.string() }).nullable().optional(),
  // Per scheduler: the directories `schedule enable` created, removed again by `disable` when empty.
  installed: z.record(z.string(), z.looseObject({ created_dirs: z.array(z.string()).default([]) })).optional(),
});
export type ScheduleFile = z.output<typeof scheduleFileSchema>;

export function emptyScheduleFile(): ScheduleFile {
  return {
    sync: { enabled: false, interval_hours: 24, daily_at: '03:00', next_run: null, last_run: null, status: null },
    history: [],
  };
}

export type SyncSettings = ScheduleFile['sync'];

/**
 * The next run after `from`, in local time (the TZ environment variable's zone when
 * set). `daily_at` wins when set; otherwise every `interval_hours` after the last run.
 */
export function computeNextRun(sync: SyncSettings, from: Date): Date {
  if (sync.daily_at) {
    const [h, m] = sync.daily_at.split(':').map(Number) as [number, number];
    const next = new Date(from);
    next.setHours(h, m, 0, 0);
    if (next.getTime() <= from.getTime()) {
      next.setDate(next.getDate() + 1);
      next.setHours(h, m, 0, 0); // again: the day may have crossed a DST change
    }
    return next;
  }
  const hours = sync.interval_hours ?? 24;
  return new Date(from.getTime() + hours * 3_600_000);
}

export interface RunRecord {
  started: string;
  finished: string;
  status: 'success' | 'failed' | 'partial' | 'cancelled';
  duration_ms: number;
  trigger?: string;
  error?: string | null;
  [key: string]: unknown;
}

/** Records a finished sync run: last_run, status, next_run, failures in a row, bounded history (newest last). */
export function applyRunRecord(file: ScheduleFile, run: RunRecord): void {
  const sync = file.sync as SyncSettings & { consecutive_failures?: number; last_error?: string | null };
  sync.last_run = run.started;
  sync.status = run.status;
  // A run a person cancelled says nothing about the fleet: it neither resets nor adds to the count.
  if (run.status !== 'cancelled')
    sync.consecutive_failures = run.status === 'success' ? 0 : (sync.consecutive_failures ?? 0) + 1;
  sync.last_error = run.status === 'success' ? null : (run.error ?? null);
  sync.next_run = computeNextRun(sync, new Date(run.finished)).toISOString();
  const history = [...(file.history ?? []), run];
  file.history = history.slice(-HISTORY_LIMIT);
}

export function scheduleStore(paths: TillPaths) {
  return new JsonFileStore(paths.scheduleFile, scheduleFileSchema, emptyScheduleFile);
}
