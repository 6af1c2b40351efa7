import pc from 'picocolors';
import { UsageError } from '../../core/errors.js';

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

export function parseColorMode(value: string): ColorMode {
  if ((COLOR_MODES as readonly string[]).includes(value)) return value as ColorMode;
  throw new UsageError(`--color takes auto, always or never, got ${JSON.stringify(value)}`);
}

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
