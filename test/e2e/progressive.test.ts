/**
 * Progressive switching as a person runs it, on one lab of six real sshd hosts reused
 * by every case: canary and batches, the failure budget with the fleet switched back
 * (or not), and Ctrl-C during a pause. Each case deploys a new tree over what the last
 * one left, and says what it expects of every host.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk, waitUntil } from '../lab/till.js';

let lab: Lab;
let home: string;
let work: string;
const NAMES = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5'];
/** Fails where the host has ~/fail-check: the host in the third batch, below. */
const CHECK = 'test ! -e "$HOME/fail-check"';

function tree(name: string, postRollback?: string): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'README.md'), `${name}\n`);
  writeFileSync(join(dir, 'bin', 'run.sh'), `echo ${name}\n`);
  if (postRollback !== undefined) {
    mkdirSync(join(dir, '.till', 'hooks'), { recursive: true });
    writeFileSync(join(dir, '.till', 'hooks', 'post-rollback'), `#!/bin/sh\n${postRollback}\n`, { mode: 0o755 });
  }
  return dir;
}

const host = (n: string): LabHost => lab.hosts[Number(n.slice(1))]!;
/** The release a host runs (tekton_path's link), or null. */
const live = (n: string) => {
  const link = host(n).shell('readlink projects/github/Tekton || true').trim();
  return link === '' ? null : link.replace(/^Tekton\.till\/releases\//, '');
};
const log = (n: string) => {
  try {
    return readFileSync(join(host(n).home, 'projects/github/Tekton.till/releases.log'), 'utf8');
  } catch {
    return '';
  }
};
const lockHeld = (n: string) => host(n).shell('test -d projects/github/Tekton.till/lock && echo held || true').trim();
/** What v1's post-rollback hook wrote on a host: one line per run, the release it went back to and the one it left. */
const backLog = (n: string) => host(n).shell('cat back.log 2>/dev/null || true');

interface Result {
  host: string;
  ok: boolean;
  status: string;
  batch: number | null;
  checkFailed: boolean;
  error: string | null;
  rolledBack: { to: string | null; ok: boolean } | null;
  hooks: Array<{ hook: string; outcome: string }>;
}
interface Report {
  ok: boolean;
  release: string;
  results: Result[];
  batches: Array<{ batch: number; canary: boolean; hosts: string[]; ok: number; failed: number }>;
  stopped: { reason: string; failures: number; limit: number; message: string } | null;
  rolledBack: Array<{ host: string; from: string; to: string | null; ok: boolean; hooks: Array<{ hook: string }> }>;
}
const byHost = (doc: Report) => Object.fromEntries(doc.results.map((r) => [r.host, r]));

beforeAll(async () => {
  ({ home } = tempHome());
  await tillOk(home, ['host', 'init']);
  lab = await startLab(6, { authorizedKey: readFileSync(join(home, 'ssh', 'till_federation_ed25519.pub'), 'utf8') });
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
  work = mkdtempSync('/tmp/tp-');
  // Every host starts on v1, the release a stopped run goes back to.
  await tillOk(home, [
    'host',
    'deploy',
    ...NAMES,
    '--source',
    tree('v1', 'echo "$TILL_RELEASE from $TILL_PREVIOUS_RELEASE" >> "$HOME/back.log"'),
  ]);
  host('h3').shell('touch fail-check');
}, 120_000);

afterAll(async () => {
  await closeMasters(home);
  lab?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('progressive switching on six hosts', { timeout: 120_000 }, () => {
  let v1 = '';

  it('--canary 1 --batch-size 2 --max-fail 0: the third batch fails its check; the run switches back what it switched, and nothing else', async () => {
    v1 = live('h0')!;
    expect(NAMES.map(live)).toEqual(NAMES.map(() => v1));
    const r = await till(home, [
      'host',
      'deploy',
      ...NAMES,
      '--source',
      tree('v2'),
      '--canary',
      '1',
      '--batch-size',
      '2',
      '--check',
      CHECK,
      '--max-fail',
      '0',
      '-m',
      'v2 to the fleet',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as Report;
    const v2 = doc.release;
    expect(doc.batches).toEqual([
      { batch: 1, canary: true, hosts: ['h0'], ok: 1, failed: 0 },
      { batch: 2, canary: false, hosts: ['h1', 'h2'], ok: 2, failed: 0 },
      { batch: 3, canary: false, hosts: ['h3', 'h4'], ok: 1, failed: 1 },
    ]);
    expect(doc.stopped).toMatchObject({ reason: 'max-fail', failures: 1, limit: 0 });
    expect(doc.stopped!.message).toBe('1 host failed (h3): more than --max-fail 0');
    expect(doc.rolledBack.map((b) => [b.host, b.from, b.to, b.ok])).toEqual(
      ['h0', 'h1', 'h2', 'h4'].map((n) => [n, v2, v1, true]),
    );
    const res = byHost(doc);
    for (const n of ['h0', 'h1', 'h2', 'h4']) {
      expect(res[n]).toMatchObject({ ok: false, status: 'failed', rolledBack: { to: v1, ok: true } });
      expect(res[n]!.error).toMatch(/switched, then switched back to .*: 1 host failed \(h3\)/);
    }
    expect(res.h0!.batch).toBe(1);
    expect(res.h4!.batch).toBe(3);
    expect(res.h3).toMatchObject({ status: 'failed', batch: 3, checkFailed: true, rolledBack: null });
    expect(res.h5).toMatchObject({ status: 'skipped', batch: null, rolledBack: null });
    expect(res.h5!.error).toMatch(/staged, not switched: 1 host failed \(h3\)/);
    // On the hosts: everyone back on v1, h5 never switched (v2 staged for --resume), no lock left.
    expect(NAMES.map(live)).toEqual(NAMES.map(() => v1));
    for (const n of ['h0', 'h1', 'h2', 'h4']) {
      expect(log(n)).toMatch(new RegExp(`${v2}\tgood\t`));
      expect(log(n)).toMatch(new RegExp(`${v2}\trolled-back\t[^\n]*\tautomatic rollback of ${v2}: 1 host failed`));
    }
    expect(log('h3')).toMatch(new RegExp(`${v2}\tfailed\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\tv2 to the fleet\t`));
    expect(log('h5')).not.toContain(v2);
    expect(host('h5').shell(`test -d projects/github/Tekton.till/releases/${v2}.partial && echo staged`)).toBe(
      'staged\n',
    );
    expect(NAMES.map(lockHeld)).toEqual(NAMES.map(() => ''));
    // v1's post-rollback hook ran where the run switched a host back, and where h3's check did; not on h5
    for (const n of ['h0', 'h1', 'h2', 'h3', 'h4']) expect(backLog(n)).toBe(`${v1} from ${v2}\n`);
    expect(backLog('h5')).toBe('');
    expect(doc.rolledBack.map((b) => b.hooks)).toEqual(
      ['h0', 'h1', 'h2', 'h4'].map(() => [expect.objectContaining({ hook: 'post-rollback', outcome: 'ok' })]),
    );
    expect(res.h3!.hooks).toEqual([expect.objectContaining({ hook: 'post-rollback', outcome: 'ok' })]);
    // the database follows the hosts
    const hosts = JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout).hosts as Array<{
      name: string;
      deploy: { current: string };
    }>;
    expect(hosts.map((h) => h.deploy.current)).toEqual(NAMES.map(() => v1));
  });

  it('--resume after the stop switches the hosts the run left staged or switched back (not h3, whose check failed)', async () => {
    const r = await till(home, ['host', 'deploy', '--resume', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as Report;
    expect(doc.results.map((x) => [x.host, x.ok])).toEqual(['h0', 'h1', 'h2', 'h4', 'h5'].map((n) => [n, true]));
    expect(NAMES.map(live)).toEqual(NAMES.map((n) => (n === 'h3' ? v1 : doc.release)));
    expect(NAMES.map(lockHeld)).toEqual(NAMES.map(() => ''));
  });

  it('a failing canary: no other host is switched, and the canaries go back (--batch-size 50%)', async () => {
    const before = NAMES.map(live);
    host('h1').shell('touch fail-check');
    try {
      const args = ['host', 'deploy', ...NAMES, '--source', tree('vc'), '--canary', '2', '--batch-size', '50%'];
      // a failing canary stops the run even within the budget
      const r = await till(home, [...args, '--check', CHECK, '--max-fail', '3', '--json']);
      expect(r.code, r.stderr).toBe(1);
      const doc = JSON.parse(r.stdout) as Report;
      // the canary batch only (of three planned: two canaries, then 50% of the other four at a time)
      expect(doc.batches).toEqual([{ batch: 1, canary: true, hosts: ['h0', 'h1'], ok: 1, failed: 1 }]);
      expect(doc.stopped).toMatchObject({ reason: 'canary', message: 'a canary failed (h1)' });
      expect(doc.rolledBack.map((b) => [b.host, b.from, b.to, b.ok])).toEqual([['h0', doc.release, before[0], true]]);
      const res = byHost(doc);
      expect(res.h1).toMatchObject({ status: 'failed', batch: 1, checkFailed: true });
      for (const n of ['h2', 'h3', 'h4', 'h5']) {
        expect(res[n]).toMatchObject({ status: 'skipped', batch: null });
        expect(res[n]!.error).toBe('staged, not switched: a canary failed (h1)');
      }
      expect(NAMES.map(live)).toEqual(before);
      expect(NAMES.map(lockHeld)).toEqual(NAMES.map(() => ''));
      // as a person reads it: three batches planned, the first stops the run
      const text = await till(home, [...args, '--check', CHECK]);
      expect(text.code).toBe(1);
      expect(text.stderr).toMatch(/batch 1\/3 \(canary\): switching h0, h1\n/);
      expect(text.stderr).toMatch(/batch 1\/3 \(canary\): 1 ok, 1 failed\n/);
      expect(text.stderr).toMatch(
        new RegExp(
          `stopping: a canary failed \\(h1\\); switching back the 1 host this run switched: h0\nh0: switched back to ${before[0]}\n`,
        ),
      );
      expect(text.stderr).not.toMatch(/batch 2\/3/);
      expect(NAMES.map(live)).toEqual(before);
    } finally {
      host('h1').shell('rm fail-check');
    }
  });

  it('the same with --max-fail 1: the failure is within the budget, every other host ends on the new release', async () => {
    const r = await till(home, [
      'host',
      'deploy',
      ...NAMES,
      '--source',
      tree('v3'),
      '--canary',
      '1',
      '--batch-size',
      '2',
      '--check',
      CHECK,
      '--max-fail',
      '1',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as Report;
    expect(doc.batches.map((b) => [b.hosts, b.failed])).toEqual([
      [['h0'], 0],
      [['h1', 'h2'], 0],
      [['h3', 'h4'], 1],
      [['h5'], 0],
    ]);
    expect(doc.stopped).toBeNull();
    expect(doc.rolledBack).toEqual([]);
    expect(doc.results.filter((x) => x.ok).map((x) => x.host)).toEqual(['h0', 'h1', 'h2', 'h4', 'h5']);
    expect(NAMES.map(live)).toEqual(NAMES.map((n) => (n === 'h3' ? v1 : doc.release)));
    expect(NAMES.map(lockHeld)).toEqual(NAMES.map(() => ''));
  });

  it('--no-auto-rollback: the run stops at its budget, and the hosts it switched stay', async () => {
    const before = live('h1');
    host('h1').shell('touch fail-check');
    host('h3').shell('rm fail-check');
    try {
      const r = await till(home, [
        'host',
        'deploy',
        ...NAMES,
        '--source',
        tree('v4'),
        '--canary',
        '1',
        '--batch-size',
        '2',
        '--check',
        CHECK,
        '--max-fail',
        '10%',
        '--no-auto-rollback',
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/batch 1\/4 \(canary\): 1 ok, 0 failed/);
      expect(r.stderr).toMatch(/batch 2\/4: 1 ok, 1 failed/);
      expect(r.stderr).toMatch(/stopping: 1 host failed \(h1\): more than --max-fail 10% \(--no-auto-rollback/);
      expect(r.stderr).toMatch(/3 hosts staged but not switched/);
      const v4 = /deploying (\S+)/.exec(r.stderr)![1]!;
      expect(NAMES.map(live)).toEqual([v4, before, v4, v1, before, before]);
      expect(r.stdout).toMatch(/BATCH/);
    } finally {
      host('h1').shell('rm fail-check');
    }
  });

  it('Ctrl-C during --pause stops cleanly before the next batch; --resume finishes the other hosts', async () => {
    let stderr = '';
    const r = await till(
      home,
      ['host', 'deploy', ...NAMES, '--source', tree('v5'), '--canary', '1', '--batch-size', '50%', '--pause', '60'],
      {
        onSpawn: (child) => {
          child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
          void waitUntil(() => stderr.includes('pausing 60 s before batch 2'), 60_000, 'the pause').then(() =>
            child.kill('SIGINT'),
          );
        },
      },
    );
    expect(r.code, r.stderr).toBe(130);
    const v5 = /deploying (\S+)/.exec(r.stderr)![1]!;
    expect(r.stderr).toMatch(/interrupted; finish with: till host deploy --resume/);
    expect(r.stderr).not.toMatch(/switching back/);
    // the canary stays on v5; nobody else was switched, and no lock is left
    expect(live('h0')).toBe(v5);
    for (const n of NAMES.slice(1)) expect(live(n)).not.toBe(v5);
    expect(NAMES.map(lockHeld)).toEqual(NAMES.map(() => ''));
    // the rest, in batches of three (the canary already went live), without the pause
    const resumed = await till(home, ['host', 'deploy', '--resume', '--pause', '1', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const doc = JSON.parse(resumed.stdout) as Report;
    expect(doc.release).toBe(v5);
    expect(doc.batches.map((b) => [b.canary, b.hosts])).toEqual([
      [false, ['h1', 'h2', 'h3']],
      [false, ['h4', 'h5']],
    ]);
    expect(NAMES.map(live)).toEqual(NAMES.map(() => v5));
  });

  it('--max-fail alone: one batch, and over the budget the hosts it switched go back; without it, as always: only the failed host does', async () => {
    const before = live('h0')!;
    expect(NAMES.map(live)).toEqual(NAMES.map(() => before));
    host('h3').shell('touch fail-check');
    try {
      const r = await till(home, [
        'host',
        'deploy',
        ...NAMES,
        '--source',
        tree('v6'),
        '--check',
        CHECK,
        '--max-fail',
        '0',
        '--json',
      ]);
      expect(r.code).toBe(1);
      const doc = JSON.parse(r.stdout) as Report;
      expect(doc.batches).toEqual([{ batch: 1, canary: false, hosts: NAMES, ok: 5, failed: 1 }]);
      expect(doc.stopped).toMatchObject({ reason: 'max-fail', message: '1 host failed (h3): more than --max-fail 0' });
      expect(doc.rolledBack.map((b) => b.host)).toEqual(['h0', 'h1', 'h2', 'h4', 'h5']);
      expect(NAMES.map(live)).toEqual(NAMES.map(() => before));
      const plain = await till(home, ['host', 'deploy', ...NAMES, '--source', tree('v7'), '--check', CHECK, '--json']);
      expect(plain.code).toBe(1);
      const today = JSON.parse(plain.stdout) as Report;
      expect(today.stopped).toBeNull();
      expect(today.rolledBack).toEqual([]);
      expect(NAMES.map(live)).toEqual(NAMES.map((n) => (n === 'h3' ? before : today.release)));
    } finally {
      host('h3').shell('rm fail-check');
    }
  });

  it('refuses bad progressive options before anything runs, naming them (exit 2)', async () => {
    const journal = () => readFileSync(join(home, 'state', 'deploy-journal.json'), 'utf8');
    const before = journal();
    const src = join(work, 'v1');
    for (const [args, re] of [
      [['--batch-size', '0'], /--batch-size takes at least 1, got 0/],
      [['--batch-size', 'half'], /--batch-size takes a number of hosts or a percentage/],
      [['--max-fail', '150%'], /--max-fail takes a percentage from 0% to 100%, got 150%/],
      [['--canary', '0'], /--canary takes a whole number from 1/],
      [['--pause', '5'], /--pause waits between batches/],
      [['-m', 'two\nlines'], /invalid --message: .* contains a control character/],
      [['-m', 'a\tb'], /invalid --message/],
      [['--message', 'x'.repeat(1025)], /invalid --message: message longer than 1024 characters/],
      [['--hook-timeout', '0'], /--hook-timeout takes a whole number from 1 to 86400/],
    ] as const) {
      const r = await till(home, ['host', 'deploy', 'h0', '--source', src, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
    }
    const resume = await till(home, ['host', 'deploy', '--resume', '--canary', '1']);
    expect(resume.code).toBe(2);
    expect(resume.stderr).toMatch(/--resume continues the interrupted deploy as it was/);
    expect(journal()).toBe(before);
  });
});
