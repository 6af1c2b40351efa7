import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hostsFileSchema, isoFromCtime } from '../../src/core/state/hosts-schema.js';

const fixture = (name: string) => JSON.parse(readFileSync(`test/fixtures/${name}`, 'utf8')) as unknown;

/**
 * The original Till wrote ctime dates in local time: they are read in the zone till runs
 * in. No test changes process.env.TZ at run time (a worker thread's clock never sees it),
 * so these expect that time in whatever zone the suite runs in; test/e2e/inventory.test.ts
 * runs till with TZ=America/New_York, where the fixture was written, and checks the UTC.
 */
const local = (y: number, mo: number, d: number, h: number, mi: number, s: number) =>
  new Date(y, mo - 1, d, h, mi, s).toISOString();

describe("the original Till's hosts-local.json (written by the C implementation itself)", () => {
  it('loads: ready → connected, ctime dates → ISO UTC, the default tekton_path', () => {
    const db = hostsFileSchema.parse(fixture('original-till-hosts-local.json'));
    expect(Object.keys(db.hosts)).toEqual(['legacy-a', 'web1', 'db1']);
    expect(db.hosts['legacy-a']).toEqual({
      user: 'origfx',
      host: '127.0.60.2',
      port: 2222,
      status: 'untested',
      added: local(2026, 12, 6, 16, 36, 27),
      tekton_path: '~/projects/github/Tekton',
      installations: [],
    });
    expect(db.hosts.web1).toMatchObject({ status: 'connected', added: local(2026, 12, 6, 16, 36, 40), port: 2222 });
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
    ['Sun Dec  6 16:36:27 2026\n', local(2026, 12, 6, 16, 36, 27)],
    ['Sun Dec 06 16:36:27 2026', local(2026, 12, 6, 16, 36, 27)],
    ['Sat Jan 05 10:00:00 2025', local(2025, 1, 5, 10, 0, 0)],
    ['Mon Jul 14 09:05:01 2025\n', local(2025, 7, 14, 9, 5, 1)],
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
