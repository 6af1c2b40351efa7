import { execFileSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployPrepare, deployUnlock } from '../../src/protocol/deploy.js';
import { sync } from '../../src/protocol/host.js';
import { restrict } from '../../src/protocol/keys.js';
import { deploySwitch, rollback, type SwitchParams } from '../../src/protocol/switch.js';
import { commandLine, type Operation } from '../../src/protocol/wire.js';
import { closeMasters, waitUntil } from '../lab/till.js';
import { changes, outside, restrictedHost, TIGHTEST, type RestrictedHost } from './helpers-gate.js';

/**
 * The escapes of issue 14, performed against a real host whose key was restricted by
 * `till host setup --restrict`, with the tightest policy (`{"deployRoots":["~/app"],
 * "upgrade":false,"checks":[]}`), by someone holding only that key: plain ssh and rsync.
 * Each must be refused, or defused, with authorized_keys byte-identical and nothing
 * written outside the deploy root and ~/.till.
 */
describe('a stolen restricted key, tightest policy: the escapes are closed', { timeout: 300_000 }, () => {
  let r: RestrictedHost;
  let work: string;
  const NOW = '2026-01-01T00:00:00.000Z';
  const id = (n: number) => `2026010${n}T000000Z-aaaaa${n}`;
  const lockInfo = (run: string) => `who=attacker\nwhen=now\nwhat=attack\npid=1\nrun=${run}\n`;
  const releases = () => join(r.host.home, 'app.till/releases');
  const keys = () => readFileSync(join(r.host.home, '.ssh/authorized_keys'), 'utf8');
  const gateLog = () => readFileSync(join(r.host.home, '.till/logs/gate.log'), 'utf8');
  /** Sends one version of a registered operation, as the stolen key would. */
  const send = <P>(op: Operation<P, unknown>, params: P, name?: string) =>
    r.key.ssh(commandLine(name ? op.versions.find((v) => v.name === name)! : op.versions[0]!, params));
  const prepare = (n: number) =>
    send(deployPrepare, {
      path: '~/app',
      id: id(n),
      lockInfo: lockInfo('atk'),
      run: 'atk',
      forceUnlock: true,
      shared: [],
      adoptId: '20250101T000000Z-adopted',
      now: NOW,
      contentHash: '',
    });
  const switchTo = (n: number, over: Partial<SwitchParams> = {}, name?: string) =>
    send(
      deploySwitch,
      {
        path: '~/app',
        id: id(n),
        previous: '',
        check: '',
        prune: [],
        run: 'atk',
        now: NOW,
        source: 'attacker',
        installation: '',
        shared: [],
        env: 'A=1\n',
        ...over,
      },
      name,
    );
  /** A local tree to upload; `links` are symlinks (name -> target). */
  const tree = (name: string, files: Record<string, string>, links: Record<string, string> = {}) => {
    const dir = join(work, name);
    for (const [rel, content] of Object.entries(files)) {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      writeFileSync(join(dir, rel), content);
    }
    for (const [rel, target] of Object.entries(links)) {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      symlinkSync(target, join(dir, rel));
    }
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  let before: Map<string, string>;
  let keysBefore: string;
  /** Nothing outside the deploy root and ~/.till changed; authorized_keys byte for byte. */
  const unchanged = () => {
    expect(keys()).toBe(keysBefore);
    expect(changes(before, outside(r.host))).toEqual([]);
  };

  beforeAll(async () => {
    r = await restrictedHost();
    work = mkdtempSync('/tmp/t-esc-');
    keysBefore = keys();
    before = outside(r.host);
  }, 240_000);

  afterAll(async () => {
    r?.lab.stop();
    if (r) await closeMasters(r.home);
    rmSync(work, { recursive: true, force: true });
  });

  it('1. restrict cannot write another authorized_keys line: every argument is typed (a key type is one of a closed set)', () => {
    const tillBlob = / ssh-ed25519 (\S+)/.exec(keysBefore.split('\n').find((l) => l.includes('till gate'))!)![1]!;
    const attacker = 'AAAAC3NzaC1lZDI1NTE5AAAAIAttackerAttackerAttackerAttackerAttacker0';
    const gateJson = JSON.stringify(TIGHTEST);
    const key = { type: `ssh-ed25519\nssh-ed25519 ${attacker} attacker\nssh-ed25519`, blob: tillBlob, comment: '' };
    const res = send(restrict, { key, gateJson });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/till gate: refused: script restrict: key type .* is not one of ssh-ed25519/);
    // a key type from the set with another key's blob is refused too
    const rsa = send(restrict, { key: { type: 'ssh-rsa', blob: tillBlob, comment: '' }, gateJson });
    expect(rsa.stderr).toMatch(/the key blob is not a ssh-rsa key/);
    unchanged();
  });

  it('2. the switch never writes through a symlink an upload planted (.env.local, <id>.partial, a shared path, a release)', () => {
    const ssh = join(r.host.home, '.ssh');
    // a) .env.local uploaded as a symlink to authorized_keys
    expect(prepare(1).status).toBe(0);
    const a = tree('a', { 'index.html': 'a\n' }, { '.env.local': join(ssh, 'authorized_keys') });
    const up = r.key.rsync(['-rl', `${a}/`, `HOST:app.till/releases/${id(1)}.partial/`]);
    expect(up.status, up.stderr).toBe(0);
    // the versions that wrote it through the link are no longer run by this gate
    const v3 = switchTo(1, { env: `ssh-ed25519 AAAA attacker\n` }, 'deploy-switch-v3');
    expect(v3.stderr).toMatch(/script deploy-switch-v3 is no longer allowed/);
    // the current one renames a new file over the link: the release gets it, ~/.ssh nothing
    const v4 = switchTo(1, { env: `ssh-ed25519 AAAA attacker\n` });
    expect(v4.status, v4.stderr).toBe(0);
    expect(v4.stdout).toMatch(/TILL_DONE/);
    expect(readFileSync(join(releases(), id(1), '.env.local'), 'utf8')).toBe('ssh-ed25519 AAAA attacker\n');
    unchanged();

    // b) <id>.partial uploaded as a symlink to ~/.ssh
    expect(prepare(2).status).toBe(0);
    const link = tree('b', {}, { partial: ssh });
    expect(r.key.rsync(['-l', join(link, 'partial'), `HOST:app.till/releases/${id(2)}.partial`]).status).toBe(0);
    expect(readlinkSync(join(releases(), `${id(2)}.partial`))).toBe(ssh);
    const b = switchTo(2, { shared: ['logs'] });
    expect(b.status).toBe(31);
    expect(b.stderr).toMatch(/staging directory missing \(or a symlink\)/);
    expect(prepare(2).stderr).toMatch(/release .* is a symlink \(not made by till\)/);
    unchanged();

    // c) a shared path whose folder in the release is a symlink to ~
    expect(prepare(3).status).toBe(0);
    const c = tree('c', { 'index.html': 'c\n' }, { a: r.host.home });
    expect(r.key.rsync(['-rl', `${c}/`, `HOST:app.till/releases/${id(3)}.partial/`]).status).toBe(0);
    const shared = switchTo(3, { shared: ['a/.ssh'] });
    expect(shared.status).toBe(31);
    expect(shared.stderr).toMatch(/shared path a\/\.ssh: .*\/a is a symlink/);
    unchanged();

    // d) a release that is a symlink is never switched to
    expect(send(deployUnlock, { path: '~/app', run: 'atk' }).stdout).toMatch(/TILL_UNLOCKED/);
    const current = readlinkSync(join(r.host.home, 'app'));
    expect(r.key.rsync(['-l', join(link, 'partial'), `HOST:app.till/releases/${id(4)}`]).status).toBe(0);
    const rb = send(rollback, { path: '~/app', to: id(4), lockInfo: lockInfo('rb'), now: NOW });
    expect(rb.stdout).toMatch(/TILL_NO_SUCH/);
    expect(readlinkSync(join(r.host.home, 'app'))).toBe(current);
    expect(
      send(rollback, { path: '~/app', to: id(4), lockInfo: lockInfo('rb'), now: NOW }, 'rollback-v2').stderr,
    ).toMatch(/script rollback-v2 is no longer allowed/);
    unchanged();
  });

  it('3. an upload cannot be redirected by a symlink another session makes after the check (one session per deploy root)', async () => {
    const src = join(work, 'race/src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'authorized_keys'), 'ssh-ed25519 AAAA attacker\n');
    const sub = `HOST:app.till/releases/${id(5)}/sub/`;
    expect(r.key.rsync(['-r', '--mkpath', `${src}/`, sub]).status).toBe(0);
    // A: an upload into that real folder `sub`, held after the gate's check: its ssh
    // connects at once (the gate checks, the rsync server starts and waits for the
    // client), but the client's bytes reach ssh only once `go` exists. ssh reads a FIFO
    // (opened read-write: it never waits for a writer) that cat fills from the client
    // (through fd 4: an asynchronous list's own stdin is /dev/null).
    const go = join(work, 'race/go');
    const pipe = join(work, 'race/pipe');
    const hold = join(work, 'race/hold');
    execFileSync('mkfifo', [pipe]);
    const script = [
      '#!/bin/sh',
      `exec 3<> ${pipe} 4<&0`,
      `{ while [ ! -e ${go} ]; do sleep 0.05; done; exec cat <&4 > ${pipe}; } &`,
      'exec "$@" <&3 3<&- 4<&-',
    ];
    writeFileSync(hold, `${script.join('\n')}\n`, { mode: 0o755 });
    const exited = (p: ChildProcess) =>
      new Promise<number | null>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`rsync ${p.pid} did not finish`)), 60_000);
        p.on('close', (code) => (clearTimeout(t), res(code)));
      });
    const logStart = gateLog().length;
    const allowed = () =>
      gateLog()
        .slice(logStart)
        .split('\n')
        .filter((l) => l.includes(`allowed rsync to ${releases()}/${id(5)}/`));
    const a = r.key.rsyncAsync(['-r', `${src}/`, sub], hold);
    let b: ChildProcess | undefined;
    try {
      const aExit = exited(a);
      await waitUntil(() => allowed().length === 1, 30_000, 'A past the gate');
      // B: from another session, an upload that turns `sub` into a symlink to ~/.ssh
      const swap = tree('race-swap', {}, { sub: join(r.host.home, '.ssh') });
      b = r.key.rsyncAsync(['-rl', '--force', `${swap}/`, `HOST:app.till/releases/${id(5)}/`]);
      const bExit = exited(b);
      await new Promise((res) => setTimeout(res, 1500));
      // B waits for the root's lock: its gate has not decided yet, and A still runs
      expect(allowed()).toHaveLength(1);
      expect(a.exitCode).toBeNull();
      writeFileSync(go, '');
      expect(await aExit).toBe(0);
      expect(await bExit).toBe(0);
      expect(allowed()).toHaveLength(2);
      // A wrote into the real folder; B's symlink came after, and nothing went through it
      unchanged();
      expect(readlinkSync(join(releases(), id(5), 'sub'))).toBe(join(r.host.home, '.ssh'));
    } finally {
      a.kill('SIGKILL');
      b?.kill('SIGKILL');
    }
  });

  it('4. till sync never runs git in an uploaded release: its .git/config (core.fsmonitor) runs nothing', () => {
    const repo = join(work, 'repo');
    mkdirSync(repo);
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', repo, '-c', 'user.email=a@b', '-c', 'user.name=a', ...args], { encoding: 'utf8' });
    git('init', '-q', '-b', 'main');
    writeFileSync(join(repo, 'index.html'), 'x\n');
    git('add', 'index.html');
    git('commit', '-qm', 'x');
    git('remote', 'add', 'origin', '/nonexistent');
    git('config', 'branch.main.remote', 'origin');
    git('config', 'branch.main.merge', 'refs/heads/main');
    git('update-ref', 'refs/remotes/origin/main', 'HEAD');
    // runs on `git status`, from the checkout's own config
    git(
      'config',
      'core.fsmonitor',
      'echo pwned > "$HOME"/pwned; cat "$HOME"/.till/gate.json >> "$HOME"/.ssh/authorized_keys; false',
    );
    expect(prepare(6).status).toBe(0);
    expect(r.key.rsync(['-a', `${repo}/`, `HOST:app.till/releases/${id(6)}.partial/`]).status).toBe(0);
    const sw = switchTo(6, { installation: 'evil' });
    expect(sw.status, sw.stderr).toBe(0);
    expect(sw.stdout).toMatch(/TILL_REGISTERED/);
    // an installation name that would be an option is refused by its type
    expect(switchTo(6, { installation: '--name' }).stderr).toMatch(/is not an installation name/);
    const res = r.key.ssh(sync.versions[0]!.text);
    const report = JSON.parse(res.stdout);
    expect(report.local).toEqual([
      expect.objectContaining({
        name: 'evil',
        status: 'skipped',
        reason: 'a release deployed by till, not a checkout: never git-pulled',
      }),
    ]);
    expect(existsSync(join(r.host.home, 'pwned'))).toBe(false);
    unchanged();
  });

  it('5. prepare, switch and rollback cannot forge releases.log lines (time, source and lock info are typed)', () => {
    const log = join(r.host.home, 'app.till/releases.log');
    const logBefore = readFileSync(log, 'utf8');
    const forged = `${NOW}\tgood\tx\n${id(9)}\tgood\t${NOW}`;
    expect(
      send(deployPrepare, {
        path: '~/app',
        id: id(7),
        lockInfo: lockInfo('atk'),
        run: 'atk',
        forceUnlock: true,
        shared: [],
        adoptId: '20250101T000000Z-adopted',
        now: forged,
        contentHash: '',
      }).stderr,
    ).toMatch(/is not an ISO-8601 UTC time/);
    expect(switchTo(6, { source: `x\n${id(9)}\tgood\t${NOW}\tx` }).stderr).toMatch(/contains a control character/);
    expect(send(rollback, { path: '~/app', to: '', lockInfo: lockInfo('rb'), now: forged }).stderr).toMatch(
      /is not an ISO-8601 UTC time/,
    );
    expect(
      send(rollback, { path: '~/app', to: '', lockInfo: `${lockInfo('rb')}run=TILL_LOCKED\n`, now: NOW }).stderr,
    ).toMatch(/lock info/);
    expect(readFileSync(log, 'utf8')).toBe(logBefore);
    unchanged();
  });
});
