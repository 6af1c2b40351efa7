/**
 * An update of hosts-local.json checks only the entries it changed (checkHostsChange),
 * where it used to check all 10,000. That is safe only if it can never accept what the
 * full check refuses, and writes the same text when both accept. The property: any
 * database the full check accepts, read as till reads it (the check's output, or that
 * output's JSON read back under a seal), then changed in any way, valid or hostile, gets
 *  - from the cheap check an output only when the full check accepts it too, with the
 *    same JSON text and prototype-less maps;
 *  - from the cheap check an output whenever the full check accepts it (else nothing
 *    would be saved), but for the cases it leaves to the full check by design.
 */
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tillPaths } from '../../src/core/paths.js';
import { checkHostsChange, hostsFileSchema } from '../../src/core/state/hosts-schema.js';
import { hostsStore, reviveHostsFile, sealContext, type HostsFile } from '../../src/core/state/hosts.js';

const NAMES = ['web', 'db', 'constructor', 'toString', '7', '10', 'a-b'];
const BAD_NAMES = ['bad name', '', '-x', '__proto__', 'a/b'];

/** A field's value: mostly ones the schema takes (the original Till's forms too), with `bad`, any. */
const field = (bad: boolean) => {
  const pick = <T>(good: T[], worse: unknown[]) => fc.constantFrom(...(bad ? [...good, ...worse] : good));
  return {
    user: pick(['deploy', 'root'], ['bad user', '', 5]),
    host: pick(['127.0.0.1', '127.3.4.5', '::1'], ['127.0.0.300', 'a%b', 'x y', null]),
    port: pick([22, 2222, 0], [-1, 70000, 22.5, '22']),
    status: pick(['untested', 'connected', 'till-ready', 'deployed', 'unreachable', 'ready'], ['bogus', 3]),
    added: pick(
      ['2026-12-07T10:00:00.000Z', 'Sun Dec  6 16:36:27 2026\n', 'Mon Dec 07 01:02:03 2026'],
      ['not a time', 'Sun Feb 30 10:00:00 2026', 7],
    ),
    last_test: pick([null, '2026-12-07T10:00:00.000Z', 'Sun Dec  6 16:36:27 2026'], ['yesterday', 1]),
    tekton_path: pick(['~/projects/github/Tekton', '/opt/tekton'], ['../x', '~/a\nb', '']),
    installations: pick([[], ['main'], ['main', 'b2']], [['bad name'], 'main', [1]]),
    failures: pick([0, 2], [-1, 1.5]),
    last_error: pick([null, 'connection refused', 'a\u001b[31mred'], [5]),
    previous_status: pick(['connected', 'deployed'], ['unreachable', 'x']),
    latency_ms: pick([12.5, 0], ['fast']),
    jump: pick(NAMES, BAD_NAMES),
    deploy: pick(
      [{ current: 'r1', previous: null, at: '2026-12-07T10:00:00.000Z', extra: [1] }],
      [{ current: 1, previous: null, at: 'x' }, 'r1'],
    ),
    health: pick(
      [
        {
          at: 'now',
          up: true,
          latencyMs: 3,
          uptimeSec: null,
          load1: 0.5,
          load5: null,
          load15: null,
          cpus: 2,
          memTotalBytes: null,
          memAvailableBytes: null,
          diskFreeBytes: null,
          diskTotalBytes: null,
          os: 'linux',
          arch: null,
          tillVersion: null,
          release: null,
          degraded: false,
          reasons: [],
          drift: { changed: 1, added: 0, removed: 0, liveIsRecorded: true, dropped: 'by z.object' },
        },
      ],
      [{ at: 'now', up: 'yes' }],
    ),
    key_fingerprint: pick([`SHA256:${'A'.repeat(43)}`], ['SHA256:short', 'md5:x']),
    restricted: pick([true, false], ['yes']),
    unknown_field: pick([{ kept: true }, 'x'], []),
    state: pick(['active'], ['removed']),
  };
};
type Fields = ReturnType<typeof field>;
const REQUIRED = ['user', 'host', 'port', 'status', 'added'] as const;

/** A host entry; with `bad`, any field may hold anything, or be missing. */
const entry = (bad: boolean) => {
  const f = field(bad);
  const record = fc.record(f as { [K in keyof Fields]: Fields[K] }, {
    requiredKeys: bad ? [] : [...REQUIRED],
  });
  return bad ? fc.oneof({ weight: 8, arbitrary: record }, fc.constantFrom<unknown>(null, 5, [], 'x')) : record;
};

/** A database the full check accepts (with the original Till's forms), as a plain JSON value. */
const database = fc
  .record({
    hosts: fc.dictionary(fc.constantFrom(...NAMES), entry(false), { maxKeys: 6 }),
    groups: fc.dictionary(
      fc.constantFrom('g', 'all', 'constructor'),
      fc.array(fc.constantFrom(...NAMES), { maxLength: 3 }),
      {
        maxKeys: 2,
      },
    ),
    updated: fc.constant('1765000000'),
  })
  .map((db) => JSON.parse(JSON.stringify(db)) as unknown);

type Change =
  | { op: 'set'; host: number; key: string; value: unknown }
  | { op: 'delete-field'; host: number; key: string }
  | { op: 'delete-host'; host: number }
  | { op: 'add-host'; name: string; value: unknown }
  | { op: 'replace'; host: number; value: unknown }
  | { op: 'same-again'; host: number }
  | { op: 'same-text'; host: number; how: 'date' | 'undefined' | 'class' }
  | { op: 'group'; name: string; members: unknown }
  | { op: 'top'; key: string; value: unknown };

const anyField = fc.constantFrom(...Object.keys(field(true)));
const change: fc.Arbitrary<Change> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({ op: fc.constant('set' as const), host: fc.nat(), key: anyField, value: fc.constant(null) })
      .chain((c) => (field(true)[c.key as keyof Fields] as fc.Arbitrary<unknown>).map((value) => ({ ...c, value }))),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete-field' as const), host: fc.nat(), key: anyField }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete-host' as const), host: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('add-host' as const),
      name: fc.constantFrom(...NAMES, ...BAD_NAMES, 'new'),
      value: fc.oneof(entry(false), entry(true)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('replace' as const), host: fc.nat(), value: entry(true) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('same-again' as const), host: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('same-text' as const),
      host: fc.nat(),
      how: fc.constantFrom('date' as const, 'undefined' as const, 'class' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('group' as const),
      name: fc.constantFrom('g', 'new', 'bad name', '__proto__'),
      members: fc.oneof(
        fc.array(fc.constantFrom(...NAMES, 'missing'), { maxLength: 3 }),
        fc.constantFrom<unknown>(undefined, 'web', [5]),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('top' as const),
      key: fc.constantFrom('updated', 'groups', 'removed_hosts', 'extra'),
      value: fc.constantFrom<unknown>(undefined, '2', 5, {}, null, ['x']),
    }),
  },
);

/** Applies a change in place, as an update's change function does. */
function apply(db: Record<string, unknown>, c: Change): void {
  const hosts = db.hosts as Record<string, unknown>;
  const names = Object.keys(hosts);
  const at = (i: number) => names[i % names.length];
  switch (c.op) {
    case 'set':
    case 'delete-field':
    case 'replace':
    case 'same-again':
    case 'same-text': {
      const name = at(c.host);
      if (name === undefined) return;
      const e = hosts[name];
      if (c.op === 'replace') hosts[name] = c.value;
      // What JSON.stringify shows as the same text, but is not the same value.
      else if (c.op === 'same-text' && e !== null && typeof e === 'object' && !Array.isArray(e)) {
        const r = e as Record<string, unknown>;
        if (c.how === 'date' && typeof r.added === 'string' && !Number.isNaN(Date.parse(r.added)))
          r.added = new Date(r.added);
        if (c.how === 'undefined') r.last_error = undefined;
        if (c.how === 'class')
          hosts[name] = Object.assign(Object.create({ toJSON: () => 'not an entry' }) as object, r);
      }
      // The same values in a new object, keys in another order: a change of text, not of meaning.
      else if (c.op === 'same-again' && e !== null && typeof e === 'object')
        hosts[name] = Object.fromEntries(Object.entries(e).reverse());
      else if (e !== null && typeof e === 'object' && !Array.isArray(e)) {
        if (c.op === 'set') (e as Record<string, unknown>)[c.key] = c.value;
        else if (c.op === 'delete-field') delete (e as Record<string, unknown>)[c.key];
      }
      return;
    }
    case 'delete-host': {
      const name = at(c.host);
      if (name !== undefined) delete hosts[name];
      return;
    }
    case 'add-host':
      // Object.defineProperty: `__proto__` as an own key, as JSON.parse would make it.
      Object.defineProperty(hosts, c.name, { value: c.value, enumerable: true, writable: true, configurable: true });
      return;
    case 'group': {
      const groups = db.groups as Record<string, unknown> | undefined;
      if (groups === null || typeof groups !== 'object') return;
      Object.defineProperty(groups, c.name, { value: c.members, enumerable: true, writable: true, configurable: true });
      return;
    }
    case 'top':
      if (c.value === undefined) delete db[c.key];
      else db[c.key] = c.value;
  }
}

const text = (v: unknown) => JSON.stringify(v, null, 2);
/** The cases the cheap check leaves to the full one by design (they are rare and odd). */
function leftToFullCheck(db: Record<string, unknown>): boolean {
  const hosts = db.hosts;
  if (hosts === null || typeof hosts !== 'object') return false;
  if (Object.hasOwn(hosts, '__proto__')) return true;
  return Object.values(hosts).some(
    (e: unknown) => e !== null && typeof e === 'object' && (e as Record<string, unknown>).state === 'removed',
  );
}

describe('an update checks only the hosts it changed, and agrees with the full check', () => {
  it('never accepts what the full check refuses; writes the same text when both accept; accepts whenever the full check does', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(database, fc.boolean(), fc.array(change, { maxLength: 4 }), (raw, sealed, changes) => {
        const first = hostsFileSchema.safeParse(raw);
        fc.pre(first.success);
        // The sealed text till wrote after the check, as an update reads it back (or, as well,
        // the check's output itself); the cheap check gets that text parsed.
        const sealedText = text(first.data);
        const read = (sealed ? reviveHostsFile(JSON.parse(sealedText)) : first.data) as HostsFile &
          Record<string, unknown>;
        for (const c of changes) apply(read, c);
        const data = text(read);
        const cheap = checkHostsChange(JSON.parse(sealedText), read);
        expect(text(read), 'the cheap check changed its input').toBe(data);
        const full = hostsFileSchema.safeParse(read);
        if (cheap !== undefined) {
          expect(full.success, `accepted what the full check refuses: ${full.error?.issues[0]?.message}`).toBe(true);
          expect(text(cheap)).toBe(text(full.data));
          expect(Object.getPrototypeOf(cheap.hosts)).toBe(null);
          if (cheap.groups) expect(Object.getPrototypeOf(cheap.groups)).toBe(null);
          accepted++;
        } else {
          if (!leftToFullCheck(read))
            expect(full.success, 'the full check accepts what the cheap one left').toBe(false);
          refused++;
        }
      }),
      { numRuns: 600 },
    );
    // Both sides of the property were exercised, not one.
    expect(accepted).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
  });

  it('an entry the check put out is one it maps to itself, also through JSON (what makes an unchanged entry safe to skip)', () => {
    fc.assert(
      fc.property(database, (raw) => {
        const once = hostsFileSchema.safeParse(raw);
        fc.pre(once.success);
        const twice = hostsFileSchema.parse(JSON.parse(text(once.data)));
        expect(text(twice)).toBe(text(once.data));
      }),
      { numRuns: 300 },
    );
  });
});

describe('through the store: an update writes what the full check would, and refuses what it refuses', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const home = () => {
    const dir = mkdtempSync('/tmp/t-');
    dirs.push(dir);
    return dir;
  };
  const host = (n: number) => ({
    user: 'deploy',
    host: `127.0.${n >> 8}.${n & 255}`,
    port: 22,
    status: 'untested',
    added: '2026-12-07T10:00:00.000Z',
    tekton_path: '~/t',
    installations: [],
  });

  it('a change of one host of 500 writes the text of the full check, and the next read is sealed', async () => {
    const dir = home();
    const store = hostsStore(tillPaths(dir));
    const hosts = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`h${i}`, host(i)]));
    await store.write({ hosts, groups: { g: ['h1'] }, updated: '1' } as unknown as HostsFile);
    let expected = '';
    await store.update((db) => {
      db.hosts.h7!.status = 'connected';
      db.hosts.h7!.last_test = '2026-12-07T11:00:00.000Z';
      // Written as the original Till wrote it: the check's output has port 22 and an ISO time.
      (db.hosts as Record<string, unknown>).old = { ...host(600), port: 0, added: 'Sun Dec  6 16:36:27 2026\n' };
      expected = `${text(hostsFileSchema.parse(JSON.parse(JSON.stringify(db))))}\n`;
    });
    const written = readFileSync(join(dir, 'hosts-local.json'), 'utf8');
    expect(written).toBe(expected);
    expect(JSON.parse(written).hosts.old.port).toBe(22);
    expect(JSON.parse(written).hosts.old.added).toMatch(/^2026-12-0[67]T/);
    const again = await store.readText();
    expect(again.text).toBe(written);
  });

  it('what the update did not change is not checked again: it was checked when sealed (proven with a sealed entry only a full check refuses)', async () => {
    const dir = home();
    const paths = tillPaths(dir);
    const store = hostsStore(paths);
    await store.write({ hosts: { a: host(1), b: host(2) }, groups: {}, updated: '1' } as unknown as HostsFile);
    // Sealed with this TILL_HOME's key, as only till's own write does: b's port is out of range.
    const key = Buffer.from(readFileSync(paths.sealKey, 'utf8').trim(), 'hex');
    const forged = readFileSync(paths.hostsDb, 'utf8').replace(
      '"port": 22,\n      "status": "untested",\n      "added": "2026-12-07T10:00:00.000Z",\n      "tekton_path": "~/t",\n      "installations": []\n    }\n  }',
      '"port": 70000,\n      "status": "untested",\n      "added": "2026-12-07T10:00:00.000Z",\n      "tekton_path": "~/t",\n      "installations": []\n    }\n  }',
    );
    expect(forged).toContain('"port": 70000');
    writeFileSync(paths.hostsDb, forged);
    writeFileSync(
      `${paths.hostsDb}.sha256`,
      `${createHmac('sha256', key).update(`${sealContext()}\0`).update(forged).digest('hex')}\n`,
    );
    await store.update((db) => {
      db.hosts.a!.status = 'connected';
    });
    const written = JSON.parse(readFileSync(paths.hostsDb, 'utf8')) as HostsFile;
    expect(written.hosts.a!.status).toBe('connected');
    expect(written.hosts.b!.port).toBe(70000);
    // The same change with the seal gone: the file is checked in full on read, and refused.
    writeFileSync(`${paths.hostsDb}.sha256`, '\n');
    await expect(store.update(() => undefined)).rejects.toThrow(/does not match its schema at hosts\.b\.port/);
  });

  it.each([
    [
      'an unchanged-looking host made invalid',
      (db: HostsFile) => void (db.hosts.h3!.host = 'x\nProxyCommand touch /tmp/p'),
      /not a valid host address/,
    ],
    ['a host removed that a group names', (db: HostsFile) => void delete db.hosts.h1, /host h1 is not in the database/],
    [
      'a jump to a host that is not there',
      (db: HostsFile) => void (db.hosts.h2!.jump = 'gone'),
      /jump host gone is not in the database/,
    ],
    [
      'a new host with a hostile name',
      (db: HostsFile) => void ((db.hosts as Record<string, unknown>)['a b'] = host(9)),
      /"a b" is not a valid host name/,
    ],
  ])('%s: refused with the full check’s words, the file left as it was', async (_, change, words) => {
    const dir = home();
    const store = hostsStore(tillPaths(dir));
    const hosts = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`h${i}`, host(i)]));
    await store.write({ hosts, groups: { g: ['h1'] }, updated: '1' } as unknown as HostsFile);
    const file = join(dir, 'hosts-local.json');
    const before = readFileSync(file, 'utf8');
    const seal = readFileSync(`${file}.sha256`, 'utf8');
    await expect(store.update(change)).rejects.toThrow(words);
    await expect(store.update(change)).rejects.toThrow(/refusing to write invalid/);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(readFileSync(`${file}.sha256`, 'utf8')).toBe(seal);
  });
});
