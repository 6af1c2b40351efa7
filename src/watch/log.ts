import { appendFileSync, mkdirSync, renameSync, statSync, truncateSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileErrorText, isDiskFull } from '../core/errors.js';

export const WATCH_LOG_MAX_BYTES = 1024 * 1024;

/** What went wrong with a write: "disk full (ENOSPC)" or the error's own words. */
function writeProblem(err: unknown): string {
  if (isDiskFull(err)) return `disk full (${(err as NodeJS.ErrnoException).code})`;
  return fileErrorText(err);
}

/**
 * The watch daemon's log: timestamped lines appended to logs/watch.log. When a write
 * would take it past maxBytes it is renamed to watch.log.1 (replacing the older one),
 * so the two files together never hold much more than 2 × maxBytes.
 *
 * A write never throws: a daemon must outlive a full disk. A write that cannot complete
 * (ENOSPC) is cut back, so the file keeps exactly the lines it had; `onError` hears once
 * that the log cannot be written (and once that it can again), and the mirror (stderr)
 * still gets every line.
 */
export class RotatingLog {
  private failing: string | undefined;

  constructor(
    readonly file: string,
    private readonly maxBytes = WATCH_LOG_MAX_BYTES,
    private readonly mirror?: (line: string) => void,
    private readonly onError?: (message: string) => void,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  }

  /** Appends the message's lines; false when they could not be written to the file. */
  write(message: string, now = new Date()): boolean {
    const text = message
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => `${now.toISOString()} ${l}\n`)
      .join('');
    if (text === '') return true;
    this.mirror?.(text);
    try {
      this.append(text);
    } catch (err) {
      const why = writeProblem(err);
      if (why !== this.failing) this.onError?.(`cannot write ${this.file}: ${why}; its lines go to stderr only`);
      this.failing = why;
      return false;
    }
    if (this.failing !== undefined) this.onError?.(`writing ${this.file} again`);
    this.failing = undefined;
    return true;
  }

  private append(text: string): void {
    let size = 0;
    try {
      size = statSync(this.file).size;
    } catch {
      // no log yet
    }
    if (size > 0 && size + Buffer.byteLength(text) > this.maxBytes) {
      renameSync(this.file, `${this.file}.1`);
      size = 0;
    }
    try {
      appendFileSync(this.file, text, { mode: 0o600 });
    } catch (err) {
      // A short write leaves part of a line: cut the file back to the lines it had.
      try {
        truncateSync(this.file, size);
      } catch {
        // nothing was written, or the file is gone
      }
      throw err;
    }
  }
}

/** The scheduler's sync.log (cron, systemd and launchd append a run's output to it): rotated like watch.log. */
export const SYNC_LOG_MAX_BYTES = 1024 * 1024;

/**
 * Renames `file` to `file.1` once it is past maxBytes (replacing the older one). For a
 * log another process appends to (the scheduler's redirection of `schedule run`): the
 * run under way keeps writing to its open file, now `.1`, and the next run starts a new
 * one, so the two files stay near 2 × maxBytes. Never throws: a log must not stop a run.
 */
export function rotateIfOver(file: string, maxBytes: number): boolean {
  try {
    if (statSync(file).size <= maxBytes) return false;
    renameSync(file, `${file}.1`);
    return true;
  } catch {
    return false;
  }
}
