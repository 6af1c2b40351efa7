/**
 * Every command of the tree goes through the journal's one hook: each is parsed as a
 * person would type it (its action replaced by nothing, so no host is contacted), through
 * the program with the hook run.ts installs, and must leave exactly one record in a real
 * logs/operations.jsonl, unless the journal's UNRECORDED list names it (reads and
 * probes). A new command records by default; the commands the issue names as acting
 * must never be on that list.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCli } from '../../src/cli/context.js';
import { commandPath, finishJournal, installJournal, UNRECORDED } from '../../src/cli/journal.js';
import { createProgram } from '../../src/cli/program.js';

/** Commands the issue names as acting on hosts: they must record (those that exist in this tree). */
const ACTING = [
  'host exec',
  'host ssh',
  'host setup',
  'host sync',
  'sync',
  'host deploy',
  'host rollback',
  'host lock',
  'host unlock',
  'host authorize',
  'host rotate-key',
  'host remove',
  'host add',
  'host import',
  'host edit',
  'host copy',
  'host fetch',
];

function leaves(cmd: Command): Command[] {
  return cmd.commands.length === 0 ? [cmd] : cmd.commands.flatMap(leaves);
}

/** argv a person could type for this command: its required arguments and mandatory options filled in. */
function argvFor(cmd: Command): string[] {
  const args = cmd.registeredArguments.filter((a) => a.required).map((a) => a.argChoices?.[0] ?? 'h0');
  const opts = cmd.options.filter((o) => o.mandatory).flatMap((o) => [o.long!, 'x']);
  return [...commandPath(cmd).split(' '), ...args, ...opts];
}

let home: string;
const saved = process.env.TILL_HOME;
beforeAll(() => {
  home = mkdtempSync('/tmp/t-');
  process.env.TILL_HOME = home;
});
afterAll(() => {
  if (saved === undefined) delete process.env.TILL_HOME;
  else process.env.TILL_HOME = saved;
  rmSync(home, { recursive: true, force: true });
});

function records(): Array<{ command: string; argv: string[] }> {
  try {
    return readFileSync(join(home, 'logs', 'operations.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

const tree = leaves(await createProgram(createCli([])));

describe('the journal hook covers every command', () => {
  const paths = tree.map(commandPath);

  it('UNRECORDED names only commands that exist, and none the issue names as acting', () => {
    for (const name of UNRECORDED.keys()) expect(paths, `UNRECORDED names ${name}`).toContain(name);
    for (const name of ACTING) expect(UNRECORDED.has(name), `${name} acts on hosts`).toBe(false);
    expect(paths).toEqual(expect.arrayContaining(['host copy', 'host fetch', 'host diff', 'log']));
  });

  async function run(
    path: string,
    extra: string[] = [],
  ): Promise<{ argv: string[]; added: ReturnType<typeof records> }> {
    // A fresh program each time: commander keeps option values between parses.
    const program = await createProgram(createCli([]));
    const cmd = leaves(program).find((c) => commandPath(c) === path)!;
    let ran = false;
    cmd.action(() => {
      ran = true;
    });
    const argv = [...argvFor(cmd), ...extra];
    installJournal(program, argv);
    program.exitOverride();
    for (const c of leaves(program)) c.exitOverride();
    const before = records().length;
    await program.parseAsync(argv, { from: 'user' });
    finishJournal(0, null);
    expect(ran).toBe(true);
    return { argv, added: records().slice(before) };
  }

  it.each(paths)('%s', async (path) => {
    const { argv, added } = await run(path);
    if (UNRECORDED.has(path)) {
      expect(added).toEqual([]);
    } else {
      expect(added).toHaveLength(1);
      expect(added[0]).toMatchObject({ command: path, argv });
    }
  });

  it('a command run with --list-hosts records nothing (it contacts nothing)', async () => {
    const fleet = tree.filter((c) => c.options.some((o) => o.long === '--list-hosts')).map(commandPath);
    expect(fleet).toEqual(expect.arrayContaining(['host exec', 'host deploy', 'host copy', 'host fetch']));
    for (const path of fleet) expect((await run(path, ['--list-hosts'])).added, path).toEqual([]);
  });
});
