import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab/lab.js';
import { closeMasters, homeWithHosts, tempHome, till, tillOk, waitUntil } from '../lab/till.js';
import { sshOut } from './helpers-remote.js';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.com',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.com',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
/** A git line as the lab user on a host, through till's ssh config. */
const remoteGit = 'git -c user.name=t -c user.email=t@example.com';

interface HostJson {
  name: string;
  status: string;
  last_sync?: string | null;
}

// Generous: every step spawns till and ssh, and a busy 2-core CI machine is slow.
describe('till sync', { timeout: 240_000 }, () => {
  let home: string;
  let lab: Lab;
  let dir: string;
  let behind: string;
  let dirty: string;
  let pusher: string;

  const hostsOf = async () => JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout).hosts as HostJson[];
  const schedule = () => JSON.parse(readFileSync(`${home}/schedule.json`, 'utf8'));
  const pushCommit = (msg: string) => {
    writeFileSync(join(pusher, 'file.txt'), `${msg}\n`);
    git(pusher, 'commit', '-qam', msg);
    git(pusher, 'push', '-q');
    return git(pusher, 'rev-parse', 'HEAD');
  };
  const remotePush = (msg: string) =>
    sshOut(
      home,
      'h0',
      `cd ~/pusher && echo ${msg} > f && ${remoteGit} commit -qam ${msg} && git push -q && git rev-parse HEAD`,
    ).trim();

  beforeAll(async () => {
    ({ home, lab } = await homeWithHosts(3));
    await tillOk(home, ['host', 'setup', '--all'], { timeoutMs: 180_000 });

    // Local: a bare upstream, two clones registered as installations, a third that pushes.
    dir = mkdtempSync('/tmp/t-git-');
    git(dir, 'init', '-q', '--bare', 'up.git');
    git(dir, 'clone', '-q', 'up.git', 'seed');
    writeFileSync(join(dir, 'seed', 'file.txt'), 'one\n');
    git(join(dir, 'seed'), 'add', 'file.txt');
    git(join(dir, 'seed'), 'commit', '-qm', 'one');
    git(join(dir, 'seed'), 'push', '-q', 'origin', 'HEAD');
    for (const c of ['behind', 'dirty', 'pusher']) git(dir, 'clone', '-q', 'up.git', c);
    behind = join(dir, 'behind');
    dirty = join(dir, 'dirty');
    pusher = join(dir, 'pusher');
    writeFileSync(join(dirty, 'file.txt'), 'local edit\n');
    await tillOk(home, ['installation', 'add', behind]);
    await tillOk(home, ['installation', 'add', dirty]);

    // h0 has an installation of its own, registered with its own till.
    sshOut(
      home,
      'h0',
      `git init -q --bare up.git && git clone -q up.git inst 2>/dev/null && cd inst && echo a > f && git add f && ${remoteGit} commit -qm a && git push -q origin HEAD 2>/dev/null && cd && git clone -q up.git pusher && ~/.till/bin/till installation add ~/inst --name h0inst`,
    );
  }, 240_000);

  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('fast-forwards the behind checkout, skips the dirty one, syncs the up hosts, reports the down one, exits 1 and records the run', async () => {
    const upstream = pushCommit('two');
    const dirtyHead = git(dirty, 'rev-parse', 'HEAD');
    const behindHead = git(behind, 'rev-parse', 'HEAD');
    const remoteUpstream = remotePush('b');
    lab.hosts[2]!.stop();

    const r = await till(home, ['sync', '--json'], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: false, dryRun: false, status: 'partial', recorded: true });
    const local = new Map(doc.local.map((x: { name: string }) => [x.name, x]));
    expect(local.get('behind')).toMatchObject({
      status: 'updated',
      from: behindHead,
      to: upstream,
      behind: 1,
      path: behind,
    });
    expect(local.get('dirty')).toMatchObject({ status: 'skipped', from: dirtyHead });
    expect((local.get('dirty') as { reason: string }).reason).toMatch(/uncommitted changes/);

    expect(doc.hosts.summary).toEqual({ total: 3, ok: 2, failed: 0, unreachable: 1, skipped: 0 });
    const hosts = new Map(doc.hosts.results.map((x: { host: string }) => [x.host, x]));
    expect(hosts.get('h0')).toMatchObject({
      ok: true,
      local: [{ name: 'h0inst', status: 'updated', to: remoteUpstream }],
    });
    expect(hosts.get('h1')).toMatchObject({ ok: true, local: [] });
    expect(hosts.get('h2')).toMatchObject({ ok: false, status: 'unreachable', attempts: 3 });
    expect((hosts.get('h2') as { error: string }).error).toMatch(/connection refused/);

    // The checkouts: fast-forwarded, and untouched.
    expect(git(behind, 'rev-parse', 'HEAD')).toBe(upstream);
    expect(git(dirty, 'rev-parse', 'HEAD')).toBe(dirtyHead);
    expect(readFileSync(join(dirty, 'file.txt'), 'utf8')).toBe('local edit\n');
    expect(sshOut(home, 'h0', 'git -C ~/inst rev-parse HEAD').trim()).toBe(remoteUpstream);

    const db = await hostsOf();
    for (const n of ['h0', 'h1']) expect(db.find((h) => h.name === n)!.last_sync).toBeTruthy();
    expect(db.find((h) => h.name === 'h2')!.last_sync ?? null).toBeNull();

    const s = schedule();
    expect(s.sync.status).toBe('partial');
    expect(s.sync.next_run).toBeTruthy();
    const last = s.history.at(-1);
    expect(last).toMatchObject({
      status: 'partial',
      trigger: 'manual',
      installations: { total: 2, synced: 1, updated: 1, skipped: 1, failed: 0 },
      hosts: { total: 3, synced: 2, failed: 1 },
    });
    expect(last.duration_ms).toBeGreaterThan(0);

    // The human report names every result.
    const human = await till(home, ['sync', '--hosts-only', 'h2', '--retries', '1']);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/h2\s+unreachable/);
  });

  it('--dry-run reports what would be pulled and changes no checkout, no host and no record', async () => {
    const upstream = pushCommit('three');
    const remoteUpstream = remotePush('c');
    const refs = (cwd: string) =>
      git(cwd, 'for-each-ref', '--format=%(refname) %(objectname)') + git(cwd, 'rev-parse', 'HEAD');
    const before = {
      behind: refs(behind),
      dirty: refs(dirty),
      h0: sshOut(
        home,
        'h0',
        "git -C ~/inst for-each-ref --format='%(refname) %(objectname)'; git -C ~/inst rev-parse HEAD",
      ),
    };
    const syncsBefore = (await hostsOf()).map((h) => [h.name, h.last_sync ?? null]);
    const historyBefore = schedule().history.length;
    const dbBytes = readFileSync(`${home}/hosts-local.json`, 'utf8');
    // A tracked file with a new mtime and the same content: a plain `git status` would
    // refresh .git/index (under index.lock) to record it; a dry run must not write there.
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(behind, 'file.txt'), later, later);
    const index = (cwd: string) => {
      const f = join(cwd, '.git', 'index');
      return `${statSync(f).mtimeMs}:${readFileSync(f).toString('base64')}`;
    };
    const indexBefore = { behind: index(behind), dirty: index(dirty) };

    const r = await till(home, ['sync', '--dry-run', '--json'], { timeoutMs: 180_000 });
    expect(r.code).toBe(1); // h2 is still down
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ dryRun: true, recorded: false });
    const local = new Map(doc.local.map((x: { name: string }) => [x.name, x]));
    expect(local.get('behind')).toMatchObject({ status: 'would-update', to: upstream });
    expect(local.get('dirty')).toMatchObject({ status: 'skipped' });
    const h0 = doc.hosts.results.find((x: { host: string }) => x.host === 'h0');
    expect(h0).toMatchObject({ ok: true, local: [{ name: 'h0inst', status: 'would-update', to: remoteUpstream }] });

    expect(refs(behind)).toBe(before.behind);
    expect(refs(dirty)).toBe(before.dirty);
    expect({ behind: index(behind), dirty: index(dirty) }).toEqual(indexBefore);
    expect(
      sshOut(
        home,
        'h0',
        "git -C ~/inst for-each-ref --format='%(refname) %(objectname)'; git -C ~/inst rev-parse HEAD",
      ),
    ).toBe(before.h0);
    expect((await hostsOf()).map((h) => [h.name, h.last_sync ?? null])).toEqual(syncsBefore);
    expect(readFileSync(`${home}/hosts-local.json`, 'utf8')).toBe(dbBytes);
    expect(schedule().history.length).toBe(historyBefore);
  });

  it('host sync is the host half alone and records last_sync', async () => {
    const before = (await hostsOf()).find((h) => h.name === 'h1')!.last_sync!;
    const doc = JSON.parse((await tillOk(home, ['host', 'sync', 'h1', '--json'])).stdout);
    expect(doc.results[0]).toMatchObject({ host: 'h1', ok: true, local: [] });
    const after = (await hostsOf()).find((h) => h.name === 'h1')!.last_sync!;
    expect(Date.parse(after)).toBeGreaterThan(Date.parse(before));
  });

  it("never reaches a host's own hosts (no transitive trust)", async () => {
    // h0's till gets a host database of its own with h1 in it, reached with h0's own key,
    // which h1 accepts only to leave a marker: any contact from h0 is visible.
    const h1 = lab.hosts[1]!;
    sshOut(home, 'h0', `~/.till/bin/till host init >/dev/null 2>&1 && ~/.till/bin/till host add victim ${h1.spec}`);
    const h0Key = sshOut(home, 'h0', 'cat ~/.till/ssh/till_federation_ed25519.pub').trim();
    const marker = join(h1.home, 'reached-by-h0');
    h1.authorize(`command="touch ${marker}",no-pty ${h0Key}`);
    // Control: h0's till can reach h1 when asked to on h0 itself.
    sshOut(home, 'h0', '~/.till/bin/till host exec victim -- true >/dev/null 2>&1 || true');
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);
    // Make victim a host h0's till would sync if it ever ran a full sync.
    sshOut(
      home,
      'h0',
      `node -e 'const f=process.env.HOME+"/.till/hosts-local.json",fs=require("fs"),d=JSON.parse(fs.readFileSync(f));d.hosts.victim.status="till-ready";fs.writeFileSync(f,JSON.stringify(d))'`,
    );
    const h0Db = sshOut(home, 'h0', 'cat ~/.till/hosts-local.json');

    const r = await till(home, ['sync', '--json', 'h0', 'h1'], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).hosts.summary).toMatchObject({ total: 2, ok: 2 });
    expect(existsSync(marker)).toBe(false);
    expect(sshOut(home, 'h0', 'cat ~/.till/hosts-local.json')).toBe(h0Db);
    // The run was recorded on h0's own side too, as a local-only run triggered remotely.
    const h0Schedule = JSON.parse(sshOut(home, 'h0', 'cat ~/.till/schedule.json'));
    expect(h0Schedule.history.at(-1)).toMatchObject({ trigger: 'remote', hosts: { total: 0 } });
  });

  it('sync --local-only works where till was never initialised', async () => {
    const bare = tempHome();
    try {
      await tillOk(bare.home, ['installation', 'add', behind, '--name', 'b']);
      const r = await tillOk(bare.home, ['sync', '--local-only', '--json']);
      const doc = JSON.parse(r.stdout);
      expect(doc).toMatchObject({ ok: true, hosts: null, local: [{ name: 'b', status: 'up-to-date' }] });
      expect(existsSync(`${bare.home}/hosts-local.json`)).toBe(false);
      expect(existsSync(`${bare.home}/ssh`)).toBe(false);
    } finally {
      bare.cleanup();
    }
  });

  it('a bad target, an unknown group, a wrong option or a broken database stops the run before any checkout is pulled', async () => {
    pushCommit('four');
    const head = git(behind, 'rev-parse', 'HEAD');
    const scheduleBytes = readFileSync(`${home}/schedule.json`, 'utf8');
    const unchanged = () => {
      expect(git(behind, 'rev-parse', 'HEAD')).toBe(head);
      expect(readFileSync(`${home}/schedule.json`, 'utf8')).toBe(scheduleBytes);
    };
    for (const [args, pattern] of [
      [['sync', 'nomatch'], /nomatch/],
      [['sync', '--group', 'nogroup'], /nogroup/],
      [['sync', '--local-only', '--hosts-only'], /--local-only and --hosts-only exclude each other/],
      [['sync', '--local-only', 'h0'], /--local-only takes no host targets/],
      [['sync', '--trigger', 'a/b'], /invalid --trigger/],
    ] as const) {
      const r = await till(home, [...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(pattern);
      expect(r.stdout).toBe('');
      unchanged();
    }

    const dbFile = `${home}/hosts-local.json`;
    const db = readFileSync(dbFile, 'utf8');
    writeFileSync(dbFile, '{ not json');
    try {
      const r = await till(home, ['sync']);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/hosts-local\.json is not valid JSON/);
      unchanged();
    } finally {
      writeFileSync(dbFile, db);
    }
  });

  it('without a host database, --hosts-only is an error (exit 2), like host sync', async () => {
    const bare = tempHome();
    try {
      for (const args of [
        ['sync', '--hosts-only'],
        ['host', 'sync'],
      ]) {
        const r = await till(bare.home, args);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/till is not initialised/);
      }
      expect(existsSync(`${bare.home}/schedule.json`)).toBe(false);
    } finally {
      bare.cleanup();
    }
  });

  it('sync and host sync take --group', async () => {
    await tillOk(home, ['host', 'group', 'add', 'g1', 'h1', '--create']);
    const doc = JSON.parse((await tillOk(home, ['sync', '--hosts-only', '--group', 'g1', '--json'])).stdout);
    expect(doc.hosts.results.map((x: { host: string }) => x.host)).toEqual(['h1']);
    const host = JSON.parse((await tillOk(home, ['host', 'sync', '--group', 'g1', '--json'])).stdout);
    expect(host.results.map((x: { host: string }) => x.host)).toEqual(['h1']);
  });

  it('host sync of hosts without till is a usage error', async () => {
    await tillOk(home, ['host', 'add', 'fresh', lab.hosts[1]!.spec]);
    try {
      const r = await till(home, ['host', 'sync', 'fresh']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/none of the targets has till set up/);
    } finally {
      await tillOk(home, ['host', 'remove', 'fresh']);
    }
  });

  it('names each host installation skipped or failed; a failed one fails its host', async () => {
    sshOut(
      home,
      'h1',
      'mkdir -p ~/plain ~/gone && ~/.till/bin/till installation add ~/plain >/dev/null && ~/.till/bin/till installation add ~/gone >/dev/null && rmdir ~/gone',
    );
    try {
      const r = await till(home, ['host', 'sync', 'h1', '--json']);
      expect(r.code, r.stderr).toBe(1);
      const res = JSON.parse(r.stdout).results[0];
      expect(res).toMatchObject({ host: 'h1', ok: false, status: 'failed' });
      expect(res.error).toMatch(/^on the host: gone: directory not found/);

      const human = await till(home, ['sync', '--hosts-only', 'h1']);
      expect(human.code).toBe(1);
      expect(human.stdout).toMatch(/^h1: plain skipped: not a git checkout$/m);
      expect(human.stdout).toMatch(/^h1: gone failed: directory not found: \S+\/gone$/m);
    } finally {
      sshOut(
        home,
        'h1',
        '~/.till/bin/till installation remove plain >/dev/null; ~/.till/bin/till installation remove gone >/dev/null; rmdir ~/plain',
      );
    }
  });

  it('finds the report behind a login shell that prints without a newline', async () => {
    sshOut(home, 'h1', "printf '%s\\n' \"printf 'welcome '\" > ~/.bashrc");
    try {
      // Control: the shell's noise really is on stdout, glued to what the command prints.
      expect(sshOut(home, 'h1', 'echo hi')).toBe('welcome hi\n');
      const doc = JSON.parse((await tillOk(home, ['host', 'sync', 'h1', '--json'])).stdout);
      expect(doc.results[0]).toMatchObject({ host: 'h1', ok: true, local: [] });
    } finally {
      sshOut(home, 'h1', 'rm -f ~/.bashrc');
    }
  });

  it('a remote till that is missing, busy or too old: each named, an upgrade suggested only when it rejects the command', async () => {
    const errorOf = async () => {
      const r = await till(home, ['host', 'sync', 'h1', '--json']);
      expect(r.code, r.stderr).toBe(1);
      return JSON.parse(r.stdout).results[0].error as string;
    };
    sshOut(home, 'h1', 'mv ~/.till/bin/till ~/.till/bin/till.real');
    try {
      expect(await errorOf()).toBe('till is not installed on h1 (run: till host setup h1)');
      // An older till without `sync --local-only`, as commander words it.
      sshOut(
        home,
        'h1',
        `printf '%s\\n' '#!/bin/sh' "echo \\"error: unknown option '--local-only'\\" >&2" 'exit 1' > ~/.till/bin/till && chmod 755 ~/.till/bin/till`,
      );
      expect(await errorOf()).toBe(
        "the remote till printed no sync report (exit 1): error: unknown option '--local-only'; it may be older than this till: run till host setup h1",
      );
    } finally {
      sshOut(home, 'h1', 'mv -f ~/.till/bin/till.real ~/.till/bin/till');
    }
    // The host's own sync lock is held (a sync of its own is running): no upgrade hint.
    sshOut(home, 'h1', 'mkdir -p ~/.till/state/sync.run.lock');
    try {
      const error = await errorOf();
      expect(error).toMatch(
        /^the remote till printed no sync report \(exit 1\): error: another till sync is running on this TILL_HOME/,
      );
      expect(error).not.toMatch(/setup/);
    } finally {
      sshOut(home, 'h1', 'rmdir ~/.till/state/sync.run.lock');
    }
    await tillOk(home, ['host', 'sync', 'h1']);
  });

  it('an error after the checkouts were pulled still prints the results and records the run', async () => {
    const upstream = pushCommit('five');
    const gate = mkdtempSync('/tmp/t-gate-');
    chmodSync(gate, 0o777);
    // h1's shell waits for the test: the local step is done, the host step is running.
    writeFileSync(
      join(lab.hosts[1]!.home, '.bashrc'),
      `touch ${gate}/started; while [ ! -e ${gate}/go ]; do sleep 0.1; done\n`,
    );
    const dbFile = `${home}/hosts-local.json`;
    const db = readFileSync(dbFile, 'utf8');
    const historyBefore = schedule().history.length;
    try {
      const run = till(home, ['sync', 'h1', '--json'], { timeoutMs: 180_000 });
      await waitUntil(() => existsSync(join(gate, 'started')), 120_000, "h1's shell to start");
      writeFileSync(dbFile, '{ not json');
      writeFileSync(join(gate, 'go'), '');
      const r = await run;
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/hosts-local\.json is not valid JSON/);
      const doc = JSON.parse(r.stdout);
      expect(doc).toMatchObject({ ok: false, recorded: true, status: 'partial' });
      expect(doc.local.find((x: { name: string }) => x.name === 'behind')).toMatchObject({
        status: 'updated',
        to: upstream,
      });
      expect(doc.hosts.results[0]).toMatchObject({ host: 'h1', ok: true });
      expect(git(behind, 'rev-parse', 'HEAD')).toBe(upstream);
      const s = schedule();
      expect(s.history.length).toBe(historyBefore + 1);
      expect(s.history.at(-1).error).toMatch(/hosts-local\.json is not valid JSON/);
    } finally {
      writeFileSync(dbFile, db);
      rmSync(join(lab.hosts[1]!.home, '.bashrc'), { force: true });
      rmSync(gate, { recursive: true, force: true });
    }
  });
});
