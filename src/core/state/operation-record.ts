import * as z from 'zod';
import './zod.js';

/**
 * One record of the operations journal (operations.ts, docs/operations.md), as the
 * reader checks it. Apart from operations.ts so that writing a record, which every
 * acting command does, does not load zod.
 */
const hostOutcomeSchema = z.looseObject({
  host: z.string(),
  status: z.string(),
  exitCode: z.number().int().nullable(),
  durationMs: z.number().nullable(),
  error: z.string().nullable(),
});
export type HostOutcome = z.output<typeof hostOutcomeSchema>;

export const operationRecordSchema = z.looseObject({
  time: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO-8601 time'),
  durationMs: z.number().int().min(0),
  operator: z.string(),
  sudoUser: z.string().optional(),
  command: z.string(),
  argv: z.array(z.string()),
  targets: z.array(z.string()),
  results: z.array(hostOutcomeSchema),
  exitCode: z.number().int(),
  interrupted: z.string().nullable(),
  error: z.string().nullable(),
  version: z.string(),
  pid: z.number().int().optional(),
});
export type OperationRecord = z.output<typeof operationRecordSchema>;
