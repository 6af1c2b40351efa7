/**
 * How till describes itself: the command class every command is made of, its examples,
 * and the help layout (wrapped to the terminal, examples last). The man page
 * (man.ts) and the completion (completion/) read the same command tree, so help,
 * man page and completion cannot disagree.
 *
 * Every command shows 1–3 examples at the end of its help: give them with
 * `.example('till host list --json', 'the database as one JSON document')`. A command
 * without one fails the help walk test (test/e2e/help.test.ts). Prose goes in
 * `.note('…')` (wrapped, before the examples), not in commander's addHelpText.
 */
import { Command, Help } from 'commander';
import { ExitCode } from '../core/errors.js';
import { terminalColumns } from './output/terminal.js';

export interface Example {
  /** What a person types, starting with `till`. */
  command: string;
  /** What it does, in a few words. */
  note: string;
}

/** commander's Command with examples; `.command()` makes more of its own kind. */
export class TillCommand extends Command {
  readonly examples: Example[] = [];
  readonly notes: string[] = [];

  override createCommand(name?: string): TillCommand {
    return new TillCommand(name);
  }

  /** A paragraph of help after the options (wrapped; in the man page too). */
  note(paragraph: string): this {
    this.notes.push(paragraph);
    return this;
  }

  /** Adds an example to the end of this command's help and man page section. */
  example(command: string, note: string): this {
    this.examples.push({ command, note });
    return this;
  }
}

/** Exit codes, for the root help and the man page's EXIT STATUS. */
export const EXIT_CODES: ReadonlyArray<[number, string]> = [
  [ExitCode.ok, 'everything succeeded'],
  [ExitCode.hostFailed, 'at least one host (or step) failed'],
  [ExitCode.usage, 'usage or validation error; nothing was changed'],
  [ExitCode.notRunning, 'till watch --status / --stop: no watch daemon running'],
  [ExitCode.state, 'a state file is invalid or locked; it was left untouched'],
  [ExitCode.internal, 'internal error (a bug: please report it)'],
  [ExitCode.interrupted, 'interrupted (Ctrl-C, SIGTERM)'],
];

/** Help is as wide as the terminal; 80 columns off a terminal (or on one that reports no width). */
export function helpWidth(stream: NodeJS.WriteStream): number {
  return terminalColumns(stream) ?? 80;
}

/** Below this many columns for a description, it goes on its own line under its term. */
const MIN_DESCRIPTION_WIDTH = 30;
const NARROW_INDENT = 6;

/** Words wrapped to `width`; a word longer than a line is cut (a path must not push a line past the edge). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (let word of paragraph.split(/\s+/).filter((w) => w !== '')) {
      while (word.length > width) {
        if (line !== '') lines.push(line);
        lines.push(word.slice(0, width));
        word = word.slice(width);
        line = '';
      }
      if (line === '') line = word;
      else if (line.length + 1 + word.length <= width) line += ` ${word}`;
      else {
        lines.push(line);
        line = word;
      }
    }
    lines.push(line);
  }
  return lines;
}

/** An example as shown in help: the note as a comment, the command under it (continued with `\` if too long). */
export function formatExample(example: Example, width: number, indent = 2): string[] {
  const pad = ' '.repeat(indent);
  const notes = wrapText(example.note, Math.max(10, width - indent - 2)).map((l) => `${pad}# ${l}`);
  const commandLines = wrapText(example.command, Math.max(10, width - indent - 6));
  const command = commandLines.map((l, i) => {
    const continued = i < commandLines.length - 1 ? ' \\' : '';
    return `${pad}${i === 0 ? '' : '    '}${l}${continued}`;
  });
  return [...notes, ...command];
}

/** The help layout: commander's, wrapped to the width even where a term is long, then the examples. */
export const helpConfiguration: Partial<Help> = {
  sortSubcommands: false,
  showGlobalOptions: false,
  formatItem(this: Help, term: string, termWidth: number, description: string, helper: Help): string {
    if (!description) return `  ${term}`;
    const width = this.helpWidth ?? 80;
    const column = termWidth + 4;
    if (width - column >= MIN_DESCRIPTION_WIDTH) {
      const padded = term + ' '.repeat(Math.max(0, termWidth - helper.displayWidth(term)));
      const lines = wrapText(description, width - column);
      return lines.map((l, i) => (i === 0 ? `  ${padded}  ${l}` : ' '.repeat(column) + l)).join('\n');
    }
    const under = wrapText(description, width - NARROW_INDENT).map((l) => ' '.repeat(NARROW_INDENT) + l);
    return [`  ${term}`, ...under].join('\n');
  },
  formatHelp(this: Help, cmd: Command, helper: Help): string {
    const width = this.helpWidth ?? 80;
    const base = Help.prototype.formatHelp.call(this, cmd, helper).trimEnd();
    const [usage = '', ...rest] = base.split('\n');
    const usageLines = wrapText(usage, width).map((l, i) => (i === 0 ? l : `       ${l}`));
    const out = [...usageLines, ...rest];
    if (cmd.parent === null) {
      out.push('', 'Exit codes:', ...EXIT_CODES.map(([code, what]) => `  ${String(code).padEnd(4)} ${what}`));
      out.push('', ...wrapText('Files live under $TILL_HOME (default ~/.till). Manual: man till.', width));
    }
    for (const note of cmd instanceof TillCommand ? cmd.notes : []) out.push('', ...wrapText(note, width));
    const examples = cmd instanceof TillCommand ? cmd.examples : [];
    if (examples.length > 0) {
      out.push('', 'Examples:');
      examples.forEach((e, i) => out.push(...(i > 0 ? [''] : []), ...formatExample(e, width)));
    }
    return `${out.join('\n')}\n`;
  },
};

/** A command's subcommands as help lists them: hidden ones and commander's `help` left out. */
export function visibleSubcommands(cmd: Command): Command[] {
  return cmd
    .createHelp()
    .visibleCommands(cmd)
    .filter((c) => cmd.commands.includes(c));
}

/** Every command under `root` (root included) in help order, hidden ones and commander's `help` left out. */
export function visibleCommandTree(root: Command): Command[] {
  return [root, ...visibleSubcommands(root).flatMap(visibleCommandTree)];
}

/** `till host add`: the words that run a command. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}
