/**
 * The deploy rules a person relies on, through the built CLI against real sshd hosts:
 * `--max-fail` and "no host switches while one failed to stage", `--shared` paths,
 * `--installation` and the default installation. CLI-level on purpose: the remote
 * scripts behind them may change, these rules may not.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';

let lab: Lab;
let home: string;
let work: string;

function tree(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  return dir;
}

const live = (h: LabHost) => h.shell('readlink projects/github/Tekton').trim();
const locked = (h: LabHost) => h.shell('test -d projects/github/Tekton.till/lock && echo locked || echo free').trim();
const entryOf = async (name: string) =>
  JSON.parse((await tillOk(home, ['host', 'show', name, '--json'])).stdout) as {
    status: string;
    installations: string[];
    deploy?: { current: string | null };
  };

beforeAll(async () => {
  ({ home } = tempHome());
  await tillOk(home, ['host', 'init']);
  lab = await startLab(3, { authorizedKey: readFileSync(join(home, 'ssh', 'till_federation_ed25519.pub'), 'utf8') });
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
  work = mkdtempSync('/tmp/tdr-');
}, 120_000);

afterAll(async () => {
  await closeMasters(home);
  lab?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('--installation and the default installation', () => {
  it('deploys the named installation, records its name on the host; unknown names and --source with it are refused', async () => {
    const app = tree('app2', { 'version.txt': 'app2\n' });
    await tillOk(home, ['installation', 'add', app, '--name', 'app2']);
    const doc = JSON.parse((await tillOk(home, ['host', 'deploy', 'h0', '--installation', 'app2', '--json'])).stdout);
    expect(doc).toMatchObject({ ok: true, installation: 'app2', source: app, switched: true });
    expect(lab.hosts[0]!.shell('cat projects/github/Tekton/version.txt')).toBe('app2\n');
    expect((await entryOf('h0')).installations).toContain('app2');

    const unknown = await till(home, ['host', 'deploy', 'h0', '--installation', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('error: no such installation: nope\nhint: see: till installation list');
    const both = await till(home, ['host', 'deploy', 'h0', '--installation', 'app2', '--source', app]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --source or --installation, not both');
  });

  it('with neither --source nor --installation, deploys the default installation; with no default, says how to set one', async () => {
    const fresh = tempHome();
    try {
      await tillOk(fresh.home, ['host', 'init']);
      await tillOk(fresh.home, ['host', 'add', 'h9', 'deploy@127.0.0.9']);
      const bare = await till(fresh.home, ['host', 'deploy', 'h9']);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toContain('nothing to deploy: no --source and no default installation');
      expect(bare.stderr).toContain('till installation add <path> --default');
    } finally {
      await closeMasters(fresh.home);
    }
    const main = tree('main', { 'version.txt': 'main\n' });
    await tillOk(home, ['installation', 'add', main, '--name', 'main', '--default']);
    const doc = JSON.parse((await tillOk(home, ['host', 'deploy', 'h1', '--json'])).stdout);
    expect(doc).toMatchObject({ ok: true, installation: 'main', source: main });
    expect(lab.hosts[1]!.shell('cat projects/github/Tekton/version.txt')).toBe('main\n');
    expect((await entryOf('h1')).installations).toContain('main');
  });
});

describe('--shared', () => {
  it('a shared path is never transferred, lives in the shared folder, and survives redeploys through its link', async () => {
    const h = lab.hosts[2]!;
    const src = tree('shared', {
      'version.txt': 'v1\n',
      'cache/from-source.txt': 'not deployed\n',
      'config/local/site.conf': 'not deployed either\n',
      'config/global.conf': 'deployed\n',
    });
    const args = ['host', 'deploy', 'h2', '--source', src, '--shared', 'cache', '--shared', 'config/local'];
    await tillOk(home, args);
    expect(h.shell('readlink projects/github/Tekton/cache').trim()).toBe('../../shared/cache');
    expect(h.shell('readlink projects/github/Tekton/config/local').trim()).toBe('../../../shared/config/local');
    expect(
      h.shell('ls -A projects/github/Tekton.till/shared/cache projects/github/Tekton.till/shared/config/local'),
    ).not.toMatch(/from-source|site\.conf/);
    expect(h.shell('cat projects/github/Tekton/config/global.conf')).toBe('deployed\n');
    // Written on the host, through the link: still there after a changed tree is deployed.
    h.shell(
      'echo kept > projects/github/Tekton/cache/state && echo kept > projects/github/Tekton/config/local/host.conf',
    );
    const first = live(h);
    writeFileSync(join(src, 'version.txt'), 'v2\n');
    await tillOk(home, args);
    expect(live(h)).not.toBe(first);
    expect(h.shell('cat projects/github/Tekton/version.txt')).toBe('v2\n');
    expect(h.shell('cat projects/github/Tekton/cache/state projects/github/Tekton/config/local/host.conf')).toBe(
      'kept\nkept\n',
    );
  });

  it.each([
    ['../escape', 'it contains an empty, . or .. segment'],
    ['/abs', 'it must be a relative path inside the installation'],
    ['a b', 'it contains whitespace, quotes or shell characters'],
    ['-rf', 'it starts with -'],
  ])('--shared %j is refused with exit 2 before any host is contacted', async (bad, why) => {
    const before = live(lab.hosts[2]!);
    const r = await till(home, ['host', 'deploy', 'h2', '--source', join(work, 'shared'), '--shared', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid --shared ${JSON.stringify(bad)}: ${why}`);
    expect(live(lab.hosts[2]!)).toBe(before);
  });
});

describe('--max-fail: no host switches while more hosts failed to stage', () => {
  it('one host down: with the default --max-fail 0 nothing switches; with --max-fail 1 the others do', async () => {
    const src = tree('fleet', { 'version.txt': 'one\n' });
    const first = JSON.parse(
      (await tillOk(home, ['host', 'deploy', 'h0', 'h1', 'h2', '--source', src, '--json'])).stdout,
    ).release as string;
    const down = lab.hosts[2]!;
    down.stop();
    writeFileSync(join(src, 'version.txt'), 'two\n');
    const fleet = ['host', 'deploy', 'h0', 'h1', 'h2', '--source', src, '--json', '--retries', '1'];

    const held = await till(home, fleet);
    expect(held.code).toBe(1);
    const doc = JSON.parse(held.stdout);
    expect(doc.switched).toBe(false);
    expect(doc.results.map((r: { host: string; status: string }) => [r.host, r.status])).toEqual([
      ['h0', 'skipped'],
      ['h1', 'skipped'],
      ['h2', 'unreachable'],
    ]);
    expect(doc.results[0].error).toBe('staged, not switched: 1 host failed to stage (--max-fail 0)');
    expect(doc.notes).toContain(
      'no host was switched: 1 host failed to stage and --max-fail is 0; fix them and run: till host deploy --resume',
    );
    for (const h of lab.hosts.slice(0, 2)) {
      expect(live(h)).toBe(`Tekton.till/releases/${first}`);
      expect(h.shell('cat projects/github/Tekton/version.txt')).toBe('one\n');
      expect(locked(h)).toBe('free');
    }
    for (const n of ['h0', 'h1']) expect((await entryOf(n)).deploy?.current).toBe(first);

    const allowed = await till(home, [...fleet, '--max-fail', '1']);
    expect(allowed.code).toBe(1);
    const doc2 = JSON.parse(allowed.stdout);
    expect(doc2.switched).toBe(true);
    expect(doc2.results.map((r: { status: string }) => r.status)).toEqual(['ok', 'ok', 'unreachable']);
    expect(doc2.notes.join('\n')).not.toContain('no host was switched');
    for (const [i, h] of lab.hosts.slice(0, 2).entries()) {
      expect(live(h)).toBe(`Tekton.till/releases/${doc2.release}`);
      expect(h.shell('cat projects/github/Tekton/version.txt')).toBe('two\n');
      expect((await entryOf(`h${i}`)).deploy?.current).toBe(doc2.release);
    }

    for (const bad of ['-1', 'x', '1.5']) {
      const r = await till(home, ['host', 'deploy', 'h0', '--source', src, '--max-fail', bad]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toContain('--max-fail');
    }
  });
});
