/**
 * Who deployed what, and a lock with a message, as two operators (two TILL_HOMEs with
 * their own keys) meet them on the same real hosts: the release record from a git
 * checkout with a dirty tree; `host lock -m` by one, refused deploy and rollback for the
 * other (naming who, from where, when and why, in the error, host show and status),
 * `--force-unlock` never breaking it, and `host unlock`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';

let lab: Lab;
/** Two operators: ann and bob, each with a TILL_HOME of their own. */
let ann: string;
let bob: string;
let work: string;
let repo: string;
const ME = `${userInfo().username}@${hostname()}`;

const git = (...args: string[]) =>
  execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim();
const releasesDir = () => join(lab.hosts[0]!.home, 'projects/github/Tekton.till/releases');
const live = () => lab.hosts[0]!.shell('readlink projects/github/Tekton').trim();

beforeAll(async () => {
  ann = tempHome().home;
  bob = tempHome().home;
  for (const h of [ann, bob]) await tillOk(h, ['host', 'init']);
  lab = await startLab(1, { authorizedKey: readFileSync(join(ann, 'ssh/till_federation_ed25519.pub'), 'utf8') });
  lab.hosts[0]!.authorize(readFileSync(join(bob, 'ssh/till_federation_ed25519.pub'), 'utf8'));
  for (const h of [ann, bob]) await tillOk(h, ['host', 'add', 'h0', lab.hosts[0]!.spec]);
  work = mkdtempSync('/tmp/tk-');
  repo = join(work, 'app');
  execFileSync('git', ['init', '-q', repo]);
  writeFileSync(join(repo, 'README.md'), 'one\n');
  git('add', '.');
  git('commit', '-qm', 'one');
}, 60_000);

afterAll(async () => {
  for (const h of [ann, bob]) if (h) await closeMasters(h);
  lab?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('who deployed what, and the lock', { timeout: 120_000 }, () => {
  it('records deployer, source, commit and dirty from a git checkout with uncommitted changes, and the message', async () => {
    const head = git('rev-parse', 'HEAD');
    writeFileSync(join(repo, 'README.md'), 'one, edited\n');
    const r = await tillOk(ann, ['host', 'deploy', 'h0', '--source', repo, '-m', 'hotfix: login "again"', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ deployer: ME, commit: head, dirty: true, message: 'hotfix: login "again"' });
    // the host's record, as the other operator reads it
    const rel = JSON.parse((await tillOk(bob, ['host', 'releases', 'h0', '--json'])).stdout);
    expect(rel.releases[0]).toMatchObject({
      id: doc.release,
      current: true,
      state: 'good',
      source: repo,
      deployer: ME,
      commit: head,
      dirty: true,
      message: 'hotfix: login "again"',
    });
    const table = (await tillOk(bob, ['host', 'releases', 'h0'])).stdout;
    expect(table).toMatch(
      new RegExp(`\\* +${doc.release} +good .* ${ME} +${head.slice(0, 12)}\\+dirty +hotfix: login "again"`),
    );
    // status shows the current release's deployer and commit (+: a dirty tree)
    const status = JSON.parse((await tillOk(ann, ['status', '--json'])).stdout).hosts[0];
    expect(status).toMatchObject({ release: doc.release, deployedBy: ME, commit: head, dirty: true });
    expect((await tillOk(ann, ['status'])).stdout).toMatch(new RegExp(`${doc.release} +${ME} ${head.slice(0, 8)}\\+`));
    // committed: clean; not a checkout: no commit at all. The tree stays the same, so each
    // deploy says --force-release: without it the host would be left as it is (unchanged).
    git('commit', '-qam', 'two');
    const clean = JSON.parse(
      (await tillOk(ann, ['host', 'deploy', 'h0', '--source', repo, '--json', '--force-release'])).stdout,
    );
    expect(clean).toMatchObject({ commit: git('rev-parse', 'HEAD'), dirty: false, message: null });
    rmSync(join(repo, '.git'), { recursive: true });
    const plain = JSON.parse(
      (await tillOk(ann, ['host', 'deploy', 'h0', '--source', repo, '--json', '--force-release'])).stdout,
    );
    expect(plain).toMatchObject({ commit: null, dirty: null });
    const last = JSON.parse((await tillOk(ann, ['host', 'releases', 'h0', '--json'])).stdout).releases[0];
    expect(last).toMatchObject({ id: plain.release, commit: null, dirty: null, deployer: ME, message: null });
  });

  it("one operator's lock stops the other's deploy and rollback, naming who, from where, when and why; --force-unlock does not break it", async () => {
    const locked = JSON.parse(
      (await tillOk(ann, ['host', 'lock', 'h0', '-m', 'db migration, ask ann', '--json'])).stdout,
    );
    const hold = locked.results[0].manualLock;
    expect(hold).toEqual({ by: ME, when: expect.any(String), from: '127.0.0.1', message: 'db migration, ask ann' });
    const before = { live: live(), releases: readdirSync(releasesDir()).sort() };
    const words = `locked by ${ME} (from 127.0.0.1) since ${hold.when}: "db migration, ask ann"; when it is safe: till host unlock h0`;
    for (const args of [
      ['host', 'deploy', 'h0', '--source', repo, '--json'],
      ['host', 'deploy', 'h0', '--source', repo, '--force-unlock', '--json'],
      ['host', 'rollback', 'h0', '--json'],
    ]) {
      const r = await till(bob, args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(JSON.parse(r.stdout).results[0].error).toBe(words);
    }
    expect({ live: live(), releases: readdirSync(releasesDir()).sort() }).toEqual(before);
    // bob's host show and status name it now; a second lock changes nothing
    expect((await tillOk(bob, ['host', 'show', 'h0'])).stdout).toMatch(
      new RegExp(`locked +by ${ME} \\(from 127\\.0\\.0\\.1\\) since ${hold.when}: "db migration, ask ann"`),
    );
    expect((await tillOk(bob, ['status'])).stdout).toMatch(/locked by \S+: db migration, ask ann/);
    expect(JSON.parse((await tillOk(bob, ['status', '--json'])).stdout).hosts[0].lock).toMatchObject({
      message: 'db migration, ask ann',
    });
    const again = await till(bob, ['host', 'lock', 'h0', '-m', 'mine now']);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/already locked by .*"db migration, ask ann"/);
  });

  it('the other operator unlocks, saying whose lock it was; the first sees it gone at its next contact; deploys work again', async () => {
    const r = await tillOk(bob, ['host', 'unlock', 'h0']);
    expect(r.stdout).toMatch(/h0 +ok .*db migration, ask ann/);
    expect((await tillOk(bob, ['status'])).stdout).not.toMatch(/locked/);
    // ann's record is what ann last saw, until ann's till talks to the host again
    expect((await tillOk(ann, ['status'])).stdout).toMatch(/locked by/);
    await tillOk(ann, ['host', 'releases', 'h0']);
    expect((await tillOk(ann, ['status'])).stdout).not.toMatch(/locked/);
    expect((await tillOk(bob, ['host', 'unlock', 'h0'])).stdout).toMatch(/not locked/);
    await tillOk(bob, ['host', 'deploy', 'h0', '--source', repo]);
  });

  it('refuses a lock without a message, a message that is not one line, and an unknown host (exit 2)', async () => {
    for (const [args, re] of [
      [['host', 'lock', 'h0'], /host lock needs -m, --message <text>/],
      [['host', 'lock', 'h0', '-m', 'a\nb'], /invalid --message: message "a\\nb" contains a control character/],
      [['host', 'lock', 'nosuch', '-m', 'x'], /nosuch/],
    ] as const) {
      const r = await till(ann, [...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
    }
  });
});
