import stringWidth from 'string-width';

/**
 * A borderless, left-aligned table: easy to read, easy to grep. Columns are two spaces
 * apart and as wide as their widest cell on screen (colour codes take no room, East Asian
 * wide characters two cells: string-width); a cell with line breaks spans several lines.
 * Written out rather than with a table package: every fleet command prints one, and
 * cli-table3 took ~40 ms of CPU for 50 rows on a cold start, where this takes ~1 ms.
 */
export function renderTable(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows].map((row) => row.map((cell) => String(cell).split('\n')));
  const columns = Math.max(...cells.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...cells.map((row) => Math.max(0, ...(row[i] ?? ['']).map((line) => stringWidth(line))))));
  const out: string[] = [];
  for (const row of cells) {
    const height = Math.max(1, ...row.map((cell) => cell.length));
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
