/**
 * Defects a user-level review found in the built CLI, each pinned as the user met it:
 * the command line, its stdout, stderr, exit code and what it left in TILL_HOME.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempHome, till, tillOk } from '../lab/till.js';

const homes: Array<() => void> = [];
function home(): string {
  const h = tempHome();
  homes.push(h.cleanup);
  return h.home;
}
afterAll(() => homes.forEach((c) => c()));

/** A TILL_HOME with one host that nothing here connects to. */
async function homeWithOneHost(): Promise<string> {
  const h = home();
  await tillOk(h, ['host', 'init']);
  await tillOk(h, ['host', 'add', 'h0', 'u@127.0.0.5']);
  return h;
}

describe('a remote command line too long for one argument', () => {
  const big = 'x'.repeat(70_000);

  it('host exec refuses it as a usage error naming the bound, before anything runs (was: exit 70, E2BIG)', async () => {
    const h = await homeWithOneHost();
    const r = await till(h, ['host', 'exec', 'h0', '--json', '--', 'echo', big, big]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/remote command is 140,006 bytes, over the 131,071 bytes \(128 KiB\)/);
    expect(r.stderr).not.toMatch(/internal error|E2BIG|retry/i);
    const db = JSON.parse(readFileSync(join(h, 'hosts-local.json'), 'utf8'));
    expect(db.hosts.h0.last_test).toBeUndefined();
  });

  it('host exec --stop-remote counts the wrapper it sends, and host ssh refuses it too', async () => {
    const h = await homeWithOneHost();
    const r = await till(h, ['host', 'exec', 'h0', '--stop-remote', '--', 'x'.repeat(131_000)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/over the 131,071 bytes/);
    const s = await till(h, ['host', 'ssh', 'h0', '--', 'echo', big, big]);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/over the 131,071 bytes/);
  });
});
