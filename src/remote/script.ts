import { shJoin, shQuote } from '../ssh/quote.js';

/**
 * The one shape in which till sends a script to a host: `sh -c '<SCRIPT>' till <arg>…`.
 * SCRIPT is a constant text (registered in `remote/allowlist.ts`); every value reaches
 * it as a positional parameter ("$1", "$2"…), quoted once here. A restricted key's
 * gate compares SCRIPT byte for byte and runs it without a shell parsing the line.
 */
export const SCRIPT_ARG0 = 'till';

export function remoteScript(script: string, args: readonly string[] = []): string {
  return `sh -c ${shQuote(script)} ${shJoin([SCRIPT_ARG0, ...args])}`;
}

/**
 * Where the line holding `marker` is among a remote command's output lines. A login
 * shell that prints without a newline ("welcome ") glues its noise to the command's
 * first line, so the marker may end a line rather than be one.
 */
export function markerLine(lines: readonly string[], marker: string): number {
  return lines.findIndex((l) => l.trimEnd().endsWith(marker));
}
