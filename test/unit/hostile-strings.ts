/**
 * Generated hostile strings for the property tests (fast-check arbitraries): control
 * characters, whitespace, Unicode look-alikes, option prefixes, and the valid words
 * they are inserted into.
 */
import fc from 'fast-check';

/** Whether `f` returns (true) or throws (false). */
export const accepts = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};

export const control = fc
  .oneof(fc.integer({ min: 0, max: 0x1f }), fc.constant(0x7f), fc.integer({ min: 0x80, max: 0x9f }))
  .map((c) => String.fromCharCode(c));
export const whitespace = fc.constantFrom(
  ...[' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u1680', '\u2000', '\u2007', '\u200a', '\u2028', '\u2029'],
  ...['\u202f', '\u205f', '\u3000', '\ufeff'],
);
/** Characters that pass for ASCII letters, digits or punctuation on a screen, and invisible ones. */
export const lookalike = fc.constantFrom(
  ...[
    'а',
    'е',
    'о',
    'р',
    'с',
    'х',
    'і',
    'ј',
    'ѕ',
    'ԁ',
    'ɡ',
    'ı',
    'ſ',
    '\u212a',
    'ℓ',
    'ｗ',
    '１',
    '．',
    '－',
    '／',
    '＠',
  ],
  ...['\u2010', '\u2011', '\u2013', '\u02d7', '\u2044', '\u2215', '\ua789', '\u0301'],
  ...['\u200b', '\u200c', '\u200d', '\u2060', '\u202e', '\u2066'],
);
/** Any non-ASCII code point, including astral ones and lone surrogates. */
export const nonAscii = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c.charCodeAt(0) > 0x7f);
export const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
/** Printable ASCII characters outside `allowed`. */
export const except = (allowed: string): string[] => [...PRINTABLE].filter((c) => !allowed.includes(c));
/** What ssh, rsync or a shell command would read as an option at the start of a word. */
export const option = fc.constantFrom(
  ...['-', '--', '-o', '-oProxyCommand=', '-oProxyCommand=touch /tmp/x ', '-o ProxyCommand=x ', '--rsh=x '],
  ...['-e', '-esh ', '-F/tmp/c ', '-J', '-lroot ', '-p'],
);

export const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const chars = (set: string) => fc.constantFrom(...set);
export const word = (first: string, rest: string, max: number) =>
  fc.tuple(chars(first), fc.string({ unit: chars(rest), maxLength: max - 1 })).map(([a, b]) => a + b);

export const dnsLabel = word(ALNUM, `${ALNUM}-`, 20).filter((l) => !l.endsWith('-'));
export const dnsName = fc
  .array(dnsLabel, { minLength: 1, maxLength: 4 })
  .map((labels) => labels.join('.'))
  .filter((n) => !/^[\d.]+$/.test(n));

/** `bad` inserted into `v` at position `at` (modulo the length). */
export const insertAt = (v: string, bad: string, at: number) => {
  const i = at % (v.length + 1);
  return v.slice(0, i) + bad + v.slice(i);
};
