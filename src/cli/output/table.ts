import stringWidth from 'string-width';
import { Painted, printable, printableCell } from './terminal.js';

/**
 * A borderless, left-aligned table: easy to read, easy to grep. Columns are two spaces
 * apart and as wide as their widest cell on screen (colour codes take no room, East Asian
 * wide characters two cells: string-width); a cell with line breaks spans several lines.
 * Control characters in a cell are shown as escapes (printable), colour codes included,
 * except till's own colours in a cell it painted (Painted: printableCell).
 * Written out rather than with a table package: every fleet command prints one, and
 * cli-table3 took ~40 ms of CPU for 50 rows on a cold start, where this takes ~1 ms.
 */
export function renderTable(head: string[], rows: Array<Array<string | number | Painted>>): string {
  // Cells often hold what a host said: its control characters are shown, never obeyed.
  const cells = [head, ...rows].map((row) =>
    row.map((cell) =>
      (cell instanceof Painted ? printableCell(cell.text) : printable(String(cell), { lines: true })).split('\n'),
    ),
  );
  // Loops, not Math.max(...spread): a table may have 100,000 rows.
  const widths: number[] = [];
  for (const row of cells) {
    row.forEach((cell, i) => {
      for (const line of cell) widths[i] = Math.max(widths[i] ?? 0, widthOf(line));
    });
  }
  const out: string[] = [];
  for (const row of cells) {
    let height = 1;
    for (const cell of row) height = Math.max(height, cell.length);
    for (let line = 0; line < height; line++) {
      const text = widths.map((w, i) => {
        const part = row[i]?.[line] ?? '';
        return part + ' '.repeat(w - widthOf(part));
      });
      out.push(text.join('  ').trimEnd());
    }
  }
  return `${out.join('\n')}\n`;
}

// eslint-disable-next-line no-control-regex -- the colour codes till itself writes (picocolors: ESC [ n m)
const SGR_RE = /\x1b\[[0-9;]*m/g;

/**
 * The width of a line on screen. Printable ASCII, once colour codes are taken out, is
 * one cell a character: counted here, because string-width (Unicode segmentation, a
 * large emoji regular expression) costs a start of `till host list` several ms for
 * rows that are almost always plain ASCII. Anything else is string-width's to measure.
 */
export function widthOf(line: string): number {
  const plain = line.includes('\x1b') ? line.replace(SGR_RE, '') : line;
  return /^[\x20-\x7e]*$/.test(plain) ? plain.length : stringWidth(line);
}
