/**
 * The package as a person gets it: a fresh clone of this checkout (with its uncommitted
 * changes) is packed with `npm pack` (prepack builds it), the tarball installed globally
 * into a scratch prefix with npm offline and an empty cache (so it can need nothing from
 * the registry), and the installed `till` run: --version, host init, its man page under
 * `man -l`, and its bash completion under a real bash completing a host of a scratch
 * database. Also: setup's check names the test tools a machine lacks.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve('.');
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; version: string };
let scratch: string;
let clone: string;
let tarball: string;
let prefix: string;
let home: string;

const git = (cwd: string, args: string[]) => execFileSync('git', ['-C', cwd, ...args], { encoding: 'utf8' });
const filesOf = (cwd: string, args: string[]) =>
  git(cwd, ['ls-files', '-z', ...args])
    .split('\0')
    .filter(Boolean);

/** `till` as installed: the prefix's bin first on PATH, a scratch TILL_HOME. */
function installed(args: string[], extra: { cwd?: string } = {}) {
  return spawnSync(join(prefix, 'bin', 'till'), args, {
    cwd: extra.cwd ?? scratch,
    encoding: 'utf8',
    env: { PATH: `${prefix}/bin:${process.env.PATH}`, HOME: scratch, TILL_HOME: home },
  });
}

beforeAll(() => {
  scratch = mkdtempSync('/tmp/t-');
  clone = join(scratch, 'clone');
  home = join(scratch, 'h');
  prefix = join(scratch, 'prefix');
  // A fresh clone (no dist/, no build/), then this checkout's uncommitted changes on top.
  git(scratch, ['clone', '-q', ROOT, clone]);
  const wanted = new Set(filesOf(ROOT, ['--cached', '--others', '--exclude-standard']));
  for (const f of filesOf(clone, [])) if (!wanted.has(f)) unlinkSync(join(clone, f));
  for (const f of wanted) {
    if (!existsSync(join(ROOT, f))) continue; // deleted, not yet staged
    mkdirSync(dirname(join(clone, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(clone, f));
  }
  expect(existsSync(join(clone, 'dist'))).toBe(false);
  // The build tools (devDependencies) as `npm ci` would install them.
  symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'));
  const packed = execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], {
    cwd: clone,
    encoding: 'utf8',
    env: { ...process.env, npm_config_cache: join(scratch, 'pack-cache') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // npm prints the prepack build's output before the JSON.
  const report = JSON.parse(packed.slice(packed.indexOf('[\n'))) as Array<{ filename: string }>;
  tarball = join(scratch, report[0]!.filename);
}, 180_000);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('npm pack from a fresh clone', () => {
  it('holds the bundle, launcher, README, LICENSE, man page and completions, and nothing that needs root', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').sort();
    const expected = [
      'package/LICENSE',
      'package/README.md',
      'package/bin/till.cjs',
      'package/bin/till.mjs',
      'package/dist/cli/boot.cjs',
      'package/dist/cli/till.cjs',
      'package/dist/completions/_till',
      'package/dist/completions/till.bash',
      'package/dist/completions/till.fish',
      'package/dist/till.1',
      'package/dist/till.mjs',
      'package/package.json',
    ];
    for (const f of expected) expect(files, f).toContain(f);
    // Only bundles (dist/*.mjs) and the split CLI's chunks (dist/cli/*.cjs) may join them;
    // never the demo, which creates Unix users.
    expect(
      files.filter((f) => !expected.includes(f) && !/^package\/dist\/([\w-]+\.mjs|cli\/[\w-]+\.cjs)$/.test(f)),
    ).toEqual([]);
    expect(files.some((f) => /demo/.test(f))).toBe(false);
    const shipped = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
    expect(shipped.name).toBe(pkg.name);
    expect(shipped.dependencies ?? {}).toEqual({});
    expect(shipped.man).toEqual(['./dist/till.1']);
    expect(shipped.bin).toEqual({ till: 'bin/till.cjs' });
  });

  it('installs globally with npm offline and an empty cache, as one package', () => {
    const r = spawnSync(
      'npm',
      [
        'install',
        '-g',
        '--offline',
        '--no-audit',
        '--no-fund',
        '--prefix',
        prefix,
        '--cache',
        join(scratch, 'cache'),
        tarball,
      ],
      { encoding: 'utf8', cwd: scratch, env: { ...process.env, npm_config_registry: 'http://127.0.0.1:9/' } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/added 1 package\b/);
    expect(readdirSync(join(prefix, 'lib', 'node_modules'))).toEqual([pkg.name]);
    expect(existsSync(join(prefix, 'lib', 'node_modules', pkg.name, 'node_modules'))).toBe(false);
  }, 120_000);

  it('the installed till answers --version, --version --verbose and host init', () => {
    const v = installed(['--version']);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toBe(`${pkg.version}\n`);
    const verbose = installed(['--version', '--verbose']);
    const head = git(clone, ['rev-parse', '--short=12', 'HEAD']).trim();
    expect(verbose.stdout).toMatch(new RegExp(`^build commit: ${head}(-dirty)?$`, 'm'));
    expect(verbose.stdout).toContain(
      `file: ${join(prefix, 'lib', 'node_modules', pkg.name, 'dist', 'cli', 'till.cjs')}`,
    );
    const init = installed(['host', 'init']);
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/^ssh-ed25519 \S+ till-federation@/);
    expect(existsSync(join(home, 'ssh', 'till_federation_ed25519'))).toBe(true);
  });

  it('man -l renders the shipped page, linked where man finds it', () => {
    const page = join(prefix, 'share', 'man', 'man1', 'till.1');
    expect(existsSync(page)).toBe(true);
    const r = spawnSync('man', ['-l', page], { encoding: 'utf8', env: { PATH: process.env.PATH, MANWIDTH: '80' } });
    expect(r.status, r.stderr).toBe(0);
    const text = r.stdout;
    expect(text).toMatch(/^NAME\n {7}till - SSH-only fleet manager/m);
    expect(text).toMatch(/^ {3}till host add \[options\] <name> <user@host\[:port\]>$/m);
    expect(text).toContain(`${pkg.name} ${pkg.version}`);
  });

  it('the installed bash completion completes a host name of the scratch database under a real bash', () => {
    for (const [name, spec] of [
      ['web1', 'deploy@127.0.0.2'],
      ['web2', 'deploy@127.0.0.3'],
      ['db1', 'deploy@127.0.0.4'],
    ]) {
      const add = installed(['host', 'add', name!, spec!, '--group', name!.replace(/\d$/, '')]);
      expect(add.status, add.stderr).toBe(0);
    }
    const script = join(prefix, 'lib', 'node_modules', pkg.name, 'dist', 'completions', 'till.bash');
    // What bash does on TAB: set COMP_* and call the function `complete -p till` names.
    const r = spawnSync(
      'bash',
      [
        '--norc',
        '--noprofile',
        '-c',
        [
          `source ${script}`,
          'complete -p till',
          'fn=$(complete -p till | sed -E "s/.*-F ([^ ]+) .*/\\1/")',
          'tab() { COMP_LINE=$1; COMP_POINT=${#1}; read -ra COMP_WORDS <<<"$1"; [[ $1 == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "$fn" till; echo "$1 => ${COMPREPLY[*]}"; }',
          "tab 'till host show w'",
          "tab 'till host test --group '",
          "tab 'till host de'",
        ].join('\n'),
      ],
      { encoding: 'utf8', env: { PATH: `${prefix}/bin:/usr/bin:/bin`, HOME: scratch, TILL_HOME: home } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'complete -F _till_complete till',
      'till host show w => web1 web2',
      'till host test --group  => db web',
      'till host de => deploy',
      '',
    ]);
  });
});

describe('scripts/setup.sh --check (the first step of npm test)', () => {
  it('names the test tools a machine lacks and how to install them, exit 1', () => {
    // A PATH with a shell and the few tools the script uses, and none of the test tools.
    const bin = join(scratch, 'minimal-bin');
    mkdirSync(bin);
    for (const tool of ['bash', 'sort', 'tr', 'dirname', 'id', 'ssh', 'ssh-keygen', 'rsync', 'git'])
      symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
    const r = spawnSync(join(bin, 'bash'), ['scripts/setup.sh', '--check'], {
      encoding: 'utf8',
      env: { PATH: bin },
    });
    expect(r.status).toBe(1);
    const [first, second] = r.stderr.split('\n');
    for (const p of ['prometheus', 'chromium', 'cron', 'tcsh', 'zsh', 'fish', 'man-db'])
      expect(first, r.stderr).toContain(` ${p} `);
    expect(first).not.toContain('openssh');
    expect(second).toMatch(/^install them with: npm run setup:test {3}\(apt-get install -y /);
    const ok = spawnSync('bash', ['scripts/setup.sh', '--check'], { encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
  });
});
