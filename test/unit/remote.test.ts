import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tillPaths } from '../../src/core/paths.js';
import { buildRsyncPushArgs } from '../../src/rsync/args.js';
import { classifyRsync } from '../../src/rsync/outcome.js';
import type { ProcessResult } from '../../src/ssh/process.js';
import { checkProblem, renderLauncher, VERSION_RE } from '../../src/ops/setup.js';
import { buildRunRecord, looksTooOld, type LocalSyncResult } from '../../src/ops/sync.js';
import {
  parseRemoteSync,
  remoteBundlePath,
  setupActivate,
  setupCheck,
  sync,
  syncDryRun,
  test as hostTest,
} from '../../src/protocol/host.js';
import { parseHealthOutput } from '../../src/protocol/probes.js';

const ACTIVATE_SCRIPT = setupActivate.versions[0]!.text;
const buildCheckScript = () => setupCheck.versions[0]!.text;
const parseCheckOutput = setupCheck.parse;

const paths = tillPaths('/tmp/t-x');
const scratch = mkdtempSync('/tmp/t-unit-remote-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function result(exitCode: number | null, stderr = '', extra: Partial<ProcessResult> = {}): ProcessResult {
  return {
    command: 'rsync',
    args: [],
    exitCode,
    signal: null,
    stdout: '',
    stderr,
    durationMs: 1,
    timedOut: false,
    cancelled: false,
    ...extra,
  };
}

describe('buildRsyncPushArgs', () => {
  it("goes through till's config and alias, with -- before the paths", () => {
    const args = buildRsyncPushArgs(paths, 'web-1', ['/a/-odd.mjs'], '.till/lib/till-1.mjs', {
      rsyncPath: 'mkdir -p .till/lib && rsync',
      connectTimeout: 5,
    });
    expect(args).toEqual([
      '-e',
      'ssh -F /tmp/t-x/ssh/config -T -o ConnectTimeout=5',
      '--times',
      '--rsync-path=mkdir -p .till/lib && rsync',
      '--',
      '/a/-odd.mjs',
      'till-web-1:.till/lib/till-1.mjs',
    ]);
    expect(() => buildRsyncPushArgs(paths, 'h', [], 'x')).toThrow();
  });
});

describe('classifyRsync', () => {
  it('treats ssh failures under rsync as retryable connection failures', () => {
    const refused =
      'ssh: connect to host 127.0.0.9 port 22: Connection refused\r\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: unexplained error (code 255) at io.c(232)';
    expect(classifyRsync(result(255, refused))).toMatchObject({ kind: 'refused', connection: true, retryable: true });
    // one list of rsync's transport codes, for setup's copy and a deploy's transfer alike
    for (const code of [5, 12, 30, 35]) {
      expect(classifyRsync(result(code, refused))).toMatchObject({
        kind: 'refused',
        connection: true,
        retryable: true,
      });
    }
    expect(
      classifyRsync(result(12, 'Connection closed by 127.0.0.9 port 22\nrsync: connection unexpectedly closed')),
    ).toMatchObject({ kind: 'closed', connection: true });
    expect(classifyRsync(result(255, 'Permission denied (publickey).'))).toMatchObject({
      kind: 'auth',
      connection: true,
      retryable: false,
    });
  });

  it('treats rsync errors on a working connection as remote failures, never retried', () => {
    const f = classifyRsync(
      result(
        23,
        'rsync: [receiver] mkstemp "/x/.till-1.mjs.AbCd" failed: Permission denied (13)\nrsync error: some files/attrs were not transferred (code 23)',
      ),
    );
    expect(f).toMatchObject({ kind: 'remote', connection: false, retryable: false });
    expect(f!.message).toMatch(/^rsync exit 23 \(partial transfer due to error\): rsync: \[receiver\] mkstemp/);
    expect(classifyRsync(result(12, 'rsync: protocol version mismatch -- is your shell clean?'))).toMatchObject({
      kind: 'remote',
      connection: false,
    });
    expect(classifyRsync(result(0))).toBeUndefined();
    expect(classifyRsync(result(null, '', { spawnError: 'spawn rsync ENOENT' }))).toMatchObject({
      kind: 'spawn',
      retryable: false,
    });
  });
});

describe('host setup check', () => {
  const out = (r: string, n: string, v: string, t: string) =>
    `motd noise\nTILL_SETUP_CHECK\nrsync=${r}\nnode=${n}\nnode_version=${v}\ntill_version=${t}\n`;

  it('parses the one round trip', () => {
    expect(parseCheckOutput(out('/usr/bin/rsync', '/usr/bin/node', 'v20.20.2', '0.1.0'))).toEqual({
      rsync: '/usr/bin/rsync',
      node: '/usr/bin/node',
      nodeVersion: 'v20.20.2',
      tillVersion: '0.1.0',
    });
    expect(parseCheckOutput(out('', '', '', ''))).toEqual({
      rsync: null,
      node: null,
      nodeVersion: null,
      tillVersion: null,
    });
    expect(parseCheckOutput('no marker')).toBeUndefined();
    // A login shell's noise without a newline ends up on the marker's line.
    expect(parseCheckOutput(`welcome ${out('/r', '/n', 'v20.1.0', '').replace('motd noise\n', '')}`)).toMatchObject({
      rsync: '/r',
      node: '/n',
    });
  });

  it('names what to install', () => {
    expect(
      checkProblem({ rsync: '/usr/bin/rsync', node: '/usr/bin/node', nodeVersion: 'v20.0.0', tillVersion: null }),
    ).toBeUndefined();
    expect(
      checkProblem({ rsync: '/usr/bin/rsync', node: '/usr/bin/node', nodeVersion: 'v22.1.0', tillVersion: null }),
    ).toBeUndefined();
    expect(
      checkProblem({ rsync: '/usr/bin/rsync', node: '/usr/bin/node', nodeVersion: 'v18.19.0', tillVersion: null }),
    ).toBe(
      'node 18.19.0 found at /usr/bin/node; till needs Node.js 20 or newer (https://nodejs.org or your package manager)',
    );
    expect(checkProblem({ rsync: null, node: '/usr/bin/node', nodeVersion: 'v20.1.0', tillVersion: null })).toBe(
      'rsync not found: install rsync (e.g. apt-get install rsync)',
    );
    const both = checkProblem({ rsync: null, node: null, nodeVersion: null, tillVersion: null })!;
    expect(both).toMatch(/^rsync not found: install rsync.*; Node\.js not found .*till needs Node\.js 20 or newer/);
    expect(checkProblem({ rsync: '/r', node: '/n', nodeVersion: null, tillVersion: null })).toMatch(
      /does not report a Node\.js version/,
    );
  });

  it('runs under sh and finds node, rsync and no till in an empty home', () => {
    const home = mkdtempSync(join(scratch, 'h-'));
    const r = spawnSync('sh', ['-c', buildCheckScript()], {
      env: { HOME: home, PATH: '/usr/bin:/bin' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const check = parseCheckOutput(r.stdout)!;
    expect(check.node).toMatch(/\/node$/);
    expect(check.nodeVersion).toBe(process.version);
    expect(check.rsync).toMatch(/\/rsync$/);
    expect(check.tillVersion).toBeNull();
  });

  it('only accepts versions that make plain file names', () => {
    expect(VERSION_RE.test('0.1.0')).toBe(true);
    expect(VERSION_RE.test('1.0.0-rc.1+build.5')).toBe(true);
    for (const bad of ['', '../x', 'a b', "1'2", '-1']) expect(VERSION_RE.test(bad)).toBe(false);
    expect(remoteBundlePath('1.2.3')).toBe('.till/lib/till-1.2.3.mjs');
  });
});

describe('launcher and activation (run by a real sh)', () => {
  const fakeBundle = (home: string, version: string, reports = version) => {
    mkdirSync(join(home, '.till/lib'), { recursive: true });
    writeFileSync(
      join(home, remoteBundlePath(version)),
      `if (process.argv[2] === '--version') console.log(${JSON.stringify(reports)}); else console.log(process.argv.slice(2).join('|'));\n`,
    );
  };

  it('the launcher runs the recorded node, or node from PATH when that one is gone, passing arguments intact', () => {
    const home = mkdtempSync(join(scratch, 'l-'));
    fakeBundle(home, '1.2.3');
    const launcher = join(home, 'launcher');
    for (const node of [process.execPath, '/nonexistent/node']) {
      writeFileSync(launcher, renderLauncher('1.2.3', node));
      const out = execFileSync('sh', [launcher, 'a', 'b c', '$HOME'], {
        env: { HOME: home, PATH: `${join(process.execPath, '..')}:/usr/bin:/bin` },
        encoding: 'utf8',
      });
      expect(out).toBe('a|b c|$HOME\n');
    }
  });

  it('switches the launcher only after the new file answers with its version', () => {
    const home = mkdtempSync(join(scratch, 'a-'));
    const env = { HOME: home, PATH: '/usr/bin:/bin' };
    fakeBundle(home, '1.0.0');
    expect(
      execFileSync('sh', ['-c', ACTIVATE_SCRIPT, 'till', '1.0.0', process.execPath], { env, encoding: 'utf8' }),
    ).toBe('1.0.0\n');
    const launcher = join(home, '.till/bin/till');
    const first = readFileSync(launcher, 'utf8');
    expect(first).toBe(renderLauncher('1.0.0', process.execPath));

    // A copied file that reports another version: the old launcher stays, exit 3.
    fakeBundle(home, '2.0.0', '9.9.9');
    const bad = spawnSync('sh', ['-c', ACTIVATE_SCRIPT, 'till', '2.0.0', process.execPath], { env, encoding: 'utf8' });
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/reports version 9\.9\.9, expected 2\.0\.0/);
    expect(readFileSync(launcher, 'utf8')).toBe(first);
    expect(existsSync(`${launcher}.new`)).toBe(false);

    // A copied file that does not start at all: its error is the reason, the old launcher stays.
    writeFileSync(join(home, remoteBundlePath('2.0.0')), 'this is not javascript(\n');
    const broken = spawnSync('sh', ['-c', ACTIVATE_SCRIPT, 'till', '2.0.0', process.execPath], {
      env,
      encoding: 'utf8',
    });
    expect(broken.status).toBe(3);
    expect(broken.stderr).toMatch(/the copied till does not start: .*SyntaxError/s);
    expect(readFileSync(launcher, 'utf8')).toBe(first);

    fakeBundle(home, '2.0.0');
    expect(
      execFileSync('sh', ['-c', ACTIVATE_SCRIPT, 'till', '2.0.0', process.execPath], { env, encoding: 'utf8' }),
    ).toBe('2.0.0\n');
    expect(execFileSync(launcher, ['--version'], { env, encoding: 'utf8' })).toBe('2.0.0\n');
    expect(existsSync(join(home, remoteBundlePath('1.0.0')))).toBe(true); // side by side
  });
});

describe('sync pieces', () => {
  it('always runs the remote side local-only', () => {
    expect(sync.versions[0]!.text).toBe('"$HOME"/.till/bin/till sync --local-only --json --trigger remote');
    expect(syncDryRun.versions[0]!.text).toContain('--local-only --json --dry-run');
  });

  it('parses only a sync report', () => {
    expect(parseRemoteSync('{"ok":true,"local":[]}')).toEqual({ ok: true, local: [] });
    expect(parseRemoteSync('{"ok":true}')).toBeUndefined();
    expect(parseRemoteSync('noise {"ok":true,"local":[]}')).toBeUndefined();
    expect(parseRemoteSync('')).toBeUndefined();
    expect(parseRemoteSync('Welcome to h0!\n{\n  "ok": false,\n  "local": []\n}\n')).toEqual({ ok: false, local: [] });
    expect(parseRemoteSync('Welcome\n{\n  "ok": 1\n}\n')).toBeUndefined();
    // Noise glued to the document, noise with braces, noise after it.
    expect(parseRemoteSync('welcome {\n  "ok": true,\n  "local": []\n}\n')).toEqual({ ok: true, local: [] });
    expect(
      parseRemoteSync('motd {\n}\n{\n  "ok": true,\n  "local": [\n    {\n      "name": "a"\n    }\n  ]\n}\nbye\n'),
    ).toEqual({ ok: true, local: [{ name: 'a' }] });
  });

  it('suggests an upgrade only when the remote till rejects the command', () => {
    expect(looksTooOld("error: unknown option '--local-only'")).toBe(true);
    expect(looksTooOld("error: unknown command 'sync'")).toBe(true);
    expect(looksTooOld('error: another till sync is running on this TILL_HOME')).toBe(false);
    expect(looksTooOld('')).toBe(false);
  });

  it('records a run that an error stopped as failed, with the error', () => {
    const r = buildRunRecord({
      started: new Date(0),
      finished: new Date(5),
      trigger: 'manual',
      local: [],
      hosts: null,
      error: 'cannot write hosts-local.json',
    });
    expect(r).toMatchObject({ status: 'failed', error: 'cannot write hosts-local.json' });
  });

  const lr = (status: LocalSyncResult['status']): LocalSyncResult => ({
    name: status,
    path: '/x',
    status,
    reason: null,
    branch: null,
    upstream: null,
    from: null,
    to: null,
    behind: null,
    durationMs: 1,
  });
  const t0 = new Date('2026-01-01T00:00:00Z');
  const t1 = new Date('2026-01-01T00:00:05Z');

  it('records success, partial and failed runs with counts', () => {
    const ok = buildRunRecord({
      started: t0,
      finished: t1,
      trigger: 'manual',
      local: [lr('updated'), lr('skipped')],
      hosts: { total: 2, ok: 2, failed: 0, unreachable: 0, skipped: 0 },
    });
    expect(ok).toMatchObject({
      status: 'success',
      duration_ms: 5000,
      trigger: 'manual',
      error: null,
      installations: { total: 2, synced: 1, updated: 1, skipped: 1, failed: 0 },
      hosts: { total: 2, synced: 2, failed: 0 },
    });
    const partial = buildRunRecord({
      started: t0,
      finished: t1,
      trigger: 'timer',
      local: [lr('up-to-date')],
      hosts: { total: 3, ok: 2, failed: 0, unreachable: 1, skipped: 0 },
    });
    expect(partial).toMatchObject({ status: 'partial', error: '1 host failed' });
    const failed = buildRunRecord({ started: t0, finished: t1, trigger: 'manual', local: [lr('failed')], hosts: null });
    expect(failed).toMatchObject({ status: 'failed', error: '1 installation failed', hosts: { total: 0 } });
    expect(
      buildRunRecord({ started: t0, finished: t1, trigger: 'manual', local: [], hosts: null, cancelled: true }).status,
    ).toBe('cancelled');
  });
});

describe("a version a host's till reports", () => {
  const huge = `0.0.1-${'a'.repeat(20_000)}`;
  it('host test records a version spelled as one, of at most 64 characters, and nothing else', () => {
    const said = (v: string) => hostTest.parse(`TILL_TEST_SUCCESS\n${v}\n`).tillVersion;
    expect(said('0.1.1')).toBe('0.1.1');
    expect(said(`0.1.1-rc.1+${'b'.repeat(53)}`)).toHaveLength(64);
    for (const bad of [huge, `0.1.1-${'b'.repeat(59)}`, '0.1.1\x1b]0;pwned\x07', 'v0.1.1', '0.1'])
      expect(said(bad), JSON.stringify(bad.slice(0, 20))).toBeNull();
  });

  it('host health reads it the same way', () => {
    const said = (v: string) => parseHealthOutput(`till_version=${v}\n`).tillVersion;
    expect(said('0.1.1')).toBe('0.1.1');
    expect(said(huge)).toBeNull();
    expect(said('0.1.1/../x')).toBeNull();
  });
});
