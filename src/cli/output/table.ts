import stringWidth from 'string-width';
import { printableCell } from './terminal.js';

/**
 * A borderless, left-aligned table: easy to read, easy to grep. Columns are two spaces
 * apart and as wide as their widest cell on screen (colour codes take no room, East Asian
 * wide characters two cells: string-width); a cell with line breaks spans several lines.
 * Control characters in a cell are shown as escapes (printableCell); till's own colours pass.
 * Written out rather than with a table package: every fleet command prints one, and
 * cli-table3 took ~40 ms of CPU for 50 rows on a cold start, where this takes ~1 ms.
 */
export function renderTable(head: string[], rows: Array<Array<string | number>>): string {
  // Cells often hold what a host said: its control characters are shown, never obeyed.
  const cells = [head, ...rows].map((row) => row.map((cell) => printableCell(String(cell)).split('\n')));
  // Loops, not Math.max(...spread): a table may have 100,000 rows.
  const widths: number[] = [];
  for (const row of cells) {
    row.forEach((cell, i) => {
      for (const line of cell) widths[i] = Math.max(widths[i] ?? 0, stringWidth(line));
    });
  }
  const out: string[] = [];
  for (const row of cells) {
    let height = 1;
    for (const cell of row) height = Math.max(height, cell.length);
    for (let line = 0; line < height; line++) {
      const text = widths.map((w, i) => {
        const part = row[i]?.[line] ?? '';
        return part + ' '.repeat(w - stringWidth(part));
      });
      out.push(text.join('  ').trimEnd());
    }
  }
  return `${out.join('\n')}\n`;
}
