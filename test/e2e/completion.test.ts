/**
 * `till completion bash|zsh|fish` as a person uses it: the script loaded into a real
 * interactive bash and zsh on a pseudo-terminal (util-linux `script`), TAB pressed after
 * a partial word, the completed line read back; fish's own `complete -C`. Names come from
 * the local database only: nothing under TILL_HOME changes, no host is contacted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TILL_BIN, till, tillOk, tempHome } from '../lab/till.js';

let home: string;
let cleanup: () => void;
/** A PATH whose `till` is this checkout's launcher, as `npm link` or a global install gives. */
let bin: string;
let scratch: string;

/** Every file under a folder with its bytes' hash and mtime: what "nothing changed" means. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile())
        out[p] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${statSync(p).mtimeMs}`;
      else out[p] = 'other';
    }
  };
  walk(dir);
  return out;
}

beforeAll(async () => {
  ({ home, cleanup } = tempHome());
  scratch = mkdtempSync('/tmp/t-');
  bin = join(scratch, 'bin');
  mkdirSync(bin);
  symlinkSync(TILL_BIN, join(bin, 'till'));
  await tillOk(home, ['host', 'init']);
  await tillOk(home, ['host', 'add', 'web1', 'u@127.0.0.2', '--group', 'web']);
  await tillOk(home, ['host', 'add', 'web2', 'u@127.0.0.3:2222', '--group', 'web']);
  await tillOk(home, ['host', 'add', 'db1', 'u@127.0.0.4', '--group', 'db']);
  mkdirSync(join(scratch, 'site'));
  await tillOk(home, ['installation', 'add', join(scratch, 'site'), '--name', 'shop']);
  // A host added by hand: offered at once, though the ssh config was rendered without it.
  const db = JSON.parse(readFileSync(join(home, 'hosts-local.json'), 'utf8'));
  db.hosts.cache9 = { ...db.hosts.db1, host: '127.0.0.5' };
  writeFileSync(join(home, 'hosts-local.json'), `${JSON.stringify(db, null, 2)}\n`);
}, 60_000);
afterAll(() => {
  cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

const env = () => ({ PATH: `${bin}:${process.env.PATH}`, HOME: scratch, TILL_HOME: home, TERM: 'dumb' });

/**
 * Types each partial line into an interactive shell on a pseudo-terminal, presses TAB,
 * then turns the line into `echo LINE: <line>` (Ctrl-A, Enter) to read back what TAB made of it.
 */
function typeAndTab(shell: string[], lines: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const command = shell.map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { ...env(), ...extraEnv },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve([...out.matchAll(/^LINE: (.*?)\s*$/gm)].map((m) => m[1]!));
    });
    // Readline and zle take keys in order: each TAB's completion is done before Ctrl-A is read.
    child.stdin.write(lines.map((l) => `${l}\t\x01echo 'LINE: '\r`).join('') + 'exit\r');
  });
}

const CASES: Array<[string, string]> = [
  ['till host sh', 'till host show '],
  ['till host show c', 'till host show cache9 '],
  ['till host test @w', 'till host test @web '],
  ['till host test web1,@d', 'till host test web1,@db '],
  ['till host test web1,w', 'till host test web1,web2 '],
  ['till host test --group d', 'till host test --group db '],
  ['till host deploy --installation s', 'till host deploy --installation shop '],
  ['till schedule enable --scheduler sy', 'till schedule enable --scheduler systemd '],
  ['till completion f', 'till completion fish '],
  ['till host test web1 --limit d', 'till host test web1 --limit db1 '],
  ['till host edit c', 'till host edit cache9 '],
  ['till host export @d', 'till host export @db '],
  // Quoted as ! and & must be: the quote is closed behind the completed pattern (echo drops it).
  ["till host test '@web,!web1,&w", 'till host test @web,!web1,&web2 '],
  ["till host test 'web1,!@d", 'till host test web1,!@db '],
];

describe('till completion', () => {
  it('prints a script for bash, zsh and fish; another shell is a usage error', async () => {
    expect((await tillOk(home, ['completion', 'bash'])).stdout).toContain('complete -F _till_complete till');
    expect((await tillOk(home, ['completion', 'zsh'])).stdout).toMatch(/^#compdef till\n/);
    expect((await tillOk(home, ['completion', 'fish'])).stdout).toContain("complete -c till -f -a '(__till_complete)'");
    const r = await till(home, ['completion', 'tcsh']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("value 'tcsh' is invalid for argument 'shell'. Allowed choices are bash, zsh, fish.");
    for (const [shell, check] of [
      ['zsh', ['zsh', '-n']],
      ['fish', ['fish', '--no-execute']],
      ['bash', ['bash', '-n']],
    ] as const) {
      const file = join(scratch, `syntax.${shell}`);
      writeFileSync(file, (await tillOk(home, ['completion', shell])).stdout);
      const syntax = spawnSync(check[0], [check[1], file], { encoding: 'utf8' });
      expect(syntax.status, `${shell}: ${syntax.stderr}`).toBe(0);
    }
  });

  it('bash: TAB completes commands, hosts, @groups, pattern lists, --group=, option values; nothing under TILL_HOME changes', async () => {
    const before = snapshot(home);
    const rc = join(scratch, 'bashrc');
    writeFileSync(rc, "PS1='$ '\nsource <(till completion bash)\n");
    const extra: Array<[string, string]> = [
      ['till host test --group=w', 'till host test --group=web '],
      [`till host deploy --source ${scratch}/si`, `till host deploy --source ${scratch}/site/`],
    ];
    const all = [...CASES, ...extra];
    const lines = await typeAndTab(
      ['bash', '--noprofile', '--rcfile', rc, '-i'],
      all.map(([typed]) => typed),
    );
    expect(lines).toEqual(all.map(([, done]) => done.trimEnd()));
    const registered = spawnSync('bash', ['--norc', '-c', 'source <(till completion bash); complete -p till'], {
      env: env(),
      encoding: 'utf8',
    });
    expect(registered.stdout.trim()).toBe('complete -F _till_complete till');
    expect(snapshot(home)).toEqual(before);
    expect(readdirSync(join(home, 'ssh', 'control'))).toEqual([]);
  }, 90_000);

  it('zsh: TAB completes the same through compinit', async () => {
    const zdot = join(scratch, 'zdot');
    mkdirSync(zdot, { recursive: true });
    writeFileSync(
      join(zdot, '.zshrc'),
      "PS1='$ '\nautoload -Uz compinit && compinit -u -D\nsource <(till completion zsh)\n",
    );
    const lines = await typeAndTab(
      ['zsh', '-i'],
      CASES.map(([typed]) => typed),
      { ZDOTDIR: zdot },
    );
    expect(lines).toEqual(CASES.map(([, done]) => done.trimEnd()));
  }, 90_000);

  it("still completes commands where TILL_HOME is another user's (no names then), and exits 0", () => {
    const foreign = join(scratch, 'foreign');
    mkdirSync(foreign, { mode: 0o700 });
    chownSync(foreign, 65534, 65534);
    const ask = (words: string[]) =>
      spawnSync(TILL_BIN, ['__complete', 'zsh', '--', ...words], {
        env: { ...env(), TILL_HOME: foreign },
        encoding: 'utf8',
      });
    const sub = ask(['host', 'sh']);
    expect(sub.status, sub.stderr).toBe(0);
    expect(sub.stdout).toBe('words\nshow\tshow one host in full\n');
    expect(ask(['host', 'show', '']).stdout).toBe('words\n');
  });

  it('fish: complete -C offers the same candidates, with descriptions', () => {
    const script = join(scratch, 'till.fish');
    writeFileSync(script, spawnSync(TILL_BIN, ['completion', 'fish'], { env: env(), encoding: 'utf8' }).stdout);
    const completeFish = (line: string) =>
      spawnSync('fish', ['--no-config', '-c', `source ${script}; complete -C ${JSON.stringify(line)}`], {
        env: env(),
        encoding: 'utf8',
      }).stdout;
    expect(completeFish('till host show w')).toBe('web1\tu@127.0.0.2 (untested)\nweb2\tu@127.0.0.3:2222 (untested)\n');
    expect(completeFish('till host test @')).toBe('@db\t1 host\n@web\t2 hosts\n');
    expect(completeFish("till host test '@web,!web1,&w")).toBe('@web,!web1,&web2\tu@127.0.0.3:2222 (untested)\n');
    expect(completeFish('till host test web1 --limit w')).toBe(
      'web1\tu@127.0.0.2 (untested)\nweb2\tu@127.0.0.3:2222 (untested)\n',
    );
    expect(completeFish('till host de')).toMatch(/^deploy\tdeploy an installation/);
    expect(completeFish('till host test --gr')).toMatch(/^--group\tevery host of a group/);
  });
});
