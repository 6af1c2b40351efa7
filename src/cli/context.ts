import { checkTillHome, tillPaths, resolveTillHome, type TillPaths } from '../core/paths.js';
import { isTerminal, writeFd } from './output/fd.js';
import { colorFor, type ColorMode, type Colors } from './output/terminal.js';

/** What every command needs: where till lives and how to talk to the person. */
export interface Cli {
  paths(): TillPaths;
  out(text: string): void;
  json(value: unknown): void;
  err(text: string): void;
  /** Text to stdout as it is (no newline added): help, a redrawn screen. */
  write(text: string): void;
  stdoutColor: Colors;
  stderrColor: Colors;
  /** `--color auto|always|never`: set once the command line is parsed. */
  setColorMode(mode: ColorMode): void;
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
  /** Arguments after the first `--`, for exec and ssh. */
  rest: string[];
  exitCode: number;
}

/** A value worked out on first use, then kept (what a command never asks costs nothing). */
function lazy<T>(target: object, key: string, make: () => T): void {
  Object.defineProperty(target, key, {
    configurable: true,
    enumerable: true,
    get: () => {
      const value = make();
      Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: true });
      return value;
    },
    set: (value: T) =>
      Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: true }),
  });
}

export function createCli(rest: string[]): Cli {
  let cached: TillPaths | undefined;
  const cli = {
    paths: () => {
      if (cached) return cached;
      const paths = tillPaths(resolveTillHome());
      checkTillHome(paths);
      return (cached = paths);
    },
    out: (text: string) => writeFd(1, text.endsWith('\n') ? text : `${text}\n`),
    json: (value: unknown) => writeFd(1, `${JSON.stringify(value, null, 2)}\n`),
    err: (text: string) => writeFd(2, text.endsWith('\n') ? text : `${text}\n`),
    write: (text: string) => writeFd(1, text),
    setColorMode: (mode: ColorMode) => {
      cli.stdoutColor = colorFor({ isTTY: isTerminal(1) }, mode);
      cli.stderrColor = colorFor({ isTTY: isTerminal(2) }, mode);
    },
    rest,
    exitCode: 0,
  } as Cli;
  lazy(cli, 'stdoutColor', () => colorFor({ isTTY: isTerminal(1) }));
  lazy(cli, 'stderrColor', () => colorFor({ isTTY: isTerminal(2) }));
  lazy(cli, 'stderrIsTTY', () => isTerminal(2));
  lazy(cli, 'stdinIsTTY', () => isTerminal(0));
  return cli;
}
