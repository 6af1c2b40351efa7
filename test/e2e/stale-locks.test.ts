/**
 * Locks left behind by a till that died: the database lock goes stale after 15 s, the
 * sync run lock after 30 s, and then the next till takes it over; a fresher lock is
 * respected. proper-lockfile judges a lock by its folder's mtime (refreshed while the
 * holder lives), so an old mtime stands in for the wait: the suite does not sleep 45 s.
 */
import { mkdirSync, readFileSync, utimesSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateError } from '../../src/core/errors.js';
import { hostsStore } from '../../src/core/state/hosts.js';
import { tillPaths } from '../../src/core/paths.js';
import { tempHome, till, tillOk } from '../lab/till.js';

/** A lock folder as a dead holder left it: last refreshed `ageMs` ago. */
function deadLock(dir: string, ageMs: number): void {
  mkdirSync(dir, { recursive: true });
  const at = new Date(Date.now() - ageMs);
  utimesSync(dir, at, at);
}

const hostNames = (home: string) => Object.keys(JSON.parse(readFileSync(join(home, 'hosts-local.json'), 'utf8')).hosts);

describe('the database lock (stale after 15 s)', () => {
  it('a lock last refreshed 16 s ago is taken over at once: the change is made, no lock is left', async () => {
    const { home, cleanup } = tempHome();
    try {
      await tillOk(home, ['host', 'init']);
      deadLock(join(home, 'hosts-local.json.lock'), 16_000);
      const r = await till(home, ['host', 'add', 'web1', 'deploy@127.0.0.1']);
      expect(r.code, r.stderr).toBe(0);
      expect(hostNames(home)).toEqual(['web1']);
      expect(existsSync(join(home, 'hosts-local.json.lock'))).toBe(false);
    } finally {
      cleanup();
    }
  });

  it('a lock refreshed 12 s ago is waited for until it is 15 s old, then taken over', async () => {
    const { home, cleanup } = tempHome();
    try {
      await tillOk(home, ['host', 'init']);
      const staleAt = Date.now() + 3_000;
      deadLock(join(home, 'hosts-local.json.lock'), 12_000);
      const r = await till(home, ['host', 'add', 'web1', 'deploy@127.0.0.1']);
      expect(r.code, r.stderr).toBe(0);
      // It did not break a lock that was still fresh (a lower bound: a busy machine only adds to it).
      expect(Date.now()).toBeGreaterThanOrEqual(staleAt);
      expect(hostNames(home)).toEqual(['web1']);
    } finally {
      cleanup();
    }
  });

  it('a till whose lock was taken over as stale writes nothing: the other change stays', async () => {
    const { home, cleanup } = tempHome();
    try {
      await tillOk(home, ['host', 'init']);
      const paths = tillPaths(home);
      const lock = join(home, 'hosts-local.json.lock');
      let other: Awaited<ReturnType<typeof till>> | undefined;
      const frozen = hostsStore(paths).update(async (db) => {
        // This till stalls (a suspended laptop): its lock looks 20 s old, another till takes it over…
        deadLock(lock, 20_000);
        other = await till(home, ['host', 'add', 'web2', 'deploy@127.0.0.2']);
        // …and when this one wakes (its lock refresh, every 5 s, finds the lock is not its own), it would write.
        await new Promise((r) => setTimeout(r, 6_000));
        db.hosts.web1 = {
          user: 'deploy',
          host: '127.0.0.1',
          port: 22,
          status: 'untested',
          added: new Date().toISOString(),
          tekton_path: '~/T',
          installations: [],
        };
      });
      await expect(frozen).rejects.toThrow(StateError);
      await expect(frozen).rejects.toThrow(
        /lost the lock on .*hosts-local\.json while updating it; nothing was written/,
      );
      expect(other?.code, other?.stderr).toBe(0);
      expect(hostNames(home)).toEqual(['web2']);
    } finally {
      cleanup();
    }
  }, 60_000);
});

describe('the sync run lock (stale after 30 s)', () => {
  const lockOf = (home: string) => join(home, 'state', 'sync.run.lock');

  it('a lock refreshed 25 s ago still stops a second sync at once, which records nothing', async () => {
    const { home, cleanup } = tempHome();
    try {
      deadLock(lockOf(home), 25_000);
      const r = await till(home, ['sync', '--local-only']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`another till sync is running on this TILL_HOME (lock ${lockOf(home)})`);
      expect(existsSync(join(home, 'schedule.json'))).toBe(false);
      expect(existsSync(lockOf(home))).toBe(true);
    } finally {
      cleanup();
    }
  });

  it('a lock left by a sync that died over 30 s ago is taken over: the sync runs, records itself, leaves no lock', async () => {
    const { home, cleanup } = tempHome();
    try {
      deadLock(lockOf(home), 31_000);
      const r = await till(home, ['sync', '--local-only']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(readFileSync(join(home, 'schedule.json'), 'utf8')).history).toHaveLength(1);
      expect(existsSync(lockOf(home))).toBe(false);
    } finally {
      cleanup();
    }
  });
});
