import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import stringWidth from 'string-width';
import { renderTable, widthOf } from '../../src/cli/output/table.js';
import { Painted, printable } from '../../src/cli/output/terminal.js';

describe('renderTable', () => {
  it('aligns columns two spaces apart by on-screen width, without trailing spaces', () => {
    expect(
      renderTable(
        ['HOST', 'RESULT', 'ERROR'],
        [
          ['web-1', 'ok', ''],
          ['db-10', 'failed', 'connection refused'],
        ],
      ),
    ).toBe(['HOST   RESULT  ERROR', 'web-1  ok', 'db-10  failed  connection refused', ''].join('\n'));
  });

  it('gives colour codes no width and East Asian wide characters two cells', () => {
    const red = (s: string) => `\u001b[31m${s}\u001b[39m`;
    const out = renderTable(
      ['A', 'B'],
      [
        [new Painted(red('failed')), 'x'],
        ['日本', 'y'],
      ],
    ).split('\n');
    expect(out[1]).toBe(`${red('failed')}  x`);
    expect(out[2]).toBe('日本    y');
  });

  it('spreads a cell with line breaks over several lines, the other cells blank below', () => {
    expect(renderTable(['A', 'B', 'C'], [['one\ntwo', 'b', 'c']])).toBe(
      ['A    B  C', 'one  b  c', 'two', ''].join('\n'),
    );
  });

  it('prints the header alone for no rows', () => {
    expect(renderTable(['GROUP', 'HOSTS'], [])).toBe('GROUP  HOSTS\n');
  });
});

describe('text from a host on the terminal', () => {
  // What printable() must never let through: C0, DEL, C1, and the bidi/zero-width format characters.
  // eslint-disable-next-line no-control-regex -- control characters are what it finds
  const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

  it('shows control characters as escapes: ESC sequences, CR, BEL, C1 CSI, bidi overrides', () => {
    expect(printable('evil\u001b]0;pwned\u0007\u001b[2J\rok\u009b31m \u202eabc')).toBe(
      'evil\\x1b]0;pwned\\x07\\x1b[2J\\rok\\x9b31m \\u202eabc',
    );
    expect(printable('a\nb\tc')).toBe('a\\nb\\tc');
    expect(printable('a\nb', { lines: true })).toBe('a\nb');
    expect(printable('José ✓ 東京')).toBe('José ✓ 東京');
  });

  it('property: nothing printable() returns holds a control character', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(FORBIDDEN.test(printable(s))).toBe(false);
        expect(FORBIDDEN.test(printable(s, { lines: true }).replace(/\n/g, ''))).toBe(false);
      }),
    );
  });

  it("a table cell keeps till's own colours and escapes every other sequence in it", () => {
    const red = (s: string) => `\u001b[31m${s}\u001b[39m`;
    const out = renderTable(
      ['HOST', 'RESULT', 'COMMENT'],
      [['h0', new Painted(red('failed')), 'x\u001b[8mhidden\u001b[2J\u001b]52;c;cGF5bG9hZA==\u0007']],
    );
    expect(out).toContain(red('failed'));
    expect(out).toContain('x\\x1b[8mhidden\\x1b[2J\\x1b]52;c;cGF5bG9hZA==\\x07');
    expect(FORBIDDEN.test(out.replaceAll(red('failed'), '').replaceAll('\n', ''))).toBe(false);
  });

  it('a cell till did not paint keeps no colour code, even the ones till paints with', () => {
    const red = (s: string) => `\u001b[31m${s}\u001b[39m`;
    const out = renderTable(['HOST', 'COMMENT'], [['h0', `evil${red('RED')}`]]);
    expect(out).toContain('evil\\x1b[31mRED\\x1b[39m');
    expect(FORBIDDEN.test(out.replaceAll('\n', ''))).toBe(false);
  });
});

describe('widthOf', () => {
  it('measures every line as string-width does: ASCII (counted), colour codes, wide and combining characters, controls', () => {
    const sgr = fc.constantFrom('\u001b[31m', '\u001b[39m', '\u001b[1m', '\u001b[22m', '\u001b[0m', '\u001b[38;5;208m');
    const piece = fc.oneof(
      fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
      sgr,
      fc.constantFrom('日本', 'é', 'e\u0301', '👍', '\u200b', '\t', '\u001b', '\u007f', 'ｱ', '\u001b[', '\u001b[3'),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), (parts) => {
        const line = parts.join('');
        expect(widthOf(line)).toBe(stringWidth(line));
      }),
      { numRuns: 2000 },
    );
  });
});
