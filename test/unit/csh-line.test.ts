import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { deployPrepareFused } from '../../src/protocol/deploy.js';
import { VERSIONS } from '../../src/protocol/registry.js';
import { commandLine, cshRefused, cshSafeLine, remoteScript, type Version } from '../../src/protocol/wire.js';

/**
 * cshSafeLine (src/protocol/wire.ts): a multi-line script and its arguments in one line
 * that a csh or tcsh login shell passes to sh whole. Checked through the real shells a
 * host's login shell can be (tcsh, dash as /bin/sh, bash): sshd runs `$SHELL -c LINE`.
 */
const TCSH = '/usr/bin/tcsh';
const loginShells = [TCSH, '/bin/sh', '/bin/bash'];

/** A script that prints $0 and every argument, each ended by a NUL, after lines a csh would choke on. */
const ECHO_TEXT = [
  'set -u',
  '# quotes \' " `, a $HOME, a !bang, a \\ backslash, a %s and a ü',
  'printf \'%s\\0\' "$0"',
  'for a in "$@"; do',
  '  printf \'%s\\0\' "$a"',
  'done',
].join('\n');

const echoVersion: Version<string[]> = {
  name: 'csh-line-test',
  form: 'script',
  text: ECHO_TEXT,
  args: [],
  encode: (p) => p,
};

/** What `$shell -c line` prints, split at the NULs. */
function run(shell: string, line: string): string[] {
  const out = execFileSync(shell, ['-c', line], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.split('\0').slice(0, -1);
}

// Any Unicode argument but NUL, with line breaks and quotes made likely.
const arg = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc
      .array(fc.constantFrom('\n', '\r', "'", '"', '`', '$', '!', '\\', '%', ' ', 'x', '-', '~'), { maxLength: 12 })
      .map((a) => a.join('')),
  )
  .filter((s) => !s.includes('\0'));

describe('cshSafeLine, through real login shells', () => {
  test('tcsh is installed (the e2e csh tests and these need it)', () => {
    expect(existsSync(TCSH), 'apt-get install tcsh').toBe(true);
  });

  test('the plain line does not survive tcsh: it complains, as cshRefused reads it', () => {
    const plain = commandLine(echoVersion, ['a']);
    const r = spawnSync(TCSH, ['-c', plain], { encoding: 'utf8' });
    expect(cshRefused(r.stderr)).toBe(true);
    expect(r.stdout.split('\0').slice(0, -1)).not.toEqual(['till', 'a']);
  });

  // cshRefused reads only tcsh's first line on stderr (what a script that ran prints later
  // must not make till send it again), so that line must be its complaint for every text
  // till sends. Run as nobody in an empty home: tcsh runs lines of each text itself.
  test("tcsh's first word on every registered multi-line text, in its plain form, is the complaint cshRefused reads", () => {
    const texts = VERSIONS.filter(({ version }) => version.form === 'script' && version.text.includes('\n'));
    expect(texts.length).toBeGreaterThan(20);
    for (const { version } of texts) {
      const home = mkdtempSync('/tmp/t-cshr-');
      chmodSync(home, 0o777);
      try {
        const line = remoteScript(version.text, ['~/p', 'x', 'y', 'z', '0', 'a', 'b', 'c', 'd', 'e']);
        const r = spawnSync(
          'runuser',
          ['-u', 'nobody', '--', 'env', '-i', `HOME=${home}`, 'PATH=/usr/bin:/bin', TCSH, '-c', line],
          { cwd: home, encoding: 'utf8', timeout: 10_000 },
        );
        expect(cshRefused(r.stderr), `${version.name}: ${r.stderr.slice(0, 200)}`).toBe(true);
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    }
  });

  test('every login shell runs the script with $0 `till` and the arguments byte for byte', () => {
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 6 }), (args) => {
        const line = cshSafeLine(echoVersion, args)!;
        expect(line).not.toMatch(/[\n\r]/);
        for (const shell of loginShells) expect(run(shell, line), shell).toEqual(['till', ...args]);
      }),
      { numRuns: 25 },
    );
  });

  test("arguments appended after it (rsync's server arguments) follow the script's own", () => {
    const line = cshSafeLine(echoVersion, ['one\n', ''])!;
    for (const shell of loginShells)
      expect(run(shell, `${line} --server -logDtpre.iLsfxCIvu . 'x y'`), shell).toEqual([
        'till',
        'one\n',
        '',
        '--server',
        '-logDtpre.iLsfxCIvu',
        '.',
        'x y',
      ]);
  });

  test('the script text reaches sh unchanged, and a registered text keeps its exit code through tcsh', () => {
    const text = deployPrepareFused.versions[0]!.text;
    const show: Version<string[]> = { ...echoVersion, text: `cat <<'TILL_END'\n${text}\nTILL_END` };
    const out = execFileSync(TCSH, ['-c', cshSafeLine(show, [])!], { encoding: 'utf8' });
    expect(out).toBe(`${text}\n`);
    const fails: Version<string[]> = { ...echoVersion, text: 'false\nexit 23' };
    expect(spawnSync(TCSH, ['-c', cshSafeLine(fails, [])!]).status).toBe(23);
  });

  test('a one-line text with one-line arguments already travels: no second form', () => {
    expect(cshSafeLine({ ...echoVersion, text: 'echo "$1"' }, ['a b'])).toBeUndefined();
    expect(cshSafeLine({ ...echoVersion, text: 'echo "$1"' }, ['a\nb'])).toBeDefined();
    expect(cshSafeLine({ ...echoVersion, form: 'line', text: 'true' }, [])).toBeUndefined();
  });

  test('cshRefused reads only the csh complaint', () => {
    expect(cshRefused("Unmatched '''.\nUnmatched '''.\n")).toBe(true);
    expect(cshRefused("\nUnmatched '''.\nIllegal variable name.\nrsync: connection unexpectedly closed\n")).toBe(true);
    // Said later, by what the script ran (a hook, a --check): the script ran, and is not sent again.
    expect(cshRefused("TILL_HOOK_START before_switch\nUnmatched '.\n")).toBe(false);
    expect(cshRefused("rsync: connection closed\nUnmatched '.\n")).toBe(false);
    expect(cshRefused('Unmatched "`.\n')).toBe(true);
    expect(cshRefused('')).toBe(false);
    expect(cshRefused('sh: 1: Syntax error: Unterminated quoted string\n')).toBe(false);
    expect(cshRefused("echo Unmatched '''.\n")).toBe(false);
  });
});
