import { z } from 'zod';

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
    daily_at: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'not HH:MM').nullable().optional(),
    next_run: z.string().nullable().optional(),
    last_run: z.string().nullable().optional(),
    status: z.string().nullable().optional(),
  }),
  history: z.array(runRecord).optional(),
  watch: z.looseObject({ pid: z.number().int(), started: z.string() }).nullable().optional(),
});
export type ScheduleFile = z.output<typeof scheduleFileSchema>;

export function emptyScheduleFile(): ScheduleFile {
  return { sync: { enabled: false, interval_hours: 24, daily_at: '03:00', next_run: null, last_run: null, status: null }, history: [] };
}
