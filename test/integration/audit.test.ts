import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';

/**
 * `till host audit` against real sshd hosts: each reads the user's ~/.ssh/authorized_keys
 * (the lab's sshd runs with StrictModes off, so a 777 ~/.ssh still lets till in to report it).
 */
let lab: Lab;
let home: string;
let keys: string;
let tillPub: string;
const NAMES = ['h0', 'h1', 'h2'];

interface AuditJson {
  ok: boolean;
  results: Array<{
    host: string;
    ok: boolean;
    status: string;
    error: string | null;
    audit: null | {
      keys: Array<{ file: string; line: number; label: string; bits: number; fingerprint: string; comment: string; options: Array<{ name: string; value?: string }>; till: string | null }>;
      tillKey: { present: boolean; which: string | null; restricted: boolean };
      findings: Array<{ severity: string; code: string; message: string; fingerprint?: string; line?: number; path?: string }>;
      drift: { baseline: boolean; added: Array<{ fingerprint: string }>; removed: Array<{ fingerprint: string }> };
    };
  }>;
}

function keygen(name: string, args: string[]): string {
  execFileSync('ssh-keygen', ['-q', '-N', '', ...args, '-C', `${name}@audit-test`, '-f', join(keys, name)], { stdio: 'ignore' });
  return readFileSync(join(keys, `${name}.pub`), 'utf8').trim();
}

/** `ssh-keygen -lf` on the host's file: fingerprint → bits, in file order. */
function keygenList(file: string): Array<{ bits: number; fingerprint: string }> {
  return execFileSync('ssh-keygen', ['-lf', file], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => ({ bits: Number(l.split(' ')[0]), fingerprint: l.split(' ')[1]! }));
}

function fingerprintOf(pubLine: string): string {
  const f = join(keys, `fp-${Math.random().toString(16).slice(2)}.pub`);
  writeFileSync(f, `${pubLine}\n`);
  return keygenList(f)[0]!.fingerprint;
}

function akFile(h: LabHost): string {
  return join(h.home, '.ssh', 'authorized_keys');
}

/** Everything an audit could change on the hosts: contents, modes, owners, times, entries. */
function hostState(): string {
  return JSON.stringify(
    lab.hosts.map((h) => {
      const st = (p: string) => {
        const s = statSync(p);
        return { mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
      };
      return {
        sha256: createHash('sha256').update(readFileSync(akFile(h))).digest('hex'),
        home: st(h.home),
        ssh: st(join(h.home, '.ssh')),
        file: st(akFile(h)),
        homeEntries: readdirSync(h.home).sort(),
        sshEntries: readdirSync(join(h.home, '.ssh')).sort(),
      };
    }),
  );
}

async function audit(args: string[] = []): Promise<{ code: number | null; doc: AuditJson; stderr: string }> {
  const r = await till(home, ['host', 'audit', '--all', '--json', '--retries', '1', '--connect-timeout', '5', ...args], { timeoutMs: 120_000 });
  let doc: AuditJson;
  try {
    doc = JSON.parse(r.stdout) as AuditJson;
  } catch {
    throw new Error(`audit printed no JSON (exit ${r.code})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return { code: r.code, doc, stderr: r.stderr };
}

function hostAudit(doc: AuditJson, host: string) {
  const r = doc.results.find((x) => x.host === host);
  if (!r?.audit) throw new Error(`no audit for ${host}: ${JSON.stringify(r)}`);
  return r.audit;
}

const extra: Record<string, string> = {};

beforeAll(async () => {
  keys = mkdtempSync('/tmp/t-ak-');
  ({ home } = tempHome());
  await tillOk(home, ['host', 'init']);
  tillPub = readFileSync(join(home, 'ssh', 'till_federation_ed25519.pub'), 'utf8').trim();
  extra.ed25519 = keygen('ed25519', ['-t', 'ed25519']);
  extra.rsa4096 = keygen('rsa4096', ['-t', 'rsa', '-b', '4096']);
  extra.rsa1024 = keygen('rsa1024', ['-t', 'rsa', '-b', '1024']);
  extra.added = keygen('added', ['-t', 'ed25519']);
  lab = await startLab(3, { authorizedKey: tillPub });
  for (const [i, h] of lab.hosts.entries()) {
    // Appending as root keeps the file's owner and mode.
    appendFileSync(akFile(h), `${extra.ed25519}\nfrom="10.0.0.1",command="/bin/true" ${extra.rsa4096}\n${extra.rsa1024}\n`);
    await tillOk(home, ['host', 'add', NAMES[i]!, h.spec]);
  }
}, 180_000);

afterAll(async () => {
  lab?.stop();
  if (home) await closeMasters(home);
  rmSync(keys, { recursive: true, force: true });
});

describe('till host audit', () => {
  it('lists every key with ssh-keygen’s fingerprint, flags the RSA-1024, finds till’s key, changes nothing, exits 1', async () => {
    const before = hostState();
    const { code, doc } = await audit();
    expect(hostState()).toBe(before);
    expect(code).toBe(1);
    expect(doc.results.map((r) => [r.host, r.ok])).toEqual(NAMES.map((n) => [n, true]));
    const tillFp = fingerprintOf(tillPub);
    for (const [i, h] of lab.hosts.entries()) {
      const a = hostAudit(doc, NAMES[i]!);
      expect(a.keys.map((k) => ({ bits: k.bits, fingerprint: k.fingerprint }))).toEqual(keygenList(akFile(h)));
      expect(a.keys.map((k) => k.label)).toEqual(['ED25519', 'ED25519', 'RSA', 'RSA']);
      expect(a.tillKey).toEqual({ present: true, which: 'current', restricted: false });
      expect(a.keys[0]).toMatchObject({ fingerprint: tillFp, till: 'current' });
      expect(a.keys[2]).toMatchObject({ bits: 4096, comment: 'rsa4096@audit-test', options: [{ name: 'from', value: '10.0.0.1' }, { name: 'command', value: '/bin/true' }] });
      expect(a.findings).toEqual([expect.objectContaining({ severity: 'high', code: 'weak-key', fingerprint: fingerprintOf(extra.rsa1024!), line: 4 })]);
      expect(a.drift).toEqual({ baseline: true, added: [], removed: [] });
    }
    const history = JSON.parse(readFileSync(join(home, 'state', 'audit', 'h0.json'), 'utf8')) as { audits: unknown[] };
    expect(history.audits).toHaveLength(1);
  });

  it('exposes the audit in till metrics: keys per host and findings by severity, valid for promtool', async () => {
    const r = await tillOk(home, ['metrics']);
    for (const n of NAMES) {
      expect(r.stdout).toContain(`till_host_authorized_keys{host="${n}"} 4`);
      expect(r.stdout).toContain(`till_host_audit_findings{host="${n}",severity="high"} 1`);
    }
    const check = execFileSync('promtool', ['check', 'metrics'], { input: r.stdout, encoding: 'utf8' });
    expect(check).toBe('');
  });

  it('prints a table per host with findings by severity', async () => {
    const r = await till(home, ['host', 'audit', 'h0', '--fail-on', 'medium']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('== h0');
    expect(r.stdout).toContain('till key: present (current), unrestricted');
    expect(r.stdout).toContain(fingerprintOf(extra.rsa4096!));
    expect(r.stdout).toMatch(/HIGH\s+weak-key\s+weak key: RSA 1024-bit key/);
    expect(r.stdout).toContain('from="10.0.0.1",command="/bin/true"');
    expect(r.stdout).toMatch(/h0\s+ok\s+.*1 high/);
  });

  it('reports exactly a key added on one host and a key removed on another as drift', async () => {
    appendFileSync(akFile(lab.hosts[0]!), `${extra.added}\n`);
    const h1 = akFile(lab.hosts[1]!);
    writeFileSync(h1, readFileSync(h1, 'utf8').split('\n').filter((l) => l !== extra.ed25519).join('\n'));
    const { code, doc } = await audit();
    expect(code).toBe(1);
    const drift = NAMES.map((n) => hostAudit(doc, n).drift);
    expect(drift).toEqual([
      { baseline: false, added: [expect.objectContaining({ fingerprint: fingerprintOf(extra.added!), comment: 'added@audit-test' })], removed: [] },
      { baseline: false, added: [], removed: [expect.objectContaining({ fingerprint: fingerprintOf(extra.ed25519!) })] },
      { baseline: false, added: [], removed: [] },
    ]);
    expect(hostAudit(doc, 'h0').findings.filter((f) => f.code === 'key-added')).toEqual([expect.objectContaining({ severity: 'high', message: expect.stringMatching(/unknown key added/) })]);
    expect(hostAudit(doc, 'h1').findings.filter((f) => f.code === 'key-removed')).toEqual([expect.objectContaining({ severity: 'low' })]);
    expect(hostAudit(doc, 'h2').findings.map((f) => f.code)).toEqual(['weak-key']);
    // The next audit compares with this one: no drift left.
    const again = await audit();
    expect(NAMES.map((n) => hostAudit(again.doc, n).drift)).toEqual(NAMES.map(() => ({ baseline: false, added: [], removed: [] })));
  });

  it('reports chmod 777 ~/.ssh as unsafe modes, without touching it', async () => {
    lab.hosts[2]!.shell('chmod 777 ~/.ssh');
    const before = hostState();
    const { doc } = await audit();
    expect(hostState()).toBe(before);
    expect(hostAudit(doc, 'h2').findings.filter((f) => f.code === 'unsafe-mode')).toEqual([
      expect.objectContaining({ severity: 'high', path: 'ssh', message: expect.stringMatching(/~\/\.ssh is mode 777: writable by group and others/) }),
    ]);
    expect(hostAudit(doc, 'h0').findings.some((f) => f.code === 'unsafe-mode')).toBe(false);
  });

  it('is quiet for periodic runs: one line per finding at or above --fail-on', async () => {
    const r = await till(home, ['host', 'audit', '--all', '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines.every((l) => /^h[0-2]: high (weak-key|unsafe-mode): /.test(l))).toBe(true);
    expect(lines.filter((l) => l.includes('unsafe-mode'))).toHaveLength(1);
  });

  it('reports a host that is down and still audits the others', async () => {
    lab.hosts[1]!.stop();
    try {
      const before = hostState();
      const { code, doc } = await audit();
      expect(hostState()).toBe(before);
      expect(code).toBe(1);
      const down = doc.results.find((r) => r.host === 'h1')!;
      expect(down).toMatchObject({ ok: false, audit: null });
      expect(down.error).toMatch(/refused|closed|connect/i);
      expect(hostAudit(doc, 'h0').tillKey.present).toBe(true);
      expect(hostAudit(doc, 'h2').tillKey.present).toBe(true);
      expect(existsSync(join(home, 'state', 'audit', 'h1.json'))).toBe(true);
      const h1 = JSON.parse(readFileSync(join(home, 'state', 'audit', 'h1.json'), 'utf8')) as { audits: unknown[] };
      expect(h1.audits).toHaveLength(5);
    } finally {
      await lab.hosts[1]!.start();
    }
  });
});
