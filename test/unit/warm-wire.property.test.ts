/**
 * The wires of `watch --keep-warm`'s sessions (src/watch/warm-wire.ts): the loop a
 * session runs on a host, driven through a real /bin/sh (as the session's ssh would
 * drive it, minus ssh), and the CLI ↔ daemon frames. Any line a user sends (newlines,
 * quotes, `$`, backslashes, words that look like the loop's own requests) reaches the
 * command unchanged; any output comes back byte for byte, however the stream is cut.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import {
  FrameReader,
  MAX_FRAME,
  RemoteAnswerReader,
  WARM_LOOP,
  encodeFrame,
  encodeRemoteRequest,
  parseRequest,
  type RemoteAnswer,
} from '../../src/watch/warm-wire.js';

const dir = mkdtempSync('/tmp/t-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A "login shell" that prints the line it was given (`$SHELL -c LINE`) on both streams and exits 7. */
const echoShell = join(dir, 'echo-shell');
writeFileSync(echoShell, `#!/bin/sh\nprintf '%s' "$2"\nprintf '%s' "$2" >&2\nexit 7\n`);
chmodSync(echoShell, 0o755);

/** Runs the loop with `shell` as the login shell over `lines`; the answers, the stdout cut into `cuts` pieces. */
function runLoop(shell: string, lines: readonly string[], cuts: number[]): Promise<RemoteAnswer[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', WARM_LOOP, 'till', 'nonce'], {
      env: { PATH: process.env.PATH, SHELL: shell, HOME: dir },
      cwd: dir,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('error', reject);
    child.on('close', () => {
      const all = Buffer.concat(out);
      const ready = Buffer.from('TILL_WARM_READY nonce\n');
      expect(all.subarray(0, ready.length).equals(ready)).toBe(true);
      const rest = all.subarray(ready.length);
      const reader = new RemoteAnswerReader();
      const answers: RemoteAnswer[] = [];
      let at = 0;
      for (const c of [...cuts.map((x) => x % (rest.length + 1)).sort((a, b) => a - b), rest.length]) {
        if (c < at) continue;
        answers.push(...reader.push(rest.subarray(at, c)));
        at = c;
      }
      expect(reader.pending).toBe(0);
      resolve(answers);
    });
    for (const l of lines) child.stdin.write(encodeRemoteRequest(l));
    child.stdin.end();
  });
}

// Any string but NUL (no argv carries one), with the loop's own words and shell syntax mixed in.
const tricky = fc.constantFrom('\n', 'L', 'N2', 'N', 'R 0 1', '$', '$1', "'", '"', '\\', '\\n', '`', '%s', '\r', ' ');
const line = fc
  .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), tricky), { maxLength: 12 })
  .map((parts) => parts.join(''))
  .filter((s) => !s.includes('\0'));

describe('the session loop, through a real /bin/sh', () => {
  test('every line reaches $SHELL -c unchanged, and both outputs and the exit code come back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 15 }), fc.array(fc.nat()), async (lines, cuts) => {
        const answers = await runLoop(echoShell, lines, cuts);
        expect(answers.map((a) => [a.exitCode, a.stdout.toString('utf8'), a.stderr.toString('utf8')])).toEqual(
          lines.map((l) => [7, l, l]),
        );
      }),
      { numRuns: 30 },
    );
  });

  test('any bytes a command prints come back exactly (no newline added or lost), large ones too', async () => {
    const bytes = fc.uint8Array({ maxLength: 300 });
    await fc.assert(
      fc.asyncProperty(fc.array(bytes, { minLength: 1, maxLength: 8 }), fc.array(fc.nat()), async (outputs, cuts) => {
        const lines = outputs.map(
          (b) =>
            `printf '${[...b].map((x) => `\\${x.toString(8).padStart(3, '0')}`).join('')}'; exit ${b.length % 256}`,
        );
        const answers = await runLoop('/bin/sh', lines, cuts);
        expect(answers.map((a) => [a.exitCode, [...a.stdout], a.stderr.length])).toEqual(
          outputs.map((b) => [b.length % 256, [...b], 0]),
        );
      }),
      { numRuns: 20 },
    );
    const [big] = await runLoop('/bin/sh', ['head -c 3000000 /dev/zero | tr "\\0" x; echo e >&2'], [1, 100, 70000]);
    expect(big!.stdout.length).toBe(3_000_000);
    expect(big!.stderr.toString()).toBe('e\n');
  });

  test('a NUL in a line is refused before anything is sent', () => {
    expect(() => encodeRemoteRequest('a\0b')).toThrow(/NUL/);
  });

  test('a malformed answer is an error, not a guess', () => {
    expect(() => new RemoteAnswerReader().push(Buffer.from('hello\n'))).toThrow(/unexpected answer/);
    expect(() => new RemoteAnswerReader().push(Buffer.from('R 0 1\nx o\n'))).toThrow(/unexpected size/);
  });
});

describe('CLI ↔ daemon frames', () => {
  test('any requests survive any cutting of the stream', () => {
    const req = fc.record({ id: fc.nat(), host: fc.string({ unit: 'binary' }), line: fc.string({ unit: 'binary' }) });
    fc.assert(
      fc.property(fc.array(req, { maxLength: 10 }), fc.array(fc.nat()), (reqs, cuts) => {
        const all = Buffer.concat(reqs.map((r) => encodeFrame(r)));
        const reader = new FrameReader();
        const got: unknown[] = [];
        let at = 0;
        for (const c of [...cuts.map((x) => x % (all.length + 1)).sort((a, b) => a - b), all.length]) {
          if (c < at) continue;
          got.push(...reader.push(all.subarray(at, c)));
          at = c;
        }
        expect(got.map(parseRequest)).toEqual(reqs);
      }),
      { numRuns: 200 },
    );
  });

  test('a frame over the limit, or a request of the wrong shape, is refused', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_FRAME + 1);
    expect(() => new FrameReader().push(head)).toThrow(/over the limit/);
    for (const bad of [
      null,
      1,
      'x',
      {},
      { id: 1.5, host: 'a', line: 'b' },
      { id: 1, host: 2, line: 'b' },
      { id: 1, host: 'a' },
    ])
      expect(parseRequest(bad)).toBeUndefined();
  });
});
