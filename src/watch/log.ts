import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export const WATCH_LOG_MAX_BYTES = 1024 * 1024;

/**
 * The watch daemon's log: timestamped lines appended to logs/watch.log. When a write
 * would take it past maxBytes it is renamed to watch.log.1 (replacing the older one),
 * so the two files together never hold much more than 2 × maxBytes.
 */
export class RotatingLog {
  constructor(
    readonly file: string,
    private readonly maxBytes = WATCH_LOG_MAX_BYTES,
    private readonly mirror?: (line: string) => void,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  }

  write(message: string, now = new Date()): void {
    const text = message
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => `${now.toISOString()} ${l}\n`)
      .join('');
    if (text === '') return;
    this.mirror?.(text);
    try {
      if (statSync(this.file).size + Buffer.byteLength(text) > this.maxBytes) renameSync(this.file, `${this.file}.1`);
    } catch {
      // no log yet
    }
    appendFileSync(this.file, text, { mode: 0o600 });
  }
}
