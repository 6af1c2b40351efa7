import { remoteScript } from '../protocol/wire.js';

/**
 * The two wires of `watch --keep-warm`'s sessions (docs/bench.md, "Warm sessions"):
 *
 * - daemon → host: one long-lived `ssh <host> sh -c LOOP` per host, over the host's
 *   master and till's ssh/config. The loop reads one request at a time, runs it as ssh
 *   would (`$SHELL -c LINE` in the home directory, stdin /dev/null, a fresh process per
 *   command), and answers with the exit code and both outputs framed by byte counts.
 * - CLI ↔ daemon: frames of a 4-byte big-endian length and a JSON body, over a unix socket
 *   in TILL_HOME; outputs travel as base64, so any byte goes through.
 */

/**
 * The loop on the host; `$1` is a nonce the ready line repeats (so what a login shell prints
 * first cannot pass for it). A request is `L<line>` (a line without a newline) or `N<k>`
 * followed by the k lines of a line that has newlines: read with the shell's `read -r`, so
 * nothing is read past the request and no process is started for it. A command without
 * output is answered `R <code> 0`; one with output `R <code> 1`, then `wc -c` of the two
 * files (three lines), then their bytes. One line: a csh/tcsh login shell cannot take a
 * newline inside the quoted `sh -c` argument.
 */
export const WARM_LOOP = [
  'd=$(mktemp -d) || exit 1',
  `trap 'rm -rf "$d"' EXIT`,
  `trap 'rm -rf "$d"; exit 1' HUP INT TERM PIPE`,
  `nl=$(printf '\\nx')`,
  'nl=${nl%x}',
  'echo "TILL_WARM_READY $1"',
  'while IFS= read -r h; do case $h in L*) c=${h#L} ;; ' +
    'N*) k=${h#N}; IFS= read -r c || exit 3; while [ "$k" -gt 1 ]; do IFS= read -r l || exit 3; c=$c$nl$l; k=$((k-1)); done ;; ' +
    '*) exit 2 ;; esac',
  '"${SHELL:-/bin/sh}" -c "$c" </dev/null >"$d/o" 2>"$d/e"; r=$?',
  `if [ -s "$d/o" ] || [ -s "$d/e" ]; then printf 'R %s 1\\n' "$r"; wc -c "$d/o" "$d/e"; cat "$d/o" "$d/e"; else printf 'R %s 0\\n' "$r"; fi`,
  'done',
].join('; ');

/** The remote command line of a session. */
export function warmSessionCommand(nonce: string): string {
  return remoteScript(WARM_LOOP, [nonce]);
}

export const READY_WORD = 'TILL_WARM_READY';

/** One request to the loop: the bytes to write to the session's stdin. */
export function encodeRemoteRequest(line: string): Buffer {
  if (line.includes('\0')) throw new Error('a command line cannot contain a NUL byte');
  if (!line.includes('\n')) return Buffer.from(`L${line}\n`);
  const parts = line.split('\n');
  return Buffer.from(`N${parts.length}\n${parts.join('\n')}\n`);
}

export interface RemoteAnswer {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * Reads the loop's answers from the session's stdout as it arrives. `push` returns the
 * answers complete so far; a malformed answer throws (the session is then broken).
 */
export class RemoteAnswerReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): RemoteAnswer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: RemoteAnswer[] = [];
    for (;;) {
      const a = this.next();
      if (a === undefined) return out;
      out.push(a);
    }
  }

  /** Bytes received and not yet part of an answer. */
  get pending(): number {
    return this.buf.length;
  }

  private next(): RemoteAnswer | undefined {
    const head = this.line(0);
    if (head === undefined) return undefined;
    const m = /^R (\d{1,3}) ([01])$/.exec(head.text);
    if (!m) throw new Error(`unexpected answer from the session: ${JSON.stringify(head.text.slice(0, 80))}`);
    const exitCode = Number(m[1]);
    if (m[2] === '0') {
      this.buf = this.buf.subarray(head.end);
      return { exitCode, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
    }
    const sizes: number[] = [];
    let at = head.end;
    for (let i = 0; i < 3; i++) {
      const l = this.line(at);
      if (l === undefined) return undefined;
      const n = /^\s*(\d+)\s/.exec(`${l.text} `);
      if (!n) throw new Error(`unexpected size line from the session: ${JSON.stringify(l.text.slice(0, 80))}`);
      sizes.push(Number(n[1]));
      at = l.end;
    }
    const [no, ne] = sizes as [number, number];
    if (this.buf.length < at + no + ne) return undefined;
    const stdout = Buffer.from(this.buf.subarray(at, at + no));
    const stderr = Buffer.from(this.buf.subarray(at + no, at + no + ne));
    this.buf = this.buf.subarray(at + no + ne);
    return { exitCode, stdout, stderr };
  }

  private line(from: number): { text: string; end: number } | undefined {
    const nl = this.buf.indexOf(10, from);
    if (nl < 0) {
      if (this.buf.length - from > 4096) throw new Error('the session sent a header line longer than 4 KiB');
      return undefined;
    }
    return { text: this.buf.subarray(from, nl).toString('latin1'), end: nl + 1 };
  }
}

// ---------------------------------------------------------------- CLI ↔ daemon

/** The largest frame either side accepts (outputs are collected whole, as ssh's are). */
export const MAX_FRAME = 512 * 1024 * 1024;

export interface WarmRequest {
  id: number;
  host: string;
  line: string;
}

/**
 * The daemon's answer to one request:
 * - `done`: the command ran; its exit code and outputs (base64).
 * - `unavailable`: nothing was started (no session for the host, or it is busy): use ssh.
 * - `broken`: the session broke after the command was sent: it may have run, so it must
 *   not be run again.
 */
export type WarmResponse =
  | { id: number; kind: 'done'; exitCode: number; stdout: string; stderr: string; ms: number }
  | { id: number; kind: 'unavailable'; message: string }
  | { id: number; kind: 'broken'; message: string };

export function encodeFrame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  if (body.length > MAX_FRAME) throw new Error(`a frame of ${body.length} bytes is over the limit`);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames' JSON values; throws on a frame over the limit or not JSON. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): unknown[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: unknown[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > MAX_FRAME) throw new Error(`a frame of ${len} bytes is over the limit`);
      if (this.buf.length < 4 + len) break;
      out.push(JSON.parse(this.buf.subarray(4, 4 + len).toString('utf8')));
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }
}

/** A request as read from the socket, checked field by field (a client is only trusted as far as its frame's shape). */
export function parseRequest(value: unknown): WarmRequest | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'number' || !Number.isSafeInteger(v.id)) return undefined;
  if (typeof v.host !== 'string' || typeof v.line !== 'string') return undefined;
  return { id: v.id, host: v.host, line: v.line };
}

/** The socket's name in TILL_HOME. */
export const WARM_SOCKET = 'watch.sock';
