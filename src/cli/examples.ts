import type { Command } from 'commander';

/**
 * Gives a command its examples (what a person types, and what it does), shown at the end
 * of its --help. Where the command tree supports examples of its own (an `example()`
 * method, which help, the man page and completion read), they go there; otherwise they
 * are appended to the help text.
 */
export function addExamples(cmd: Command, examples: ReadonlyArray<readonly [string, string]>): Command {
  const own = cmd as Command & { example?: (command: string, note: string) => unknown };
  if (typeof own.example === 'function') {
    for (const [command, note] of examples) own.example(command, note);
    return cmd;
  }
  const width = Math.max(...examples.map(([c]) => c.length));
  cmd.addHelpText('after', `\nExamples:\n${examples.map(([c, note]) => `  ${c.padEnd(width)}  # ${note}`).join('\n')}`);
  return cmd;
}
