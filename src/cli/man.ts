/**
 * till(1): the man page, rendered from the command tree that --help prints (the same
 * descriptions, arguments, options and examples), so the two cannot disagree. The build
 * writes it to dist/till.1 (scripts/docs.ts); the package's `man` field installs it.
 */
import type { Argument, Command } from 'commander';
import {
  EXIT_CODES,
  formatExample,
  TillCommand,
  visibleCommandTree,
  visibleSubcommands,
  type Example,
} from './help.js';

/** Text for roff: backslashes and leading dots or quotes escaped, `-` as the ASCII hyphen-minus. */
export function roffEscape(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

function usageOf(cmd: Command): string {
  const parents: string[] = [];
  for (let c = cmd.parent; c; c = c.parent) parents.unshift(c.name());
  return [...parents, cmd.name(), cmd.usage()].filter((w) => w !== '').join(' ');
}

function argumentItem(a: Argument): string[] {
  const name = `${a.name()}${a.variadic ? '...' : ''}`;
  return ['.TP', `.I ${roffEscape(a.required ? `<${name}>` : `[${name}]`)}`, roffEscape(a.description || '')];
}

function optionItems(cmd: Command, withHelp: boolean): string[] {
  const help = cmd.createHelp();
  return help
    .visibleOptions(cmd)
    .filter((o) => withHelp || o.long !== '--help')
    .flatMap((o) => ['.TP', `.B ${roffEscape(o.flags)}`, roffEscape(help.optionDescription(o))]);
}

function exampleLines(examples: readonly Example[]): string[] {
  const lines = ['.PP', '.EX'];
  // .EX does not wrap: lines fit the 80 columns of a terminal less the section's indent of 7.
  examples.forEach((e, i) => {
    if (i > 0) lines.push('');
    lines.push(...formatExample(e, 73, 0).map(roffEscape));
  });
  return [...lines, '.EE'];
}

function section(cmd: Command): string[] {
  const lines = [`.SS "${roffEscape(usageOf(cmd)).replace(/"/g, '\\(dq')}"`, roffEscape(cmd.description())];
  const aliases = cmd.aliases();
  if (aliases.length > 0) lines.push('.br', `Alias: ${roffEscape(aliases.join(', '))}.`);
  lines.push(...cmd.registeredArguments.flatMap(argumentItem), ...optionItems(cmd, false));
  const subs = visibleSubcommands(cmd);
  if (subs.length > 0) lines.push('.PP', `Commands: ${roffEscape(subs.map((c) => c.name()).join(', '))}.`);
  if (cmd instanceof TillCommand && cmd.examples.length > 0)
    lines.push('.PP', 'Examples:', ...exampleLines(cmd.examples));
  return lines;
}

export function renderManPage(program: Command, version: string, packageName: string): string {
  const commands = visibleCommandTree(program).slice(1);
  const out = [
    `.\\" till(1), generated from till's command definitions by scripts/docs.ts; do not edit.`,
    `.TH TILL 1 "" "${roffEscape(`${packageName} ${version}`)}" "User Commands"`,
    // No hyphenation (HY: man's own setting, which every paragraph restores), ragged right.
    '.nr HY 0',
    '.nh',
    '.ad l',
    '.SH NAME',
    `till \\- ${roffEscape(program.description())}`,
    '.SH SYNOPSIS',
    '.B till',
    '.I command',
    '.RI [ options ]',
    '.br',
    '.B till',
    '.B \\-\\-help',
    '|',
    '.B \\-\\-version',
    '.RB [ \\-\\-verbose ]',
    '.SH DESCRIPTION',
    roffEscape(
      'till manages remote hosts through SSH and rsync alone. It keeps its own Ed25519 key, its own ssh config ' +
        'generated from a JSON host database, and its state under $TILL_HOME; it installs itself on the hosts, ' +
        'deploys a directory tree to them as atomic releases, keeps them in sync on a schedule and reports ' +
        'their health.',
    ),
    '.PP',
    roffEscape(
      'Data goes to standard output (tables, or one JSON document with --json); progress, logs and errors go ' +
        'to standard error. Every command takes --help.',
    ),
    '.SH OPTIONS',
    ...optionItems(program, true),
  ];
  if (program instanceof TillCommand && program.examples.length > 0)
    out.push('.SH EXAMPLES', ...exampleLines(program.examples));
  out.push('.SH COMMANDS');
  for (const cmd of commands) out.push(...section(cmd));
  out.push(
    '.SH EXIT STATUS',
    ...EXIT_CODES.flatMap(([code, what]) => ['.TP', `.B ${code}`, roffEscape(what)]),
    '.SH ENVIRONMENT',
    '.TP',
    '.B TILL_HOME',
    roffEscape('where till keeps its key, ssh config, host database and state (default ~/.till).'),
    '.TP',
    '.B NO_COLOR',
    roffEscape('set and not empty: no colour (unless --color always), even with FORCE_COLOR.'),
    '.TP',
    '.B FORCE_COLOR',
    roffEscape('set and not 0 or false: colour even off a terminal, unless NO_COLOR or --color never.'),
    '.SH FILES',
    '.TP',
    '.I ~/.till/hosts\\-local.json',
    'the host database.',
    '.TP',
    '.I ~/.till/ssh/config',
    roffEscape('the ssh config generated from it: ssh -F ~/.till/ssh/config till-<name> reaches a host by hand.'),
    '.TP',
    '.I ~/.till/ssh/till_federation_ed25519',
    "till's private key.",
    '.SH SEE ALSO',
    '.BR ssh (1),',
    '.BR rsync (1),',
    '.BR ssh\\-keygen (1),',
    '.BR ssh_config (5)',
  );
  return `${out.join('\n')}\n`;
}
