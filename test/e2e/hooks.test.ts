/**
 * Release hooks as a person uses them, against real sshd hosts: `.till/hooks/post-switch`
 * that writes the release id on each host, a failing `pre-switch` on one host, a hook
 * that hangs cut by `--hook-timeout`, `post-rollback` on `host rollback`, `--no-hooks`.
 * (Restricted hosts: gate-releases.test.ts; symlinks and output bounds, unit/releases.)
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';

let lab: Lab;
let home: string;
let work: string;
const NAMES = ['h0', 'h1', 'h2'];

/** A tree whose `.till/hooks/<name>` are these scripts (executable). */
function tree(name: string, hooks: Record<string, string>): string {
  const dir = join(work, name);
  mkdirSync(join(dir, '.till', 'hooks'), { recursive: true });
  writeFileSync(join(dir, 'README.md'), `${name}\n`);
  for (const [hook, body] of Object.entries(hooks)) {
    writeFileSync(join(dir, '.till', 'hooks', hook), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, '.till', 'hooks', hook), 0o755);
  }
  return dir;
}
const host = (n: string): LabHost => lab.hosts[Number(n.slice(1))]!;
const live = (n: string) =>
  host(n)
    .shell('readlink projects/github/Tekton || true')
    .trim()
    .replace(/^Tekton\.till\/releases\//, '');
const read = (n: string, file: string) => {
  try {
    return readFileSync(join(host(n).home, file), 'utf8');
  } catch {
    return null;
  }
};

interface HookJson {
  hook: string;
  outcome: string;
  exitCode: number | null;
  output: string;
}
interface Result {
  host: string;
  ok: boolean;
  error: string | null;
  hookFailed: string | null;
  hooks: HookJson[];
}

beforeAll(async () => {
  ({ home } = tempHome());
  await tillOk(home, ['host', 'init']);
  lab = await startLab(3, { authorizedKey: readFileSync(join(home, 'ssh', 'till_federation_ed25519.pub'), 'utf8') });
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
  work = mkdtempSync('/tmp/th-');
}, 60_000);

afterAll(async () => {
  await closeMasters(home);
  lab?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('release hooks', { timeout: 120_000 }, () => {
  let first = '';

  it('post-switch runs on each host in the new release, with its environment, and writes the release id there', async () => {
    const src = tree('one', {
      'post-switch': [
        'echo "$TILL_RELEASE" > "$HOME/deployed-release"',
        'echo "host=$TILL_HOST previous=${TILL_PREVIOUS_RELEASE:-none} path=$TILL_TEKTON_PATH by=$TILL_DEPLOYER cwd=$(pwd -P)"',
      ].join('\n'),
      'post-rollback': 'echo "$TILL_RELEASE" > "$HOME/rolled-back-to"',
    });
    const r = await tillOk(home, ['host', 'deploy', ...NAMES, '--source', src, '--json']);
    const doc = JSON.parse(r.stdout) as { release: string; deployer: string; results: Result[] };
    first = doc.release;
    for (const res of doc.results) {
      const h = host(res.host);
      expect(read(res.host, 'deployed-release')).toBe(`${first}\n`);
      expect(res.hooks).toEqual([
        {
          hook: 'post-switch',
          outcome: 'ok',
          exitCode: 0,
          seconds: expect.any(Number),
          why: null,
          output: `host=${res.host} previous=none path=${h.home}/projects/github/Tekton by=${doc.deployer} cwd=${h.home}/projects/github/Tekton.till/releases/${first}`,
          outputCut: false,
        },
      ]);
      // kept on the host with the release record
      const rel = JSON.parse((await tillOk(home, ['host', 'releases', res.host, '--json'])).stdout);
      expect(rel.releases[0].hooks[0]).toMatchObject({
        hook: 'post-switch',
        outcome: 'ok',
        output: res.hooks[0]!.output,
      });
    }
  });

  it('a failing pre-switch on one host: that host is not switched and says why; the others are', async () => {
    const src = tree('two', {
      'pre-switch': '[ "$TILL_HOST" != h1 ] || { echo "h1: the database is read-only" >&2; exit 7; }',
      'post-switch': 'echo "$TILL_RELEASE" > "$HOME/deployed-release"',
    });
    const r = await till(home, ['host', 'deploy', ...NAMES, '--source', src]);
    expect(r.code).toBe(1);
    const second = /deploying (\S+)/.exec(r.stderr)![1]!;
    expect(r.stdout).toMatch(/h1 +failed .*pre-switch hook failed \(exit 7\); not switched/);
    expect(r.stderr).toMatch(/h1: pre-switch hook output:\n {4}h1: the database is read-only/);
    expect(NAMES.map(live)).toEqual([second, first, second]);
    expect(read('h1', 'deployed-release')).toBe(`${first}\n`);
    expect(read('h0', 'deployed-release')).toBe(`${second}\n`);
    const rel = JSON.parse((await tillOk(home, ['host', 'releases', 'h1', '--json'])).stdout);
    expect(rel.releases.find((x: { id: string }) => x.id === second)).toMatchObject({
      state: 'failed',
      hooks: [{ hook: 'pre-switch', outcome: 'failed', exitCode: 7, output: 'h1: the database is read-only' }],
    });
  });

  it('a hook that hangs is cut by --hook-timeout: the host switches back, as for a failed check', async () => {
    const before = NAMES.map(live);
    const src = tree('three', { 'post-switch': 'echo waiting\nsleep 600' });
    const started = Date.now();
    const r = await till(home, ['host', 'deploy', ...NAMES, '--source', src, '--hook-timeout', '2', '--json']);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { results: Result[] };
    for (const res of doc.results) {
      expect(res).toMatchObject({ ok: false, hookFailed: 'post-switch' });
      expect(res.error).toMatch(/post-switch hook timed out after 2 s; switched back to/);
      expect(res.hooks[0]).toMatchObject({ hook: 'post-switch', outcome: 'timeout', output: 'waiting' });
    }
    expect(NAMES.map(live)).toEqual(before);
    // then post-rollback ran in the release each host went back to: h1's (one) has one, h0's and h2's (two) none
    expect(read('h1', 'rolled-back-to')).toBe(`${first}\n`);
    expect(doc.results.map((x) => x.hooks.map((h) => [h.hook, h.outcome]))).toEqual([
      [['post-switch', 'timeout']],
      [
        ['post-switch', 'timeout'],
        ['post-rollback', 'ok'],
      ],
      [['post-switch', 'timeout']],
    ]);
    for (const n of ['h0', 'h2']) expect(read(n, 'rolled-back-to')).toBeNull();
    // nothing of the hook is left running on the hosts (a killed child may stay a zombie here: PID 1 reaps nothing)
    for (const n of NAMES)
      expect(host(n).shell(`ps -u "$(id -u)" -o stat=,comm= | awk '$1 !~ /^Z/ && $2 == "sleep"'`)).toBe('');
  });

  it('host rollback runs the post-rollback hook of the release it switches to; --no-hooks skips it', async () => {
    const r = await tillOk(home, ['host', 'rollback', 'h0', '-m', 'two broke the login', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.results[0]).toMatchObject({ to: first, hooks: [{ hook: 'post-rollback', outcome: 'ok' }] });
    expect(read('h0', 'rolled-back-to')).toBe(`${first}\n`);
    expect(live('h0')).toBe(first);
    const rel = JSON.parse((await tillOk(home, ['host', 'releases', 'h0', '--json'])).stdout);
    const back = rel.releases.find((x: { id: string }) => x.id === first);
    expect(back.history.at(-1)).toMatchObject({
      state: 'good',
      message: 'two broke the login',
      hooks: [{ hook: 'post-rollback', outcome: 'ok' }],
    });
    // --no-hooks on deploy and on rollback: nothing runs, the record says skipped
    host('h2').shell('rm -f deployed-release rolled-back-to');
    await tillOk(home, [
      'host',
      'deploy',
      'h2',
      '--source',
      tree('four', { 'post-switch': 'touch "$HOME/ran"' }),
      '--no-hooks',
    ]);
    expect(read('h2', 'ran')).toBeNull();
    const rb = JSON.parse((await tillOk(home, ['host', 'rollback', 'h2', '--no-hooks', '--json'])).stdout);
    expect(rb.results[0].hooks).toEqual([]);
    expect(read('h2', 'rolled-back-to')).toBeNull();
  });
});
