import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import type { OperationRecord } from './operation-record.js';
import { lockFileSync, prepareLockFileSync } from './store.js';

/**
 * The operations journal, `$TILL_HOME/logs/operations.jsonl`: one JSON line per till
 * command that acted, appended when it ends (docs/operations.md). This module is its
 * only writer and reader.
 *
 * Appends are atomic per record: each is made under the file's lock (the state store's
 * lock folder, taken synchronously so a record can still be written from a process
 * 'exit' handler), as ONE write(2) of the whole line to a file opened O_APPEND. Several
 * tills at once therefore never interleave or lose a record, whatever its size (an
 * O_APPEND write alone is only atomic up to PIPE_BUF on some systems, and a record of a
 * 10,000-host run is far larger). If the lock cannot be had, the record is still
 * appended in its one write and the rotation is left to the next writer.
 *
 * The file rotates when a record would take it past `maxBytes`: operations.jsonl.1 …
 * .<keep> keep the older ones, newest first, and the oldest is dropped.
 *
 * Every command that acts appends here, so this module does not load zod (a start
 * costs more loading it than `till host list` costs otherwise): the record's schema,
 * operation-record.ts, is loaded by the reader only.
 */
export const OPERATIONS_FILE = 'operations.jsonl';
export const OPERATIONS_MAX_BYTES = 8 * 1024 * 1024;
export const OPERATIONS_KEEP = 5;

export type { HostOutcome, OperationRecord } from './operation-record.js';

export interface JournalLimits {
  maxBytes?: number;
  keep?: number;
}

export function operationsFile(logsDir: string): string {
  return join(logsDir, OPERATIONS_FILE);
}

/** operations.jsonl.1 … .<keep>, then operations.jsonl: oldest first. */
function filesOldestFirst(file: string, keep: number): string[] {
  const out: string[] = [];
  for (let i = keep; i >= 1; i -= 1) out.push(`${file}.${i}`);
  out.push(file);
  return out;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function rotate(file: string, keep: number): void {
  rmSync(`${file}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i -= 1) {
    try {
      renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    } catch {
      // a gap in the numbering: nothing to move
    }
  }
  renameSync(file, `${file}.1`);
}

/**
 * Takes a torn record back off the end (a full disk can take part of a write): only when
 * the file ends exactly where this write's bytes would, so another writer's whole record
 * that landed after ours is never cut.
 */
function cutBack(fd: number, before: number, written: number): void {
  try {
    if (written > 0 && fstatSync(fd).size === before + written) ftruncateSync(fd, before);
  } catch {
    // nothing more can be done: the reader skips a corrupt line and says so
  }
}

/**
 * One write(2) of the whole buffer, O_APPEND; a short write is an error, never a torn
 * retry. After a torn last line (a till killed mid-write, a full disk) the record starts
 * on a line of its own: glued to the torn one, the reader would drop both.
 */
function appendOnce(file: string, line: Buffer): void {
  const fd = openSync(file, 'a+', 0o600);
  try {
    const before = fstatSync(fd).size;
    const last = Buffer.alloc(1);
    const torn = before > 0 && readSync(fd, last, 0, 1, before - 1) === 1 && last[0] !== 0x0a;
    const data = torn ? Buffer.concat([Buffer.from('\n'), line]) : line;
    const written = writeSync(fd, data, 0, data.length);
    if (written !== data.length) {
      cutBack(fd, before, written);
      throw new Error(`wrote ${written} of ${data.length} bytes to ${file} (disk full?); the record was not kept`);
    }
  } finally {
    closeSync(fd);
  }
}

/** Readies appendOperation's lock; run once before the first append (it loads the lock library). */
export async function prepareOperations(): Promise<void> {
  await prepareLockFileSync();
}

/**
 * Appends one record (synchronously: it may run in an 'exit' handler). Throws when the
 * record cannot be written at all; the caller decides how to say so.
 */
export function appendOperation(logsDir: string, record: OperationRecord, limits: JournalLimits = {}): void {
  const maxBytes = limits.maxBytes ?? OPERATIONS_MAX_BYTES;
  const keep = limits.keep ?? OPERATIONS_KEEP;
  mkdirSync(logsDir, { recursive: true, mode: 0o700 });
  const file = operationsFile(logsDir);
  const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
  let release: (() => void) | undefined;
  try {
    release = lockFileSync(file);
  } catch {
    // Another till holds the lock for too long (or the folder refuses it): one O_APPEND
    // write still keeps the record whole; rotation waits for a writer that has the lock.
    appendOnce(file, line);
    return;
  }
  try {
    const size = sizeOf(file);
    if (size > 0 && size + line.length > maxBytes) rotate(file, keep);
    appendOnce(file, line);
  } finally {
    release();
  }
}

export interface CorruptLine {
  file: string;
  line: number;
  error: string;
}

export interface OperationsRead {
  records: OperationRecord[];
  corrupt: CorruptLine[];
}

export interface OperationsFilter {
  host?: string;
  /** `deploy` matches `host deploy`; `host deploy` matches it exactly. */
  command?: string;
  since?: Date;
  /** The newest `last` records that pass the filters. */
  last?: number;
}

export function matchesCommand(record: OperationRecord, wanted: string): boolean {
  const words = wanted.trim().split(/\s+/);
  const have = record.command.split(' ');
  return words.length <= have.length && words.every((w, i) => have[have.length - words.length + i] === w);
}

function passes(r: OperationRecord, f: OperationsFilter): boolean {
  if (f.since !== undefined && Date.parse(r.time) < f.since.getTime()) return false;
  if (f.command !== undefined && !matchesCommand(r, f.command)) return false;
  if (f.host !== undefined && !r.targets.includes(f.host) && !r.results.some((h) => h.host === f.host)) return false;
  return true;
}

/**
 * The journal, oldest record first, across the rotated files. A line that is not JSON or
 * not a record is reported in `corrupt` and skipped (a torn line from a crash, a hand
 * edit), never fatal. A file that cannot be read is reported the same way.
 */
export async function readOperations(
  logsDir: string,
  filter: OperationsFilter = {},
  limits: JournalLimits = {},
): Promise<OperationsRead> {
  const { operationRecordSchema } = await import('./operation-record.js');
  const file = operationsFile(logsDir);
  const records: OperationRecord[] = [];
  const corrupt: CorruptLine[] = [];
  for (const path of filesOldestFirst(file, limits.keep ?? OPERATIONS_KEEP)) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        corrupt.push({ file: path, line: 0, error: errorMessage(err) });
      continue;
    }
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    lines.forEach((raw, i) => {
      if (raw.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        corrupt.push({ file: path, line: i + 1, error: 'not valid JSON' });
        return;
      }
      const parsed = operationRecordSchema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
        corrupt.push({ file: path, line: i + 1, error: `not an operation record${where}: ${issue?.message ?? ''}` });
        return;
      }
      if (passes(parsed.data, filter)) records.push(parsed.data);
    });
  }
  // Rotation keeps files in order, but tills that started earlier may end later: order by start.
  records.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  return {
    records: filter.last !== undefined ? records.slice(Math.max(0, records.length - filter.last)) : records,
    corrupt,
  };
}
