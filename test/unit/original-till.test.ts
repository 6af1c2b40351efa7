import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostsFileSchema, isoFromCtime } from '../../src/core/state/hosts-schema.js';

const fixture = (name: string) => JSON.parse(readFileSync(`test/fixtures/${name}`, 'utf8')) as unknown;

describe("the original Till's hosts-local.json (written by the C implementation itself)", () => {
  let tz: string | undefined;
  beforeEach(() => {
    tz = process.env.TZ;
    process.env.TZ = 'America/New_York'; // where the fixture was written: its dates are local time
  });
  afterEach(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });

  it('loads: ready → connected, ctime dates → ISO UTC, the default tekton_path', () => {
    const db = hostsFileSchema.parse(fixture('original-till-hosts-local.json'));
    expect(Object.keys(db.hosts)).toEqual(['legacy-a', 'web1', 'db1']);
    expect(db.hosts['legacy-a']).toEqual({
      user: 'origfx',
      host: '127.0.60.2',
      port: 2222,
      status: 'untested',
      added: '2026-12-06T21:36:27.000Z',
      tekton_path: '~/projects/github/Tekton',
      installations: [],
    });
    expect(db.hosts.web1).toMatchObject({ status: 'connected', added: '2026-12-06T21:36:40.000Z', port: 2222 });
    expect(db.hosts.db1).toMatchObject({ status: 'untested', port: 22 });
    expect(db.updated).toBe('1796593001');
  });

  it('keeps every field it does not know, and moves soft-deleted hosts out of reach', () => {
    const db = hostsFileSchema.parse(fixture('original-till-soft-delete-hosts-local.json')) as Record<
      string,
      unknown
    > & {
      hosts: Record<string, unknown>;
    };
    expect(Object.keys(db.hosts)).toEqual(['keep']);
    expect(db.hosts.keep).toMatchObject({ state: 'active', last_seen: '2026-12-06T21:37:03Z', version: 1 });
    expect(db.local_hostname).toBe('vm');
    expect(db.removed_hosts).toEqual({
      gone: {
        user: 'origfx',
        host: '127.0.61.2',
        port: 22,
        status: 'untested',
        state: 'removed',
        added: '2026-12-06T21:37:03Z',
        last_seen: '2026-12-06T21:37:03Z',
        version: 2,
        removed_date: '2026-12-06T21:37:03Z',
      },
    });
    // What till writes back reads the same again.
    expect(hostsFileSchema.parse(JSON.parse(JSON.stringify(db)))).toEqual(db);
  });

  it.each([
    ['Sun Dec  6 16:36:27 2026\n', '2026-12-06T21:36:27.000Z'],
    ['Sun Dec 06 16:36:27 2026', '2026-12-06T21:36:27.000Z'],
    ['Sat Jan 05 10:00:00 2025', '2025-01-05T15:00:00.000Z'],
    ['Mon Jul 14 09:05:01 2025\n', '2025-07-14T13:05:01.000Z'],
    ['Sun Feb 30 10:00:00 2025', undefined],
    ['Sun Foo 06 16:36:27 2026', undefined],
    ['2025-01-05T10:00:00Z', undefined],
  ])('ctime %j → %s', (text, iso) => expect(isoFromCtime(text)).toBe(iso));

  it('still refuses what it cannot read as either (exit 4 material)', () => {
    const bad = fixture('original-till-hosts-local.json') as { hosts: Record<string, Record<string, unknown>> };
    bad.hosts.web1!.status = 'half-ready';
    expect(hostsFileSchema.safeParse(bad).success).toBe(false);
    bad.hosts.web1!.status = 'ready';
    bad.hosts.web1!.added = 'yesterday';
    expect(hostsFileSchema.safeParse(bad).success).toBe(false);
  });
});
