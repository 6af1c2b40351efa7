/**
 * The CLI's self-description as data: every argument and option says what TAB offers for
 * it, the completion walks the tree as commander parses it, help wraps, colour follows
 * the flags and the environment, counts are plural. The built CLI is exercised in
 * test/e2e/help.test.ts and test/e2e/completion.test.ts.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argumentKind, complete, optionKind, splitLine } from '../../src/cli/completion/complete.js';
import { bashReplacedText, renderCandidates } from '../../src/cli/completion/scripts.js';
import { createCli } from '../../src/cli/context.js';
import type { Command } from 'commander';
import { commandPath, formatExample, visibleCommandTree, wrapText, type TillCommand } from '../../src/cli/help.js';
import { runningList } from '../../src/cli/output/reporter.js';
import { colorEnabled, terminalColumns } from '../../src/cli/output/terminal.js';
import { createProgram, GROUPS, groupsFor } from '../../src/cli/program.js';
import { plural } from '../../src/core/format.js';
import { LocalNames } from '../../src/core/local-names.js';
import { tillPaths } from '../../src/core/paths.js';

const program = await createProgram(createCli([]));

describe('loading one command group per run', () => {
  const names = (cmd: Command) => cmd.commands.flatMap((c) => [c.name(), ...c.aliases()]).sort();

  it("each group's list of commands is exactly what it registers (a command missing from it would not load)", async () => {
    for (const g of GROUPS) {
      const argv = g.parent === 'host' ? ['host', g.commands[0]!] : [g.commands[0]!];
      // Completion walks the whole tree: it always loads every group.
      if (g.commands.includes('completion')) {
        expect(groupsFor(argv)).toBe(GROUPS);
        continue;
      }
      const alone = await createProgram(createCli([]), argv);
      const parent = g.parent === 'host' ? alone.commands.find((c) => c.name() === 'host')! : alone;
      const registered = names(parent).filter((n) => !(g.parent === 'root' && n === 'host'));
      expect(registered, g.commands.join(' ')).toEqual([...g.commands].sort());
    }
    // Together they are the whole tree, each command in one group only.
    const all = GROUPS.flatMap((g) => g.commands.map((c) => `${g.parent} ${c}`));
    expect(new Set(all).size).toBe(all.length);
    const host = program.commands.find((c) => c.name() === 'host')!;
    expect([...names(program).map((n) => `root ${n}`), ...names(host).map((n) => `host ${n}`)].sort()).toEqual(
      [...all, 'root host'].sort(),
    );
  });

  it('picks the group from the command words, past root options; anything unsure loads all', () => {
    const one = (argv: string[]) => groupsFor(argv).flatMap((g) => g.commands[0]);
    expect(one(['host', 'list'])).toEqual(['init']);
    expect(one(['--color', 'never', 'host', 'ls', '--json'])).toEqual(['init']);
    expect(one(['host', 'deploy', '--all'])).toEqual(['deploy']);
    expect(one(['host', 'rollback', '--all'])).toEqual(['rollback']);
    expect(one(['host', 'lock', 'web1', '-m', 'why'])).toEqual(['rollback']);
    expect(one(['sync', '--all'])).toEqual(['sync']);
    expect(one(['host', 'sync'])).toEqual(['setup']);
    expect(one(['watch', '--', 'host'])).toEqual(['watch']);
    for (const unsure of [
      [],
      ['host'],
      ['--help'],
      ['hots', 'list'],
      ['host', 'lsit'],
      ['completion', 'bash'],
      ['--', 'host'],
    ])
      expect(groupsFor(unsure), unsure.join(' ')).toBe(GROUPS);
  });
});

describe('completion kinds', () => {
  it('every argument and every option that takes a value says what it completes', () => {
    const unknown: string[] = [];
    for (const cmd of visibleCommandTree(program)) {
      for (const a of cmd.registeredArguments)
        if (argumentKind(cmd, a) === undefined) unknown.push(`${commandPath(cmd)} <${a.name()}>`);
      for (const o of cmd.createHelp().visibleOptions(cmd))
        if ((o.required || o.optional) && optionKind(cmd, o) === undefined)
          unknown.push(`${commandPath(cmd)} ${o.flags}`);
    }
    // A new placeholder goes into KIND_OF_PLACEHOLDER or FREE_PLACEHOLDERS (src/cli/completion/complete.ts).
    expect(unknown).toEqual([]);
  });

  it('names the kinds that matter', () => {
    const find = (path: string) => visibleCommandTree(program).find((c) => commandPath(c) === path)!;
    const arg = (path: string, i = 0) => argumentKind(find(path), find(path).registeredArguments[i]!);
    const opt = (path: string, long: string) =>
      optionKind(
        find(path),
        find(path).options.find((o) => o.long === long)!,
      );
    expect(arg('till host show')).toBe('host');
    expect(arg('till host test')).toBe('target');
    expect(arg('till host group add', 0)).toBe('group');
    expect(arg('till host group add', 1)).toBe('host');
    expect(arg('till installation remove')).toBe('installation');
    expect(arg('till installation add')).toBe('dir');
    expect(opt('till host test', '--group')).toBe('group');
    expect(opt('till host add', '--jump')).toBe('host');
    expect(opt('till host deploy', '--installation')).toBe('installation');
    expect(opt('till host deploy', '--source')).toBe('dir');
    expect(opt('till host deploy', '--shared')).toBe('none');
    expect(opt('till host rollback', '--to')).toBe('release');
    expect(opt('till installation add', '--name')).toBe('none');
    expect(opt('till host test', '--limit')).toBe('target');
    expect(arg('till host export')).toBe('target');
    expect(arg('till host import')).toBe('file');
    expect(arg('till host edit')).toBe('host');
    expect(opt('till host edit', '--jump')).toBe('host');
    expect(opt('till host edit', '--rename')).toBe('none');
  });
});

describe('complete()', () => {
  let home: string;
  let names: LocalNames;
  beforeAll(() => {
    home = mkdtempSync('/tmp/t-');
    writeFileSync(
      join(home, 'hosts-local.json'),
      JSON.stringify({
        hosts: {
          web1: {
            user: 'u',
            host: '127.0.0.2',
            port: 22,
            status: 'connected',
            added: '2025-01-05T10:00:00Z',
            tekton_path: '~/t',
            installations: [],
          },
          web2: {
            user: 'u',
            host: '127.0.0.3',
            port: 2222,
            status: 'deployed',
            added: '2025-01-05T10:00:00Z',
            tekton_path: '~/t',
            installations: [],
            deploy: { current: '20250105T100000Z-bbbb', previous: '20250104T100000Z-aaaa', at: '2025-01-05T10:00:00Z' },
          },
          db1: {
            user: 'u',
            host: '127.0.0.4',
            port: 22,
            status: 'untested',
            added: '2025-01-05T10:00:00Z',
            tekton_path: '~/t',
            installations: [],
          },
        },
        groups: { web: ['web1', 'web2'], db: ['db1'] },
        updated: '1736071200',
      }),
    );
    writeFileSync(
      join(home, 'installations.json'),
      JSON.stringify({
        installations: { site: { path: '/srv/site', added: '2025-01-05T10:00:00Z' } },
        default: 'site',
      }),
    );
    mkdirSync(join(home, 'state'));
    const run = (release: string, hosts: string[], progress: Record<string, string> = { state: 'done' }) => ({
      run: `r-${release}`,
      release,
      source: '/srv/site',
      installation: 'site',
      started: '2025-01-05T10:00:00Z',
      options: { shared: [], keep: 5, maxFail: 0, check: null },
      hosts: Object.fromEntries(hosts.map((h) => [h, { ...progress, at: '2025-01-05T10:00:00Z' }])),
    });
    writeFileSync(
      join(home, 'state', 'deploy-journal.json'),
      JSON.stringify({
        runs: [
          run('20250103T100000Z-cccc', ['db1']),
          run('20250105T100000Z-bbbb', ['web2']),
          // Runs that made no release: a host that could not stage, one that never got that
          // far, one left as it was (its live release is the one it had).
          run('20250106T100000Z-dddd', ['web1', 'db1'], { state: 'failed', error: 'connection refused' }),
          run('20250107T100000Z-eeee', ['web2'], { state: 'pending' }),
          run('20250108T100000Z-ffff', ['db1'], { state: 'done', unchanged: '20250103T100000Z-cccc' }),
        ],
      }),
    );
    names = new LocalNames(tillPaths(home));
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  const values = async (words: string[], current: string) =>
    (await complete(program, words, current, names)).candidates.map((c) => c.value);

  it('offers subcommands, then options, then the values each argument and option takes', async () => {
    expect(await values([], 'h')).toEqual(['host']);
    expect(await values(['host'], 'de')).toEqual(['deploy']);
    expect(await values(['host', 'group'], '')).toEqual(['create', 'delete', 'add', 'remove', 'list']);
    expect(await values(['host', 'test'], '--gr')).toEqual(['--group']);
    expect(await values(['host', 'test'], '--co')).toEqual(['--connect-timeout', '--color']);
    expect(await values(['host', 'show'], 'w')).toEqual(['web1', 'web2']);
    expect(await values(['host', 'test', 'web1'], '')).toEqual(['db1', 'web2']);
    expect(await values(['host', 'test', '--group'], '')).toEqual(['db', 'web']);
    expect(await values(['host', 'test'], '--group=w')).toEqual(['--group=web']);
    expect(await values(['host', 'test'], '@')).toEqual(['@db', '@web']);
    expect(await values(['host', 'test'], 'web1,!w')).toEqual(['web1,!web2']);
    expect(await values(['host', 'group', 'add'], '')).toEqual(['db', 'web']);
    expect(await values(['host', 'group', 'add', 'web'], 'd')).toEqual(['db1']);
    expect(await values(['host', 'deploy', '--installation'], '')).toEqual(['site']);
    expect(await values(['installation', 'default'], '')).toEqual(['site']);
    expect(await values(['schedule', 'enable', '--scheduler'], '')).toEqual(['systemd', 'launchd', 'cron']);
    expect(await values(['completion'], '')).toEqual(['bash', 'zsh', 'fish']);
    expect((await complete(program, ['host', 'deploy', '--source'], '', names)).kind).toBe('dirs');
    expect((await complete(program, ['status', '--html'], '', names)).kind).toBe('files');
  });

  it('completes the last element of a target pattern, its ! or & kept; --limit takes a pattern too', async () => {
    expect(await values(['host', 'test'], 'web1,&@')).toEqual(['web1,&@db', 'web1,&@web']);
    expect(await values(['host', 'test'], '@web,&w')).toEqual(['@web,&web1', '@web,&web2']);
    expect(await values(['host', 'test'], 'web1:d')).toEqual(['web1:db1']);
    // A host named once is not offered again, whatever its sign.
    expect(await values(['host', 'test', 'web1'], '!w')).toEqual(['!web2']);
    expect(await values(['host', 'test'], '@web,!web1,&w')).toEqual(['@web,!web1,&web2']);
    expect(await values(['host', 'test', 'web1,web2'], '')).toEqual(['db1']);
    // A range's comma is inside its brackets: nothing to offer there.
    expect(await values(['host', 'test'], 'web[1-3,')).toEqual([]);
    expect(await values(['host', 'test', 'web1', 'web2', '--limit'], 'w')).toEqual(['web1', 'web2']);
    expect(await values(['host', 'test', '-l'], '!@')).toEqual(['!@db', '!@web']);
    expect(await values(['host', 'test'], '--limit=@w')).toEqual(['--limit=@web']);
    expect(await values(['host', 'export'], '@d')).toEqual(['@db']);
    expect(await values(['host', 'edit'], 'w')).toEqual(['web1', 'web2']);
    expect(await values(['host', 'edit', 'web1', '--jump'], 'd')).toEqual(['db1']);
    expect(await values(['host', 'edit', 'web1', '--rename'], '')).toEqual([]);
    expect(await values(['host', 'import', 'x', '--format'], '')).toEqual(['ssh-config', 'ansible', 'pssh']);
    expect((await complete(program, ['host', 'import'], '', names)).kind).toBe('files');
  });

  it('offers release ids newest first, those of the hosts on the line when there are some; never the id of a run that made none', async () => {
    expect(await values(['host', 'rollback', '--to'], '')).toEqual([
      '20250105T100000Z-bbbb',
      '20250104T100000Z-aaaa',
      '20250103T100000Z-cccc',
    ]);
    expect(await values(['host', 'rollback', 'db1', '--to'], '')).toEqual(['20250103T100000Z-cccc']);
  });

  it("offers nothing after exec's -- (the remote command) or for free values", async () => {
    expect(await values(['host', 'exec', 'web1', '--'], '')).toEqual([]);
    expect(await values(['host', 'add', 'x'], '')).toEqual([]);
    expect(await values(['host', 'test', '--parallel'], '')).toEqual([]);
  });

  it('a missing or broken database gives no names and no error', async () => {
    const empty = mkdtempSync('/tmp/t-');
    writeFileSync(join(empty, 'hosts-local.json'), '{ not json');
    const broken = new LocalNames(tillPaths(empty));
    expect((await complete(program, ['host', 'show'], '', broken)).candidates).toEqual([]);
    expect((await complete(program, ['host', 'rollback', '--to'], '', broken)).candidates).toEqual([]);
    rmSync(empty, { recursive: true, force: true });
  });
});

describe('the completion protocol', () => {
  it('splits a bash line as the shell does; the last word is the one under the cursor', () => {
    expect(splitLine('till host test ')).toEqual(['till', 'host', 'test', '']);
    expect(splitLine(`till host exec 'web 1' "a\\"b" c\\ d`)).toEqual(['till', 'host', 'exec', 'web 1', 'a"b', 'c d']);
    expect(splitLine('till  host  @w')).toEqual(['till', 'host', '@w']);
  });

  it("finds the text bash's readline replaces: after the last break, a break @ kept in front", () => {
    const breaks = ' \t\n"\'@><=;|&(:';
    expect(bashReplacedText('till host test @w', breaks)).toBe('@w');
    expect(bashReplacedText('till host test web1,@d', breaks)).toBe('@d');
    expect(bashReplacedText('till host test --group=w', breaks)).toBe('w');
    expect(bashReplacedText('till host test --group=', breaks)).toBe('');
    expect(bashReplacedText('till host ', breaks)).toBe('');
    expect(bashReplacedText('till host sh', breaks)).toBe('sh');
    // Inside quotes a break is text; an open quote starts what readline replaces.
    expect(bashReplacedText("till host test '@web,!web1,&w", breaks)).toBe('@web,!web1,&w');
    expect(bashReplacedText('till host test "web1,@d', breaks)).toBe('web1,@d');
    expect(bashReplacedText("till host test --limit='@web,&w", breaks)).toBe('@web,&w');
    expect(bashReplacedText("till host test 'web1' @w", breaks)).toBe('@w');
    expect(bashReplacedText('till host test web1,&w', breaks)).toBe('w');
  });

  it('prints the kind, then value<TAB>description, stripping what bash keeps as an earlier word', () => {
    const out = renderCandidates('words', [{ value: '--group=web', description: '2 hosts' }], '--group=');
    expect(out).toBe('words\nweb\t2 hosts\n');
    expect(renderCandidates('dirs', [])).toBe('dirs\n');
  });
});

describe('examples', () => {
  /** The words after `till` in an example's command line, up to a shell operator. */
  function tillWords(line: string): string[] {
    const words = splitLine(line);
    const at = words.findIndex((w) => /(^|\()till$/.test(w));
    const out: string[] = [];
    for (const w of words.slice(at + 1)) {
      if (['&&', '||', '|', ';', '>', '>>'].includes(w)) break;
      out.push(w.replace(/\)$/, ''));
      // The end of a process substitution: ansible -i <(till host export) all …
      if (w.endsWith(')')) break;
    }
    return out;
  }

  it('every example parses as its own command: known options, valid values and choices', async () => {
    const wrong: string[] = [];
    for (const owner of visibleCommandTree(program)) {
      for (const { command } of (owner as TillCommand).examples) {
        // A fresh tree per example (commander keeps parsed values); actions only say who ran.
        const fresh = await createProgram(createCli([]));
        let ran: Command | undefined;
        for (const c of visibleCommandTree(fresh)) {
          c.exitOverride();
          c.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
          c.action((...args: unknown[]) => void (ran = args.at(-1) as Command));
        }
        try {
          await fresh.parseAsync(tillWords(command), { from: 'user' });
        } catch (err) {
          wrong.push(`${command}: ${(err as Error).message}`);
          continue;
        }
        // A group's examples run one of its subcommands.
        const path = commandPath(owner);
        const ranPath = ran ? commandPath(ran) : '';
        if (owner.parent !== null && ranPath !== path && !ranPath.startsWith(`${path} `))
          wrong.push(`${command}: runs ${ranPath || 'nothing'}, shown under ${path}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('help text', () => {
  it('wraps words to the width, cutting only a word longer than a line', () => {
    expect(wrapText('aa bb cc', 5)).toEqual(['aa bb', 'cc']);
    expect(wrapText('abcdefgh', 3)).toEqual(['abc', 'def', 'gh']);
    expect(wrapText('one\ntwo', 80)).toEqual(['one', 'two']);
  });

  it('shows an example as a comment and the command, continued with \\ when too long', () => {
    expect(formatExample({ command: 'till host list', note: 'every host' }, 80)).toEqual([
      '  # every host',
      '  till host list',
    ]);
    const long = formatExample({ command: `till host exec ${'w'.repeat(30)} ${'x'.repeat(30)}`, note: 'n' }, 50);
    expect(long.every((l) => l.length <= 50)).toBe(true);
    expect(long[1]!.endsWith(' \\')).toBe(true);
  });
});

describe('colour and width', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  it('--color decides; then NO_COLOR (over FORCE_COLOR); then FORCE_COLOR; then a terminal, unless TERM=dumb', () => {
    expect(colorEnabled(pipe, 'always', {})).toBe(true);
    expect(colorEnabled(tty, 'never', { FORCE_COLOR: '1' })).toBe(false);
    expect(colorEnabled(pipe, 'auto', { FORCE_COLOR: '1' })).toBe(true);
    expect(colorEnabled(pipe, 'auto', { FORCE_COLOR: '' })).toBe(true);
    expect(colorEnabled(tty, 'auto', { FORCE_COLOR: '0' })).toBe(false);
    expect(colorEnabled(tty, 'auto', { FORCE_COLOR: 'false' })).toBe(false);
    expect(colorEnabled(pipe, 'auto', { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled(pipe, 'always', { NO_COLOR: '1' })).toBe(true);
    expect(colorEnabled(tty, 'auto', {})).toBe(true);
    expect(colorEnabled(tty, 'auto', { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled(tty, 'auto', { NO_COLOR: '' })).toBe(true);
    expect(colorEnabled(tty, 'auto', { TERM: 'dumb' })).toBe(false);
    expect(colorEnabled(pipe, 'auto', {})).toBe(false);
  });

  it('a terminal of 0 columns has no known width; off a terminal there is none', () => {
    expect(terminalColumns({ isTTY: true, columns: 0 })).toBeUndefined();
    expect(terminalColumns({ isTTY: true, columns: 100 })).toBe(100);
    expect(terminalColumns({ isTTY: false, columns: 100 })).toBeUndefined();
  });
});

describe('counts', () => {
  it('are plural unless exactly one', () => {
    expect(plural(0, 'host')).toBe('0 hosts');
    expect(plural(1, 'host')).toBe('1 host');
    expect(plural(2, 'host')).toBe('2 hosts');
  });

  it('the running hosts: as many names as fit, then how many more', () => {
    expect(runningList([], 40)).toBe('');
    expect(runningList(['web-1', 'web-2'], 40)).toBe('running: web-1, web-2');
    expect(runningList(['web-1', 'web-2', 'web-3', 'web-4'], 28)).toBe('running: web-1, web-2 +2');
    expect(runningList(['web-1', 'web-2', 'web-3'], 10)).toBe('running: web-1 +2');
  });
});
