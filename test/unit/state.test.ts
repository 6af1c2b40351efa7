import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateError } from '../../src/core/errors.js';
import { tillPaths, type TillPaths } from '../../src/core/paths.js';
import { hostsStore, lifecycleOf } from '../../src/core/state/hosts.js';
import { applyRunRecord, computeNextRun, emptyScheduleFile, HISTORY_LIMIT } from '../../src/core/state/schedule.js';

let dir: string;
let paths: TillPaths;
beforeEach(() => {
  dir = mkdtempSync('/tmp/t-');
  paths = tillPaths(dir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('hosts-local.json', () => {
  it("loads the seed's example exactly as printed and round-trips every field", async () => {
    const seed = readFileSync('test/fixtures/seed-hosts-local.json', 'utf8');
    writeFileSync(paths.hostsDb, seed);
    const store = hostsStore(paths);
    const db = await store.read();
    expect(db.hosts.production).toMatchObject({
      user: 'deploy',
      host: '127.0.20.1',
      port: 22,
      status: 'till-ready',
      installations: ['primary.tekton.us'],
    });
    await store.update(() => undefined);
    const after = JSON.parse(readFileSync(paths.hostsDb, 'utf8'));
    const before = JSON.parse(seed);
    expect(after.hosts).toEqual(before.hosts);
    expect(Object.keys(after)).toEqual(expect.arrayContaining(Object.keys(before)));
  });

  it('preserves unknown fields a newer till may have written', async () => {
    const seed = JSON.parse(readFileSync('test/fixtures/seed-hosts-local.json', 'utf8'));
    seed.future_top = { x: 1 };
    seed.hosts.production.future_field = ['a', { b: 2 }];
    writeFileSync(paths.hostsDb, JSON.stringify(seed));
    await hostsStore(paths).update((db) => {
      db.hosts.production!.status = 'deployed';
    });
    const after = JSON.parse(readFileSync(paths.hostsDb, 'utf8'));
    expect(after.future_top).toEqual({ x: 1 });
    expect(after.hosts.production.future_field).toEqual(['a', { b: 2 }]);
    expect(after.hosts.production.status).toBe('deployed');
  });

  it.each([
    ['not JSON', '{"hosts": {', /not valid JSON/],
    ['wrong type', '{"hosts": []}', /does not match its schema at hosts/],
    // The original Till took any name; till says which and why, not zod's "Invalid key in record".
    [
      'a host name the original Till took',
      JSON.stringify({
        hosts: {
          'web+1': { user: 'u', host: 'h', port: 22, status: 'ready', added: '1733000000', tekton_path: '/x' },
        },
      }),
      /at hosts\.web\+1: "web\+1" is not a valid host name \(letters, digits, \. _ -, starting with a letter or digit, at most 63 characters\); till left it unchanged$/,
    ],
    [
      'a group name with a space',
      JSON.stringify({ hosts: {}, groups: { 'prod servers': [] } }),
      /at groups\.prod servers: "prod servers" is not a valid group name \(/,
    ],
    [
      'bad status',
      JSON.stringify({
        hosts: {
          a: {
            user: 'u',
            host: 'h',
            port: 22,
            status: 'weird',
            added: '2025-01-05T10:00:00Z',
            tekton_path: '/x',
            installations: [],
          },
        },
      }),
      /hosts\.a\.status/,
    ],
    [
      'injected host',
      JSON.stringify({
        hosts: {
          a: {
            user: 'u',
            host: 'h\nProxyCommand x',
            port: 22,
            status: 'untested',
            added: '2025-01-05T10:00:00Z',
            tekton_path: '/x',
            installations: [],
          },
        },
      }),
      /hosts\.a\.host/,
    ],
    [
      'bad name',
      JSON.stringify({
        hosts: {
          'a b': {
            user: 'u',
            host: 'h',
            port: 22,
            status: 'untested',
            added: '2025-01-05T10:00:00Z',
            tekton_path: '/x',
            installations: [],
          },
        },
      }),
      /hosts\.a b: "a b" is not a valid host name/,
    ],
    ['group of a missing host', JSON.stringify({ hosts: {}, groups: { g: ['ghost'] } }), /groups\.g\.0/],
  ])('refuses a corrupt file (%s), naming it, and never writes it', async (_why, text, message) => {
    writeFileSync(paths.hostsDb, text);
    const store = hostsStore(paths);
    await expect(store.read()).rejects.toThrow(StateError);
    await expect(store.read()).rejects.toThrow(message);
    await expect(store.read()).rejects.toThrow(paths.hostsDb);
    await expect(store.update(() => undefined)).rejects.toThrow(StateError);
    expect(readFileSync(paths.hostsDb, 'utf8')).toBe(text);
  });

  it('remembers the lifecycle stage through unreachable', () => {
    expect(lifecycleOf({ status: 'unreachable', previous_status: 'deployed' } as never)).toBe('deployed');
    expect(lifecycleOf({ status: 'unreachable' } as never)).toBe('untested');
    expect(lifecycleOf({ status: 'connected' } as never)).toBe('connected');
  });
});

describe('schedule.json', () => {
  it('computes the next daily run in local time', () => {
    const from = new Date(2026, 0, 5, 2, 0, 0);
    const next = computeNextRun({ enabled: true, daily_at: '03:00', interval_hours: 24 }, from);
    expect([next.getDate(), next.getHours(), next.getMinutes()]).toEqual([5, 3, 0]);
    const later = computeNextRun({ enabled: true, daily_at: '03:00' }, new Date(2026, 0, 5, 3, 0, 0));
    expect([later.getDate(), later.getHours()]).toEqual([6, 3]);
  });

  it('computes interval runs from the last run', () => {
    const from = new Date('2026-01-05T10:00:00Z');
    expect(computeNextRun({ enabled: true, daily_at: null, interval_hours: 6 }, from).toISOString()).toBe(
      '2026-01-05T16:00:00.000Z',
    );
  });

  it('keeps a bounded history, newest last, and counts failures in a row', () => {
    const file = emptyScheduleFile();
    for (let i = 0; i < HISTORY_LIMIT + 7; i++) {
      const t = new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
      applyRunRecord(file, { started: t, finished: t, status: i % 2 ? 'failed' : 'success', duration_ms: i });
    }
    expect(file.history).toHaveLength(HISTORY_LIMIT);
    expect(file.history!.at(-1)!.duration_ms).toBe(HISTORY_LIMIT + 6);
    applyRunRecord(file, {
      started: 'x',
      finished: new Date().toISOString(),
      status: 'failed',
      duration_ms: 1,
      error: 'boom',
    });
    applyRunRecord(file, {
      started: 'y',
      finished: new Date().toISOString(),
      status: 'failed',
      duration_ms: 1,
      error: 'boom',
    });
    expect((file.sync as { consecutive_failures?: number }).consecutive_failures).toBe(2);
    expect(file.sync.status).toBe('failed');
  });
});
