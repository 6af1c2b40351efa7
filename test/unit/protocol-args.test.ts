import { describe, expect, it } from 'vitest';
import {
  ARG,
  blobKeyType,
  ed25519BlobProblem,
  KEY_TYPES,
  keyCommentProblem,
  NAME_RE,
  parseGateFile,
  remotePathProblem,
  RELEASE_ID_RE,
  RUN_ID_RE,
  sharedPathProblem,
  TIME_RE,
  VERSION_RE,
  wideningOf,
  type Policy,
} from '../../src/protocol/args.js';
import { ed25519Blob } from './keys.js';

/**
 * The gate's argument types on their own (src/protocol/args.ts): every refusal with its
 * exact message, every bound at its edge, and what each type lets through. The gate's
 * use of them (decide) is in gate.test.ts.
 */

const policy: Policy = { home: '/home/u', deployRoots: ['/home/u/T', '/srv/app'], checks: ['bin/ok'], upgrade: false };
const problem = (t: keyof typeof ARG, v: string, p?: Policy) => ARG[t].problem(v, p);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const blob = (...parts: Buffer[]) => Buffer.concat(parts).toString('base64');
const ID = '20261126T031500Z-3fa9c2';

describe('control characters', () => {
  it('free text refuses C0, DEL and C1 and nothing above', () => {
    for (const c of ['\x00', '\x09', '\x0a', '\x1b', '\x1f', '\x7f', '\x80', '\x9f'])
      expect(problem('label', `a${c}b`), JSON.stringify(c)).toBe(
        `label ${JSON.stringify(`a${c}b`)} contains a control character`,
      );
    for (const ok of ['a b', '~!@#$%^&*()', '\xa0', 'é', '\u2028'.replace('\u2028', 'ü'), ''])
      expect(problem('label', ok), ok).toBeUndefined();
  });

  it('.env.local text keeps tab, newline and carriage return, nothing else below space, nor DEL', () => {
    expect(problem('envFile', 'A=1\tx\nB=2\r\n')).toBeUndefined();
    expect(problem('envFile', 'A=\x80\x9f')).toBeUndefined();
    for (const c of ['\x00', '\x08', '\x0b', '\x0c', '\x0e', '\x1b', '\x1f', '\x7f'])
      expect(problem('envFile', `A=${c}`), JSON.stringify(c)).toBe('.env.local text contains a control character');
  });

  it('shows a long value cut at 80 characters', () => {
    expect(problem('flag', 'x'.repeat(80))).toBe(`"${'x'.repeat(80)}" is not 0 or 1`);
    expect(problem('flag', 'x'.repeat(81))).toBe(`"${'x'.repeat(80)}…" is not 0 or 1`);
  });
});

describe('lengths at their edge', () => {
  it.each([
    ['label', 1024, 'label longer than 1024 characters'],
    ['deployer', 256, 'deployer longer than 256 characters'],
    ['message', 1024, 'message longer than 1024 characters'],
    ['check', 4096, 'the check is longer than 4096 characters'],
    ['envFile', 128 * 1024, '.env.local text longer than 128 KiB'],
  ] as const)('%s: %i characters pass, one more is refused', (t, n, why) => {
    expect(problem(t, 'a'.repeat(n))).toBeUndefined();
    expect(problem(t, 'a'.repeat(n + 1))).toBe(why);
  });

  it('remote, shared and node paths, key comments, gate.json and lock info', () => {
    const remote = `/${'a'.repeat(1023)}`;
    expect(remotePathProblem(remote)).toBeUndefined();
    expect(remotePathProblem(`${remote}a`)).toBe('it is longer than 1024 characters');
    expect(sharedPathProblem('a'.repeat(256))).toBeUndefined();
    expect(sharedPathProblem('a'.repeat(257))).toBe('it is longer than 256 characters');
    expect(problem('nodePath', remote)).toBeUndefined();
    expect(problem('nodePath', `${remote}a`)).toBe('node path longer than 1024 characters');
    expect(keyCommentProblem('a'.repeat(200))).toBeUndefined();
    expect(keyCommentProblem('a'.repeat(201))).toBe('key comment longer than 200 characters');
    expect(problem('gateJson', `{"x":"${'a'.repeat(64 * 1024 - 8)}"}`)).toBeUndefined();
    expect(problem('gateJson', `{"x":"${'a'.repeat(64 * 1024 - 7)}"}`)).toBe('gate.json longer than 64 KiB');
    const info = (who: string) => `who=${who}\nwhen=w\nwhat=d\npid=1\nrun=r1\n`;
    expect(problem('lockInfo', info('a'.repeat(4096 - info('').length)))).toBeUndefined();
    expect(problem('lockInfo', info('a'.repeat(4097 - info('').length)))).toBe('lock info longer than 4096 characters');
  });

  it('names, versions and run ids at their longest', () => {
    expect(NAME_RE.test(`a${'b'.repeat(62)}`)).toBe(true);
    expect(NAME_RE.test(`a${'b'.repeat(63)}`)).toBe(false);
    expect(VERSION_RE.test(`1${'b'.repeat(63)}`)).toBe(true);
    expect(VERSION_RE.test(`1${'b'.repeat(64)}`)).toBe(false);
    expect(RUN_ID_RE.test(`r${'1'.repeat(127)}`)).toBe(true);
    expect(RUN_ID_RE.test(`r${'1'.repeat(128)}`)).toBe(false);
  });
});

describe('patterns, anchored at both ends', () => {
  it.each([
    [
      RELEASE_ID_RE,
      [ID, '20261126T031500Zadopted'.replace('Zadopted', 'Z-adopted')],
      [
        'x' + ID,
        `${ID}/x`,
        `${ID}-`,
        '2026112T031500Z-a',
        '20261126T031500Z-',
        '20261126T031500Z-A',
        '20261126X031500Z-a',
        '20261126T031500-a',
      ],
    ],
    [NAME_RE, ['a', 'A.b_c-9', '9'], ['', '.a', '-a', '_a', 'a b', 'a/b', 'a\n', 'ä']],
    [VERSION_RE, ['1.2.3', '0.1.0+build_1-rc'], ['', '.1', '-1', '1/2', '1 2', '1\n']],
    [RUN_ID_RE, ['rollback-1-2', '20261126T031500Z-1a2b3c4d', 'a:b'], ['', ':a', 'a b', 'a/b', 'a\n']],
    [
      TIME_RE,
      ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.1Z', '2026-01-01T00:00:00.123Z'],
      [
        '2026-01-01T00:00:00',
        '2026-01-01T00:00:00.1234Z',
        'x2026-01-01T00:00:00Z',
        '2026-01-01T00:00:00Zx',
        '2026-01-01 00:00:00Z',
        '2026-01-01T00:00:00.Z',
        '26-01-01T00:00:00Z',
      ],
    ],
  ] as const)('%s', (re, good, bad) => {
    for (const g of good) expect(re.test(g), g).toBe(true);
    for (const b of bad) expect(re.test(b), JSON.stringify(b)).toBe(false);
  });

  it('types built on a pattern name what the value is not', () => {
    expect(problem('releaseId', 'x')).toBe('"x" is not a release id');
    expect(problem('runId', '-x')).toBe('"-x" is not a run id');
    expect(problem('time', 'now')).toBe('"now" is not an ISO-8601 UTC time');
    expect(problem('version', '../1')).toBe('"../1" is not a version');
    expect(problem('flag', '2')).toBe('"2" is not 0 or 1');
    expect(problem('flag', '01')).toBe('"01" is not 0 or 1');
    for (const f of ['0', '1']) expect(problem('flag', f)).toBeUndefined();
    expect(problem('contentHash', '')).toBeUndefined();
    expect(problem('contentHash', 'a1b2c3')).toBeUndefined();
    for (const h of ['a1b2c', 'a1b2c3d', 'A1B2C3', 'g1b2c3', '/a1b2c3'])
      expect(problem('contentHash', h), h).toBe(`${JSON.stringify(h)} is not a content hash (6 hex digits, or empty)`);
  });
});

describe('empty, and lists', () => {
  it('an optional value is empty or of its type, and is named so', () => {
    expect(ARG.releaseIdOrEmpty.name).toBe('release id or empty');
    expect(problem('releaseIdOrEmpty', '')).toBeUndefined();
    expect(problem('releaseIdOrEmpty', ID)).toBeUndefined();
    expect(problem('releaseIdOrEmpty', ' ')).toBe('" " is not a release id');
    expect(ARG.installationOrEmpty.name).toBe('installation name or empty');
    expect(problem('installationOrEmpty', '')).toBeUndefined();
    expect(problem('installationOrEmpty', 'web')).toBeUndefined();
    expect(problem('installationOrEmpty', '--help')).toBe('"--help" is not an installation name');
    // not optional: the empty string is refused
    expect(problem('releaseId', '')).toBe('"" is not a release id');
    expect(problem('runId', '')).toBe('"" is not a run id');
  });

  it('a list is space-separated, may be empty, has a bound, and every item is checked', () => {
    expect(ARG.releaseIds.name).toBe('list of release id');
    expect(ARG.sharedPaths.name).toBe('list of shared path');
    expect(problem('releaseIds', '')).toBeUndefined();
    expect(problem('releaseIds', `${ID} ${ID.replace('3fa9c2', 'b')}`)).toBeUndefined();
    expect(problem('releaseIds', `${ID} x`)).toBe('"x" is not a release id');
    expect(problem('releaseIds', `x ${ID}`)).toBe('"x" is not a release id');
    expect(problem('releaseIds', `${ID}  ${ID}`)).toBe('"" is not a release id');
    expect(problem('releaseIds', Array(1000).fill(ID).join(' '))).toBeUndefined();
    expect(problem('releaseIds', Array(1001).fill(ID).join(' '))).toBe('more than 1000 items');
    expect(problem('sharedPaths', Array(100).fill('logs').join(' '))).toBeUndefined();
    expect(problem('sharedPaths', Array(101).fill('logs').join(' '))).toBe('more than 100 items');
    expect(problem('sharedPaths', 'logs ../x')).toBe('shared path "../x": it contains an empty, . or .. segment');
  });
});

describe('paths', () => {
  it('a remote path is absolute or ~/, plain, without .. or a leading - in any segment', () => {
    for (const ok of ['/', '/srv/app', '~/T', '~/a/b.c_d+e@f,g=h-i', '/a/b-', '/a/.x', '/a/...'])
      expect(remotePathProblem(ok), ok).toBeUndefined();
    const cases: [string, string][] = [
      ['', 'it is empty'],
      ['T', 'it must be absolute or start with ~/'],
      ['~', 'it must be absolute or start with ~/'],
      ['~root/x', 'it must be absolute or start with ~/'],
      ['./x', 'it must be absolute or start with ~/'],
      ['-oProxyCommand=x', 'it must be absolute or start with ~/'],
      ['/a b', 'it contains whitespace, quotes, control or shell characters'],
      ['/a\nb', 'it contains whitespace, quotes, control or shell characters'],
      ["/a'b", 'it contains whitespace, quotes, control or shell characters'],
      ['/a$b', 'it contains whitespace, quotes, control or shell characters'],
      ['/ä', 'it contains whitespace, quotes, control or shell characters'],
      ['/a/~', '~ may only start the path'],
      ['~/~', '~ may only start the path'],
      ['/a/..', 'it contains a .. segment'],
      ['/../a', 'it contains a .. segment'],
      ['~/../x', 'it contains a .. segment'],
      ['/-x', 'a path segment starts with -'],
      ['/a/-x', 'a path segment starts with -'],
      ['~/-x', 'a path segment starts with -'],
    ];
    for (const [v, why] of cases) expect(remotePathProblem(v), JSON.stringify(v)).toBe(why);
    expect(problem('probePath', '/a/..')).toBe('remote path "/a/..": it contains a .. segment');
    expect(problem('probePath', '~/x')).toBeUndefined();
  });

  it('a probe path through a gate is one of its deploy roots: no other path is probed', () => {
    for (const v of ['~/T', '~/T/', '/home/u/T', '/home/u/T//', '/srv/app', '/srv/app/'])
      expect(problem('probePath', v, policy), v).toBeUndefined();
    for (const v of [
      '~/.ssh',
      '~/.ssh/authorized_keys',
      '~/',
      '/home/u',
      '/srv',
      '/srv/app/x',
      '~/T/x',
      '/etc',
      '~/T/.',
    ])
      expect(problem('probePath', v, policy), v).toBe(
        `${v} is not a deploy root of ~/.till/gate.json ("deployRoots"); through the gate, health and doctor look only at those`,
      );
    expect(problem('probePath', '~/T/..', policy)).toBe('remote path "~/T/..": it contains a .. segment');
    // Without a gate (an unrestricted key can read any path anyway): any safe path.
    expect(problem('probePath', '/etc')).toBeUndefined();
  });

  it('a shared path is relative, plain, of real segments, not an option', () => {
    for (const ok of ['logs', 'var/data', 'a.b_c+d@e,f=g-h', 'a/-b', '...'])
      expect(sharedPathProblem(ok), ok).toBeUndefined();
    const cases: [string, string][] = [
      ['', 'it must be a relative path inside the installation'],
      ['/etc', 'it must be a relative path inside the installation'],
      ['a b', 'it contains whitespace, quotes or shell characters'],
      ['~/x', 'it contains whitespace, quotes or shell characters'],
      ['a\tb', 'it contains whitespace, quotes or shell characters'],
      ['..', 'it contains an empty, . or .. segment'],
      ['a/../b', 'it contains an empty, . or .. segment'],
      ['.', 'it contains an empty, . or .. segment'],
      ['a/./b', 'it contains an empty, . or .. segment'],
      ['a//b', 'it contains an empty, . or .. segment'],
      ['a/', 'it contains an empty, . or .. segment'],
      ['-rf', 'it starts with -'],
      ['--x/y', 'it starts with -'],
    ];
    for (const [v, why] of cases) expect(sharedPathProblem(v), JSON.stringify(v)).toBe(why);
  });

  it('a node path is absolute, bounded and free of control characters', () => {
    expect(problem('nodePath', "/opt/no'de; rm -rf ~")).toBeUndefined();
    expect(problem('nodePath', 'node')).toBe('node path "node" is not absolute');
    expect(problem('nodePath', '~/node')).toBe('node path "~/node" is not absolute');
    expect(problem('nodePath', '/a\nb')).toBe('node path "/a\\nb" contains a control character');
  });
});

describe('deploy roots and checks against the policy', () => {
  it('a deploy root has a safe shape, and with a policy is one of its roots, ~/ or absolute, written plainly', () => {
    for (const v of ['~/T', '/home/u/T', '/srv/app']) expect(problem('deployRoot', v, policy), v).toBeUndefined();
    for (const v of ['~/T/', '/home/u/T//', '/srv/app/', '/srv//app', '~/T/.'])
      expect(problem('deployRoot', v, policy), v).toBe(
        `deploy path ${JSON.stringify(v)}: write it without a trailing /, // or . segment`,
      );
    expect(problem('deployRoot', '~/Other')).toBeUndefined(); // no policy: the shape only
    expect(problem('deployRoot', '~/Other', policy)).toBe(
      '~/Other is not a deploy root of ~/.till/gate.json ("deployRoots")',
    );
    expect(problem('deployRoot', '/srv', policy)).toMatch(/^\/srv is not a deploy root/);
    expect(problem('deployRoot', '/srv/app/x', policy)).toMatch(/^\/srv\/app\/x is not a deploy root/);
    expect(problem('deployRoot', '~/T/..', policy)).toBe('deploy path "~/T/..": it contains a .. segment');
    expect(problem('deployRoot', '../T')).toBe('deploy path "../T": it must be absolute or start with ~/');
  });

  it('a check is free without a policy, empty or listed with one', () => {
    expect(problem('check', 'anything at all')).toBeUndefined();
    expect(problem('check', '', policy)).toBeUndefined();
    expect(problem('check', 'bin/ok', policy)).toBeUndefined();
    expect(problem('check', 'bin/ok ', policy)).toBe('the check "bin/ok " is not listed in ~/.till/gate.json "checks"');
  });
});

describe('lock info', () => {
  const info = (over: Partial<Record<'who' | 'when' | 'what' | 'pid' | 'run', string>> = {}) => {
    const f = { who: 'me@box', when: 'now', what: 'deploy', pid: '123', run: 'r1', ...over };
    return `who=${f.who}\nwhen=${f.when}\nwhat=${f.what}\npid=${f.pid}\nrun=${f.run}\n`;
  };
  it('is exactly five lines, in order, a numeric pid, a run id', () => {
    expect(problem('lockInfo', info())).toBeUndefined();
    expect(problem('lockInfo', info({ who: '', when: '', what: '' }))).toBeUndefined();
    expect(problem('lockInfo', info({ pid: '1234567890' }))).toBeUndefined();
    const bad = (v: string) =>
      `lock info ${JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v)} is not who=/when=/what=/pid=/run= lines`;
    for (const v of [
      info({ pid: '' }),
      info({ pid: 'x' }),
      info({ pid: '12345678901' }),
      info().slice(0, -1),
      `x${info()}`,
      `${info()}x`,
      info().replace('when=', 'whom='),
      info({ who: 'a\nb' }),
      info({ run: 'r1\nrun=r2' }),
    ])
      expect(problem('lockInfo', v), JSON.stringify(v)).toBe(bad(v));
    for (const f of ['who', 'when', 'what'] as const)
      expect(problem('lockInfo', info({ [f]: 'a\tb' })), f).toBe('lock info contains a control character');
    expect(problem('lockInfo', info({ run: 'TILL LOCKED' }))).toBe('"TILL LOCKED" is not a run id');
    expect(problem('lockInfo', info({ run: '' }))).toBe('"" is not a run id');
  });
});

describe('keys', () => {
  it('knows the key types, and an ed25519 type only where the gate adds keys', () => {
    for (const t of KEY_TYPES) expect(problem('keyType', t), t).toBeUndefined();
    expect(KEY_TYPES).toHaveLength(7);
    expect(problem('keyType', 'ssh-dss')).toBe(`key type "ssh-dss" is not one of ${KEY_TYPES.join(', ')}`);
    expect(problem('ed25519Type', 'ssh-ed25519')).toBeUndefined();
    expect(problem('ed25519Type', 'ssh-rsa')).toBe(
      'key type "ssh-rsa": only ssh-ed25519 keys are added through the gate',
    );
  });

  it('reads the type a blob names in its wire format, and nothing from what is not one', () => {
    const ed = ed25519Blob(7);
    expect(blobKeyType(ed)).toBe('ssh-ed25519');
    expect(blobKeyType(blob(u32(7), Buffer.from('ssh-rsa'), u32(3), Buffer.from([1, 0, 1])))).toBe('ssh-rsa');
    expect(blobKeyType(blob(u32(1), Buffer.from('x')))).toBe('x');
    expect(blobKeyType(blob(u32(64), Buffer.alloc(64, 0x61)))).toBe('a'.repeat(64));
    expect(blobKeyType(blob(u32(65), Buffer.alloc(65, 0x61)))).toBeUndefined();
    expect(blobKeyType(blob(u32(0), Buffer.from('xxxx')))).toBeUndefined();
    expect(blobKeyType(blob(u32(8), Buffer.from('ssh-rsa')))).toBeUndefined(); // shorter than it says
    expect(blobKeyType(blob(Buffer.from([0, 0, 0])))).toBeUndefined(); // no length at all
    expect(blobKeyType('')).toBeUndefined();
    expect(blobKeyType(`${ed}=`)).toBeUndefined(); // not canonical base64
    const short = blob(u32(1), Buffer.from('x')); // 5 bytes: the last character carries 2 padding bits
    expect(short).toMatch(/^[A-Za-z0-9+/]{7}=$/);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const padded = short.slice(0, 6) + alphabet[alphabet.indexOf(short[6]!) + 1]! + '=';
    expect(Buffer.from(padded, 'base64')).toEqual(Buffer.from(short, 'base64'));
    expect(blobKeyType(padded)).toBeUndefined(); // non-zero padding bits: not the canonical encoding
    expect(blobKeyType(`x${ed}`)).toBeUndefined();
    expect(blobKeyType(`${ed} x`)).toBeUndefined();
    expect(blobKeyType(`${ed}\n`)).toBeUndefined();
    expect(blobKeyType(`\n${ed}`)).toBeUndefined();
    expect(blobKeyType(`${ed.slice(0, 20)} ${ed.slice(20)}`)).toBeUndefined();
    expect(blobKeyType('AAAA-_8=')).toBeUndefined(); // base64url
    expect(blobKeyType('AAAA/+8=')).toBeUndefined(); // canonical, but a zero length
    const long = blob(u32(11), Buffer.from('ssh-ed25519'), Buffer.alloc(16_384));
    expect(blobKeyType(long)).toBeUndefined(); // over 16 KiB of text
    const fits = blob(u32(11), Buffer.from('ssh-ed25519'), Buffer.alloc(12_273));
    expect(fits.length).toBe(16_384);
    expect(blobKeyType(fits)).toBe('ssh-ed25519');
    const justOver = blob(u32(11), Buffer.from('ssh-ed25519'), Buffer.alloc(12_274));
    expect(justOver.length).toBe(16_388);
    expect(blobKeyType(justOver)).toBeUndefined();
    expect(problem('keyBlob', ed)).toBeUndefined();
    expect(problem('keyBlob', 'AAAA')).toBe('"AAAA" is not an OpenSSH public key blob');
  });

  it('an ed25519 blob is exactly its wire format', () => {
    const ed = ed25519Blob(3);
    expect(ed25519BlobProblem(ed)).toBeUndefined();
    const slashes = ed25519Blob(255);
    expect(ed25519BlobProblem(slashes)).toBeUndefined();
    const url = slashes.replace(/\+/g, '-').replace(/\//g, '_'); // base64url
    expect(url).not.toBe(slashes);
    expect(problem('ed25519Blob', ed)).toBeUndefined();
    const bad = (b: string) => `${JSON.stringify(b)} is not an ssh-ed25519 public key blob`;
    const wrong = [
      `${ed}A`,
      `x${ed}`,
      ed.slice(0, -1),
      blob(u32(11), Buffer.from('ssh-ed25519'), u32(33), Buffer.alloc(32)).slice(0, 68),
      blob(u32(11), Buffer.from('ssh-ed25519'), u32(32), Buffer.alloc(33)),
      // what Node's lenient base64 decoding would read as the same key
      ` ${ed}`,
      `\n${ed}`,
      `${ed}\n`,
      `${ed} `,
      `${ed.slice(0, 30)}\n${ed.slice(30)}`,
      url,
    ];
    for (const b of wrong) expect(ed25519BlobProblem(b), b).toBe(bad(b));
    // the same prefix and length (the prefix fixes the key length's top bits only), another length inside
    const bytes = Buffer.from(ed, 'base64');
    bytes.writeUInt32BE(33, 15);
    const skew = bytes.toString('base64');
    expect(skew.slice(0, 25)).toBe(ed.slice(0, 25));
    expect(ed25519BlobProblem(skew)).toBe(bad(skew));
  });

  it('a whole authorized_keys line (ungated key edits): at most 16 KiB, no control character', () => {
    const line = `ssh-ed25519 ${ed25519Blob(1)} me@box`;
    expect(problem('keyLine', line)).toBeUndefined();
    expect(problem('keyLine', `from="127.0.0.1",restrict ${line} a "b" $c`)).toBeUndefined();
    expect(problem('keyLine', 'a'.repeat(16_384))).toBeUndefined();
    expect(problem('keyLine', 'a'.repeat(16_385))).toBe('key line longer than 16 KiB');
    expect(problem('keyLine', 'k\nssh-ed25519 AAAA attacker')).toBe(
      '"k\\nssh-ed25519 AAAA attacker" contains a control character',
    );
    expect(problem('keyLine', `${line}\r`)).toMatch(/contains a control character$/);
  });

  it('a key comment is short and plain', () => {
    for (const ok of ['', 'me@box', 'till-federation@me@box', 'a.b_c+d:e-f', 'A9'])
      expect(keyCommentProblem(ok), ok).toBeUndefined();
    for (const v of ['a b', 'a\nb', 'a,b', 'a"b', 'ä'])
      expect(keyCommentProblem(v), v).toBe(
        `key comment ${JSON.stringify(v)} has characters other than A-Z a-z 0-9 @ . _ + : -`,
      );
    expect(problem('keyComment', 'x y')).toMatch(/^key comment "x y" has characters/);
  });
});

describe('gate.json', () => {
  it('reads roots (~/ expanded, no trailing slash, once each), checks and upgrade', () => {
    expect(parseGateFile({}, '/h')).toEqual({ deployRoots: [], upgrade: true, checks: [], hooks: false });
    expect(parseGateFile({ hooks: true }, '/h').hooks).toBe(true);
    expect(parseGateFile({ hooks: false }, '/h').hooks).toBe(false);
    expect(() => parseGateFile({ hooks: 'yes' }, '/h')).toThrow(/^hooks: not true or false$/);
    expect(
      parseGateFile(
        { deployRoots: ['~/T/', '/srv/a//', '~/T'], checks: ['bin/ok', ''], upgrade: false, extra: 1 },
        '/h/',
      ),
    ).toEqual({ deployRoots: ['/h/T', '/srv/a'], upgrade: false, checks: ['bin/ok', ''], hooks: false });
    expect(parseGateFile({ upgrade: true }, '/h').upgrade).toBe(true);
    expect(parseGateFile({ checks: ['c'.repeat(4096)] }, '/h').checks).toHaveLength(1);
  });

  it('refuses what is not an object, and names every bad field', () => {
    for (const raw of [null, [], 'x', 1, true])
      expect(() => parseGateFile(raw, '/h'), JSON.stringify(raw)).toThrow(/^not a JSON object$/);
    const why = (raw: unknown) => {
      try {
        parseGateFile(raw, '/h');
        return 'parsed';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(why({ deployRoots: '/srv' })).toBe('deployRoots: not a list');
    expect(why({ checks: 'x' })).toBe('checks: not a list');
    expect(why({ deployRoots: ['/ok', 1, '../x'] })).toBe(
      'deployRoots.1: not a string; deployRoots.2: not a safe remote path',
    );
    expect(why({ checks: ['c'.repeat(4097)] })).toBe('checks.0: longer than 4096 characters');
    expect(why({ upgrade: 'no' })).toBe('upgrade: not true or false');
    expect(why({ upgrade: null })).toBe('upgrade: not true or false');
    expect(why({ deployRoots: 'x', checks: [2], upgrade: 0 })).toBe(
      'deployRoots: not a list; checks.0: not a string; upgrade: not true or false',
    );
  });

  it('refuses roots inside one another (their locks would overlap), and only those', () => {
    const why = (roots: string[]) => {
      try {
        return parseGateFile({ deployRoots: roots }, '/h').deployRoots;
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(why(['/srv/a', '/srv/a/b'])).toBe('deployRoots: /srv/a/b lies inside /srv/a');
    expect(why(['/srv/a/b', '/srv/a'])).toBe('deployRoots: /srv/a/b lies inside /srv/a');
    expect(why(['/srv/a', '/srv/a.till/releases/x'])).toBe('deployRoots: /srv/a.till/releases/x lies inside /srv/a');
    expect(why(['~/a', '/h/a/b'])).toBe('deployRoots: /h/a/b lies inside /h/a');
    expect(why(['/srv/a', '/srv/ab', '/srv/a.tillx', '/srv/b'])).toEqual([
      '/srv/a',
      '/srv/ab',
      '/srv/a.tillx',
      '/srv/b',
    ]);
    expect(why(['/srv/a', '/srv/a/'])).toEqual(['/srv/a']);
  });

  it('widening: a new root, a new check, or upgrades turned back on; the same or less is not', () => {
    const current = { deployRoots: ['/a', '/b'], checks: ['c1', 'c2'], upgrade: false, hooks: false };
    const next = (o: Partial<typeof current>) => ({ ...current, ...o });
    expect(wideningOf(current, next({}))).toBeUndefined();
    expect(wideningOf(current, next({ deployRoots: ['/b'], checks: [] }))).toBeUndefined();
    expect(wideningOf(current, next({ deployRoots: ['/b', '/c', '/d'] }))).toBe('it adds the deploy root /c');
    expect(wideningOf(current, next({ checks: ['c2', 'rm -rf /'] }))).toBe('it adds the check "rm -rf /"');
    expect(wideningOf(current, next({ upgrade: true }))).toBe('it turns "upgrade" back on');
    expect(wideningOf({ ...current, upgrade: true }, next({ upgrade: true }))).toBeUndefined();
    expect(wideningOf({ ...current, upgrade: true }, next({ upgrade: false }))).toBeUndefined();
    expect(wideningOf(current, next({ hooks: true }))).toBe('it turns "hooks" on');
    const { hooks: _, ...noHooks } = current;
    expect(wideningOf(noHooks, next({ hooks: true }))).toBe('it turns "hooks" on');
    expect(wideningOf({ ...current, hooks: true }, next({ hooks: true }))).toBeUndefined();
    expect(wideningOf({ ...current, hooks: true }, next({ hooks: false }))).toBeUndefined();
  });

  it('as an argument: one line of JSON, parsed, and against a policy never wider', () => {
    expect(problem('gateJson', '{"deployRoots":["~/Other"],"upgrade":true}')).toBeUndefined();
    expect(problem('gateJson', '{"deployRoots":["~/T"],"upgrade":false}', policy)).toBeUndefined();
    expect(problem('gateJson', '{"deployRoots":["/srv/app/"],"checks":["bin/ok"],"upgrade":false}', policy)).toBe(
      undefined,
    );
    expect(problem('gateJson', '{"deployRoots":["~/T"]}', policy)).toBe(
      'the new gate.json widens the host\'s policy (it turns "upgrade" back on); widen ~/.till/gate.json on the host with your own access, then run this again',
    );
    expect(problem('gateJson', '{"deployRoots":["~/U"],"upgrade":false}', policy)).toMatch(
      /\(it adds the deploy root \/home\/u\/U\)/,
    );
    expect(problem('gateJson', '{}\n{}')).toBe('gate.json must be one line without control characters');
    expect(problem('gateJson', '{"a":"\x7f"}')).toBe('gate.json must be one line without control characters');
    expect(problem('gateJson', '{not json')).toMatch(/^gate\.json: /);
    expect(problem('gateJson', '[]')).toBe('gate.json: not a JSON object');
    expect(problem('gateJson', '{"deployRoots":["x"]}')).toBe('gate.json: deployRoots.0: not a safe remote path');
    // ~/ roots expand against the policy's home (without one, against /)
    expect(problem('gateJson', '{"deployRoots":["~/a","/a/b"]}')).toBe('gate.json: deployRoots: /a/b lies inside /a');
    expect(problem('gateJson', '{"deployRoots":["~/a","/home/u/a/b"],"upgrade":false}', policy)).toBe(
      'gate.json: deployRoots: /home/u/a/b lies inside /home/u/a',
    );
  });
});

describe('release records and hooks', () => {
  it('a host name, a deployer and a message, a commit and its dirty flag', () => {
    expect(problem('hostName', 'web-1')).toBeUndefined();
    expect(problem('hostName', '-web')).toBe('"-web" is not a host name');
    expect(problem('deployer', 'me@box')).toBeUndefined();
    expect(problem('message', 'a\nb')).toBe('message "a\\nb" contains a control character');
    for (const c of ['', 'abcdef1', 'a'.repeat(64)]) expect(problem('commitOrEmpty', c), c).toBeUndefined();
    for (const c of ['abcdef', 'a'.repeat(65), 'ABCDEF1', 'abcdefg', `x${'a'.repeat(7)}`, `${'a'.repeat(7)}x`])
      expect(problem('commitOrEmpty', c), c).toBe(`${JSON.stringify(c)} is not a git commit id (or empty)`);
    for (const d of ['', '0', '1']) expect(problem('dirty', d), d).toBeUndefined();
    for (const d of ['2', '01', 'x1', '1x'])
      expect(problem('dirty', d), d).toBe(`${JSON.stringify(d)} is not 0, 1 or empty`);
  });

  it('hooks run only where gate.json says "hooks": true; a hook timeout is 1 s to a day', () => {
    const refused =
      'release hooks are not allowed on this host (~/.till/gate.json does not say "hooks": true; its owner allows them with till host setup --restrict --allow-hooks)';
    expect(problem('hooks', '0')).toBeUndefined();
    expect(problem('hooks', '1')).toBeUndefined(); // no policy: the shape only
    expect(problem('hooks', '0', policy)).toBeUndefined();
    expect(problem('hooks', '1', policy)).toBe(refused);
    expect(problem('hooks', '1', { ...policy, hooks: false })).toBe(refused);
    expect(problem('hooks', '1', { ...policy, hooks: true })).toBeUndefined();
    for (const v of ['', '2', '01', 'true'])
      expect(problem('hooks', v, policy), v).toBe(`${JSON.stringify(v)} is not 0 or 1`);
    for (const t of ['1', '9', '60', '86400']) expect(problem('hookTimeout', t), t).toBeUndefined();
    for (const t of ['0', '01', '86401', '999999', '1000000', '-1', '1.5', '', 'x1', '1x'])
      expect(problem('hookTimeout', t), t).toBe(
        `${JSON.stringify(t)} is not a whole number of seconds from 1 to 86400`,
      );
  });
});

describe('every type', () => {
  it('has the name docs/gate.md lists', () => {
    expect(Object.fromEntries(Object.entries(ARG).map(([k, t]) => [k, t.name]))).toEqual({
      deployRoot: 'deploy root',
      probePath: 'probe path',
      releaseId: 'release id',
      releaseIdOrEmpty: 'release id or empty',
      releaseIds: 'list of release id',
      sharedPaths: 'list of shared path',
      contentHash: 'content hash',
      flag: 'flag',
      time: 'time',
      runId: 'run id',
      lockInfo: 'lock info',
      label: 'label',
      hostName: 'host name',
      deployer: 'deployer',
      message: 'message',
      commitOrEmpty: 'commit',
      dirty: 'dirty flag',
      hooks: 'hooks flag',
      hookTimeout: 'hook timeout',
      installationOrEmpty: 'installation name or empty',
      check: 'check',
      envFile: 'env file',
      version: 'version',
      nodePath: 'node path',
      keyType: 'key type',
      ed25519Type: 'ssh-ed25519',
      keyBlob: 'key blob',
      ed25519Blob: 'ssh-ed25519 blob',
      keyComment: 'key comment',
      keyLine: 'key line',
      gateJson: 'gate.json',
    });
  });
});
