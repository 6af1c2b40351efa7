import { describe, expect, it } from 'vitest';
import { renderTable } from '../../src/cli/output/table.js';

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
        [red('failed'), 'x'],
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
