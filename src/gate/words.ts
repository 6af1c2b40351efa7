/**
 * The gate's word splitter: the inverse of `shJoin`, and nothing more. It accepts
 * exactly the shapes till's builders produce (and rsync's client writes):
 *   - words separated by single spaces;
 *   - a word is a run of bare characters `[A-Za-z0-9_@%+=:,./-]`, single-quoted
 *     strings `'…'` (anything but `'` inside, newlines included), and `\'`, glued
 *     together (`'a'\''b'` is `a'b`);
 *   - a `~` may start a bare word (rsync writes `~/path` unquoted); the word is then
 *     flagged, never expanded here.
 * Anything else (an unquoted `;`, `|`, `&`, `$`, backtick, `<`, `>`, `"`, `*`, `(`,
 * a tab, a newline, a NUL, a stray backslash, an unterminated quote, two spaces) is
 * refused with a reason: the gate never guesses what a shell would have made of it.
 */
export interface Word {
  text: string;
  /** The word started with an unquoted `~` (a shell would expand it); its text then starts with `~`. */
  tilde: boolean;
}

export type SplitResult = { ok: true; words: Word[] } | { ok: false; reason: string };

const BARE = /[A-Za-z0-9_@%+=:,./-]/;

function describe(ch: string): string {
  const code = ch.codePointAt(0)!;
  // Stryker disable next-line EqualityOperator: a space ends a word, it never reaches here
  return code < 0x20 || code === 0x7f
    ? `control character 0x${code.toString(16).padStart(2, '0')}`
    : JSON.stringify(ch);
}

export function splitWords(line: string): SplitResult {
  const words: Word[] = [];
  if (line === '') return { ok: true, words };
  let i = 0;
  for (;;) {
    // One word starts at i (at most line.length: the loop ends at the end of the last word).
    let text = '';
    let tilde = false;
    const start = i;
    if (line[i] === '~') {
      tilde = true;
      text += '~';
      i += 1;
    }
    while (i < line.length && line[i] !== ' ') {
      const ch = line[i]!;
      if (BARE.test(ch)) {
        text += ch;
        i += 1;
      } else if (ch === "'") {
        const end = line.indexOf("'", i + 1);
        if (end === -1) return { ok: false, reason: `unterminated single quote at column ${i + 1}` };
        const inner = line.slice(i + 1, end);
        if (inner.includes('\0')) return { ok: false, reason: 'NUL byte in a quoted string' };
        text += inner;
        i = end + 1;
      } else if (ch === '\\' && line[i + 1] === "'") {
        text += "'";
        i += 2;
      } else {
        return { ok: false, reason: `${describe(ch)} outside quotes at column ${i + 1}` };
      }
    }
    if (i === start)
      return {
        ok: false,
        reason: start === 0 ? 'leading space' : `empty word at column ${start + 1} (two spaces, or a trailing space)`,
      };
    words.push({ text, tilde });
    if (i === line.length) return { ok: true, words };
    i += 1; // the single space
    if (i === line.length) return { ok: false, reason: 'trailing space' };
  }
}
