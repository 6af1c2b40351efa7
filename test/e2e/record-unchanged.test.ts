import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab/lab.js';
import { closeMasters, homeWithHosts, till, tillOk, waitUntil } from '../lab/till.js';

/**
 * A fleet run whose hosts all answered as the database already says records nothing
 * and takes no lock on hosts-local.json; one that changes a host, or that another till
 * wrote the database under, records through the lock as before.
 */
describe('recording a fleet run that changes nothing', { timeout: 300_000 }, () => {
  let home: string;
  let lab: Lab;
  const dbFile = () => `${home}/hosts-local.json`;
  const db = () => JSON.parse(readFileSync(dbFile(), 'utf8'));

  beforeAll(async () => {
    ({ home, lab } = await homeWithHosts(2));
    await tillOk(home, ['host', 'test', '--all']);
  }, 200_000);

  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
  });

  it('host exec on hosts that answer as before: the database is not rewritten, and a held lock does not hold it up', async () => {
    const before = readFileSync(dbFile(), 'utf8');
    const mtime = statSync(dbFile()).mtimeMs;
    // Another till holding the lock (fresh, so not stale): a run that must write would wait for it.
    mkdirSync(`${dbFile()}.lock`);
    try {
      const r = await till(home, ['host', 'exec', '--all', '--', 'true'], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/could not lock/);
    } finally {
      rmdirSync(`${dbFile()}.lock`);
    }
    expect(readFileSync(dbFile(), 'utf8')).toBe(before);
    expect(statSync(dbFile()).mtimeMs).toBe(mtime);
  });

  it('a run that changes a host (a failure) still records it', async () => {
    lab.hosts[1]!.stop();
    try {
      const r = await till(home, ['host', 'exec', '--all', '--retries', '1', '--', 'true']);
      expect(r.code).toBe(1);
      expect(db().hosts.h1.failures).toBe(1);
      expect(db().hosts.h1.last_error).toMatch(/connection refused/);
      expect(db().hosts.h0.failures).toBe(0);
    } finally {
      await lab.hosts[1]!.start();
    }
    // h1 answers again: that is a change too (its failures go back to 0).
    await tillOk(home, ['host', 'exec', '--all', '--', 'true']);
    expect(db().hosts.h1).toMatchObject({ failures: 0, last_error: null });
  });

  it('another till wrote the database during the run: the results go through the lock onto what it wrote', async () => {
    // h0 answers as the database said at the start; meanwhile another till marks it unreachable
    // (as three failed runs of its own would) and adds a host.
    const run = till(home, ['host', 'exec', 'h0', '--', 'sleep 3'], { timeoutMs: 60_000 });
    // Its remote sleep runs: it has read the database.
    const user = lab.hosts[0]!.user;
    await waitUntil(() => spawnSync('pgrep', ['-u', user, '-x', 'sleep']).status === 0, 30_000, 'the remote sleep');
    const other = db();
    other.hosts.h0.status = 'unreachable';
    other.hosts.h0.previous_status = 'connected';
    other.hosts.h0.failures = 3;
    other.hosts.h9 = { ...other.hosts.h1, host: '127.0.0.9' };
    writeFileSync(dbFile(), `${JSON.stringify(other, null, 2)}\n`);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const after = db();
    // The run's answer is recorded on the database as the other till left it: h0 reachable, h9 kept.
    expect(after.hosts.h0).toMatchObject({ status: 'connected', failures: 0 });
    expect(after.hosts.h0.previous_status).toBeUndefined();
    expect(after.hosts.h9.host).toBe('127.0.0.9');
  });
});
