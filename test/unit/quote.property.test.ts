import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { execLine, shJoin, shQuote } from '../../src/protocol/quote.js';

// Any Unicode string but NUL (which no argv, and so no shell word, can carry).
const noNul = fc.string({ unit: 'binary', maxLength: 200 }).filter((s) => !s.includes('\0'));
const shell = (line: string) => execFileSync('/bin/sh', ['-c', line], { encoding: 'utf8' });

describe('shQuote / shJoin, through a real /bin/sh', () => {
  // Batches of strings per shell (a process per string is slow on a busy machine);
  // each string still gets its own `printf %s <quoted>`, separated by a NUL.
  test('printf %s <quoted> prints exactly the string', () => {
    fc.assert(
      fc.property(fc.array(noNul, { minLength: 1, maxLength: 40 }), (batch) => {
        const out = shell(batch.map((s) => `printf %s ${shQuote(s)}; printf '\\0'`).join('\n'));
        expect(out.split('\0').slice(0, -1)).toEqual(batch);
      }),
      { numRuns: 40 },
    );
  });

  test('shJoin passes every argument once, unchanged', () => {
    fc.assert(
      fc.property(fc.array(noNul, { minLength: 1, maxLength: 30 }), (args) => {
        const out = shell(`${shJoin(['printf', '%s\\0', ...args])}`);
        expect(out.split('\0').slice(0, -1)).toEqual(args);
      }),
      { numRuns: 40 },
    );
  });

  test('execLine quotes each of several arguments once', () => {
    fc.assert(
      fc.property(fc.array(noNul, { minLength: 1, maxLength: 40 }), (batch) => {
        const out = shell(batch.map((s) => `${execLine(['printf', '%s', s])}; printf '\\0'`).join('\n'));
        expect(out.split('\0').slice(0, -1)).toEqual(batch);
      }),
      { numRuns: 20 },
    );
  });

  test('hand-picked hostile strings', () => {
    const batch = [
      "'",
      "''",
      "'\\''",
      '$(id)',
      '`id`',
      '\n',
      'a\nb',
      '-n',
      '--',
      '*',
      '~',
      '~/x',
      '$HOME',
      '"',
      '\\',
      '!',
      '%s',
      '\u202Eabc',
      'x'.repeat(10_000),
    ];
    const out = shell(batch.map((s) => `printf %s ${shQuote(s)}; printf '\\0'`).join('\n'));
    expect(out.split('\0').slice(0, -1)).toEqual(batch);
  });

  test('a word of only safe characters is left as it is (unit files and cron lines stay readable)', () => {
    const safe = fc.string({ unit: fc.constantFrom(...'abcXYZ019_@%+=:,./-'), minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(safe, (s) => {
        expect(shQuote(s)).toBe(s);
      }),
    );
    // One unsafe character anywhere: the whole word is single-quoted.
    fc.assert(
      fc.property(safe, fc.constantFrom(...' \t\n$`"\'\\;|&*?~!#()<>[]{}'), fc.nat(), (s, bad, at) => {
        const i = at % (s.length + 1);
        expect(shQuote(s.slice(0, i) + bad + s.slice(i))).toMatch(/^'.*'$/s);
      }),
    );
  });

  test('an empty argument stays an argument', () => {
    expect(shQuote('')).toBe("''");
    expect(shell(shJoin(['printf', '[%s]', '', 'x']))).toBe('[][x]');
  });

  test('execLine passes a single argument through as a shell line, as ssh does', () => {
    expect(execLine(['echo a; echo b'])).toBe('echo a; echo b');
    expect(shell(execLine(['echo a; echo b']))).toBe('a\nb\n');
    expect(shell(execLine(['echo', 'a; echo b']))).toBe('a; echo b\n');
  });

  test('a NUL byte is refused, not silently cut', () => {
    expect(() => shQuote('a\0b')).toThrow(/NUL/);
  });
});
