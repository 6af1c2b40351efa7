import { checkTillHome, tillPaths, resolveTillHome, type TillPaths } from '../core/paths.js';
import { colorFor, type ColorMode, type Colors } from './output/terminal.js';

/** What every command needs: where till lives and how to talk to the person. */
export interface Cli {
  paths(): TillPaths;
  out(text: string): void;
  json(value: unknown): void;
  err(text: string): void;
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

export function createCli(rest: string[]): Cli {
  let cached: TillPaths | undefined;
  const cli: Cli = {
    paths: () => {
      if (cached) return cached;
      const paths = tillPaths(resolveTillHome());
      checkTillHome(paths);
      return (cached = paths);
    },
    out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    json: (value) => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    stdoutColor: colorFor(process.stdout),
    stderrColor: colorFor(process.stderr),
    setColorMode: (mode) => {
      cli.stdoutColor = colorFor(process.stdout, mode);
      cli.stderrColor = colorFor(process.stderr, mode);
    },
    stderrIsTTY: process.stderr.isTTY === true,
    stdinIsTTY: process.stdin.isTTY === true,
    rest,
    exitCode: 0,
  };
  return cli;
}
