import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitWords } from '../../src/gate/words.js';
import { shJoin } from '../../src/protocol/quote.js';

/** The gate's word splitter (src/gate/words.ts); what the gate does with the words is in gate.test.ts. */

const texts = (line: string) => {
  const r = splitWords(line);
  return r.ok ? r.words.map((w) => w.text) : r.reason;
};

describe('splitWords: the inverse of shJoin, and nothing more', () => {
  it('reads bare words, single quotes and the escaped quote', () => {
    expect(texts("a 'b c' 'it'\\''s' ''")).toEqual(['a', 'b c', "it's", '']);
    expect(texts('rsync --server -te.LsfxCIvu . .till/lib/till-1.mjs')).toEqual([
      'rsync',
      '--server',
      '-te.LsfxCIvu',
      '.',
      '.till/lib/till-1.mjs',
    ]);
    expect(texts("'multi\nline'")).toEqual(['multi\nline']);
    expect(splitWords('~/x')).toEqual({ ok: true, words: [{ text: '~/x', tilde: true }] });
    expect(splitWords("'~/x'")).toEqual({ ok: true, words: [{ text: '~/x', tilde: false }] });
    expect(texts('')).toEqual([]);
  });

  const hostile = [
    'a;b',
    'a ; b',
    'a|b',
    'a||b',
    'a&b',
    'a && b',
    '$(id)',
    'a$HOME',
    '`id`',
    'a>b',
    'a<b',
    'a 2>/dev/null',
    '"a"',
    'a"b"',
    'a  b',
    ' a',
    'a ',
    'a\tb',
    'a\nb',
    'a\rb',
    "'open",
    "a'b",
    'a\\b',
    'a\\',
    '*',
    'a?',
    '[a]',
    '{a,b}',
    '#x',
    '!x',
    'a(b)',
    'x~y',
    '~~',
    'a\0b',
    "'a'\\",
    'é',
    'a\u00a0b',
    '\u2018a\u2019',
    "'a\0b'",
  ];
  it.each(hostile)('refuses %j', (line) => {
    expect(splitWords(line).ok).toBe(false);
  });

  it('split(shJoin(args)) is args, for any argument vector', () => {
    const arg = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 8 }), (args) => {
        const r = splitWords(shJoin(args));
        expect(r.ok).toBe(true);
        expect(r.ok && r.words.map((w) => w.text)).toEqual(args);
        expect(r.ok && r.words.some((w) => w.tilde)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with a real sh on what shJoin produces', () => {
    const arg = fc.string({ unit: 'grapheme-ascii', maxLength: 20 });
    fc.assert(
      fc.property(fc.array(arg, { minLength: 1, maxLength: 5 }), (args) => {
        const line = shJoin(args);
        const r = splitWords(line);
        const viaSh = execFileSync('/bin/sh', ['-c', `for a in ${line}; do printf '%s\\0' "$a"; done`], {
          encoding: 'utf8',
        });
        expect(r.ok && r.words.map((w) => `${w.text}\0`).join('')).toBe(viaSh);
      }),
      { numRuns: 60 },
    );
  });
});

describe('splitWords: its refusals say what and where', () => {
  it.each([
    [' a', 'leading space'],
    ['a  b', 'empty word at column 3 (two spaces, or a trailing space)'],
    ['a ', 'trailing space'],
    ['a b ', 'trailing space'],
    ["a 'b", 'unterminated single quote at column 3'],
    ["'a'\\'b'c", 'unterminated single quote at column 7'],
    ["x 'a\0b'", 'NUL byte in a quoted string'],
    ['a;b', '";" outside quotes at column 2'],
    ["a;'b'", '";" outside quotes at column 2'],
    ["a\t'b'", 'control character 0x09 outside quotes at column 2'],
    ['ab\\c', '"\\\\" outside quotes at column 3'],
    ['a\\', '"\\\\" outside quotes at column 2'],
    ['a\tb', 'control character 0x09 outside quotes at column 2'],
    ['a\nb', 'control character 0x0a outside quotes at column 2'],
    ['\0', 'control character 0x00 outside quotes at column 1'],
    ['a\x1fb', 'control character 0x1f outside quotes at column 2'],
    ['a\x7f', 'control character 0x7f outside quotes at column 2'],
    ['a é', '"é" outside quotes at column 3'],
    ['a\x80', '"\x80" outside quotes at column 2'],
    ['a~', '"~" outside quotes at column 2'],
    ['~~', '"~" outside quotes at column 2'],
  ])('%j: %s', (line, reason) => {
    expect(splitWords(line)).toEqual({ ok: false, reason });
  });

  it('flags a word that starts with an unquoted ~, and only the first character counts', () => {
    expect(splitWords('~ ~/a a~b')).toEqual({ ok: false, reason: '"~" outside quotes at column 8' });
    expect(splitWords("~ ~/a '~'b ~'x'")).toEqual({
      ok: true,
      words: [
        { text: '~', tilde: true },
        { text: '~/a', tilde: true },
        { text: '~b', tilde: false },
        { text: '~x', tilde: true },
      ],
    });
    expect(splitWords("a'' ''b '' \\'")).toEqual({
      ok: true,
      words: [
        { text: 'a', tilde: false },
        { text: 'b', tilde: false },
        { text: '', tilde: false },
        { text: "'", tilde: false },
      ],
    });
    expect(texts('A-Z_a.z@0%9+=:,/')).toEqual(['A-Z_a.z@0%9+=:,/']);
  });
});
