import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncInstallation, syncInstallations } from '../../src/ops/sync.js';

/** Local-side sync against real git repositories (no ssh involved). */
const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.com',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.com',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

describe('syncInstallation', () => {
  let dir: string;
  let n = 0;
  const commit = (repo: string, file = 'file.txt') => {
    n += 1;
    writeFileSync(join(repo, file), `${n}\n`);
    git(repo, 'add', file);
    git(repo, 'commit', '-qm', `c${n}`);
    return git(repo, 'rev-parse', 'HEAD');
  };
  const clone = (name: string) => {
    git(dir, 'clone', '-q', 'up.git', name);
    return join(dir, name);
  };
  const sync = (path: string, dryRun = false) => syncInstallation({ name: 'i', path }, { dryRun });

  beforeAll(() => {
    dir = mkdtempSync('/tmp/t-syncgit-');
    git(dir, 'init', '-q', '--bare', 'up.git');
    const seed = clone('seed');
    commit(seed);
    git(seed, 'push', '-q', 'origin', 'HEAD');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fast-forwards a checkout that is behind, and reports up-to-date after', async () => {
    const a = clone('a');
    const pusher = clone('p1');
    const old = git(a, 'rev-parse', 'HEAD');
    commit(pusher);
    const tip = commit(pusher);
    git(pusher, 'push', '-q');
    const dry = await sync(a, true);
    expect(dry).toMatchObject({ status: 'would-update', from: old, to: tip });
    expect(git(a, 'rev-parse', 'HEAD')).toBe(old);
    expect(git(a, 'rev-parse', 'origin/HEAD')).toBe(old); // ls-remote, not fetch: no ref moved
    expect(await sync(a)).toMatchObject({ status: 'updated', from: old, to: tip, behind: 2 });
    expect(git(a, 'rev-parse', 'HEAD')).toBe(tip);
    expect(await sync(a)).toMatchObject({ status: 'up-to-date', reason: null });
    expect(await sync(a, true)).toMatchObject({ status: 'up-to-date' });
  });

  it('skips a diverged branch without touching it, and says so in a dry run when it knows', async () => {
    const b = clone('b');
    const pusher = clone('p2');
    commit(pusher);
    git(pusher, 'push', '-q');
    const local = commit(b, 'other.txt');
    const r = await sync(b);
    expect(r.status).toBe('skipped');
    expect(r.reason).toMatch(/diverged .*1 local, 1 upstream/);
    expect(git(b, 'rev-parse', 'HEAD')).toBe(local);
    expect((await sync(b, true)).status).toBe('skipped'); // fetched above: the dry run can tell
  });

  it('reports local commits not pushed as up-to-date with a note', async () => {
    const c = clone('c');
    commit(c, 'mine.txt');
    expect(await sync(c)).toMatchObject({ status: 'up-to-date', reason: '1 local commit not pushed' });
  });

  it('skips detached, upstream-less, dirty, non-git and nested folders; fails a missing one', async () => {
    const d = clone('d');
    git(d, 'checkout', '-q', '--detach');
    expect(await sync(d)).toMatchObject({ status: 'skipped', reason: 'detached HEAD (not on a branch)' });

    const e = clone('e');
    git(e, 'checkout', '-q', '-b', 'solo');
    expect((await sync(e)).reason).toMatch(/has no upstream/);

    const f = clone('f');
    writeFileSync(join(f, 'file.txt'), 'edited\n');
    const dirty = await sync(f);
    expect(dirty).toMatchObject({ status: 'skipped' });
    expect(dirty.reason).toMatch(/uncommitted changes in 1 file/);
    writeFileSync(join(f, 'untracked.log'), 'x');
    git(f, 'checkout', '-q', '--', 'file.txt');
    expect((await sync(f)).status).toBe('up-to-date'); // untracked files alone are not dirty

    const plain = join(dir, 'plain');
    mkdirSync(plain);
    expect(await sync(plain)).toMatchObject({ status: 'skipped', reason: 'not a git checkout' });
    const nested = join(f, 'sub');
    mkdirSync(nested);
    expect((await sync(nested)).reason).toMatch(/not the top of a git checkout/);
    expect(await sync(join(dir, 'missing'))).toMatchObject({ status: 'failed' });
  });

  it('fails, without forcing, when an untracked file would be overwritten', async () => {
    const g = clone('g');
    const pusher = clone('p3');
    commit(pusher, 'new.txt');
    git(pusher, 'push', '-q');
    writeFileSync(join(g, 'new.txt'), 'mine\n');
    const before = git(g, 'rev-parse', 'HEAD');
    const r = await sync(g);
    expect(r.status).toBe('failed');
    expect(r.reason).toMatch(/git merge --ff-only failed/);
    expect(git(g, 'rev-parse', 'HEAD')).toBe(before);
  });

  it("fails with git's reason when the upstream is gone", async () => {
    const h = clone('h');
    git(h, 'remote', 'set-url', 'origin', join(dir, 'nowhere.git'));
    const r = await sync(h);
    expect(r.status).toBe('failed');
    expect(r.reason).toMatch(/git fetch failed/);
    expect((await sync(h, true)).reason).toMatch(/git ls-remote failed/);
  });

  /** A program that leaves `marker` behind when git runs it (as a hook or as core.fsmonitor). */
  const tripwire = (name: string, marker: string) => {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\necho ran >> '${marker}'\nexit 1\n`);
    chmodSync(file, 0o755);
    return file;
  };
  /** Makes a checkout's own config and hooks run `tripwire`s: fsmonitor, .git/hooks, core.hooksPath. */
  const armed = (repo: string) => {
    const marker = join(dir, `${repo.split('/').pop()}.ran`);
    git(repo, 'config', 'core.fsmonitor', tripwire(`${repo.split('/').pop()}-fsmonitor`, marker));
    for (const hook of ['post-merge', 'post-checkout', 'reference-transaction'])
      renameSync(tripwire(`${hook}-${n}`, marker), join(repo, '.git/hooks', hook));
    const hooks = join(dir, `${repo.split('/').pop()}-hooks`);
    mkdirSync(hooks);
    renameSync(tripwire(`hp-${n}`, marker), join(hooks, 'post-merge'));
    git(repo, 'config', 'core.hooksPath', hooks);
    return marker;
  };
  const pushOne = () => {
    const pusher = join(dir, 'seed');
    git(pusher, 'pull', '-q');
    commit(pusher);
    git(pusher, 'push', '-q');
    return git(pusher, 'rev-parse', 'HEAD');
  };

  it("on a host (a sync its manager started), a checkout's own fsmonitor and hooks never run; the pull still happens", async () => {
    const k = clone('k');
    const marker = armed(k);
    const tip = pushOne();
    const r = await syncInstallation({ name: 'k', path: k }, { onHost: true });
    expect(r).toMatchObject({ status: 'updated', to: tip });
    expect(git(k, 'rev-parse', 'HEAD')).toBe(tip);
    expect(existsSync(marker)).toBe(false);
    // the same checkout synced by its owner on their own machine is their own git: its hooks run
    const tip2 = pushOne();
    expect(await syncInstallation({ name: 'k', path: k })).toMatchObject({ status: 'updated', to: tip2 });
    expect(existsSync(marker)).toBe(true);
  });

  it('never runs git under a deploy root, its .till folder or a till release, nor through a symlink into one', async () => {
    const root = join(dir, 'app');
    mkdirSync(root);
    mkdirSync(join(dir, 'app.till/releases'), { recursive: true });
    mkdirSync(join(dir, 'other.till/releases'), { recursive: true });
    const place = (name: string, at: string) => {
      renameSync(clone(name), at);
      return at;
    };
    const inRoot = place('r1', join(root, 'site'));
    const inTill = place('r2', join(dir, 'app.till/work'));
    const release = place('r3', join(dir, 'other.till/releases/20260101T000000Z-aaaaaa'));
    const link = join(dir, 'lnk');
    symlinkSync(inRoot, link);
    const markers = [inRoot, inTill, release].map(armed);
    pushOne();
    const list = [inRoot, inTill, release, link].map((path, i) => ({ name: `d${i}`, path }));
    const results = await syncInstallations(list, { deployRoots: [root], onHost: true });
    expect(results.map((r) => [r.status, r.reason])).toEqual([
      ['skipped', 'under a deploy root of gate.json (uploaded content, not a checkout): never git-pulled'],
      ['skipped', 'under a deploy root of gate.json (uploaded content, not a checkout): never git-pulled'],
      ['skipped', 'a release deployed by till, not a checkout: never git-pulled'],
      ['skipped', 'under a deploy root of gate.json (uploaded content, not a checkout): never git-pulled'],
    ]);
    for (const m of markers) expect(existsSync(m)).toBe(false);
    // a dry run decides the same before any git
    const dry = await syncInstallations(list, { deployRoots: [root], onHost: true, dryRun: true });
    expect(dry.map((r) => r.status)).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
    for (const m of markers) expect(existsSync(m)).toBe(false);
  });

  it('syncs many in registry order', async () => {
    const list = ['a', 'b', 'c'].map((x) => ({ name: x, path: join(dir, x) }));
    expect((await syncInstallations(list)).map((r) => r.name)).toEqual(['a', 'b', 'c']);
  });
});
