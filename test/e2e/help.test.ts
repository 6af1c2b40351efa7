/**
 * How the built till describes itself to a person: --help on every command (wrapped to
 * the terminal, 80 columns off one, ending with 1–3 examples), the man page rendered from
 * the same definitions, `--version --verbose`, colour as --color / FORCE_COLOR / NO_COLOR
 * say, and the launcher's refusal of a Node.js older than package.json's engines.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { transformSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TILL_BIN, till, tillOk, tempHome } from '../lab/till.js';

let home: string;
let cleanup: () => void;
beforeAll(() => ({ home, cleanup } = tempHome()));
afterAll(() => cleanup());

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string; engines: { node: string } };

/** till on a pseudo-terminal (util-linux `script`) of `cols` columns: what a person sees (both streams). */
function onTerminal(cols: number, args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; out: string } {
  const line = [process.execPath, TILL_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', `stty cols ${cols} rows 50; ${line}`, '/dev/null'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, TERM: 'xterm', ...env },
    timeout: 60_000,
  });
  return { status: r.status, out: r.stdout.replace(/\r/g, '') };
}

interface HelpPage {
  path: string[];
  text: string;
}

/** Every command's --help, found by walking the Commands: sections from the top. */
async function allHelp(): Promise<HelpPage[]> {
  const pages: HelpPage[] = [];
  const walk = async (path: string[]): Promise<void> => {
    const r = await tillOk(home, [...path, '--help']);
    pages.push({ path, text: r.stdout });
    const section = r.stdout.split('\nCommands:\n')[1]?.split('\n\n')[0] ?? '';
    const subs = [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((s) => s !== 'help');
    await Promise.all(subs.map((s) => walk([...path, s])));
  };
  await walk([]);
  return pages;
}

describe('--help', () => {
  let pages: HelpPage[];
  beforeAll(async () => {
    pages = await allHelp();
  }, 180_000);

  it('exists on every command, fits 80 columns off a terminal and ends with 1–3 examples of that command', () => {
    expect(pages.length).toBeGreaterThan(40);
    const problems: string[] = [];
    for (const { path, text } of pages) {
      const name = ['till', ...path].join(' ');
      if (!text.startsWith(`Usage: ${name}`)) problems.push(`${name}: no usage line`);
      // A repeatable option's empty starting list is not a default worth printing.
      if (text.includes('(default: [])')) problems.push(`${name}: (default: [])`);
      for (const line of text.split('\n'))
        if (line.length > 80) problems.push(`${name}: a line of ${line.length} columns: ${line}`);
      const examples = text.split('\nExamples:\n')[1];
      if (examples === undefined) {
        // Give the command `.example('till …', 'what it does')` (src/cli/help.ts).
        problems.push(`${name}: no examples`);
        continue;
      }
      const blocks = examples.trimEnd().split('\n\n');
      if (blocks.length < 1 || blocks.length > 3) problems.push(`${name}: ${blocks.length} examples`);
      for (const block of blocks) {
        const lines = block.split('\n');
        if (!lines[0]!.startsWith('  # ')) problems.push(`${name}: an example without its note: ${block}`);
        const command = lines
          .filter((l) => !l.startsWith('  # '))
          .map((l) => l.trim().replace(/ \\$/, ''))
          .join(' ');
        if (!command.includes(name)) problems.push(`${name}: an example of another command: ${command}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('follows the terminal: 100 columns use them, a terminal reporting 0 columns gets 80', () => {
    const wide = onTerminal(100, ['host', 'deploy', '--help']);
    expect(wide.status).toBe(0);
    const wideLines = wide.out.trimEnd().split('\n');
    expect(wideLines.filter((l) => l.length > 100)).toEqual([]);
    expect(wideLines.some((l) => l.length > 80)).toBe(true);

    const unknown = onTerminal(0, ['host', 'deploy', '--help']);
    expect(unknown.status).toBe(0);
    const lines = unknown.out.trimEnd().split('\n');
    expect(lines.filter((l) => l.length > 80)).toEqual([]);
    // Wrapped, not one line per option: the descriptions continue under their column.
    expect(lines.filter((l) => /^ {31}\S/.test(l)).length).toBeGreaterThan(5);
  });

  it('the man page has every command, option and example of --help, and renders cleanly in 80 columns', async () => {
    const man = spawnSync('man', ['--warnings', '-l', 'dist/till.1'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, MANWIDTH: '80', MAN_KEEP_FORMATTING: '', LANG: 'C.UTF-8' },
    });
    expect(man.status, man.stderr).toBe(0);
    expect(man.stderr).toBe('');
    const text = man.stdout;
    expect(text.split('\n').filter((l) => l.length > 80)).toEqual([]);
    expect(text).toMatch(/^NAME\n {7}till - SSH-only fleet manager/m);
    for (const heading of ['SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXAMPLES', 'COMMANDS', 'EXIT STATUS', 'ENVIRONMENT'])
      expect(text).toMatch(new RegExp(`^${heading}$`, 'm'));
    // Man's own line breaks and joins aside, the same words.
    const flat = text.replace(/\s+/g, ' ');
    const missing: string[] = [];
    for (const { path, text: help } of pages.filter((p) => p.path.length > 0)) {
      const name = ['till', ...path].join(' ');
      if (!new RegExp(`^ {3}${name} `, 'm').test(text) && !new RegExp(`^ {3}${name}$`, 'm').test(text))
        missing.push(`section ${name}`);
      for (const m of help.matchAll(/^ {2}(-[^ ].*?)(?: {2}|$)/gm)) {
        if (m[1] === '-h, --help') continue;
        if (!flat.includes(m[1]!)) missing.push(`${name}: ${m[1]}`);
      }
      for (const note of help.split('\nExamples:\n')[1]?.matchAll(/^ {2}# (.*)$/gm) ?? [])
        if (!flat.includes(note[1]!.split(' ').slice(0, 4).join(' '))) missing.push(`${name}: example "${note[1]}"`);
    }
    expect(missing).toEqual([]);
  });

  it("the README's command tables have a row for every command, naming every option of its --help", () => {
    const readme = readFileSync('README.md', 'utf8');
    const rows = readme
      .split('\n')
      .filter((l) => l.startsWith('| `till '))
      .map((row) => ({ row, first: row.split(' | ')[0]! }));
    // What every multi-host command takes is in the README's "Targets and fan-out options" table.
    const FANOUT = ['--parallel', '--serial', '--retries', '--timeout', '--connect-timeout', '--json', '--list-hosts'];
    const TARGETS = ['--group', '--all', '--limit'];
    const problems: string[] = [];
    for (const { path, text } of pages.filter((p) => p.path.length > 0)) {
      const name = ['till', ...path].join(' ');
      const parent = ['till', ...path.slice(0, -1)].join(' ');
      const leaf = path.at(-1)!;
      // `till host group create …, `delete <g>`` names delete under its parent's row.
      const mine = rows
        .filter(
          ({ first }) =>
            first.includes(`\`${name} `) ||
            first.includes(`\`${name}\``) ||
            (first.includes(`\`${parent} `) && new RegExp(`\`${leaf}\\b`).test(first)),
        )
        .map((r) => r.row)
        .join('\n');
      if (mine === '') {
        if (!/\nCommands:\n/.test(text)) problems.push(`${name}: no row`);
        continue;
      }
      const fanout = text.includes('--list-hosts') && text.includes('--retries');
      const options = text.split('\nOptions:\n')[1]?.split('\n\n')[0] ?? '';
      for (const [, short, long] of options.matchAll(/^ {2}(?:(-\w), )?(--[a-z-]+)/gm)) {
        if (long === '--help' || (fanout && [...FANOUT, ...TARGETS].includes(long!))) continue;
        if (!mine.includes(long!) && !(short !== undefined && mine.includes(short))) problems.push(`${name}: ${long}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('till metrics says what it reads: not the health history (docs/health.md)', () => {
    for (const { path, text } of pages.filter((p) => p.path.length <= 1)) {
      const flat = text.replace(/\s+/g, ' ');
      if (path.length === 0 || path[0] === 'metrics') {
        expect(flat).toContain("from the local database (each host's last health check), audit histories and schedule");
        expect(flat).not.toMatch(/metrics[^.]*from the local database, health history/);
      }
    }
  });
});

describe('till --version', () => {
  it('--verbose adds the Node.js version and the commit the bundle was built from', async () => {
    const r = await tillOk(home, ['--version', '--verbose']);
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
    expect(r.stdout).toContain(`till ${pkg.version}\n`);
    expect(r.stdout).toContain(`node: ${process.version} (${process.platform} ${process.arch})\n`);
    expect(r.stdout).toMatch(new RegExp(`^build commit: ${head}(-dirty)?$`, 'm'));
    expect((await tillOk(home, ['--verbose', '-V'])).stdout).toBe(r.stdout);
    // Beside --color (a root option like any other), --verbose is kept.
    expect((await tillOk(home, ['--color', 'always', '--version', '--verbose'])).stdout).toBe(r.stdout);
    expect((await tillOk(home, ['--verbose', '--color=never', '-V'])).stdout).toBe(r.stdout);
    expect((await tillOk(home, ['--color', 'never', '--version'])).stdout).toBe(`${pkg.version}\n`);
    expect((await till(home, ['--color', 'bogus', '--version', '--verbose'])).code).toBe(2);
    expect((await tillOk(home, ['-V'])).stdout).toBe(`${pkg.version}\n`);
  });
});

describe('colour', () => {
  const red = '\x1b[31merror:';
  const failing = ['host', 'show', 'nosuch'];
  const errOf = async (args: string[], env: NodeJS.ProcessEnv) => {
    const r = await till(home, args, { env: { NO_COLOR: undefined, ...env } });
    expect(r.code).toBe(2);
    return r.stderr;
  };
  beforeAll(async () => {
    await tillOk(home, ['host', 'init']);
  });

  it('off a terminal: none, unless FORCE_COLOR (and no NO_COLOR) or --color always; --color never wins over FORCE_COLOR', async () => {
    expect(await errOf(failing, {})).toMatch(/^error: no such host/);
    expect(await errOf(failing, { FORCE_COLOR: '1' })).toContain(red);
    expect(await errOf(failing, { FORCE_COLOR: '1', NO_COLOR: '1' })).not.toContain('\x1b[');
    expect(await errOf([...failing, '--color', 'always'], { NO_COLOR: '1' })).toContain(red);
    expect(await errOf(failing, { FORCE_COLOR: '0' })).not.toContain('\x1b[');
    expect(await errOf([...failing, '--color', 'always'], {})).toContain(red);
    expect(await errOf([...failing, '--color=never'], { FORCE_COLOR: '1' })).not.toContain('\x1b[');
  });

  it('on a terminal: colour, unless NO_COLOR, FORCE_COLOR=0 or --color never', () => {
    expect(onTerminal(80, failing).out).toContain(red);
    expect(onTerminal(80, failing, { NO_COLOR: '1' }).out).not.toContain('\x1b[');
    expect(onTerminal(80, failing, { FORCE_COLOR: '0' }).out).not.toContain('\x1b[');
    expect(onTerminal(80, ['--color', 'never', ...failing]).out).not.toContain('\x1b[');
  });

  it('a --color value other than auto, always or never is a usage error', async () => {
    const r = await till(home, ['host', 'list', '--color', 'sometimes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--color <when>' argument 'sometimes' is invalid. Allowed choices are auto, always, never/,
    );
  });
});

describe('the launcher', () => {
  /** bin/till.cjs under this node, made to report another version before the launcher runs. */
  const asNode = (version: string, args: string[]) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        `data:text/javascript,Object.defineProperty(process.versions,"node",{value:"${version}"});Object.defineProperty(process,"version",{value:"v${version}"})`,
        TILL_BIN,
        ...args,
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH, TILL_HOME: home } },
    );

  it('is written in syntax Node.js 12.20 parses, so an old Node reaches the check instead of a SyntaxError', () => {
    // esbuild rewrites what a target lacks (?., ??) and refuses top-level await: unchanged means old syntax only.
    // bin/till.cjs is the launcher; bin/till.mjs starts it for what earlier versions wrote (crontab lines, units).
    for (const [file, format] of [
      [TILL_BIN, 'cjs'],
      ['bin/till.mjs', 'esm'],
    ] as const) {
      const code = readFileSync(file, 'utf8');
      const asFor = (target: string) => transformSync(code, { format, loader: 'js', target }).code;
      expect(asFor('node12.20'), file).toBe(asFor('esnext'));
    }
  });

  it("refuses a Node.js older than package.json's engines in one line, exit 2, before loading the bundle", () => {
    const min = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node);
    expect(min, pkg.engines.node).not.toBeNull();
    const [major, minor] = [Number(min![1]), Number(min![2])];
    for (const old of [`${major}.${minor - 1}.9`, `${major - 2}.20.0`, '16.0.0']) {
      const r = asNode(old, ['host', 'list']);
      expect(r.status, old).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`till: needs Node.js ${major}.${minor} or newer; this is Node.js v${old}\n`);
    }
    // The oldest accepted one gets as far as the bundle.
    const ok = asNode(`${major}.${minor}.0`, ['--version', '--verbose']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`node: v${major}.${minor}.0`);
  });
});
