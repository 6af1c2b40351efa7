import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  analyzeSnapshot,
  countBySeverity,
  uniqueKeys,
  worstSeverity,
  type Finding,
  type HostAudit,
  type Severity,
} from '../../src/audit/analyze.js';
import { auditMetricFamilies } from '../../src/audit/metrics.js';
import { MAX_FILE_BYTES, parseAuditOutput, type AuditSnapshot } from '../../src/audit/script.js';
import { audit } from '../../src/protocol/probes.js';

/** The exact line an audit sends: `sh -c '<script>'`. */
const AUDIT_LINE = audit.versions[0]!.text;
import { tillPaths } from '../../src/core/paths.js';
import { tillFingerprints } from '../../src/ops/audit.js';
import {
  appendAudit,
  auditHistorySchema,
  auditStore,
  readLatestAudits,
  removeAuditHistory,
  type AuditHistory,
} from '../../src/audit/history.js';

let dir: string;
const pub: Record<string, string> = {};

/**
 * Public keys made once with ssh-keygen (test/fixtures/keys: ed25519, RSA 1024 and 2048,
 * DSA, ECDSA, and an RSA-1024 certificate signed by an ed25519 CA), read rather than
 * generated: StrykerJS runs this file once per mutant.
 */
const KEYS = ['till', 'old', 'alice', 'weak', 'dsa', 'next', 'rsa2048', 'ecdsa', 'weak-cert'];

beforeAll(() => {
  dir = mkdtempSync('/tmp/t-au-');
  for (const name of KEYS) pub[name] = readFileSync(`test/fixtures/keys/${name}.pub`, 'utf8').trim();
  pub.weakCert = pub['weak-cert']!;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the real script with sh against a fake home: the same bytes the host would send. */
function runScript(home: string): string {
  return execFileSync('sh', ['-c', AUDIT_LINE], {
    maxBuffer: 16 * 1024 * 1024,
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', HOME: home },
  });
}

/** The SHA256 fingerprint of a plain public key, as ssh-keygen -l prints it (checked against it below). */
function fp(name: string): string {
  const blob = Buffer.from(pub[name]!.split(' ')[1]!, 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function snapshotOf(
  files: { authorized_keys?: string; authorized_keys2?: string },
  modes: { home?: number; ssh?: number; file?: number } = {},
): AuditSnapshot {
  const st = (mode: number) => ({ mode, owner: 'deploy', uid: 1000 });
  return {
    user: 'deploy',
    uid: 1000,
    stats: {
      home: st(modes.home ?? 0o755),
      ssh: st(modes.ssh ?? 0o700),
      authorized_keys: files.authorized_keys === undefined ? null : st(modes.file ?? 0o600),
      authorized_keys2: files.authorized_keys2 === undefined ? null : st(0o600),
    },
    files: Object.fromEntries(
      Object.entries(files).map(([k, v]) => [
        k,
        { size: Buffer.byteLength(v), content: Buffer.from(v), truncated: false },
      ]),
    ),
  };
}

describe('the key fixtures', () => {
  it('have the fingerprints ssh-keygen -l gives them', () => {
    for (const name of KEYS.filter((k) => k !== 'weak-cert')) {
      const out = execFileSync('ssh-keygen', ['-lf', `test/fixtures/keys/${name}.pub`], { encoding: 'utf8' });
      expect(out.split(' ')[1], name).toBe(fp(name));
    }
  });
});

describe('the audit script', () => {
  it('is one line for sh, quoted once, and only reads', () => {
    const script = AUDIT_LINE;
    expect(script).not.toMatch(/\n|!/);
    expect(script.startsWith("sh -c '")).toBe(true);
    // Nothing that writes, moves or changes modes: no redirection into a file either.
    expect(script).not.toMatch(/\b(rm|mv|cp|chmod|chown|touch|mkdir|tee|sed -i|ln)\b/);
    expect(script.replace(/2>\/dev\/null/g, '')).not.toMatch(/>\s*[^&\s]/);
  });

  it('carries files byte for byte (NUL, invalid UTF-8, framing look-alikes) and stats', () => {
    const home = join(dir, 'home1');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    const nasty = Buffer.concat([
      Buffer.from(`${pub.alice}\nend authorized_keys\nTILL-AUDIT-DONE\n`),
      Buffer.from([0, 0xff, 0xfe, 10]),
    ]);
    writeFileSync(join(home, '.ssh', 'authorized_keys'), nasty);
    chmodSync(home, 0o755);
    chmodSync(join(home, '.ssh'), 0o777);
    chmodSync(join(home, '.ssh', 'authorized_keys'), 0o640);
    const snap = parseAuditOutput(`some motd noise\n${runScript(home)}`);
    expect(snap.uid).toBe(process.getuid!());
    const file = snap.files.authorized_keys;
    expect(file).not.toBe('unreadable');
    expect(Buffer.compare((file as { content: Buffer }).content, nasty)).toBe(0);
    expect(file).toMatchObject({ size: nasty.length, truncated: false });
    expect(snap.stats.ssh).toMatchObject({ mode: 0o777, uid: process.getuid!() });
    expect(snap.stats.authorized_keys).toMatchObject({ mode: 0o640 });
    expect(snap.stats.authorized_keys2).toBeNull();
    expect(snap.files.authorized_keys2).toBeUndefined();
  });

  it('reports a truncated file and an absent ~/.ssh', () => {
    const home = join(dir, 'home2');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    writeFileSync(join(home, '.ssh', 'authorized_keys2'), 'x'.repeat(MAX_FILE_BYTES + 10));
    const snap = parseAuditOutput(runScript(home));
    expect(snap.files.authorized_keys2).toMatchObject({ size: MAX_FILE_BYTES + 10, truncated: true });
    expect((snap.files.authorized_keys2 as { content: Buffer }).content.length).toBe(MAX_FILE_BYTES);
    const empty = join(dir, 'home3');
    mkdirSync(empty);
    const none = parseAuditOutput(runScript(empty));
    expect(none.stats.ssh).toBeNull();
    expect(none.files).toEqual({});
  });

  it('refuses output that is not the script’s', () => {
    expect(() => parseAuditOutput('hello')).toThrow(/no header/);
    expect(() => parseAuditOutput('TILL-AUDIT 1\nuser a 1\n')).toThrow(/cut short/);
    expect(() => parseAuditOutput('TILL-AUDIT 1\nuser a 1\nfile authorized_keys 3\n616263\n')).toThrow(/ends inside/);
    expect(() => parseAuditOutput('TILL-AUDIT 1\nuser a 1\nstat ssh 9z9 a 1\nTILL-AUDIT-DONE\n')).toThrow(/bad stat/);
    expect(() => parseAuditOutput('TILL-AUDIT 1\nuser a 1\nrm -rf\nTILL-AUDIT-DONE\n')).toThrow(/unexpected line/);
  });
});

describe('findings', () => {
  it('names till’s key, weak keys, duplicates and unparseable lines', () => {
    const text = [
      pub.till,
      `from="10.0.0.1",command="/bin/true" ${pub.alice}`,
      pub.weak,
      pub.dsa,
      'garbage here',
      `no-pty ${pub.alice}`,
    ].join('\n');
    const a = analyzeSnapshot(snapshotOf({ authorized_keys: text }), { current: fp('till') }, null);
    expect(a.tillKey).toEqual({ present: true, which: 'current', restricted: false });
    expect(a.keys.find((k) => k.till === 'current')?.fingerprint).toBe(fp('till'));
    const codes = a.findings.map((f) => [f.severity, f.code, f.line ?? null]);
    expect(codes).toEqual([
      ['high', 'weak-key', 3],
      ['high', 'weak-key', 4],
      ['medium', 'unparseable-line', 5],
      ['low', 'duplicate-key', 6],
    ]);
    expect(a.findings[0]!.fingerprint).toBe(fp('weak'));
    expect(a.drift).toEqual({ baseline: true, added: [], removed: [] });
    expect(worstSeverity(a.findings)).toBe('high');
    expect(countBySeverity(a.findings)).toEqual({ info: 0, low: 1, medium: 1, high: 2 });
  });

  it('tells current, old and restricted till keys apart', () => {
    const till = { current: fp('till'), old: fp('old') };
    const rotating = analyzeSnapshot(
      snapshotOf({ authorized_keys: `${pub.old}\nrestrict,command="/x gate" ${pub.till}\n` }),
      till,
      null,
    );
    expect(rotating.tillKey).toEqual({ present: true, which: 'both', restricted: false });
    const oldOnly = analyzeSnapshot(snapshotOf({ authorized_keys2: `${pub.old}\n` }), till, null);
    expect(oldOnly.tillKey.which).toBe('old');
    expect(oldOnly.findings.map((f) => f.code)).toContain('till-key-old');
    const restricted = analyzeSnapshot(
      snapshotOf({ authorized_keys: `restrict,command="/home/d/.till/bin/till gate" ${pub.till}\n` }),
      till,
      null,
    );
    expect(restricted.tillKey).toEqual({ present: true, which: 'current', restricted: true });
    // Mid-rotation, one of till's keys in the gate form and the other not: not restricted (every key must be).
    const half = analyzeSnapshot(
      snapshotOf({ authorized_keys: `${pub.old}\nrestrict,command="/home/d/.till/bin/till gate" ${pub.till}\n` }),
      till,
      null,
    );
    expect(half.tillKey).toEqual({ present: true, which: 'both', restricted: false });
    // Only till's exact gate line restricts it: `restrict` alone runs any command, a command alone forwards ports.
    const gate = 'command="/home/d/.till/bin/till gate"';
    const verdicts = [
      [`restrict ${pub.till}`, false],
      [`${gate} ${pub.till}`, false],
      [`restrict,command="/bin/sh" ${pub.till}`, false],
      [`restrict,command="/home/d/till gate" ${pub.till}`, false],
      [`restrict,command="/home/d/.till/bin/till gate --all" ${pub.till}`, false],
      [`restrict,command="home/d/.till/bin/till gate" ${pub.till}`, false],
      [`restrict,command="/home/d/../e/.till/bin/till gate" ${pub.till}`, false],
      [`restrict,pty,${gate} ${pub.till}`, false],
      [`restrict,port-forwarding,${gate} ${pub.till}`, false],
      [`restrict,environment="NODE_OPTIONS=--require=/tmp/x.js",${gate} ${pub.till}`, false],
      [`restrict,${gate} ${pub.till}`, true],
      [`${gate},restrict ${pub.till}`, true],
      [`restrict,command="/.till/bin/till gate" ${pub.till}`, true],
      [`from="10.0.0.0/8",restrict,no-pty,expiry-time="20990101",${gate} ${pub.till}`, true],
    ] as const;
    for (const [line, expected] of verdicts) {
      const a = analyzeSnapshot(snapshotOf({ authorized_keys: `${line}\n` }), till, null);
      expect([line, a.tillKey.restricted, a.keys[0]!.restricted]).toEqual([line, expected, expected]);
    }
    // Another key's `restricted` still says it has some limit.
    const other = analyzeSnapshot(snapshotOf({ authorized_keys: `restrict ${pub.alice}\n` }), till, null);
    expect(other.keys[0]!.restricted).toBe(true);
    const absent = analyzeSnapshot(snapshotOf({ authorized_keys: `${pub.alice}\n` }), till, null);
    expect(absent.tillKey).toEqual({ present: false, which: null, restricted: false });
    expect(absent.findings).toEqual([expect.objectContaining({ severity: 'info', code: 'till-key-absent' })]);
  });

  it('flags a key whose expiry-time has passed (sshd refuses it)', () => {
    const text = `expiry-time="20200101Z" ${pub.alice}\nexpiry-time="20990101" ${pub.weak}\n`;
    const a = analyzeSnapshot(snapshotOf({ authorized_keys: text }), {}, null, new Date('2026-01-01T00:00:00Z'));
    expect(a.keys).toHaveLength(2);
    expect(a.findings.filter((f) => f.code === 'key-expired')).toEqual([
      expect.objectContaining({
        severity: 'low',
        line: 1,
        fingerprint: fp('alice'),
        message: expect.stringMatching(/expiry-time 2020-01-01T00:00:00Z has passed, sshd refuses ED25519/),
      }),
    ]);
  });

  it('flags modes sshd StrictModes refuses, and foreign owners', () => {
    const a = analyzeSnapshot(
      snapshotOf({ authorized_keys: `${pub.till}\n` }, { home: 0o775, ssh: 0o777, file: 0o644 }),
      { current: fp('till') },
      null,
    );
    expect(a.findings.filter((f) => f.code === 'unsafe-mode').map((f) => f.path)).toEqual(['home', 'ssh']);
    expect(a.findings.find((f) => f.path === 'ssh')!.message).toMatch(/777: writable by group and others/);
    const snap = snapshotOf({ authorized_keys: `${pub.till}\n` });
    snap.stats.authorized_keys = { mode: 0o600, owner: 'mallory', uid: 1001 };
    snap.stats.home = { mode: 0o755, owner: 'root', uid: 0 };
    const b = analyzeSnapshot(snap, { current: fp('till') }, null);
    expect(b.findings.map((f) => [f.severity, f.code, f.path])).toEqual([['high', 'unsafe-owner', 'authorized_keys']]);
  });

  it('reports drift against the previous audit, by fingerprint', () => {
    const till = { current: fp('till') };
    const first = analyzeSnapshot(snapshotOf({ authorized_keys: `${pub.till}\n${pub.alice}\n` }), till, null);
    const second = analyzeSnapshot(
      snapshotOf({ authorized_keys: `# reordered, options changed\n${pub.till}\nno-pty ${pub.weak}\n` }),
      till,
      uniqueKeys(first.keys),
    );
    expect(second.drift.baseline).toBe(false);
    expect(second.drift.added.map((k) => k.fingerprint)).toEqual([fp('weak')]);
    expect(second.drift.removed.map((k) => k.fingerprint)).toEqual([fp('alice')]);
    expect(second.findings.map((f) => [f.severity, f.code])).toEqual([
      ['high', 'weak-key'],
      ['high', 'key-added'],
      ['low', 'key-removed'],
    ]);
    const same = analyzeSnapshot(
      snapshotOf({ authorized_keys: `${pub.alice}\n${pub.till}\n` }),
      till,
      uniqueKeys(first.keys),
    );
    expect(same.drift).toEqual({ baseline: false, added: [], removed: [] });
    expect(same.findings).toEqual([]);
  });
});

/** A finding as expected in full (typed, so a misspelt field fails the typecheck). */
const finding = (f: Partial<Finding> & Pick<Finding, 'severity' | 'code' | 'message'>) => f;

describe('findings, in full', () => {
  it('every key finding with its exact message, and the worst severity whatever the order', () => {
    const text = [
      pub.till,
      pub.dsa,
      pub.weak,
      pub.rsa2048,
      pub.ecdsa,
      'ssh-ed25519 AAAA-not-base64 broken',
      `no-pty ${pub.alice}`,
    ].join('\n');
    const keys2 = `${pub.alice}\n${pub.weakCert}\n`;
    const a = analyzeSnapshot(
      snapshotOf({ authorized_keys: text, authorized_keys2: keys2 }),
      { current: fp('till') },
      null,
    );
    const weak = a.keys.find((k) => k.fingerprint === fp('weak') && k.file === 'authorized_keys')!;
    const dsa = a.keys.find((k) => k.fingerprint === fp('dsa'))!;
    const cert = a.keys.find((k) => k.file === 'authorized_keys2' && k.line === 2)!;
    expect(cert.label).toBe('RSA-CERT');
    expect(a.findings).toEqual([
      finding({
        severity: 'high',
        code: 'weak-key',
        message: `weak key: DSA 1024-bit key ${fp('dsa')} (dsa) (DSA is broken and disabled since OpenSSH 7.0)`,
        fingerprint: dsa.fingerprint,
        file: 'authorized_keys',
        line: 2,
      }),
      finding({
        severity: 'high',
        code: 'weak-key',
        message: `weak key: RSA 1024-bit key ${fp('weak')} (weak) (RSA under 2048 bits)`,
        fingerprint: weak.fingerprint,
        file: 'authorized_keys',
        line: 3,
      }),
      finding({
        severity: 'high',
        code: 'weak-key',
        message: `weak key: RSA-CERT 1024-bit key ${cert.fingerprint}${cert.comment ? ` (${cert.comment})` : ''} (RSA under 2048 bits)`,
        fingerprint: cert.fingerprint,
        file: 'authorized_keys2',
        line: 2,
      }),
      finding({
        severity: 'medium',
        code: 'unparseable-line',
        message: expect.stringMatching(/^~\/\.ssh\/authorized_keys line 6: .+ \(sshd skips this line\)$/),
        file: 'authorized_keys',
        line: 6,
      }),
      finding({
        severity: 'low',
        code: 'duplicate-key',
        message: '~/.ssh/authorized_keys2 line 1 repeats the key of ~/.ssh/authorized_keys line 7',
        fingerprint: fp('alice'),
        file: 'authorized_keys2',
        line: 1,
      }),
      // A certificate has the fingerprint of the key it certifies.
      finding({
        severity: 'low',
        code: 'duplicate-key',
        message: '~/.ssh/authorized_keys2 line 2 repeats the key of ~/.ssh/authorized_keys line 3',
        fingerprint: fp('weak'),
        file: 'authorized_keys2',
        line: 2,
      }),
    ]);
    // RSA of 2048 bits and ECDSA (whose label ends in "DSA") are not weak.
    expect(a.keys.find((k) => k.fingerprint === fp('rsa2048'))).toMatchObject({ label: 'RSA', bits: 2048 });
    expect(a.keys.find((k) => k.fingerprint === fp('ecdsa'))?.label).toBe('ECDSA');
    // A duplicate whose options sshd ignores says so.
    const dup = analyzeSnapshot(snapshotOf({ authorized_keys: `${pub.alice}\nno-pty ${pub.alice}\n` }), {}, null);
    expect(dup.findings.find((f) => f.code === 'duplicate-key')!.message).toBe(
      '~/.ssh/authorized_keys line 2 repeats the key of ~/.ssh/authorized_keys line 1 (sshd uses the first line, so these options are ignored)',
    );
  });

  it('worstSeverity is the highest severity wherever it stands; none for no findings', () => {
    const of = (...severities: Severity[]) => severities.map((severity) => ({ severity, code: 'x', message: 'x' }));
    expect(worstSeverity([])).toBeNull();
    expect(worstSeverity(of('info'))).toBe('info');
    expect(worstSeverity(of('low', 'high', 'medium'))).toBe('high');
    expect(worstSeverity(of('info', 'medium', 'low'))).toBe('medium');
    expect(worstSeverity(of('medium', 'medium', 'info'))).toBe('medium');
    expect(countBySeverity(of('low', 'high', 'low'))).toEqual({ info: 0, low: 2, medium: 0, high: 1 });
  });

  it('mode and owner findings name the path, the mode and who may write', () => {
    const snap = snapshotOf({ authorized_keys: `${pub.till}\n` }, { home: 0o750, ssh: 0o702, file: 0o620 });
    snap.stats.authorized_keys = { mode: 0o620, owner: 'mallory', uid: 1001 };
    const a = analyzeSnapshot(snap, { current: fp('till') }, null);
    expect(a.findings).toEqual([
      finding({
        severity: 'high',
        code: 'unsafe-mode',
        message: '~/.ssh is mode 702: writable by others (sshd StrictModes refuses it; others can add keys)',
        path: 'ssh',
      }),
      finding({
        severity: 'high',
        code: 'unsafe-mode',
        message:
          '~/.ssh/authorized_keys is mode 620: writable by group (sshd StrictModes refuses it; others can add keys)',
        path: 'authorized_keys',
      }),
      finding({
        severity: 'high',
        code: 'unsafe-owner',
        message: '~/.ssh/authorized_keys is owned by mallory (uid 1001), not by deploy (uid 1000) or root',
        path: 'authorized_keys',
      }),
    ]);
    expect(a.modes).toEqual([
      { path: 'home', mode: '750', owner: 'deploy', uid: 1000 },
      { path: 'ssh', mode: '702', owner: 'deploy', uid: 1000 },
      { path: 'authorized_keys', mode: '620', owner: 'mallory', uid: 1001 },
      { path: 'authorized_keys2', mode: null, owner: null, uid: null },
    ]);
    snap.stats.home = { mode: 0o777, owner: 'deploy', uid: 1000 };
    expect(analyzeSnapshot(snap, {}, null).findings[0]!.message).toBe(
      '~ is mode 777: writable by group and others (sshd StrictModes refuses it; others can add keys)',
    );
    // Three octal digits always; authorized_keys2 named as such.
    const two = snapshotOf({ authorized_keys2: `${pub.till}\n` });
    two.stats.authorized_keys2 = { mode: 0o066, owner: 'deploy', uid: 1000 };
    expect(analyzeSnapshot(two, { current: fp('till') }, null).findings.map((f) => f.message)).toEqual([
      '~/.ssh/authorized_keys2 is mode 066: writable by group and others (sshd StrictModes refuses it; others can add keys)',
    ]);
  });

  it('till-key-absent and till-key-old messages; drift messages name the key', () => {
    const absent = analyzeSnapshot(snapshotOf({ authorized_keys: `${pub.alice}\n` }), { current: fp('till') }, null);
    expect(absent.findings).toEqual([
      finding({
        severity: 'info',
        code: 'till-key-absent',
        message: "till's key is not in ~/.ssh/authorized_keys{,2} (sshd may read another AuthorizedKeysFile)",
      }),
    ]);
    const till = { current: fp('till'), old: fp('old') };
    const old = analyzeSnapshot(snapshotOf({ authorized_keys: `${pub.old}\n` }), till, uniqueKeys(absent.keys));
    expect(old.findings).toEqual(
      [
        finding({
          severity: 'info',
          code: 'till-key-added',
          message: "till's old key was added since the last audit",
          fingerprint: fp('old'),
        }),
        finding({
          severity: 'low',
          code: 'till-key-old',
          message: "only till's old key is authorized: this host has not been rotated yet",
        }),
        finding({
          severity: 'low',
          code: 'key-removed',
          message: `key removed since the last audit: ED25519 256-bit key ${fp('alice')} (alice)`,
          fingerprint: fp('alice'),
        }),
      ].sort((x, y) => (x.severity === y.severity ? 0 : x.severity === 'low' ? -1 : 1)),
    );
    const added = analyzeSnapshot(
      snapshotOf({ authorized_keys: `${pub.old}\n${pub.alice!.replace(/ alice$/, '')}\n` }),
      till,
      uniqueKeys(old.keys),
    );
    expect(added.findings.find((f) => f.code === 'key-added')).toEqual(
      finding({
        severity: 'high',
        code: 'key-added',
        message: `unknown key added since the last audit: ED25519 256-bit key ${fp('alice')}`,
        fingerprint: fp('alice'),
      }),
    );
  });

  it('uniqueKeys keeps the first line of a key listed twice', () => {
    const a = analyzeSnapshot(
      snapshotOf({ authorized_keys: `${pub.alice}\n${pub.alice!.replace(/alice$/, 'second')}\n` }),
      {},
      null,
    );
    expect(uniqueKeys(a.keys)).toEqual([
      { fingerprint: fp('alice'), label: 'ED25519', bits: 256, comment: 'alice', till: null },
    ]);
  });

  it('a file that exists but is not a regular file is present with no content; an absent one is not present', () => {
    const snap = snapshotOf({ authorized_keys: `${pub.till}\n` });
    snap.stats.authorized_keys2 = { mode: 0o700, owner: 'deploy', uid: 1000 };
    expect(analyzeSnapshot(snap, {}, null).files).toEqual([
      {
        name: 'authorized_keys',
        present: true,
        size: Buffer.byteLength(`${pub.till}\n`),
        sha256: createHash('sha256').update(`${pub.till}\n`).digest('hex'),
        truncated: false,
      },
      { name: 'authorized_keys2', present: true, size: null, sha256: null, truncated: false },
    ]);
    snap.stats.authorized_keys2 = null;
    expect(analyzeSnapshot(snap, {}, null).files[1]).toEqual({
      name: 'authorized_keys2',
      present: false,
      size: null,
      sha256: null,
      truncated: false,
    });
  });
});

describe('findings for what the audit could not see (from the real script)', () => {
  const home = (name: string) => {
    const h = join(dir, name);
    mkdirSync(join(h, '.ssh'), { recursive: true });
    return h;
  };

  it('truncated: a file larger than the audit reads is flagged with its size; the part read is still audited', () => {
    const h = home('home-trunc');
    const content = `${pub.alice}\n#${'x'.repeat(MAX_FILE_BYTES)}\n`;
    writeFileSync(join(h, '.ssh', 'authorized_keys'), content);
    const a = analyzeSnapshot(parseAuditOutput(runScript(h)), {}, null);
    const size = Buffer.byteLength(content);
    expect(a.files[0]).toEqual({
      name: 'authorized_keys',
      present: true,
      size,
      sha256: createHash('sha256').update(content.slice(0, MAX_FILE_BYTES)).digest('hex'),
      truncated: true,
    });
    expect(a.findings).toContainEqual(
      finding({
        severity: 'medium',
        code: 'truncated',
        message: `~/.ssh/authorized_keys is ${size} bytes; only the first ${MAX_FILE_BYTES} were audited`,
        file: 'authorized_keys',
      }),
    );
    expect(a.keys.map((k) => k.fingerprint)).toEqual([fp('alice')]);
  });

  it('mode-unknown: a host where neither GNU nor BSD stat answers', () => {
    const h = home('home-nostat');
    writeFileSync(join(h, '.ssh', 'authorized_keys'), `${pub.alice}\n`);
    // Every tool the script uses but stat (and the sh its line starts).
    const bin = join(dir, 'bin-nostat');
    mkdirSync(bin, { recursive: true });
    for (const tool of ['sh', 'id', 'wc', 'tr', 'dd', 'od']) {
      const path = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      if (!existsSync(join(bin, tool))) symlinkSync(path, join(bin, tool));
    }
    const out = execFileSync('/bin/sh', ['-c', AUDIT_LINE], {
      encoding: 'utf8',
      env: { PATH: bin, HOME: h },
    });
    const a = analyzeSnapshot(parseAuditOutput(out), {}, null);
    expect(a.findings.filter((f) => f.code === 'mode-unknown')).toEqual(
      (
        [
          ['home', '~'],
          ['ssh', '~/.ssh'],
          ['authorized_keys', '~/.ssh/authorized_keys'],
        ] as const
      ).map(([path, where]) =>
        finding({
          severity: 'medium',
          code: 'mode-unknown',
          message: `could not stat ${where} (neither GNU nor BSD stat answered)`,
          path,
        }),
      ),
    );
    expect(a.modes.map((m) => m.mode)).toEqual([null, null, null, null]);
    // The file itself was still read.
    expect(a.keys.map((k) => k.fingerprint)).toEqual([fp('alice')]);
  });

  it.runIf(process.getuid?.() === 0)('unreadable: a file its owner cannot read (the script run as nobody)', () => {
    const base = mkdtempSync('/tmp/t-au-nb-');
    try {
      chmodSync(base, 0o755);
      const h = join(base, 'home');
      mkdirSync(join(h, '.ssh'), { recursive: true });
      writeFileSync(join(h, '.ssh', 'authorized_keys'), `${pub.alice}\n`);
      chmodSync(join(h, '.ssh', 'authorized_keys'), 0o000);
      for (const p of [h, join(h, '.ssh'), join(h, '.ssh', 'authorized_keys')]) chownSync(p, 65534, 65534);
      // runuser sets HOME to the user's own: env gives the script this one.
      const out = execFileSync(
        '/usr/sbin/runuser',
        ['-u', 'nobody', '--', '/usr/bin/env', `HOME=${h}`, '/bin/sh', '-c', AUDIT_LINE],
        { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } },
      );
      const a = analyzeSnapshot(parseAuditOutput(out), {}, null);
      expect(a.files[0]).toEqual({
        name: 'authorized_keys',
        present: true,
        size: null,
        sha256: null,
        truncated: false,
      });
      expect(a.findings).toContainEqual(
        finding({
          severity: 'medium',
          code: 'unreadable',
          message: '~/.ssh/authorized_keys exists but its owner cannot read it',
          file: 'authorized_keys',
        }),
      );
      expect(a.modes[2]).toEqual({ path: 'authorized_keys', mode: '000', owner: 'nobody', uid: 65534 });
      expect(a.keys).toEqual([]);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe("till's own keys", () => {
  it('reads the current key and, during a rotation, the old one from TILL_HOME/ssh', async () => {
    const paths = tillPaths(join(dir, 'rot-home'));
    mkdirSync(paths.sshDir, { recursive: true });
    expect(await tillFingerprints(paths)).toEqual({});
    writeFileSync(paths.publicKey, `${pub.till}\n`);
    expect(await tillFingerprints(paths)).toEqual({ current: fp('till') });
    writeFileSync(`${paths.privateKey}.old.pub`, `${pub.old}\n`);
    expect(await tillFingerprints(paths)).toEqual({ current: fp('till'), old: fp('old') });
    // An interrupted rotation: hosts may already carry the next key (till_federation_ed25519.new).
    writeFileSync(`${paths.privateKey}.new.pub`, `${pub.next}\n`);
    expect(await tillFingerprints(paths)).toEqual({ current: fp('till'), old: fp('old'), next: fp('next') });
  });

  it("labels till's next key as till's, never as an unknown key added", () => {
    const till = { current: fp('till'), next: fp('next') };
    const before = analyzeSnapshot(snapshotOf({ authorized_keys: `${pub.till}\n` }), till, null);
    const after = analyzeSnapshot(
      snapshotOf({ authorized_keys: `${pub.till}\n${pub.next}\n` }),
      till,
      uniqueKeys(before.keys),
    );
    expect(after.keys.map((k) => k.till)).toEqual(['current', 'next']);
    expect(after.tillKey).toEqual({ present: true, which: 'both', restricted: false });
    expect(after.findings).toEqual([
      expect.objectContaining({
        severity: 'info',
        code: 'till-key-added',
        message: "till's next key was added since the last audit",
      }),
    ]);
    const nextOnly = analyzeSnapshot(snapshotOf({ authorized_keys: `${pub.next}\n` }), till, null);
    expect(nextOnly.tillKey.which).toBe('next');
    expect(
      auditHistorySchema.safeParse(JSON.parse(JSON.stringify({ version: 1, host: 'h', audits: [after, nextOnly] })))
        .success,
    ).toBe(true);
  });
});

describe('history and metrics', () => {
  it('keeps the newest audits only, in a file its schema accepts', () => {
    const history: AuditHistory = { version: 1, host: 'web-1', audits: [] };
    const a = analyzeSnapshot(snapshotOf({ authorized_keys: `${pub.till}\n` }), {}, null);
    for (let i = 0; i < 25; i++)
      appendAudit(history, { ...a, at: `2026-01-01T00:00:${String(i).padStart(2, '0')}Z` }, 20);
    expect(history.audits).toHaveLength(20);
    expect(history.audits[0]!.at).toBe('2026-01-01T00:00:05Z');
    expect(auditHistorySchema.safeParse(JSON.parse(JSON.stringify(history))).success).toBe(true);
  });

  it('reads the newest audit of every host from TILL_HOME/state/audit', async () => {
    const paths = tillPaths(join(dir, 'till-home'));
    expect(await readLatestAudits(paths)).toEqual([]);
    const a = analyzeSnapshot(snapshotOf({ authorized_keys: `${pub.till}\n` }), {}, null);
    for (const host of ['web-2', 'web-1']) {
      await auditStore(paths, host).update((h) => {
        appendAudit(h, { ...a, at: '2026-01-01T00:00:00Z' });
        appendAudit(h, { ...a, at: '2026-01-02T00:00:00Z' });
      });
    }
    const latest = await readLatestAudits(paths);
    expect(latest.map((l) => [l.host, l.audit.at])).toEqual([
      ['web-1', '2026-01-02T00:00:00Z'],
      ['web-2', '2026-01-02T00:00:00Z'],
    ]);

    // One broken file: skipped with a message naming it, the others still read, the file kept.
    const broken = join(paths.stateDir, 'audit', 'web-0.json');
    writeFileSync(broken, '{broken');
    const skipped: string[] = [];
    const rest = await readLatestAudits(paths, (m) => skipped.push(m));
    expect(rest.map((l) => l.host)).toEqual(['web-1', 'web-2']);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.startsWith(`skipped the audit history of web-0: ${broken} is not valid JSON`)).toBe(true);
    expect(readFileSync(broken, 'utf8')).toBe('{broken');

    // host remove's hook: the host's history goes; removing it twice is fine.
    await removeAuditHistory(paths, 'web-1');
    await removeAuditHistory(paths, 'web-1');
    expect((await readLatestAudits(paths, () => undefined)).map((l) => l.host)).toEqual(['web-2']);
  });

  it('gives key counts and findings per severity as gauge families', () => {
    const weak = analyzeSnapshot(
      snapshotOf({ authorized_keys: `${pub.till}\n${pub.weak}\n${pub.weak}\n` }),
      { current: fp('till') },
      null,
    );
    const clean = analyzeSnapshot(snapshotOf({ authorized_keys: `${pub.till}\n` }), { current: fp('till') }, null);
    const families = auditMetricFamilies([
      { host: 'web-2', audit: clean },
      { host: 'web-1', audit: weak as HostAudit },
    ]);
    expect(families).toEqual([
      {
        name: 'till_host_authorized_keys',
        help: expect.any(String),
        type: 'gauge',
        samples: [
          { labels: { host: 'web-1' }, value: 2 },
          { labels: { host: 'web-2' }, value: 1 },
        ],
      },
      {
        name: 'till_host_audit_findings',
        help: expect.any(String),
        type: 'gauge',
        samples: [
          { labels: { host: 'web-1', severity: 'info' }, value: 0 },
          { labels: { host: 'web-1', severity: 'low' }, value: 1 },
          { labels: { host: 'web-1', severity: 'medium' }, value: 0 },
          { labels: { host: 'web-1', severity: 'high' }, value: 2 },
          { labels: { host: 'web-2', severity: 'info' }, value: 0 },
          { labels: { host: 'web-2', severity: 'low' }, value: 0 },
          { labels: { host: 'web-2', severity: 'medium' }, value: 0 },
          { labels: { host: 'web-2', severity: 'high' }, value: 0 },
        ],
      },
    ]);
    expect(auditMetricFamilies([])).toEqual([
      expect.objectContaining({ samples: [] }),
      expect.objectContaining({ samples: [] }),
    ]);
  });
});
