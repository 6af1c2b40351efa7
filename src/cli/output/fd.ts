import { fstatSync, writeSync } from 'node:fs';

/**
 * What the CLI prints goes straight to file descriptors 1 and 2 with write(2), not
 * through process.stdout/stderr: on a pipe those streams are net sockets, and making
 * them (with net, stream and tty) costs a start more than reading the host database.
 * process.stdout and process.stderr are synchronous on Linux as well, so text written
 * either way keeps its order.
 */

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Descriptors whose reader has gone (`till host list | head -1`). */
const closed = new Set<number>();

/**
 * Writes all of `text` now. A reader that has gone (EPIPE) makes the rest of the
 * output go nowhere, quietly: the command still finishes with its own exit code. A
 * pipe someone made non-blocking (EAGAIN) is waited for.
 */
export function writeFd(fd: 1 | 2, text: string | Buffer): void {
  if (closed.has(fd) || text.length === 0) return;
  let rest = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(fd, rest));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 2);
        continue;
      }
      if (code === 'EPIPE') {
        closed.add(fd);
        return;
      }
      throw err;
    }
  }
}

/**
 * Whether a descriptor is a terminal. Anything but a character device is not one, which
 * fstat says without loading node:tty (and with it net and the streams); a character
 * device is asked properly.
 */
export function isTerminal(fd: number): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return process.getBuiltinModule('node:tty').isatty(fd);
}
