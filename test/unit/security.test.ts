import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { tillPaths } from '../../src/core/paths.js';
import { hostsFileSchema } from '../../src/core/state/hosts-schema.js';
import { KEEP_MISSING, keyAppend, keyDrop, KEY_PRESENT } from '../../src/protocol/keys.js';
import { renderSshConfig } from '../../src/ssh/config.js';
import { keyFile, readTillKey, recoverKeyFiles } from '../../src/ssh/key-set.js';
import {
  fingerprintAtLine,
  fingerprintOfBlob,
  knownHostsName,
  lineNamesHost,
  normalizeFingerprint,
  parseHostKeyChange,
  parseKeyscan,
  parsePublicKey,
  withoutHost,
} from '../../src/ssh/known-hosts.js';
import { hostKeyChangedMessage } from '../../src/ssh/outcome.js';
import { buildKeyProbeArgs } from '../../src/ssh/probe.js';

const APPEND_KEY_SCRIPT = keyAppend.versions[0]!.text;
const REMOVE_KEY_SCRIPT = keyDrop.versions[0]!.text;
const tmp = mkdtempSync('/tmp/t-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function keygen(file: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}
const sshKeygenFingerprint = (pubFile: string) =>
  execFileSync('ssh-keygen', ['-lf', pubFile], { encoding: 'utf8' }).split(' ')[1]!;

describe('fingerprints and known_hosts', () => {
  test('fingerprintOfBlob matches ssh-keygen -l', () => {
    const line = keygen(join(tmp, 'k1'));
    const parsed = parsePublicKey(line)!;
    expect(parsed.fingerprint).toBe(sshKeygenFingerprint(join(tmp, 'k1.pub')));
    expect(fingerprintOfBlob(parsed.blob)).toBe(parsed.fingerprint);
  });

  test('parsePublicKey refuses options, bad types and control characters', () => {
    expect(parsePublicKey('restrict ssh-ed25519 AAAA')).toBeUndefined();
    expect(parsePublicKey('ssh-ed25519 AAAA$(x)')).toBeUndefined();
    expect(parsePublicKey('ssh-ed25519 AAAA a\x1bb')).toBeUndefined();
    expect(parsePublicKey('ssh-ed25519 AAAA comment with spaces')?.comment).toBe('comment with spaces');
  });

  test('normalizeFingerprint', () => {
    const fp = `SHA256:${'a'.repeat(43)}`;
    expect(normalizeFingerprint(fp)).toBe(fp);
    expect(normalizeFingerprint(`${fp}=`)).toBe(fp);
    for (const bad of ['', 'SHA256:', `MD5:${'a'.repeat(43)}`, `${fp}\nx`, `SHA256:${'a'.repeat(42)}$`, `-${fp}`])
      expect(normalizeFingerprint(bad)).toBeUndefined();
  });

  test('knownHostsName', () => {
    expect(knownHostsName('127.0.0.1', 22)).toBe('127.0.0.1');
    expect(knownHostsName('127.0.0.2', 2201)).toBe('[127.0.0.2]:2201');
  });

  test('parseKeyscan keeps key lines and skips comments', () => {
    const line = keygen(join(tmp, 'k2'));
    const [type, blob] = line.split(' ');
    const keys = parseKeyscan(`# 127.0.0.2:22 SSH-2.0-OpenSSH_9.2\n[127.0.0.2]:2201 ${type} ${blob}\ngarbage\n`);
    expect(keys).toHaveLength(1);
    expect(keys[0]!.fingerprint).toBe(sshKeygenFingerprint(join(tmp, 'k2.pub')));
    expect(keys[0]!.name).toBe('[127.0.0.2]:2201');
  });

  test('a changed host key: the message names the host and both fingerprints', () => {
    const known = keygen(join(tmp, 'hk-old'));
    const kh = join(tmp, 'known_hosts');
    writeFileSync(kh, `[127.0.0.9]:2200 ${known.split(' ').slice(0, 2).join(' ')}\n`);
    const offered = `SHA256:${'Q'.repeat(43)}`;
    const stderr =
      '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n' +
      `The fingerprint for the ED25519 key sent by the remote host is\n${offered}.\r\nPlease contact your system administrator.\r\n` +
      `Offending ED25519 key in ${kh}:1\r\n  remove with:\r\nHost key for [127.0.0.9]:2200 has changed and you have requested strict checking.\r\nHost key verification failed.\r\n`;
    expect(parseHostKeyChange(stderr)).toEqual({ offered, knownFile: kh, knownLine: 1, address: '[127.0.0.9]:2200' });
    expect(fingerprintAtLine(kh, 1)).toBe(sshKeygenFingerprint(join(tmp, 'hk-old.pub')));
    const msg = hostKeyChangedMessage({ args: ['-F', 'x', '-T', '--', 'till-web1', 'true'], stderr });
    expect(msg).toContain('web1');
    expect(msg).toContain(offered);
    expect(msg).toContain(sshKeygenFingerprint(join(tmp, 'hk-old.pub')));
    expect(msg).toContain('till host forget web1');
  });
});

describe('removing a host from known_hosts (forget, trust): in till, as ssh-keygen -R does', () => {
  test('plain, comma-listed and hashed names go; @cert-authority / @revoked lines and every other byte stay', () => {
    const blob = keygen(join(tmp, 'hk-rm')).split(' ').slice(0, 2).join(' ');
    const hashedFile = join(tmp, 'kh-hashed');
    writeFileSync(hashedFile, `[127.0.0.9]:2200 ${blob}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', hashedFile], { stdio: 'ignore' });
    const hashed = readFileSync(hashedFile, 'utf8').trim();
    expect(hashed).toMatch(/^\|1\|/);
    const lines = [
      `# till's known_hosts`,
      `[127.0.0.9]:2200 ${blob}`,
      `127.0.0.8,[127.0.0.9]:2200 ${blob}`,
      hashed,
      `@cert-authority [127.0.0.9]:2200 ${blob}`,
      `@revoked [127.0.0.9]:2200 ${blob}`,
      `[127.0.0.9]:2201 ${blob}`,
      `[127.0.0.19]:2200 ${blob}`,
      '',
    ];
    const text = lines.join('\n');
    // Lines 1-3 hold the host's key; the rest stay, byte for byte.
    for (const line of lines.slice(1, 4)) expect(lineNamesHost(line, '[127.0.0.9]:2200'), line).toBe(true);
    const kept = lines.filter((_, i) => i < 1 || i > 3).join('\n');
    expect(withoutHost(text, '[127.0.0.9]:2200')).toBe(kept);
    // ssh-keygen -R itself leaves the same text.
    const byKeygen = join(tmp, 'kh-keygen');
    writeFileSync(byKeygen, text);
    execFileSync('ssh-keygen', ['-R', '[127.0.0.9]:2200', '-f', byKeygen], { stdio: 'ignore' });
    expect(readFileSync(byKeygen, 'utf8')).toBe(kept);
    // Nothing of the host: the text comes back byte for byte (no newline added at the end either).
    expect(withoutHost('a b c\nd e f', 'x')).toBe('a b c\nd e f');
  });
});

describe('ssh/config during a rotation', () => {
  const paths = tillPaths('/tmp/t-cfg');
  const fp = (c: string) => `SHA256:${c.repeat(43)}`;
  const entry = (key?: string) => ({
    user: 'u',
    host: '127.0.0.1',
    port: 22,
    status: 'connected' as const,
    added: '2025-01-01T00:00:00Z',
    tekton_path: '~/T',
    installations: [],
    ...(key ? { key_fingerprint: key } : {}),
  });
  test('only hosts recorded on another key get its IdentityFile, in their own block', () => {
    const db = hostsFileSchema.parse({ hosts: { a: entry(), b: entry(fp('b')), c: entry(fp('c')) } });
    const text = renderSshConfig(db, paths, [
      { fingerprint: fp('b'), file: '/tmp/t-cfg/ssh/till_federation_ed25519.old' },
    ]);
    const block = (n: string) => text.split('\n\n').find((b) => b.startsWith(`Host till-${n}\n`))!;
    expect(block('a')).not.toContain('IdentityFile');
    expect(block('b')).toContain('IdentityFile /tmp/t-cfg/ssh/till_federation_ed25519.old');
    expect(block('c')).not.toContain('IdentityFile'); // unknown key: the default is all till has
    expect(text).toContain('IdentityFile /tmp/t-cfg/ssh/till_federation_ed25519\n');
  });

  test('the key probe uses no config, no master, only the given key', () => {
    const db = hostsFileSchema.parse({ hosts: { a: entry() } });
    const args = buildKeyProbeArgs(paths, db, 'a', '/tmp/t-cfg/ssh/k.new', 'echo ok');
    expect(args.slice(0, 2)).toEqual(['-F', '/dev/null']);
    expect(args).toContain('ControlMaster=no');
    expect(args).toContain('ControlPath=none');
    expect(args).toContain('IdentityFile=/tmp/t-cfg/ssh/k.new');
    expect(args.filter((a) => a.startsWith('IdentityFile='))).toHaveLength(1);
    expect(args.slice(-3)).toEqual(['--', '127.0.0.1', 'echo ok']);
  });

  test('a host or group named like an Object property is just a name', () => {
    const db = hostsFileSchema.parse({ hosts: { constructor: entry() }, groups: { toString: ['constructor'] } });
    expect('hasOwnProperty' in db.hosts).toBe(false);
    expect(Object.keys(db.hosts)).toEqual(['constructor']);
    expect(hostsFileSchema.safeParse({ hosts: {}, groups: { g: ['constructor'] } }).success).toBe(false);
    // zod's record would silently drop these keys; the file must be refused instead
    expect(hostsFileSchema.safeParse(JSON.parse('{"hosts":{},"groups":{"__proto__":[]}}')).success).toBe(false);
    expect(hostsFileSchema.safeParse(JSON.parse(`{"hosts":{"__proto__":${JSON.stringify(entry())}}}`)).success).toBe(
      false,
    );
    // Whatever the key holds: the refusal, never a crash in the checks across hosts.
    for (const text of [
      '{"hosts":{"__proto__":null}}',
      '{"hosts":{"__proto__":5,"web":null}}',
      '{"hosts":{},"groups":{"__proto__":null}}',
      '{"hosts":{},"groups":{"__proto__":"web","g":null}}',
    ]) {
      const r = hostsFileSchema.safeParse(JSON.parse(text));
      expect(r.success, text).toBe(false);
      expect(r.error?.issues[0]?.message, text).toBe('"__proto__" is not a valid name');
    }
  });
});

describe('authorized_keys scripts, run by a real sh in a scratch home', () => {
  const home = join(tmp, 'home');
  const ak = join(home, '.ssh', 'authorized_keys');
  const run = (script: string, ...args: string[]) =>
    spawnSync('/bin/sh', ['-c', script, 'till-test', ...args], {
      env: { PATH: process.env.PATH, HOME: home },
      encoding: 'utf8',
    }).status;
  const a = parsePublicKey(keygen(join(tmp, 'ka')))!;
  const b = parsePublicKey(keygen(join(tmp, 'kb')))!;
  const lineA = `ssh-ed25519 ${a.blob} till-federation@op@box`;
  const lineB = `ssh-ed25519 ${b.blob} next`;

  test('append creates ~/.ssh 0700 and the file 0600, once', () => {
    mkdirSync(home, { recursive: true });
    expect(run(APPEND_KEY_SCRIPT, lineA, a.blob)).toBe(0);
    expect(statSync(join(home, '.ssh')).mode & 0o777).toBe(0o700);
    expect(statSync(ak).mode & 0o777).toBe(0o600);
    expect(run(APPEND_KEY_SCRIPT, lineA, a.blob)).toBe(KEY_PRESENT);
    expect(readFileSync(ak, 'utf8')).toBe(`${lineA}\n`);
  });

  test('append matches by blob, whatever the options and comment, and fixes a missing final newline', () => {
    writeFileSync(ak, `restrict,command="x y" ssh-ed25519 ${a.blob} other-comment`);
    expect(run(APPEND_KEY_SCRIPT, lineA, a.blob)).toBe(KEY_PRESENT);
    expect(run(APPEND_KEY_SCRIPT, lineB, b.blob)).toBe(0);
    expect(readFileSync(ak, 'utf8')).toBe(`restrict,command="x y" ssh-ed25519 ${a.blob} other-comment\n${lineB}\n`);
  });

  test('remove drops the old blob only while the new one is there', () => {
    writeFileSync(ak, `# keep me\n${lineA}\nssh-ed25519 ${a.blob} dup\n`);
    expect(run(REMOVE_KEY_SCRIPT, b.blob, a.blob)).toBe(KEEP_MISSING);
    expect(readFileSync(ak, 'utf8')).toBe(`# keep me\n${lineA}\nssh-ed25519 ${a.blob} dup\n`);
    writeFileSync(ak, `# keep me\n${lineA}\n${lineB}\nssh-ed25519 ${a.blob} dup\n`);
    expect(run(REMOVE_KEY_SCRIPT, b.blob, a.blob)).toBe(0);
    expect(readFileSync(ak, 'utf8')).toBe(`# keep me\n${lineB}\n`);
    expect(run(REMOVE_KEY_SCRIPT, b.blob, a.blob)).toBe(0);
    expect(readFileSync(ak, 'utf8')).toBe(`# keep me\n${lineB}\n`);
  });
});

describe('recoverKeyFiles finishes a local switch interrupted at any step', () => {
  // The switch: current → old (private, then .pub), then next → current (private, then .pub).
  const steps = ['cur→old', 'cur.pub→old.pub', 'next→cur', 'next.pub→cur.pub'] as const;
  for (let done = 0; done <= steps.length; done++) {
    test(`after ${done} of ${steps.length} renames`, async () => {
      const home = mkdtempSync(join(tmp, 'r-'));
      const paths = tillPaths(home);
      mkdirSync(paths.sshDir);
      const oldFp = parsePublicKey(keygen(keyFile(paths, 'current')))!.fingerprint;
      const newFp = parsePublicKey(keygen(keyFile(paths, 'next')))!.fingerprint;
      const cur = keyFile(paths, 'current');
      const next = keyFile(paths, 'next');
      const old = keyFile(paths, 'old');
      const moves: Array<[string, string]> = [
        [cur, old],
        [`${cur}.pub`, `${old}.pub`],
        [next, cur],
        [`${next}.pub`, `${cur}.pub`],
      ];
      for (const [from, to] of moves.slice(0, done)) execFileSync('mv', [from, to]);
      await recoverKeyFiles(paths);
      if (done === 0) {
        // Nothing moved yet: the rotation is still before its switch.
        expect((await readTillKey(paths, 'current'))?.key.fingerprint).toBe(oldFp);
        expect((await readTillKey(paths, 'next'))?.key.fingerprint).toBe(newFp);
        return;
      }
      expect((await readTillKey(paths, 'current'))?.key.fingerprint).toBe(newFp);
      expect((await readTillKey(paths, 'old'))?.key.fingerprint).toBe(oldFp);
      expect(existsSync(next)).toBe(false);
      expect(existsSync(`${next}.pub`)).toBe(false);
      // the private keys really are the pairs of their .pub files
      const derived = execFileSync('ssh-keygen', ['-y', '-f', cur], { encoding: 'utf8' }).split(' ')[1];
      expect(fingerprintOfBlob(derived!)).toBe(newFp);
    });
  }
});
