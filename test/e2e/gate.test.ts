import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupCheck, sync, test } from '../../src/protocol/host.js';
import { remoteScript } from '../../src/protocol/wire.js';
import { startLab, type Lab } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';
import { buildVariant, LOCAL_VERSION, stolenKey, tillVariant } from './helpers-remote.js';

const CHECK_SCRIPT = setupCheck.versions[0]!.text;
const TEST_COMMAND = test.versions[0]!.text;
const SYNC_COMMAND = sync.versions[0]!.text;

// Every step spawns till, ssh and rsync; a busy 2-core CI machine is slow.
describe('restricted keys: till host setup --restrict and till gate', { timeout: 300_000 }, () => {
  let home: string;
  let lab: Lab;
  let scratch: string;
  let canary: string;
  const host = () => lab.hosts[0]!;

  /** ssh and rsync with till's key but none of its config: what someone holding the stolen key would run. */
  const rawSsh = (command: string | undefined, extra: string[] = []) => stolenKey(home, host()).ssh(command, extra);
  const rawRsync = (args: string[]) => stolenKey(home, host()).rsync(args);
  const authorizedKeys = () => readFileSync(join(host().home, '.ssh/authorized_keys'), 'utf8');
  const gateLog = () => readFileSync(join(host().home, '.till/logs/gate.log'), 'utf8');
  const hostEntry = async () => JSON.parse((await tillOk(home, ['host', 'show', 'h0', '--json'])).stdout);

  beforeAll(async () => {
    home = tempHome().home;
    scratch = mkdtempSync('/tmp/t-gate-');
    canary = join(scratch, 'canary');
    execFileSync('chmod', ['1777', scratch]);
    await tillOk(home, ['host', 'init']);
    const key = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8');
    lab = await startLab(1, { authorizedKey: key });
    await tillOk(home, ['host', 'add', 'h0', host().spec]);
  }, 240_000);

  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('setup --restrict installs till, restricts the key line, writes gate.json and proves host test passes the gate', async () => {
    const r = await tillOk(home, ['host', 'setup', 'h0', '--restrict', '--json'], { timeoutMs: 180_000 });
    expect(JSON.parse(r.stdout).results[0]).toMatchObject({
      host: 'h0',
      ok: true,
      restricted: true,
      tillVersion: LOCAL_VERSION,
    });
    const pub = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8').trim();
    const lines = authorizedKeys()
      .split('\n')
      .filter((l) => l.includes(pub.split(' ')[1]!));
    expect(lines).toEqual([`restrict,command="${host().home}/.till/bin/till gate" ${pub}`]);
    expect(JSON.parse(readFileSync(join(host().home, '.till/gate.json'), 'utf8'))).toEqual({
      deployRoots: ['~/projects/github/Tekton'],
    });
    expect(await hostEntry()).toMatchObject({ status: 'till-ready', restricted: true });

    // Again: the same single line (through the gate this time).
    await tillOk(home, ['host', 'setup', 'h0', '--restrict'], { timeoutMs: 180_000 });
    expect(
      authorizedKeys()
        .split('\n')
        .filter((l) => l.includes(pub.split(' ')[1]!)),
    ).toEqual(lines);
    expect(gateLog()).toMatch(/allowed restrict-v3 from/);

    // A new tekton_path would widen gate.json: the gate refuses it; the host owner widens it by hand.
    const dbFile = join(home, 'hosts-local.json');
    const db = readFileSync(dbFile, 'utf8');
    writeFileSync(dbFile, db.replace('"~/projects/github/Tekton"', '"~/other/Tekton"'));
    const wider = await till(home, ['host', 'setup', 'h0', '--restrict'], { timeoutMs: 180_000 });
    expect(wider.code).toBe(1);
    expect(wider.stderr).toMatch(/widens the host's policy \(it adds the deploy root .*\/other\/Tekton\)/);
    expect(JSON.parse(readFileSync(join(host().home, '.till/gate.json'), 'utf8'))).toEqual({
      deployRoots: ['~/projects/github/Tekton'],
    });
    expect(
      authorizedKeys()
        .split('\n')
        .filter((l) => l.includes(pub.split(' ')[1]!)),
    ).toEqual(lines);
    writeFileSync(dbFile, db);
  });

  it('host test, setup (re-run, upgrade, downgrade), sync and audit all work through the gate', async () => {
    const t = JSON.parse((await tillOk(home, ['host', 'test', 'h0', '--json'])).stdout);
    expect(t.results[0]).toMatchObject({ ok: true });
    expect(await hostEntry()).toMatchObject({ status: 'till-ready', till_version: LOCAL_VERSION });

    const again = JSON.parse((await tillOk(home, ['host', 'setup', 'h0', '--json'], { timeoutMs: 180_000 })).stdout);
    expect(again.results[0]).toMatchObject({ ok: true, changed: false });

    const variant = await buildVariant('0.1.1-gate', scratch);
    const up = await tillVariant(variant, home, ['host', 'setup', 'h0', '--json']);
    expect(up.code, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout).results[0]).toMatchObject({
      ok: true,
      changed: true,
      previousVersion: LOCAL_VERSION,
      tillVersion: '0.1.1-gate',
    });
    expect(host().shell('~/.till/bin/till --version').trim()).toBe('0.1.1-gate');
    const down = JSON.parse((await tillOk(home, ['host', 'setup', 'h0', '--json'], { timeoutMs: 180_000 })).stdout);
    expect(down.results[0]).toMatchObject({
      ok: true,
      changed: true,
      previousVersion: '0.1.1-gate',
      tillVersion: LOCAL_VERSION,
    });

    const hs = JSON.parse((await tillOk(home, ['host', 'sync', 'h0', '--json'])).stdout);
    expect(hs.results[0]).toMatchObject({ ok: true, local: [] });
    const dry = JSON.parse((await tillOk(home, ['host', 'sync', 'h0', '--dry-run', '--json'])).stdout);
    expect(dry.results[0]).toMatchObject({ ok: true });
    const s = JSON.parse((await tillOk(home, ['sync', '--json'])).stdout);
    expect(s).toMatchObject({ ok: true, hosts: { summary: { ok: 1, failed: 0 } } });

    const audit = await till(home, ['host', 'audit', 'h0', '--json']);
    expect(audit.code, audit.stderr).toBe(0);
    // The real line `setup --restrict` wrote is till's exact gate line: the audit calls it restricted.
    expect(JSON.parse(audit.stdout).results[0]).toMatchObject({
      host: 'h0',
      ok: true,
      audit: { tillKey: { present: true, which: 'current', restricted: true } },
    });
    expect(gateLog()).toMatch(/allowed audit from/);
  });

  it('an upload into a deploy root passes the gate, with --delete and --link-dest', () => {
    const src = join(scratch, 'tree');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'sub/a.txt'), 'release one\n');
    const to = (id: string) => `HOST:~/projects/github/Tekton.till/releases/${id}/`;
    host().shell('mkdir -p ~/projects/github/Tekton.till/releases');
    const one = rawRsync(['-a', '--delete', `${src}/`, to('r1')]);
    expect(one.status, one.stderr).toBe(0);
    const two = rawRsync(['-a', '--delete', '--link-dest=../r1', `${src}/`, to('r2')]);
    expect(two.status, two.stderr).toBe(0);
    expect(host().shell('cat ~/projects/github/Tekton.till/releases/r2/sub/a.txt')).toBe('release one\n');
    // Hard-linked to r1: one inode.
    expect(host().shell('stat -c %h ~/projects/github/Tekton.till/releases/r2/sub/a.txt').trim()).toBe('2');
  });

  it('refuses host exec, a raw ssh command and an interactive login', async () => {
    const exec = await till(home, ['host', 'exec', 'h0', '--json', '--', 'id']);
    expect(exec.code).toBe(1);
    expect(JSON.parse(exec.stdout).results[0]).toMatchObject({
      ok: false,
      error: 'refused by till gate on the host: "id" is not one of till\'s operations',
    });
    const human = await till(home, ['host', 'exec', 'h0', '--', 'cat /etc/passwd']);
    expect(human.code).toBe(1);
    expect(human.stdout + human.stderr).toContain('refused by till gate on the host');

    const raw = rawSsh('cat /etc/passwd');
    expect(raw.status).toBe(1);
    expect(raw.stdout).toBe('');
    expect(raw.stderr).toContain('till gate: refused: "cat" is not one of till\'s operations');
    const login = rawSsh(undefined, ['-T']);
    expect(login.status).toBe(1);
    expect(login.stderr).toContain('till gate: refused: no command (interactive logins are not allowed with this key)');
    // `restrict` also denies a terminal.
    const tty = rawSsh(undefined, ['-tt']);
    expect(tty.status).not.toBe(0);
    expect(tty.stderr).toContain('PTY allocation request failed');
    expect(gateLog()).toMatch(/refused from \S+: "cat" is not one of till's operations; command "cat \/etc\/passwd"/);
  });

  it('refuses injections through the allowed forms; the canary never appears', () => {
    const touch = `touch ${canary}`;
    const attempts = [
      `${SYNC_COMMAND}; ${touch}`,
      `${TEST_COMMAND}; ${touch}`,
      `${TEST_COMMAND}\n${touch}`,
      `${remoteScript(CHECK_SCRIPT)}; ${touch}`,
      remoteScript(CHECK_SCRIPT.replace('command -v rsync', `${touch}; command -v rsync`)),
      remoteScript(`${CHECK_SCRIPT} `),
      `sh -c '${touch}' till`,
      `rsync --server -te.LsfxCIvu --rsync-path=${touch} . .till/lib/till-9.mjs`,
      `rsync --server -te.LsfxCIvu . ${canary}`,
    ];
    for (const line of attempts) {
      const r = rawSsh(line);
      expect(r.status, line).toBe(1);
      expect(r.stderr, line).toContain('till gate: refused:');
    }

    // A real rsync client: --rsync-path, a destination outside the roots, a download.
    const file = join(scratch, 'payload');
    writeFileSync(file, 'ssh-ed25519 AAAAattacker evil\n');
    const before = authorizedKeys();
    const viaPath = rawRsync([`--rsync-path=${touch}; rsync`, file, 'HOST:.till/lib/till-9.mjs']);
    expect(viaPath.status).not.toBe(0);
    expect(viaPath.stderr).toContain('till gate: refused:');
    const outside = rawRsync([file, 'HOST:.ssh/authorized_keys']);
    expect(outside.status).not.toBe(0);
    expect(outside.stderr).toMatch(/till gate: refused: rsync destination .*authorized_keys is outside till's folders/);
    const download = rawRsync(['HOST:.ssh/authorized_keys', join(scratch, 'stolen')]);
    expect(download.status).not.toBe(0);
    expect(download.stderr).toContain('till gate: refused: downloads (rsync --sender) are not allowed');
    expect(existsSync(join(scratch, 'stolen'))).toBe(false);
    expect(authorizedKeys()).toBe(before);
    expect(existsSync(canary)).toBe(false);
  });
});
