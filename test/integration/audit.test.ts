import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expiredAt, isInvalid, parseAuthorizedKeysLine } from '../../src/audit/authorized-keys.js';
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
      keys: Array<{
        file: string;
        line: number;
        label: string;
        bits: number;
        fingerprint: string;
        comment: string;
        options: Array<{ name: string; value?: string }>;
        till: string | null;
      }>;
      tillKey: { present: boolean; which: string | null; restricted: boolean };
      findings: Array<{
        severity: string;
        code: string;
        message: string;
        fingerprint?: string;
        line?: number;
        path?: string;
      }>;
      drift: { baseline: boolean; added: Array<{ fingerprint: string }>; removed: Array<{ fingerprint: string }> };
    };
  }>;
}

function keygen(name: string, args: string[]): string {
  execFileSync('ssh-keygen', ['-q', '-N', '', ...args, '-C', `${name}@audit-test`, '-f', join(keys, name)], {
    stdio: 'ignore',
  });
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

/** Logs in to a lab host with one of the test's keys alone (no till, no agent). */
function login(h: LabHost, key: string) {
  return spawnSync(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-i',
      join(keys, key),
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'ConnectTimeout=10',
      '-o',
      'LogLevel=ERROR',
      '-p',
      String(h.port),
      `${h.user}@${h.address}`,
      'true',
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
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
        sha256: createHash('sha256')
          .update(readFileSync(akFile(h)))
          .digest('hex'),
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
  const r = await till(
    home,
    ['host', 'audit', '--all', '--json', '--retries', '1', '--connect-timeout', '5', ...args],
    { timeoutMs: 120_000 },
  );
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
  extra.opts = keygen('opts', ['-t', 'ed25519']);
  extra.added = keygen('added', ['-t', 'ed25519']);
  lab = await startLab(3, { authorizedKey: tillPub });
  for (const [i, h] of lab.hosts.entries()) {
    // Appending as root keeps the file's owner and mode.
    appendFileSync(
      akFile(h),
      `${extra.ed25519}\n${extra.rsa4096}\n${extra.rsa1024}\nfrom="10.0.0.1",command="/bin/true" ${extra.opts}\n`,
    );
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
      expect(a.keys.map((k) => k.label)).toEqual(['ED25519', 'ED25519', 'RSA', 'RSA', 'ED25519']);
      expect(a.tillKey).toEqual({ present: true, which: 'current', restricted: false });
      expect(a.keys[0]).toMatchObject({ fingerprint: tillFp, till: 'current' });
      expect(a.keys[1]).toMatchObject({ fingerprint: fingerprintOf(extra.ed25519!), options: [], till: null });
      expect(a.keys[2]).toMatchObject({ bits: 4096, comment: 'rsa4096@audit-test', options: [], till: null });
      expect(a.keys[3]).toMatchObject({ bits: 1024, comment: 'rsa1024@audit-test', till: null });
      expect(a.keys[4]).toMatchObject({
        fingerprint: fingerprintOf(extra.opts!),
        comment: 'opts@audit-test',
        options: [
          { name: 'from', value: '10.0.0.1' },
          { name: 'command', value: '/bin/true' },
        ],
        till: null,
      });
      expect(a.findings).toEqual([
        expect.objectContaining({
          severity: 'high',
          code: 'weak-key',
          fingerprint: fingerprintOf(extra.rsa1024!),
          line: 4,
        }),
      ]);
      expect(a.drift).toEqual({ baseline: true, added: [], removed: [] });
    }
    const history = JSON.parse(readFileSync(join(home, 'state', 'audit', 'h0.json'), 'utf8')) as { audits: unknown[] };
    expect(history.audits).toHaveLength(1);
  });

  it('exposes the audit in till metrics: keys per host and findings by severity, valid for promtool', async () => {
    const r = await tillOk(home, ['metrics']);
    for (const n of NAMES) {
      expect(r.stdout).toContain(`till_host_authorized_keys{host="${n}"} 5`);
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
    expect(r.stdout).toMatch(/h0\s+ok\s+.*\b5\s+1 high/);
  });

  it('reports exactly a key added on one host and a key removed on another as drift', async () => {
    appendFileSync(akFile(lab.hosts[0]!), `${extra.added}\n`);
    const h1 = akFile(lab.hosts[1]!);
    writeFileSync(
      h1,
      readFileSync(h1, 'utf8')
        .split('\n')
        .filter((l) => l !== extra.ed25519)
        .join('\n'),
    );
    const { code, doc } = await audit();
    expect(code).toBe(1);
    const drift = NAMES.map((n) => hostAudit(doc, n).drift);
    expect(drift).toEqual([
      {
        baseline: false,
        added: [expect.objectContaining({ fingerprint: fingerprintOf(extra.added!), comment: 'added@audit-test' })],
        removed: [],
      },
      {
        baseline: false,
        added: [],
        removed: [expect.objectContaining({ fingerprint: fingerprintOf(extra.ed25519!) })],
      },
      { baseline: false, added: [], removed: [] },
    ]);
    expect(hostAudit(doc, 'h0').findings.filter((f) => f.code === 'key-added')).toEqual([
      expect.objectContaining({ severity: 'high', message: expect.stringMatching(/unknown key added/) }),
    ]);
    expect(hostAudit(doc, 'h1').findings.filter((f) => f.code === 'key-removed')).toEqual([
      expect.objectContaining({ severity: 'low' }),
    ]);
    expect(hostAudit(doc, 'h2').findings.map((f) => f.code)).toEqual(['weak-key']);
    // The next audit compares with this one: no drift left.
    const again = await audit();
    expect(NAMES.map((n) => hostAudit(again.doc, n).drift)).toEqual(
      NAMES.map(() => ({ baseline: false, added: [], removed: [] })),
    );
  });

  it('reports chmod 777 ~/.ssh as unsafe modes, without touching it', async () => {
    lab.hosts[2]!.shell('chmod 777 ~/.ssh');
    const before = hostState();
    const { doc } = await audit();
    expect(hostState()).toBe(before);
    expect(hostAudit(doc, 'h2').findings.filter((f) => f.code === 'unsafe-mode')).toEqual([
      expect.objectContaining({
        severity: 'high',
        path: 'ssh',
        message: expect.stringMatching(/~\/\.ssh is mode 777: writable by group and others/),
      }),
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

  it('sees an RSA key sshd accepts under the rsa-sha2-256 name: weak, added since the last audit, exit 1', async () => {
    const h = lab.hosts[2]!;
    const backdoor = keygen('backdoor', ['-t', 'rsa', '-b', '1024']);
    appendFileSync(akFile(h), `rsa-sha2-256 ${backdoor.split(' ')[1]} backdoor@evil\n`);
    // sshd logs in with it.
    expect(login(h, 'backdoor').status).toBe(0);
    const { code, doc } = await audit();
    expect(code).toBe(1);
    const a = hostAudit(doc, 'h2');
    const fp = fingerprintOf(backdoor);
    expect(a.keys.at(-1)).toMatchObject({ fingerprint: fp, bits: 1024, label: 'RSA', comment: 'backdoor@evil' });
    expect(a.findings.filter((f) => f.fingerprint === fp).map((f) => [f.severity, f.code])).toEqual([
      ['high', 'weak-key'],
      ['high', 'key-added'],
    ]);
    expect(a.findings.some((f) => f.code === 'unparseable-line')).toBe(false);
  }, 180_000);

  it('agrees with sshd on which lines log in: key type aliases, option values, expiry', () => {
    const h = lab.hosts[1]!;
    const saved = readFileSync(akFile(h));
    const probe = keygen('probe', ['-t', 'rsa', '-b', '2048']);
    const [, blob, comment] = probe.split(' ');
    const cases = [
      `rsa-sha2-512 ${blob} ${comment}`,
      `environment="NOEQUALS" ${probe}`,
      `environment="A_1=x y" ${probe}`,
      `expiry-time="garbage" ${probe}`,
      `expiry-time="20200101Z" ${probe}`,
      `expiry-time="20990101" ${probe}`,
      `expiry-time="209901011200Z" ${probe}`,
      `expiry-time="2099 101" ${probe}`,
      `permitopen="[::1]:22",permitopen="*:*" ${probe}`,
      `permitopen="h:0" ${probe}`,
      `tunnel="abc" ${probe}`,
      `tunnel="0" ${probe}`,
      `permitopen="nocolon" ${probe}`,
      `permitopen="localhost:22",permitlisten="8080" ${probe}`,
      `principals="x" ${probe}`,
      `command="/bin/true",command="/bin/true" ${probe}`,
      `command="/bin/true",no-pty ${probe}`,
    ];
    try {
      const verdicts = cases.map((line) => {
        writeFileSync(akFile(h), `${tillPub}\n${line}\n`);
        const parsed = parseAuthorizedKeysLine(line, 2)!;
        const tillSays = !isInvalid(parsed) && expiredAt(parsed.options, new Date()) === null;
        return { line: line.slice(0, 40), till: tillSays, sshd: login(h, 'probe').status === 0 };
      });
      expect(verdicts.filter((v) => v.till !== v.sshd)).toEqual([]);
      // Both outcomes were exercised.
      expect(new Set(verdicts.map((v) => v.sshd))).toEqual(new Set([true, false]));
    } finally {
      writeFileSync(akFile(h), saved);
    }
  }, 180_000);

  it('a broken audit history fails that host only, naming the file; the others are audited and metrics skip it', async () => {
    const file = join(home, 'state', 'audit', 'h1.json');
    writeFileSync(file, '{broken');
    const before = readFileSync(join(home, 'state', 'audit', 'h2.json'), 'utf8');
    const r = await till(home, ['host', 'audit', 'h1', 'h2', '--json', '--connect-timeout', '5'], {
      timeoutMs: 120_000,
    });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as AuditJson & { results: Array<{ attempts: number }> };
    const h1 = doc.results.find((x) => x.host === 'h1')!;
    expect(h1).toMatchObject({ ok: false, status: 'failed', attempts: 1, audit: null });
    expect(h1.error).toContain(file);
    expect(hostAudit(doc, 'h2').drift.baseline).toBe(false);
    expect(readFileSync(join(home, 'state', 'audit', 'h2.json'), 'utf8')).not.toBe(before);
    expect(readFileSync(file, 'utf8')).toBe('{broken');

    const m = await till(home, ['metrics']);
    expect(m.code).toBe(0);
    expect(m.stdout).toContain('till_host_authorized_keys{host="h0"}');
    expect(m.stdout).not.toContain('till_host_authorized_keys{host="h1"}');
    expect(m.stdout).toContain('till_host_authorized_keys{host="h2"}');
    expect(m.stderr).toContain(`warning: skipped the audit history of h1: ${file}`);
    rmSync(file);
  }, 180_000);

  it('counts distinct keys in the KEYS column, as the metric does', async () => {
    const h = lab.hosts[0]!;
    appendFileSync(akFile(h), `no-pty ${extra.rsa4096}\n`);
    const r = await till(home, ['host', 'audit', 'h0']);
    const m = await tillOk(home, ['metrics']);
    const keysMetric = /till_host_authorized_keys\{host="h0"\} (\d+)/.exec(m.stdout)![1]!;
    expect(r.stdout).toMatch(new RegExp(`h0\\s+ok\\s+.*\\b${keysMetric}\\s+\\d+ high`));
    expect(r.stdout).toMatch(/LOW\s+duplicate-key/);
  }, 180_000);

  it("calls till's key restricted only in till's exact gate line, and shows a key comment's ESC sequences escaped", async () => {
    const h = lab.hosts[2]!;
    const saved = readFileSync(akFile(h));
    // A stand-in for till gate where till's line points: it runs what it is asked, as a gate allowing the audit does.
    h.shell(
      `mkdir -p ~/.till/bin && printf '#!/bin/sh\\n[ "$1" = gate ] || exit 2\\nexec sh -c "$SSH_ORIGINAL_COMMAND"\\n' > ~/.till/bin/till && chmod 755 ~/.till/bin/till`,
    );
    /** A fresh connection reads authorized_keys again (a master would keep the old line's options). */
    const reconnect = () => {
      for (const sock of readdirSync(join(home, 'ssh', 'control')))
        spawnSync('ssh', ['-o', `ControlPath=${join(home, 'ssh', 'control', sock)}`, '-O', 'exit', 'x'], {
          stdio: 'ignore',
          timeout: 10_000,
        });
    };
    const gate = `command="${h.home}/.till/bin/till gate"`;
    try {
      const cases: Array<[string, boolean]> = [
        [`restrict ${tillPub}`, false], // runs any command (the case)
        [`${gate} ${tillPub}`, false], // forwarding left open
        [`restrict,port-forwarding,${gate} ${tillPub}`, false],
        [`restrict,command="/bin/sh -c \\"$SSH_ORIGINAL_COMMAND\\"" ${tillPub}`, false],
        [`restrict,${gate} ${tillPub}`, true],
      ];
      for (const [line, restricted] of cases) {
        writeFileSync(akFile(h), `${line}\n`);
        reconnect();
        const r = await till(home, ['host', 'audit', 'h2', '--json', '--connect-timeout', '5'], { timeoutMs: 120_000 });
        const res = (JSON.parse(r.stdout) as AuditJson).results[0]!;
        expect([line, res.ok, res.audit?.tillKey]).toEqual([
          line,
          true,
          { present: true, which: 'current', restricted },
        ]);
      }
      const text = await till(home, ['host', 'audit', 'h2']);
      expect(text.stdout).toContain('till key: present (current), restricted');

      // A key added with a comment that would retitle the window, clear the screen and write over it.
      const evil = `\u001b]0;owned\u0007\u001b[2J\u001b[1;1Hall clear\u202e`;
      const esc = keygen('esc', ['-t', 'ed25519']).split(' ').slice(0, 2).join(' ');
      writeFileSync(akFile(h), `restrict ${tillPub}\n${esc} ${evil}\n`);
      const shown = '\\x1b]0;owned\\x07\\x1b[2J\\x1b[1;1Hall clear\\u202e';
      // First --quiet (the key is new: its finding quotes the comment), then the tables.
      for (const args of [
        ['host', 'audit', 'h2', '--quiet'],
        ['host', 'audit', 'h2'],
      ]) {
        const r = await till(home, args);
        // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
        expect(r.stdout + r.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
        expect(r.stdout).toContain(shown);
        if (args.includes('--quiet'))
          expect(r.stdout).toContain(
            `h2: high key-added: unknown key added since the last audit: ED25519 256-bit key ${fingerprintOf(esc)} (${shown})`,
          );
      }
      // --json keeps the exact bytes (JSON escapes them itself).
      const doc = (await audit()).doc;
      expect(hostAudit(doc, 'h2').keys.find((k) => k.till === null)!.comment).toBe(evil);
    } finally {
      writeFileSync(akFile(h), saved);
      h.shell('rm -rf ~/.till');
      reconnect();
    }
  }, 180_000);

  it('host remove drops the audit history: metrics forget the host, a re-added name starts a fresh baseline', async () => {
    await tillOk(home, ['host', 'remove', 'h0']);
    expect(existsSync(join(home, 'state', 'audit', 'h0.json'))).toBe(false);
    expect((await tillOk(home, ['metrics'])).stdout).not.toContain('host="h0"');
    await tillOk(home, ['host', 'add', 'h0', lab.hosts[0]!.spec]);
    const r = await till(home, ['host', 'audit', 'h0', '--json', '--connect-timeout', '5'], { timeoutMs: 120_000 });
    expect(hostAudit(JSON.parse(r.stdout) as AuditJson, 'h0').drift).toEqual({
      baseline: true,
      added: [],
      removed: [],
    });
  }, 180_000);
});

describe('till host audit on a host whose sshd has StrictModes on', () => {
  it('explains that StrictModes refuses the keys when ~/.ssh is world-writable', async () => {
    const own = tempHome();
    await tillOk(own.home, ['host', 'init']);
    const key = readFileSync(join(own.home, 'ssh', 'till_federation_ed25519.pub'), 'utf8').trim();
    const strict = await startLab(1, { authorizedKey: key, perHost: () => ({ strictModes: true }) });
    try {
      const h = strict.hosts[0]!;
      await tillOk(own.home, ['host', 'add', 'strict', h.spec]);
      // The key works while the modes are safe.
      expect(
        (await till(own.home, ['host', 'audit', 'strict', '--json', '--connect-timeout', '5'], { timeoutMs: 120_000 }))
          .code,
      ).toBe(0);
      // A fresh connection must authenticate again: end the master the first audit left.
      for (const s of readdirSync(join(own.home, 'ssh', 'control'))) {
        spawnSync('ssh', ['-o', `ControlPath=${join(own.home, 'ssh', 'control', s)}`, '-O', 'exit', 'x'], {
          stdio: 'ignore',
          timeout: 10_000,
        });
      }
      h.shell('chmod 777 ~/.ssh');
      const r = await till(
        own.home,
        ['host', 'audit', 'strict', '--json', '--connect-timeout', '5', '--retries', '1'],
        { timeoutMs: 120_000 },
      );
      expect(r.code).toBe(1);
      const res = (JSON.parse(r.stdout) as AuditJson).results[0]!;
      expect(res).toMatchObject({ ok: false, audit: null });
      expect(res.error).toMatch(
        /authentication failed.*StrictModes refuses every key there when ~, ~\/\.ssh or the file is group- or world-writable/s,
      );
    } finally {
      strict.stop();
      await closeMasters(own.home);
    }
  }, 180_000);
});
