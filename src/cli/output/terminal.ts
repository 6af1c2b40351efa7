import pc from 'picocolors';

export const COLOR_MODES = ['auto', 'always', 'never'] as const;
export type ColorMode = (typeof COLOR_MODES)[number];

/**
 * Whether to colour a stream. `--color always|never` decides (a choice made for this
 * run). With `auto`, the default: never with NO_COLOR set and not empty
 * (https://no-color.org, as SPEC §3 says); else FORCE_COLOR set and not `0`/`false`
 * colours even off a terminal (a CI log viewer, a pager that renders colour); else
 * colour only on a terminal whose TERM is not `dumb`.
 */
export function colorEnabled(
  stream: { isTTY?: boolean },
  mode: ColorMode = 'auto',
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (mode !== 'auto') return mode === 'always';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function colorFor(stream: { isTTY?: boolean }, mode: ColorMode = 'auto', env: NodeJS.ProcessEnv = process.env) {
  return pc.createColors(colorEnabled(stream, mode, env));
}

export type Colors = ReturnType<typeof colorFor>;

/**
 * The width of the terminal a stream writes to, or undefined when it is not a terminal
 * or does not say (some report 0 columns: that is "unknown", not "no room").
 */
export function terminalColumns(stream: { isTTY?: boolean; columns?: number }): number | undefined {
  return stream.isTTY === true && stream.columns !== undefined && stream.columns > 0 ? stream.columns : undefined;
}

/** Rows likewise. */
export function terminalRows(stream: { isTTY?: boolean; rows?: number }): number | undefined {
  return stream.isTTY === true && stream.rows !== undefined && stream.rows > 0 ? stream.rows : undefined;
}

export { formatAge, formatDuration } from '../../core/format.js';

// C0 and C1 controls, DEL, and the invisible format characters that reorder or hide text
// ("Trojan Source": bidi embeddings, overrides and isolates; zero-width characters).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text that came from a host (key comments, error lines, versions, release names,
 * reasons) as a terminal may show it: every control character is written as a visible
 * escape (`\x1b`, `\r`, `\u202e`), so an ESC sequence in a key comment cannot move the
 * cursor, retitle the window, clear the screen or hide what follows. `lines` keeps line
 * breaks (for text shown over several lines). JSON output needs none of this: it is
 * exact, and JSON.stringify escapes controls itself.
 */
export function printable(text: string, opts: { lines?: boolean } = {}): string {
  return String(text).replace(CONTROL_RE, (ch) => {
    if (ch === '\n' && opts.lines) return ch;
    const named = NAMED[ch];
    if (named) return named;
    const code = ch.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

// The colour codes till's own painting uses (picocolors: bold, dim, red, green, yellow, blue,
// magenta, cyan and their resets); a cell may carry these, and nothing else.
// eslint-disable-next-line no-control-regex -- ESC is what these codes start with
const OWN_SGR_RE = /\x1b\[(?:1|2|22|31|32|33|34|35|36|39)m/g;

/**
 * A table cell till painted itself (a state, a result, a severity, a count). Only such a
 * cell keeps colour codes: in any other cell an ESC is escaped like every control, so a
 * host or a file cannot colour (or hide) text by writing the codes till paints with.
 * What a painted cell holds must be till's own words, or text already made printable().
 */
export class Painted {
  constructor(readonly text: string) {}
}

/** printable() for a cell that till painted: its own colour codes pass, every other control is escaped. */
export function printableCell(text: string): string {
  const parts = String(text).split(OWN_SGR_RE);
  const codes = String(text).match(OWN_SGR_RE) ?? [];
  return parts.map((p, i) => printable(p, { lines: true }) + (codes[i] ?? '')).join('');
}
