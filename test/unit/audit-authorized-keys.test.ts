import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expiredAt,
  formatOptions,
  inspectKeyBlob,
  isInvalid,
  parseAuthorizedKeys,
  parseAuthorizedKeysLine,
  parseExpiryTime,
  parseOptions,
  type AuthorizedKey,
  type InvalidLine,
} from '../../src/audit/authorized-keys.js';

/**
 * The corpus: real keys of every type ssh-keygen makes here, certificates signed with a
 * CA, and security-key public keys assembled by hand (there is no token to enrol one).
 * Every fingerprint and size is checked against `ssh-keygen -lf` on the same file.
 */
let dir: string;
const lines: string[] = [];

function keygen(args: string[]): void {
  execFileSync('ssh-keygen', ['-q', '-N', '', ...args], { stdio: 'ignore' });
}

function sshString(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function blobOf(line: string): Buffer {
  return Buffer.from(line.split(' ')[1]!, 'base64');
}

/** Reads the SSH strings of a blob (enough to pull an ecdsa point out of a real key). */
function strings(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < blob.length;) {
    const n = blob.readUInt32BE(i);
    out.push(blob.subarray(i + 4, i + 4 + n));
    i += 4 + n;
  }
  return out;
}

interface KeygenLine {
  bits: number;
  fingerprint: string;
  label: string;
}

function pub4096(): string {
  return lines[3]!;
}

function keygenList(file: string): KeygenLine[] {
  const out = execFileSync('ssh-keygen', ['-lf', file], { encoding: 'utf8' });
  return out
    .trim()
    .split('\n')
    .map((l) => {
      const m = /^(\d+) (SHA256:\S+) [\s\S]*\(([A-Z0-9-]+)\)$/.exec(l);
      if (!m) throw new Error(`unexpected ssh-keygen line: ${l}`);
      return { bits: Number(m[1]), fingerprint: m[2]!, label: m[3]! };
    });
}

beforeAll(() => {
  dir = mkdtempSync('/tmp/t-ak-');
  const specs: Array<[string, string[]]> = [
    ['ed25519', ['-t', 'ed25519']],
    ['rsa1024', ['-t', 'rsa', '-b', '1024']],
    ['rsa2048', ['-t', 'rsa', '-b', '2048']],
    ['rsa4096', ['-t', 'rsa', '-b', '4096']],
    ['rsa3071', ['-t', 'rsa', '-b', '3071']],
    ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
    ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
    ['ecdsa521', ['-t', 'ecdsa', '-b', '521']],
    ['dsa', ['-t', 'dsa']],
    ['ca', ['-t', 'ed25519']],
  ];
  for (const [name, args] of specs) keygen([...args, '-C', `${name}@corpus`, '-f', join(dir, name)]);
  for (const name of ['ed25519', 'rsa2048', 'ecdsa384', 'dsa']) {
    execFileSync(
      'ssh-keygen',
      ['-q', '-s', join(dir, 'ca'), '-I', `cert-${name}`, '-n', 'deploy', join(dir, `${name}.pub`)],
      { stdio: 'ignore' },
    );
  }
  const pub = (f: string) => readFileSync(join(dir, f), 'utf8').trim();
  const ed = pub('ed25519.pub');
  const ec = pub('ecdsa256.pub');
  const skEd = Buffer.concat([
    sshString('sk-ssh-ed25519@openssh.com'),
    sshString(strings(blobOf(ed))[1]!),
    sshString('ssh:'),
  ]).toString('base64');
  const [, curve, point] = strings(blobOf(ec));
  const skEc = Buffer.concat([
    sshString('sk-ecdsa-sha2-nistp256@openssh.com'),
    sshString(curve!),
    sshString(point!),
    sshString('ssh:'),
  ]).toString('base64');
  lines.push(
    ed,
    pub('rsa1024.pub'),
    pub('rsa2048.pub'),
    pub('rsa4096.pub'),
    pub('rsa3071.pub'),
    pub('ecdsa256.pub'),
    pub('ecdsa384.pub'),
    pub('ecdsa521.pub'),
    pub('dsa.pub'),
    pub('ed25519-cert.pub'),
    pub('rsa2048-cert.pub'),
    pub('ecdsa384-cert.pub'),
    pub('dsa-cert.pub'),
    `sk-ssh-ed25519@openssh.com ${skEd} yubikey-ed`,
    `sk-ecdsa-sha2-nistp256@openssh.com ${skEc} yubikey-ec`,
    // Real-world option forms (sshd(8) examples).
    `from="10.0.0.1",command="/bin/true" ${pub('rsa4096.pub')}`,
    `command="dump /home",no-pty,no-port-forwarding ${pub('ecdsa521.pub')}`,
    `permitopen="192.0.2.1:80",permitopen="192.0.2.2:25" ${pub('ed25519.pub')}`,
    `tunnel="0",command="sh /etc/netstart tun0" ${pub('rsa2048.pub')}`,
    `restrict,pty,command="nethack" ${pub('ecdsa256.pub')}`,
    `cert-authority,principals="deploy,ops" ${pub('ca.pub')}`,
    `environment="A=b c",from="*.example.com,!bad.example.com" ${pub('dsa.pub')}`,
    `command="echo \\"quoted, with comma\\" done",no-agent-forwarding ${pub('ed25519.pub')}`,
    `RESTRICT,Command="/usr/local/bin/till gate" ${pub('ed25519.pub')}`,
    `\t ${pub('rsa1024.pub')}\r`,
    `${pub('ed25519.pub').split(' ').slice(0, 2).join(' ')}`,
    `${pub('ed25519.pub').split(' ').slice(0, 2).join(' ')}   a comment   with  spaces  `,
    // Other names sshd's sshkey_read accepts for the same key types (the signature
    // algorithm names, their certificate forms, webauthn), and a blob named differently
    // inside: all log in, so all must be listed.
    `rsa-sha2-256 ${blobOf(pub('rsa1024.pub')).toString('base64')} backdoor@evil`,
    `rsa-sha2-512 ${blobOf(pub('rsa2048.pub')).toString('base64')} sha512-alias`,
    `ssh-rsa ${Buffer.concat([sshString('rsa-sha2-512'), blobOf(pub('rsa4096.pub')).subarray(4 + 'ssh-rsa'.length)]).toString('base64')} inner-sha512`,
    `rsa-sha2-256-cert-v01@openssh.com ${blobOf(pub('rsa2048-cert.pub')).toString('base64')} cert-alias`,
    `rsa-sha2-512-cert-v01@openssh.com ${blobOf(pub('rsa2048-cert.pub')).toString('base64')} cert-alias-512`,
    `webauthn-sk-ecdsa-sha2-nistp256@openssh.com ${skEc} webauthn`,
  );
  writeFileSync(join(dir, 'authorized_keys'), `# till corpus\n\n${lines.join('\n')}\n`);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('authorized_keys corpus against ssh-keygen -lf', () => {
  it('parses every line, with the fingerprint, bits and type ssh-keygen prints', () => {
    const parsed = parseAuthorizedKeys(readFileSync(join(dir, 'authorized_keys'), 'utf8'));
    expect(parsed.invalid).toEqual([]);
    const expected = keygenList(join(dir, 'authorized_keys'));
    expect(parsed.keys).toHaveLength(lines.length);
    expect(expected).toHaveLength(lines.length);
    expect(parsed.keys.map((k) => ({ bits: k.bits, fingerprint: k.fingerprint, label: k.label }))).toEqual(expected);
  });

  it('reports each type and size as generated', () => {
    const parsed = parseAuthorizedKeys(lines.join('\n'));
    const byComment = new Map(parsed.keys.map((k) => [k.comment, k]));
    expect(byComment.get('rsa1024@corpus')).toMatchObject({ type: 'ssh-rsa', bits: 1024, label: 'RSA' });
    // ssh-keygen -b 3071 makes a 3070- or 3071-bit modulus: an odd size the byte count alone would get wrong.
    expect(byComment.get('rsa3071@corpus')!.bits).toBeGreaterThanOrEqual(3070);
    expect(byComment.get('rsa3071@corpus')!.bits).toBeLessThan(3072);
    expect(byComment.get('ecdsa521@corpus')).toMatchObject({ type: 'ecdsa-sha2-nistp521', bits: 521 });
    expect(byComment.get('dsa@corpus')).toMatchObject({ type: 'ssh-dss', bits: 1024, label: 'DSA' });
    expect(byComment.get('yubikey-ed')).toMatchObject({ label: 'ED25519-SK', bits: 256 });
    expect(byComment.get('yubikey-ec')).toMatchObject({ label: 'ECDSA-SK', bits: 256 });
    expect(byComment.get('backdoor@evil')).toMatchObject({
      type: 'rsa-sha2-256',
      bits: 1024,
      label: 'RSA',
      fingerprint: byComment.get('rsa1024@corpus')!.fingerprint,
    });
    expect(byComment.get('inner-sha512')).toMatchObject({
      type: 'ssh-rsa',
      bits: 4096,
      fingerprint:
        parseAuthorizedKeysLine(pub4096(), 1) && (parseAuthorizedKeysLine(pub4096(), 1) as AuthorizedKey).fingerprint,
    });
    expect(byComment.get('cert-alias')).toMatchObject({ label: 'RSA-CERT', bits: 2048 });
    expect(byComment.get('webauthn')).toMatchObject({ label: 'ECDSA-SK', bits: 256 });
  });

  it('keeps options with quoted spaces, commas and escaped quotes', () => {
    const parsed = parseAuthorizedKeys(lines.join('\n'));
    const at = (i: number) => parsed.keys[i]!;
    expect(at(15).options).toEqual([
      { name: 'from', value: '10.0.0.1' },
      { name: 'command', value: '/bin/true' },
    ]);
    expect(at(20).certAuthority).toBe(true);
    expect(at(20).options[1]).toEqual({ name: 'principals', value: 'deploy,ops' });
    expect(at(21).options).toEqual([
      { name: 'environment', value: 'A=b c' },
      { name: 'from', value: '*.example.com,!bad.example.com' },
    ]);
    expect(at(22).options[0]).toEqual({ name: 'command', value: 'echo "quoted, with comma" done' });
    expect(at(23).options).toEqual([{ name: 'restrict' }, { name: 'command', value: '/usr/local/bin/till gate' }]);
    expect(at(25).comment).toBe('');
    expect(at(26).comment).toBe('a comment   with  spaces');
    expect(formatOptions(at(22).options)).toBe('command="echo \\"quoted, with comma\\" done",no-agent-forwarding');
  });
});

describe('hostile lines', () => {
  const good = () => lines[0]!;
  const ed = () => good().split(' ').slice(0, 2).join(' ');
  const reason = (text: string): string => {
    const r = parseAuthorizedKeysLine(text, 7);
    expect(r).not.toBeNull();
    expect(isInvalid(r!)).toBe(true);
    expect((r as InvalidLine).line).toBe(7);
    return (r as InvalidLine).reason;
  };

  it('refuses an unterminated quote', () => {
    expect(reason(`command="echo hi ${ed()}`)).toMatch(/unterminated/);
    expect(reason(`from="10.0.0.1,command="x ${ed()}`)).toMatch(/unexpected|unknown|stray/);
  });

  it('refuses bad option lists', () => {
    expect(reason(`no-such-option ${ed()}`)).toMatch(/unknown option/);
    expect(reason(`command=/bin/true ${ed()}`)).toMatch(/double-quoted/);
    expect(reason(`no-pty, ${ed()}`)).toMatch(/comma/);
    expect(reason(`no-pty,,pty ${ed()}`)).toMatch(/empty option/);
    expect(reason(`command ${ed()}`)).toMatch(/needs a value/);
    expect(reason(`no-pty="1" ${ed()}`)).toMatch(/takes no value/);
    expect(reason(`restrict`)).toMatch(/no key/);
  });

  it('refuses NUL, huge lines, garbage base64 and truncated blobs', () => {
    expect(reason(`ssh-ed25519 AAAA\0C3NzaC1`)).toMatch(/NUL/);
    expect(reason(`${ed()} ${'x'.repeat(70_000)}`)).toMatch(/characters long/);
    expect(reason('ssh-ed25519 !!!notbase64!!!')).toMatch(/base64/);
    expect(reason('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB')).toMatch(/base64/);
    const blob = Buffer.from(ed().split(' ')[1]!, 'base64');
    expect(reason(`ssh-ed25519 ${blob.subarray(0, blob.length - 4).toString('base64')}`)).toMatch(
      /ends inside|base64|32/,
    );
    expect(reason(`ssh-ed25519 ${Buffer.concat([blob, Buffer.from([0, 0, 0, 0])]).toString('base64')}`)).toMatch(
      /unexpected bytes/,
    );
    expect(reason('ssh-ed25519')).toMatch(/no key/);
  });

  it('refuses a type that does not match the blob', () => {
    expect(reason(`ssh-rsa ${ed().split(' ')[1]}`)).toMatch(/line says ssh-rsa but the key inside is "ssh-ed25519"/);
    const ec384 = lines[6]!.split(' ')[1]!;
    expect(reason(`ecdsa-sha2-nistp256 ${ec384}`)).toMatch(/key inside is "ecdsa-sha2-nistp384"/);
    // The right outer type, a lying curve inside.
    const fields = strings(Buffer.from(ec384, 'base64'));
    const forged = Buffer.concat([
      sshString('ecdsa-sha2-nistp384'),
      sshString('nistp256'),
      sshString(fields[2]!),
    ]).toString('base64');
    expect(reason(`ecdsa-sha2-nistp384 ${forged}`)).toMatch(/curve/);
    expect(reason(`ssh-xmss@openssh.com ${ed().split(' ')[1]}`)).toMatch(/unknown option or key type/);
    expect(reason(`no-pty ssh-foo ${ed().split(' ')[1]}`)).toMatch(/unknown key type/);
    // An alias of another key type does not make a mismatch valid; names are case-sensitive.
    expect(reason(`rsa-sha2-256 ${ed().split(' ')[1]}`)).toMatch(
      /line says rsa-sha2-256 but the key inside is "ssh-ed25519"/,
    );
    expect(reason(`rsa-sha2-256-cert-v01@openssh.com ${lines[1]!.split(' ')[1]}`)).toMatch(/key inside is "ssh-rsa"/);
    expect(reason(`RSA-SHA2-256 ${lines[1]!.split(' ')[1]}`)).toMatch(/unknown option or key type/);
  });

  it('refuses option values sshd refuses (the key cannot log in with them)', () => {
    expect(reason(`environment="NOEQUALS" ${ed()}`)).toMatch(/environment="NOEQUALS": invalid environment string/);
    expect(reason(`environment="BAD-NAME=x" ${ed()}`)).toMatch(/invalid environment string/);
    expect(reason(`expiry-time="garbage" ${ed()}`)).toMatch(/expiry-time="garbage": invalid expires time/);
    expect(reason(`expiry-time="20261399" ${ed()}`)).toMatch(/invalid expires time/);
    expect(reason(`tunnel="abc" ${ed()}`)).toMatch(/tunnel="abc": invalid tun device/);
    expect(reason(`tunnel="-1" ${ed()}`)).toMatch(/invalid tun device/);
    expect(reason(`permitopen="nocolon" ${ed()}`)).toMatch(/permitopen="nocolon": invalid permission port/);
    expect(reason(`permitopen="host:0" ${ed()}`)).toMatch(/invalid permission port/);
    expect(reason(`permitopen="[::1" ${ed()}`)).toMatch(/invalid permission hostname/);
    expect(reason(`principals="x" ${ed()}`)).toMatch(/principals= without cert-authority/);
    expect(reason(`command="a",command="b" ${ed()}`)).toMatch(/multiple "command" clauses/);
    expect(reason(`from="a",FROM="b" ${ed()}`)).toMatch(/multiple "from" clauses/);
    // Their valid forms.
    for (const ok of [
      'environment="A_1=x y"',
      'environment="=x"',
      'expiry-time="20300101"',
      'expiry-time="203001011200Z"',
      'expiry-time="20300101120000UTC"',
      'tunnel="any"',
      'tunnel="0"',
      'permitopen="[::1]:22"',
      'permitopen="*:*"',
      'permitopen="h:ssh"',
      'permitlisten="8080"',
      'permitlisten="localhost:8080"',
      'cert-authority,principals="x"',
    ]) {
      const r = parseAuthorizedKeysLine(`${ok} ${ed()}`, 1);
      expect(r && !isInvalid(r) ? ok : `${ok}: ${(r as InvalidLine).reason}`).toBe(ok);
    }
  });

  it('reads expiry-time as sshd does and tells when it has passed', () => {
    expect(parseExpiryTime('20260102')).toEqual({ time: Date.UTC(2026, 0, 2) / 1000, utc: false });
    expect(parseExpiryTime('202601021314Z')).toEqual({ time: Date.UTC(2026, 0, 2, 13, 14) / 1000, utc: true });
    expect(parseExpiryTime('2026010213')).toBeNull();
    const now = new Date('2026-06-01T00:00:00Z');
    expect(expiredAt([{ name: 'expiry-time', value: '20260531235900Z' }], now)).toBe('2026-05-31T23:59:00Z');
    // Local time on the host: only once past in every time zone.
    expect(expiredAt([{ name: 'expiry-time', value: '20260531' }], new Date('2026-05-31T10:00:00Z'))).toBeNull();
    expect(expiredAt([{ name: 'expiry-time', value: '20260531' }], now)).toBe('2026-05-31T00:00:00 (host time)');
    expect(expiredAt([{ name: 'expiry-time', value: '20260530' }], now)).toBe('2026-05-30T00:00:00 (host time)');
    expect(
      expiredAt(
        [
          { name: 'expiry-time', value: '20300101' },
          { name: 'expiry-time', value: '20200101Z' },
        ],
        now,
      ),
    ).toBe('2020-01-01T00:00:00Z');
    expect(expiredAt([{ name: 'from', value: 'x' }], now)).toBeNull();
  });

  it('skips comments and blank lines, and numbers lines from 1', () => {
    const text = `# comment\n   \n\t# indented comment\n${good()}\nbogus line\n`;
    const parsed = parseAuthorizedKeys(text);
    expect(parsed.keys.map((k) => k.line)).toEqual([4]);
    expect(parsed.invalid).toEqual([{ line: 5, reason: expect.stringMatching(/unknown option/) }]);
  });

  it('never throws, whatever the line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = parseAuthorizedKeysLine(s, 1);
        expect(
          r === null ||
            typeof (r as InvalidLine).reason === 'string' ||
            typeof (r as AuthorizedKey).fingerprint === 'string',
        ).toBe(true);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 80 }), (opts, tail) => {
        expect(() => parseAuthorizedKeysLine(`${opts} ${ed()} ${tail}`, 1)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });

  it('reads option lists exactly like sshd', () => {
    expect(() => parseOptions('a="x" b', 0)).toThrow(/unknown option/);
    expect(parseOptions('from="a b",no-pty rest', 0)).toEqual({
      options: [{ name: 'from', value: 'a b' }, { name: 'no-pty' }],
      end: 17,
    });
  });

  it('inspects blobs without a line', () => {
    const blob = Buffer.from(lines[1]!.split(' ')[1]!, 'base64');
    expect(inspectKeyBlob('ssh-rsa', blob).bits).toBe(1024);
    expect(() => inspectKeyBlob('ssh-rsa', Buffer.alloc(0))).toThrow(/ends before/);
  });
});
