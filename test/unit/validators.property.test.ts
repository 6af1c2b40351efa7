/**
 * Property tests for every validator that guards ssh/config or a remote shell line:
 * host, group and installation names, users, addresses (DNS, IPv4, bracketed IPv6),
 * ports, remote paths, shared paths, release ids, key fingerprints, the fields of a
 * key added through the gate, TILL_HOME, and every field of a hand-edited
 * hosts-local.json. Each field is attacked with generated values: control characters,
 * whitespace, Unicode look-alikes and the field's forbidden punctuation inserted at any
 * position of a valid value, and option prefixes (`-oProxyCommand=…`) in front of it.
 * The converse holds too: valid values are accepted, and whatever a validator accepts
 * is made of its field's safe alphabet only. (ssh-config.test.ts renders accepted values
 * into a real ssh/config and reads them back with `ssh -G`.)
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { resolveTillHome } from '../../src/core/paths.js';
import { type HostsFile } from '../../src/core/state/hosts.js';
import { hostsFileSchema } from '../../src/core/state/hosts-schema.js';
import {
  isValidAddress,
  parseHostSpec,
  remotePathProblem,
  validateName,
  validatePort,
  validateUser,
} from '../../src/core/validate.js';
import { isReleaseId } from '../../src/deploy/layout.js';
import { ed25519BlobProblem, keyCommentProblem, sharedPathProblem } from '../../src/protocol/args.js';
import { parseDailyAt, parseIntervalHours } from '../../src/schedule/spec.js';
import { FINGERPRINT_RE } from '../../src/ssh/known-hosts.js';
import {
  accepts,
  ALNUM,
  chars,
  control,
  dnsName,
  except,
  insertAt,
  lookalike,
  nonAscii,
  option,
  PRINTABLE,
  whitespace,
  word,
} from './hostile-strings.js';

// ---- fields ------------------------------------------------------------------------------

interface Field {
  name: string;
  /** Values the field must accept. */
  valid: fc.Arbitrary<string>;
  accepts: (v: string) => boolean;
  /** What anything accepted must look like (the field's grammar, stated here independently of the source). */
  safe: RegExp;
  /** Printable ASCII characters that are wrong anywhere in the field. */
  never: string[];
  /** Never an argv word or a path of its own, so a leading `-` means nothing (a key comment). */
  dashIsData?: boolean;
}

const NAME_CHARS = `${ALNUM}._-`;
const nameField = (kind: 'host' | 'group' | 'installation'): Field => ({
  name: `${kind} name`,
  valid: word(ALNUM, NAME_CHARS, 63),
  accepts: (v) => accepts(() => validateName(v, kind)),
  safe: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
  never: except(NAME_CHARS),
});

const dottedQuad = fc.ipV4();
const validPath = fc
  .tuple(
    fc.constantFrom('/', '~/'),
    fc.array(word(`${ALNUM}._+@,=`, `${ALNUM}._+@,=-`, 12), { minLength: 0, maxLength: 5 }),
  )
  .map(([start, segs]) => start + segs.join('/'))
  .filter((p) => !p.split('/').includes('..'));

const FIELDS: Field[] = [
  nameField('host'),
  nameField('group'),
  nameField('installation'),
  {
    name: 'user',
    valid: word(`${ALNUM}_`, NAME_CHARS, 32),
    accepts: (v) => accepts(() => validateUser(v)) && accepts(() => parseHostSpec(`${v}@127.0.0.1`)),
    safe: /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/,
    // `@` splits user from host at its last occurrence: `a@b@h` is refused for its user `a@b`.
    never: except(NAME_CHARS),
  },
  {
    name: 'address (DNS name or IPv4)',
    valid: fc.oneof(dnsName, dottedQuad),
    accepts: (v) => isValidAddress(v) && accepts(() => parseHostSpec(`u@${v}`)),
    safe: /^(?:[A-Za-z0-9][A-Za-z0-9.-]*|\d{1,3}(?:\.\d{1,3}){3})$/,
    // `:` starts the port (`u@h:22`), so it is not in this list.
    never: except(`${ALNUM}.-:`),
  },
  {
    name: 'address (bracketed IPv6)',
    valid: fc.ipV6(),
    accepts: (v) => accepts(() => parseHostSpec(`u@[${v}]:22`)),
    safe: /^[0-9A-Fa-f:.]+$/,
    never: except('0123456789abcdefABCDEF:.'),
  },
  {
    name: 'port',
    valid: fc.integer({ min: 1, max: 65535 }).map(String),
    accepts: (v) => accepts(() => validatePort(v)) && accepts(() => parseHostSpec(`u@h:${v}`)),
    safe: /^\d{1,5}$/,
    never: except('0123456789'),
  },
  {
    name: 'remote path (tekton_path)',
    valid: validPath,
    accepts: (v) => remotePathProblem(v) === undefined,
    safe: /^(?:\/|~\/)[A-Za-z0-9/._+@,=-]*$/,
    // `~` is fine in front; that rule has its own property below.
    never: except(`${ALNUM}/._+@,=-~`),
  },
  {
    name: 'shared path (deploy --shared)',
    valid: fc
      .array(word(`${ALNUM}_+@,=`, `${ALNUM}._+@,=-`, 12), { minLength: 1, maxLength: 4 })
      .map((s) => s.join('/')),
    accepts: (v) => sharedPathProblem(v) === undefined,
    safe: /^[A-Za-z0-9._+@,=][A-Za-z0-9._+@,=/-]*$/,
    never: except(`${ALNUM}._+@,=/-`),
  },
  {
    name: 'release id (rollback --to)',
    valid: fc
      .tuple(
        fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }),
        word('abcdef0123456789', 'abcdef0123456789', 6),
      )
      .map(
        ([d, h]) =>
          `${d
            .toISOString()
            .replace(/[-:]/g, '')
            .replace(/\.\d{3}Z$/, 'Z')}-${h}`,
      ),
    accepts: isReleaseId,
    safe: /^\d{8}T\d{6}Z-[a-z0-9]+$/,
    never: except(`${ALNUM}-`),
  },
  {
    name: 'key fingerprint (host trust --fingerprint, key_fingerprint)',
    valid: fc
      .uint8Array({ minLength: 32, maxLength: 32 })
      .map((b) => `SHA256:${Buffer.from(b).toString('base64').replace(/=+$/, '')}`),
    accepts: (v) => FINGERPRINT_RE.test(v),
    safe: /^SHA256:[A-Za-z0-9+/]{43}$/,
    never: except(`${ALNUM}+/:`),
  },
  {
    name: 'key comment (a key added through the gate)',
    valid: fc.string({ unit: chars(`${ALNUM}@._+:-`), maxLength: 60 }),
    accepts: (v) => keyCommentProblem(v) === undefined,
    safe: /^[A-Za-z0-9@._+:-]{0,200}$/,
    never: except(`${ALNUM}@._+:-`),
    // The last field of an authorized_keys line, passed as one quoted argument.
    dashIsData: true,
  },
];

/** One character that is never right in `f`, anywhere. */
const hostileFor = (f: Field) => fc.oneof(control, whitespace, lookalike, nonAscii, fc.constantFrom(...f.never));

describe.each(FIELDS)('$name', (f) => {
  test('valid values are accepted', () => {
    fc.assert(
      fc.property(f.valid, (v) => {
        expect(f.accepts(v), JSON.stringify(v)).toBe(true);
      }),
    );
  });

  test('a control character, whitespace, look-alike or forbidden character anywhere is refused', () => {
    fc.assert(
      fc.property(f.valid, hostileFor(f), fc.nat(), (v, bad, at) => {
        const value = insertAt(v, bad, at);
        expect(f.accepts(value), JSON.stringify(value)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  test('an ssh_config line after a valid value is refused (the ProxyCommand injection)', () => {
    fc.assert(
      fc.property(f.valid, fc.constantFrom('\n', '\r', '\r\n', '\n    ', '\t'), (v, nl) => {
        expect(f.accepts(`${v}${nl}ProxyCommand touch /tmp/x`)).toBe(false);
      }),
    );
  });

  test.skipIf(f.dashIsData)('an option prefix is refused, alone or in front of a valid value', () => {
    fc.assert(
      fc.property(f.valid, option, (v, opt) => {
        expect(f.accepts(opt + v), JSON.stringify(opt + v)).toBe(false);
        expect(f.accepts(opt)).toBe(false);
      }),
    );
  });

  test('whatever is accepted is made of the safe alphabet only', () => {
    const candidates = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: fc.constantFrom(...PRINTABLE), maxLength: 40 }),
      fc.tuple(f.valid, hostileFor(f), fc.nat()).map(([v, bad, at]) => insertAt(v, bad, at)),
      fc.tuple(f.valid, fc.string({ unit: 'binary', maxLength: 6 })).map(([v, s]) => v + s),
      fc.tuple(fc.string({ unit: 'binary', maxLength: 6 }), f.valid).map(([s, v]) => s + v),
    );
    fc.assert(
      fc.property(candidates, (v) => {
        if (f.accepts(v)) expect(v, JSON.stringify(v)).toMatch(f.safe);
      }),
      { numRuns: 300 },
    );
  });
});

describe('rules that depend on the position', () => {
  test('names and users never start with . or - (nor names with _)', () => {
    fc.assert(
      fc.property(word(ALNUM, NAME_CHARS, 40), fc.constantFrom('.', '-'), (v, lead) => {
        expect(accepts(() => validateName(lead + v))).toBe(false);
        expect(accepts(() => validateUser(lead + v))).toBe(false);
        expect(accepts(() => validateName(`_${v}`))).toBe(false);
      }),
    );
  });

  test('names stop at 63 characters, users at 32', () => {
    fc.assert(
      fc.property(
        word(ALNUM, NAME_CHARS, 63),
        fc.string({ unit: chars(ALNUM), minLength: 1, maxLength: 5 }),
        (v, more) => {
          const long = (v + 'x'.repeat(63)).slice(0, 63) + more;
          expect(accepts(() => validateName(long))).toBe(false);
          expect(accepts(() => validateUser(long.slice(0, 32 + more.length)))).toBe(false);
        },
      ),
    );
  });

  test('a remote path: ~ only in front, no .. segment, no segment starting with -', () => {
    const segs = fc.array(word(`${ALNUM}._+@,=`, `${ALNUM}._+@,=-`, 8), { maxLength: 4 });
    fc.assert(
      fc.property(
        fc.constantFrom('/', '~/'),
        segs,
        fc.constantFrom('..', '-rf', '-', '--rsh=x', '~', 'a~', '~b'),
        fc.nat(),
        (start, list, bad, at) => {
          const i = at % (list.length + 1);
          const value = start + [...list.slice(0, i), bad, ...list.slice(i)].join('/');
          expect(remotePathProblem(value), value).toBeDefined();
        },
      ),
    );
  });

  test('a shared path: no empty, . or .. segment, nothing absolute, no leading -', () => {
    fc.assert(
      fc.property(fc.constantFrom('', '/', '.', '..', 'a/..', 'a/./b', 'a//b', 'a/', '/abs', '-x', '--rsh=x'), (p) => {
        expect(sharedPathProblem(p)).toBeDefined();
      }),
    );
  });

  test('an IPv6 literal with a zone id is refused (% is an ssh_config token)', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.string({ unit: chars(`${ALNUM}%`), minLength: 1, maxLength: 8 }), (v, zone) => {
        expect(accepts(() => parseHostSpec(`u@[${v}%${zone}]`))).toBe(false);
        expect(isValidAddress(`${v}%${zone}`)).toBe(false);
      }),
    );
  });

  test('a dotted quad with an octet over 255 is refused, not taken for a DNS name', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 256, max: 99_999 }), fc.integer({ min: 0, max: 3 }), (ip, big, at) => {
        const parts = ip.split('.');
        parts[at] = String(big);
        expect(isValidAddress(parts.join('.')), parts.join('.')).toBe(false);
      }),
    );
  });

  test('ports: 0, above 65535, signs, exponents and spaces are refused', () => {
    fc.assert(
      fc.property(fc.integer({ min: 65536, max: 99_999 }), (p) => {
        expect(accepts(() => validatePort(String(p)))).toBe(false);
      }),
    );
    for (const bad of ['0', '00000', '+22', '-22', '2e2', '0x16', '22.0', ' 22', '22 ', '１２'])
      expect(
        accepts(() => validatePort(bad)),
        bad,
      ).toBe(false);
  });
});

describe('a key added through the gate', () => {
  const blobOf = () => {
    const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
    const raw = der.subarray(der.length - 32);
    const len = (n: number) => Buffer.from([0, 0, 0, n]);
    return Buffer.concat([len(11), Buffer.from('ssh-ed25519'), len(32), raw]).toString('base64');
  };
  const blobs = Array.from({ length: 5 }, blobOf);

  test('a real ed25519 blob is accepted; any character inserted, removed or changed is refused', () => {
    for (const b of blobs) expect(ed25519BlobProblem(b)).toBeUndefined();
    fc.assert(
      fc.property(
        fc.constantFrom(...blobs),
        fc.oneof(control, whitespace, lookalike, fc.constantFrom(...except(''))),
        fc.nat(),
        (b, bad, at) => {
          expect(ed25519BlobProblem(insertAt(b, bad, at))).toBeDefined();
          const i = at % b.length;
          expect(ed25519BlobProblem(b.slice(0, i) + b.slice(i + 1))).toBeDefined();
        },
      ),
    );
  });
});

describe('schedule times (written into crontab lines and timer units)', () => {
  test('whatever --daily-at and --interval-hours accept becomes whole numbers in range, never text', () => {
    const candidates = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc
        .tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 70 }), fc.constantFrom(':', ': ', ';', ':\n'))
        .map(([h, m, sep]) => `${h}${sep}${String(m).padStart(2, '0')}`),
      fc
        .tuple(fc.nat(10_000), hostileFor(FIELDS.find((f) => f.name === 'port')!), fc.nat())
        .map(([n, b, at]) => insertAt(String(n), b, at)),
    );
    fc.assert(
      fc.property(candidates, (v) => {
        if (accepts(() => parseDailyAt(v))) {
          const { hour, minute } = parseDailyAt(v);
          expect(Number.isInteger(hour) && hour >= 0 && hour <= 23, v).toBe(true);
          expect(Number.isInteger(minute) && minute >= 0 && minute <= 59, v).toBe(true);
        }
        if (accepts(() => parseIntervalHours(v))) {
          const n = parseIntervalHours(v);
          expect(Number.isInteger(n) && n >= 1 && n <= 8760, v).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('TILL_HOME (written into ssh/config as IdentityFile, UserKnownHostsFile, ControlPath)', () => {
  test('a newline, CR, NUL, quote or backslash anywhere is refused', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...`${ALNUM}/ ._-`), minLength: 1, maxLength: 30 }),
        fc.constantFrom('\n', '\r', '\0', '"', "'", '\\'),
        fc.nat(),
        (v, bad, at) => {
          expect(accepts(() => resolveTillHome({ TILL_HOME: `/${insertAt(v, bad, at)}` }))).toBe(false);
        },
      ),
    );
  });
});

describe('hosts-local.json: a hostile value in any field of a hand-edited file is refused', () => {
  const base = (): HostsFile =>
    ({
      hosts: {
        h0: {
          user: 'deploy',
          host: '127.0.20.1',
          port: 22,
          status: 'connected',
          added: '2025-01-05T10:00:00Z',
          tekton_path: '~/T',
          installations: ['primary.tekton.us'],
          key_fingerprint: `SHA256:${'A'.repeat(43)}`,
        },
        h1: {
          user: 'deploy',
          host: '127.0.0.2',
          port: 2222,
          status: 'connected',
          added: '2025-01-05T10:00:00Z',
          tekton_path: '/srv/T',
          installations: [],
          jump: 'h0',
        },
      },
      groups: { g: ['h0', 'h1'] },
      updated: '1',
    }) as HostsFile;
  const own = (obj: object, key: string, value: unknown) =>
    Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: true });
  type Setter = (d: HostsFile & { hosts: Record<string, Record<string, unknown>> }, v: string) => void;
  const SETTERS: Array<[string, Setter]> = [
    ['host name', (d, v) => own(d.hosts, `h0${v}`, d.hosts.h0)],
    ['user', (d, v) => (d.hosts.h0!.user = `deploy${v}`)],
    ['host', (d, v) => (d.hosts.h0!.host = `prod${v}.example.com`)],
    ['tekton_path', (d, v) => (d.hosts.h0!.tekton_path = `~/T${v}`)],
    ['installations[0]', (d, v) => (d.hosts.h0!.installations = [`inst${v}`])],
    ['jump', (d, v) => (d.hosts.h1!.jump = `h0${v}`)],
    ['key_fingerprint', (d, v) => (d.hosts.h0!.key_fingerprint = `SHA256:${'A'.repeat(42)}${v}`)],
    ['group name', (d, v) => own(d.groups!, `g${v}`, ['h0'])],
    ['group member', (d, v) => (d.groups!.g = [`h0${v}`])],
  ];
  // Wrong in every one of these fields (a `/` would be fine in a path, a `+` in a fingerprint).
  const bad = fc.oneof(control, whitespace, lookalike, fc.constantFrom(...' "\'$`;|&\\%*?!#(){}<>'));

  test('the valid base is accepted', () => {
    expect(hostsFileSchema.safeParse(JSON.parse(JSON.stringify(base()))).success).toBe(true);
  });

  test.each(SETTERS)('%s', (_field, set) => {
    fc.assert(
      fc.property(bad, (v) => {
        const d = JSON.parse(JSON.stringify(base()));
        set(d, v);
        // Through JSON, as a file on disk is read.
        expect(hostsFileSchema.safeParse(JSON.parse(JSON.stringify(d))).success, JSON.stringify(v)).toBe(false);
      }),
      { numRuns: 150 },
    );
  });
});
