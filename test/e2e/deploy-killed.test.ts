/**
 * A deploy killed after its hosts finished but before it wrote their results: the
 * database must catch up with the deploy journal on `--resume` or on the next deploy.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab/lab.js';
import {
  closeMasters,
  homeWithHosts,
  leftovers,
  liveRelease,
  rsyncRunningFor,
  till,
  tillOk,
  waitUntil,
} from '../lab/till.js';

let home: string;
let lab: Lab;
let src: string;

beforeAll(async () => {
  ({ home, lab } = await homeWithHosts(2, 'h'));
  src = mkdtempSync('/tmp/t-dk-');
  writeFileSync(join(src, 'a.txt'), 'a\n');
}, 120_000);

afterAll(async () => {
  await closeMasters(home);
  lab?.stop();
  rmSync(src, { recursive: true, force: true });
});

function dbDeploy(name: string): { current: string | null; previous: string | null } | undefined {
  return JSON.parse(readFileSync(join(home, 'hosts-local.json'), 'utf8')).hosts[name]?.deploy;
}

function lastRun(): { release: string; hosts: Record<string, { state: string }> } | undefined {
  try {
    return JSON.parse(readFileSync(join(home, 'state', 'deploy-journal.json'), 'utf8')).runs.at(-1);
  } catch {
    return undefined;
  }
}

/**
 * `till host deploy h0 h1`, SIGKILLed once the journal has both hosts `done`: the
 * database's lock, held meanwhile, keeps it from writing their results first.
 */
async function killedDeploy(): Promise<string> {
  const before = lastRun()?.release;
  const lock = join(home, 'hosts-local.json.lock');
  mkdirSync(lock);
  try {
    const r = await till(home, ['host', 'deploy', 'h0', 'h1', '--source', src], {
      timeoutMs: 120_000,
      onSpawn: (child) => {
        const timer = setInterval(() => {
          const run = lastRun();
          if (run?.release === before || !Object.values(run?.hosts ?? {}).every((h) => h.state === 'done')) return;
          clearInterval(timer);
          child.kill('SIGKILL');
        }, 5);
        child.on('close', () => clearInterval(timer));
      },
    });
    expect(r.signal, r.stderr).toBe('SIGKILL');
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  await waitUntil(() => !rsyncRunningFor(home), 60_000, 'rsync gone');
  for (const p of leftovers(home)) rmSync(p, { recursive: true, force: true });
  return lastRun()!.release;
}

describe('a deploy killed before it recorded its hosts', () => {
  it('--resume records the hosts the journal says are done (first deploy: status deployed, installation)', async () => {
    const release = await killedDeploy();
    expect(dbDeploy('h0')).toBeUndefined();
    const r = await tillOk(home, ['host', 'deploy', '--resume', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ release, recorded: ['h0', 'h1'] });
    const show = JSON.parse((await tillOk(home, ['host', 'show', 'h0', '--json'])).stdout);
    expect(JSON.stringify(show)).toContain(release);
    const status = JSON.parse((await tillOk(home, ['status', '--json'])).stdout);
    for (const name of ['h0', 'h1']) {
      const h = status.hosts.find((x: { name: string }) => x.name === name);
      expect(h.status, JSON.stringify(h)).toBe('deployed');
      expect(dbDeploy(name)?.current).toBe(liveRelease(lab.hosts[Number(name[1])]!));
    }
    const db = JSON.parse(readFileSync(join(home, 'hosts-local.json'), 'utf8'));
    expect(db.hosts.h0.installations).toEqual([basename(src)]);
  }, 180_000);

  it('the next deploy records them first, with the release they replaced', async () => {
    const before = dbDeploy('h0')!.current;
    writeFileSync(join(src, 'a.txt'), 'b\n');
    const release = await killedDeploy();
    expect(dbDeploy('h0')?.current).toBe(before);
    writeFileSync(join(src, 'a.txt'), 'c\n');
    await tillOk(home, ['host', 'deploy', 'h1', '--source', src]);
    expect(dbDeploy('h0')).toMatchObject({ current: release, previous: before });
    expect(dbDeploy('h0')?.current).toBe(liveRelease(lab.hosts[0]!));
    expect(dbDeploy('h1')?.previous).toBe(release);
  }, 180_000);
});
