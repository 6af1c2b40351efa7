import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { describe, expect, it } from 'vitest';
import { tempHome, till, tillOk } from '../lab/till.js';

describe('till sync: one run at a time per TILL_HOME', () => {
  it('a second sync while one runs fails at once, names the lock and records nothing; a dry run is not blocked', async () => {
    const { home } = tempHome();
    mkdirSync(join(home, 'state'), { recursive: true });
    const target = join(home, 'state', 'sync.run');
    // Another till sync holds the lock (as a running one does).
    const release = await lockfile.lock(target, { realpath: false, stale: 30_000, update: 10_000 });
    try {
      const r = await till(home, ['sync', '--local-only']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`another till sync is running on this TILL_HOME (lock ${target}.lock)`);
      expect(r.stdout).toBe('');
      expect(existsSync(join(home, 'schedule.json'))).toBe(false);
      const dry = await till(home, ['sync', '--local-only', '--dry-run']);
      expect(dry.code).toBe(0);
    } finally {
      await release();
    }
    // Released: the next sync runs and records itself, and leaves no lock behind.
    await tillOk(home, ['sync', '--local-only']);
    expect(JSON.parse(readFileSync(join(home, 'schedule.json'), 'utf8')).history).toHaveLength(1);
    expect(existsSync(`${target}.lock`)).toBe(false);
  });
});
