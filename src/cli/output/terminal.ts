import pc from 'picocolors';

/** Colour only on a terminal and never with NO_COLOR (https://no-color.org). */
export function colorFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env) {
  const enabled = stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '') && env.TERM !== 'dumb';
  return pc.createColors(enabled);
}

export type Colors = ReturnType<typeof colorFor>;

export { formatAge, formatDuration } from '../../core/format.js';
