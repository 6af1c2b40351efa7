/**
 * `till host deploy / rollback / releases` as a person runs them, against real sshd
 * hosts: atomic releases, link-dest hard links, lock, resume, health gate.
 */
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, rsyncRunningFor, tempHome, till, TILL_BIN, tillOk, waitUntil } from '../lab/till.js';

let lab: Lab;
let home: string;
let work: string;

function makeTree(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
}

/** The deployed tree on a host, read through the tekton_path symlink (files only, symlinks not followed). */
function remoteTree(h: LabHost, sub = 'projects/github/Tekton'): Record<string, string> {
  const list = h
    .shell(`cd ${sub}/ && find . -type f -printf '%P\\n' | sort`)
    .split('\n')
    .filter((l) => l !== '');
  const out: Record<string, string> = {};
  for (const p of list) out[p] = readFileSync(join(h.home, sub, p), 'utf8');
  return out;
}

function journal(): { runs: Array<{ run: string; release: string; hosts: Record<string, { state: string }> }> } {
  try {
    return JSON.parse(readFileSync(join(home, 'state', 'deploy-journal.json'), 'utf8'));
  } catch {
    return { runs: [] };
  }
}

beforeAll(async () => {
  ({ home } = tempHome());
  await tillOk(home, ['host', 'init']);
  const key = readFileSync(join(home, 'ssh', 'till_federation_ed25519.pub'), 'utf8');
  lab = await startLab(8, { authorizedKey: key });
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
  work = mkdtempSync('/tmp/td-');
}, 120_000);

afterAll(async () => {
  await closeMasters(home);
  lab?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('deploy to three hosts', () => {
  const src = () => join(work, 'src');

  it('makes tekton_path a symlink to a release equal to the source minus excludes, with the remote TEKTON_ROOT', async () => {
    makeTree(src(), {
      'README.md': 'hello v1\n',
      'bin/run.sh': 'echo run\n',
      'lib/a.txt': 'A1\n',
      'lib/b.txt': 'A1\n',
      '.env.local': 'TEKTON_REGISTRY_NAME=primary.tekton.us\nTEKTON_ROOT=/local/path\nOTHER=kept\n',
      '.git/HEAD': 'ref\n',
      'x.pyc': 'bytecode',
      'lib/__pycache__/m.cpython.pyc': 'bc',
      'logs/local.log': 'local log\n',
      'tmp/scratch': 'tmp\n',
      'skipme.txt': 'ignored by .tillignore\n',
      '.tillignore': 'skipme.txt\n',
    });
    const r = await tillOk(home, ['host', 'deploy', 'h0', 'h1', 'h2', '--source', src(), '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.summary.ok).toBe(3);
    for (const h of lab.hosts.slice(0, 3)) {
      expect(h.shell('readlink projects/github/Tekton').trim()).toBe(`Tekton.till/releases/${doc.release}`);
      const tree = remoteTree(h);
      const env = tree['.env.local'];
      delete tree['.env.local'];
      expect(tree).toEqual({
        'README.md': 'hello v1\n',
        'bin/run.sh': 'echo run\n',
        'lib/a.txt': 'A1\n',
        'lib/b.txt': 'A1\n',
        '.tillignore': 'skipme.txt\n',
      });
      expect(env).toBe(
        `TEKTON_REGISTRY_NAME=primary.tekton.us\nTEKTON_ROOT=${h.home}/projects/github/Tekton\nOTHER=kept\n`,
      );
      // shared paths are links into the shared folder
      expect(h.shell('readlink projects/github/Tekton/logs').trim()).toBe('../../shared/logs');
    }
    const hosts = JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout).hosts;
    for (const n of ['h0', 'h1', 'h2']) {
      const e = hosts.find((x: { name: string }) => x.name === n);
      expect(e.status).toBe('deployed');
      expect(e.installations).toContain('primary.tekton.us');
      expect(e.deploy.current).toBe(doc.release);
    }
  });

  it('an unchanged redeploy hard-links every file to the previous release and sends no file data', async () => {
    const first = JSON.parse((await tillOk(home, ['host', 'releases', 'h0', '--json'])).stdout).current as string;
    lab.hosts[0]!.shell('echo "written on the host" > projects/github/Tekton/logs/app.log');
    // what the excludes hide, written into the live release on the host: not carried over
    for (const h of lab.hosts.slice(0, 3))
      h.shell(
        'mkdir -p projects/github/Tekton/tmp projects/github/Tekton/lib/__pycache__ && echo x > projects/github/Tekton/tmp/junk && echo x > projects/github/Tekton/lib/__pycache__/a.pyc',
      );
    // --force-release: without it, these hosts would be left unchanged (test/e2e/deploy-unchanged.test.ts)
    const r = await tillOk(home, ['host', 'deploy', 'h0', 'h1', 'h2', '--source', src(), '--json', '--force-release']);
    const doc = JSON.parse(r.stdout);
    expect(doc.release).not.toBe(first);
    for (const res of doc.results) expect(res.literalBytes).toBe(0);
    // the same tree as the live release: staged as its hard-linked copy (cp -al)
    for (const res of doc.results) expect(res.copiedFrom).toBe(first);
    for (const h of lab.hosts.slice(0, 3)) {
      const ino = (id: string, f: string) =>
        h.shell(`stat -c %i projects/github/Tekton.till/releases/${id}/${f}`).trim();
      for (const f of ['README.md', 'bin/run.sh', 'lib/a.txt']) expect(ino(doc.release, f)).toBe(ino(first, f));
      // .env.local is written fresh, never through the previous release's inode
      expect(ino(doc.release, '.env.local')).not.toBe(ino(first, '.env.local'));
      expect(h.shell('cat projects/github/Tekton/.env.local')).toContain('TEKTON_ROOT=');
      const rel = `projects/github/Tekton.till/releases`;
      expect(
        h.shell(`for p in tmp lib/__pycache__; do if test -e ${rel}/${doc.release}/$p; then echo "$p"; fi; done`),
      ).toBe('');
      expect(h.shell(`cat ${rel}/${first}/tmp/junk`)).toBe('x\n');
      expect(h.shell(`readlink ${rel}/${doc.release}/logs`).trim()).toBe('../../shared/logs');
    }
    expect(readFileSync(join(lab.hosts[0]!.home, 'projects/github/Tekton/logs/app.log'), 'utf8')).toBe(
      'written on the host\n',
    );
  });

  it('change, deploy, rollback: the old content is back and releases lists both', async () => {
    const before = JSON.parse((await tillOk(home, ['host', 'releases', 'h1', '--json'])).stdout).current as string;
    writeFileSync(join(src(), 'README.md'), 'hello v2\n');
    const doc = JSON.parse(
      (await tillOk(home, ['host', 'deploy', 'h0', 'h1', 'h2', '--source', src(), '--json'])).stdout,
    );
    // a changed tree goes through rsync --link-dest: unchanged files are still hard links
    expect(doc.results.map((x: { copiedFrom: string | null }) => x.copiedFrom)).toEqual([null, null, null]);
    const inoOf = (id: string) =>
      lab.hosts[1]!.shell(`stat -c %i projects/github/Tekton.till/releases/${id}/lib/a.txt`).trim();
    expect(inoOf(doc.release)).toBe(inoOf(before));
    expect(readFileSync(join(lab.hosts[1]!.home, 'projects/github/Tekton/README.md'), 'utf8')).toBe('hello v2\n');
    const rb = JSON.parse((await tillOk(home, ['host', 'rollback', 'h1', '--json'])).stdout);
    expect(rb.results[0].to).toBe(before);
    expect(readFileSync(join(lab.hosts[1]!.home, 'projects/github/Tekton/README.md'), 'utf8')).toBe('hello v1\n');
    const rel = JSON.parse((await tillOk(home, ['host', 'releases', 'h1', '--json'])).stdout);
    const ids = rel.releases.map((x: { id: string }) => x.id);
    expect(ids).toContain(doc.release);
    expect(ids).toContain(before);
    expect(rel.current).toBe(before);
    expect(rel.releases.find((x: { id: string }) => x.id === doc.release).state).toBe('rolled-back');
    const table = (await tillOk(home, ['host', 'releases', 'h1'])).stdout;
    expect(table).toContain(doc.release);
    expect(table).toMatch(new RegExp(`\\*\\s+${before}`));
    // a second rollback never goes back to the release that was rolled back
    const rb2 = JSON.parse((await till(home, ['host', 'rollback', 'h1', '--json'])).stdout);
    expect(rb2.results[0].to ?? null).not.toBe(doc.release);
  });

  it('deploys a file changed twice within one second at the same size (no stale hard link)', async () => {
    const file = join(src(), 'lib/same-second.txt');
    const second = Math.floor(Date.now() / 1000) - 60;
    writeFileSync(file, 'first!\n');
    utimesSync(file, second + 0.1, second + 0.1);
    await tillOk(home, ['host', 'deploy', 'h2', '--source', src()]);
    writeFileSync(file, 'second\n');
    utimesSync(file, second + 0.7, second + 0.7);
    await tillOk(home, ['host', 'deploy', 'h2', '--source', src()]);
    expect(readFileSync(join(lab.hosts[2]!.home, 'projects/github/Tekton/lib/same-second.txt'), 'utf8')).toBe(
      'second\n',
    );
  });

  it('logs/ written on the host survives three deploys', async () => {
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(src(), 'lib/a.txt'), `round ${i}\n`);
      await tillOk(home, ['host', 'deploy', 'h0', '--source', src()]);
    }
    expect(readFileSync(join(lab.hosts[0]!.home, 'projects/github/Tekton/logs/app.log'), 'utf8')).toBe(
      'written on the host\n',
    );
    expect(readFileSync(join(lab.hosts[0]!.home, 'projects/github/Tekton/lib/a.txt'), 'utf8')).toBe('round 2\n');
  });

  it('keeps at most --keep releases, never the current or the previous good one', async () => {
    const before = lab.hosts[0]!.shell('ls projects/github/Tekton.till/releases').trim().split('\n');
    expect(before.length).toBeGreaterThan(2);
    const doc = JSON.parse(
      // the tree is the live one: --force-release makes the new release that --keep prunes for
      (await tillOk(home, ['host', 'deploy', 'h0', '--source', src(), '--keep', '2', '--json', '--force-release']))
        .stdout,
    );
    const rel = JSON.parse((await tillOk(home, ['host', 'releases', 'h0', '--json'])).stdout);
    expect(rel.releases.length).toBe(2);
    expect(rel.releases.some((r: { current: boolean }) => r.current)).toBe(true);
    // what was pruned is reported, gone from the disk and from the record, and the lock went with it
    const pruned: string[] = doc.results[0].pruned;
    expect(pruned.length).toBe(before.length + 1 - 2);
    const log = lab.hosts[0]!.shell('cat projects/github/Tekton.till/releases.log');
    for (const id of pruned) {
      expect(
        lab.hosts[0]!.shell(`test -e projects/github/Tekton.till/releases/${id} && echo kept || echo gone`).trim(),
      ).toBe('gone');
      expect(log).not.toContain(id);
    }
    expect(lab.hosts[0]!.shell('test -d projects/github/Tekton.till/lock && echo locked || echo free').trim()).toBe(
      'free',
    );
  });

  it('--check false: the host goes back to the previous release, is reported failed, exit 1', async () => {
    const before = JSON.parse((await tillOk(home, ['host', 'releases', 'h2', '--json'])).stdout).current as string;
    writeFileSync(join(src(), 'README.md'), 'hello broken\n');
    const r = await till(home, ['host', 'deploy', 'h2', '--source', src(), '--check', 'false', '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.results[0].ok).toBe(false);
    expect(doc.results[0].checkFailed).toBe(true);
    expect(doc.results[0].error).toContain('health check failed');
    const rel = JSON.parse((await tillOk(home, ['host', 'releases', 'h2', '--json'])).stdout);
    expect(rel.current).toBe(before);
    expect(rel.releases.find((x: { id: string }) => x.id === doc.release).state).toBe('failed');
    expect(lab.hosts[2]!.shell('test -d projects/github/Tekton.till/lock && echo locked || echo free').trim()).toBe(
      'free',
    );
    // a passing check runs in the new release
    const ok = await tillOk(home, [
      'host',
      'deploy',
      'h2',
      '--source',
      src(),
      '--check',
      'grep -q broken README.md && test -f .env.local',
    ]);
    expect(ok.code).toBe(0);
    // the failed release is never a rollback target
    const rb = JSON.parse((await tillOk(home, ['host', 'rollback', 'h2', '--json'])).stdout);
    expect(rb.results[0].to).toBe(before);
  });

  it('--dry-run prints the itemized changes and changes nothing', async () => {
    writeFileSync(join(src(), 'new-file.txt'), 'new\n');
    const before = lab.hosts[0]!.shell('ls projects/github/Tekton.till/releases');
    const r = await tillOk(home, ['host', 'deploy', 'h0', '--source', src(), '--dry-run']);
    expect(r.stdout).toContain('new-file.txt');
    expect(lab.hosts[0]!.shell('ls projects/github/Tekton.till/releases')).toBe(before);
    expect(lab.hosts[0]!.shell('test -e projects/github/Tekton/new-file.txt && echo yes || echo no').trim()).toBe('no');
  });
});

describe('atomic switch', () => {
  it('a reader looping over tekton_path during deploys never sees a mix of two releases', async () => {
    const h = lab.hosts[7]!;
    const src = join(work, 'atomic');
    makeTree(src, { 'a.txt': 'v0\n', 'b.txt': 'v0\n' });
    await tillOk(home, ['host', 'deploy', 'h7', '--source', src]);
    const script = [
      'stop="$HOME/stop-reader"; n=0; bad=0; seen=""',
      'while [ ! -e "$stop" ]; do',
      '  n=$((n+1))',
      // resolve the link once, then read both files: one release or the other
      '  if d=$(cd -P projects/github/Tekton 2>/dev/null && pwd); then a=$(cat "$d/a.txt"); b=$(cat "$d/b.txt"); [ "$a" = "$b" ] || { bad=$((bad+1)); echo "MIX $a $b"; }; seen="$a"; else echo MISSING; bad=$((bad+1)); fi',
      '  cat projects/github/Tekton/a.txt >/dev/null 2>&1 || { echo MISSING-FILE; bad=$((bad+1)); }',
      '  sleep 0.01',
      'done',
      'echo "ITER $n BAD $bad LAST $seen"',
    ].join('\n');
    const reader: ChildProcess = spawn(
      '/usr/sbin/runuser',
      ['-u', h.user, '--', '/bin/bash', '-c', `cd "$HOME" && ${script}`],
      { env: { PATH: '/usr/bin:/bin', HOME: h.home }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    reader.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => reader.on('close', r));
    try {
      for (let i = 1; i <= 3; i++) {
        writeFileSync(join(src, 'a.txt'), `v${i}\n`);
        writeFileSync(join(src, 'b.txt'), `v${i}\n`);
        await tillOk(home, ['host', 'deploy', 'h7', '--source', src]);
        await tillOk(home, ['host', 'rollback', 'h7']);
        await tillOk(home, [
          'host',
          'rollback',
          'h7',
          '--to',
          JSON.parse((await tillOk(home, ['host', 'releases', 'h7', '--json'])).stdout).releases[0].id,
        ]);
      }
    } finally {
      writeFileSync(join(h.home, 'stop-reader'), '');
      await exited;
    }
    const m = /ITER (\d+) BAD (\d+) LAST (\S+)/.exec(out);
    expect(m, out).not.toBeNull();
    expect(out).not.toContain('MIX');
    expect(out).not.toContain('MISSING');
    expect(Number(m![2])).toBe(0);
    expect(Number(m![1])).toBeGreaterThan(10);
    expect(m![3]).toBe('v3');
  }, 300_000);
});

describe('first deploy onto a plain directory', () => {
  it('keeps the existing directory, with a file the source lacks, as the first release', async () => {
    const h = lab.hosts[3]!;
    h.shell(
      'mkdir -p projects/github/Tekton/logs && echo mine > projects/github/Tekton/only-here.txt && echo old-log > projects/github/Tekton/logs/old.log',
    );
    const src = join(work, 'plain');
    makeTree(src, { 'app.txt': 'app\n' });
    const doc = JSON.parse((await tillOk(home, ['host', 'deploy', 'h3', '--source', src, '--json'])).stdout);
    expect(doc.results[0].adopted).toMatch(/-adopted$/);
    expect(h.shell(`cat projects/github/Tekton.till/releases/${doc.results[0].adopted}/only-here.txt`)).toBe('mine\n');
    expect(h.shell('readlink projects/github/Tekton').trim()).toBe(`Tekton.till/releases/${doc.release}`);
    // the plain directory's logs moved to the shared folder and continue in the new release
    expect(h.shell('cat projects/github/Tekton/logs/old.log')).toBe('old-log\n');
    const rel = JSON.parse((await tillOk(home, ['host', 'releases', 'h3', '--json'])).stdout);
    expect(rel.releases.find((r: { id: string }) => r.id === doc.results[0].adopted).state).toBe('adopted');
    // and the adopted release is a rollback target
    await tillOk(home, ['host', 'rollback', 'h3']);
    expect(h.shell('cat projects/github/Tekton/only-here.txt')).toBe('mine\n');
  });
});

describe('deploy lock', () => {
  it('two deploys at once: one fails naming the holder; no lock remains after either ends', async () => {
    const h = lab.hosts[4]!;
    const src = join(work, 'big4');
    makeTree(src, { 'small.txt': 'x\n' });
    writeFileSync(join(src, 'big.bin'), Buffer.alloc(40 * 1024 * 1024, 7));
    const lockState = () => h.shell('test -d projects/github/Tekton.till/lock && echo locked || echo free').trim();
    // The first deploy holds the lock through its --check; the second starts while it does.
    const first = till(home, ['host', 'deploy', 'h4', '--source', src, '--json', '--check', 'sleep 4']);
    const deadline = Date.now() + 60_000;
    while (lockState() !== 'locked') {
      if (Date.now() > deadline) throw new Error('the first deploy never took the lock');
      await new Promise((r) => setTimeout(r, 50));
    }
    const b = await till(home, ['host', 'deploy', 'h4', '--source', src, '--json']);
    const a = await first;
    expect([a.code, b.code]).toEqual([0, 1]);
    const loser = b;
    const err = JSON.parse(loser.stdout).results[0].error as string;
    expect(err).toMatch(/locked by \S+@\S+ since \d{4}-/);
    expect(err).toContain('deploy ');
    expect(h.shell('test -d projects/github/Tekton.till/lock && echo locked || echo free').trim()).toBe('free');
  });

  it('Ctrl-C (SIGINT) mid-transfer releases the lock', async () => {
    const h = lab.hosts[4]!;
    const src = join(work, 'big4');
    writeFileSync(join(src, 'big2.bin'), Buffer.alloc(60 * 1024 * 1024, 9));
    let child: ChildProcess | undefined;
    const run = till(home, ['host', 'deploy', 'h4', '--source', src], {
      onSpawn: (c) => (child = c),
      timeoutMs: 120_000,
    });
    await waitUntil(
      () => h.shell('test -d projects/github/Tekton.till/lock && echo y || echo n').trim() === 'y',
      60_000,
      'the lock',
    );
    child!.kill('SIGINT');
    const r = await run;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('--resume');
    expect(h.shell('test -d projects/github/Tekton.till/lock && echo locked || echo free').trim()).toBe('free');
    // a stale lock (a dead deploy) blocks, and --force-unlock breaks it, naming its holder
    h.shell(
      'mkdir -p projects/github/Tekton.till/lock && printf "who=ghost@nowhere\\nwhen=2020-01-01T00:00:00Z\\nwhat=deploy x\\npid=1\\nrun=dead\\n" > projects/github/Tekton.till/lock/info',
    );
    const blocked = await till(home, ['host', 'deploy', 'h4', '--source', src]);
    expect(blocked.code).toBe(1);
    expect(blocked.stdout + blocked.stderr).toContain('ghost@nowhere');
    const broke = await tillOk(home, ['host', 'deploy', 'h4', '--source', src, '--force-unlock']);
    expect(broke.stderr).toContain('broke the lock held by ghost@nowhere');
    expect(h.shell('test -d projects/github/Tekton.till/lock && echo locked || echo free').trim()).toBe('free');
  });
});

describe('a prepare step that fails', () => {
  it("tekton_path is a file: reported as the host's error, not retried as a lost connection, the lock released, the file untouched", async () => {
    const h = lab.hosts[0]!;
    h.shell('echo mine > notadir');
    await tillOk(home, ['host', 'add', 'nd', h.spec, '--tekton-path', '~/notadir']);
    const src = join(work, 'nd-src');
    makeTree(src, { 'a.txt': 'a\n' });
    const r = await till(home, ['host', 'deploy', 'nd', '--source', src, '--json']);
    expect(r.code).toBe(1);
    const res = JSON.parse(r.stdout).results[0];
    expect(res.error).toMatch(/prepare failed: .*notadir exists and is not a directory or symlink/);
    expect(res.attempts).toBe(1);
    expect(h.shell('cat notadir')).toBe('mine\n');
    expect(h.shell('test -d notadir.till/lock && echo locked || echo free').trim()).toBe('free');
    await tillOk(home, ['host', 'remove', 'nd']);
  });
});

describe('a tekton_path no deploy may replace', () => {
  it('~/.ssh or / in a database an older till wrote: the host fails before any connection, its folders untouched', async () => {
    const h = lab.hosts[0]!;
    await tillOk(home, ['host', 'add', 'sshdir', h.spec]);
    const src = join(work, 'sshdir-src');
    makeTree(src, { 'a.txt': 'a\n' });
    const listing = h.shell('ls -la .ssh; ls -a');
    for (const bad of ['~/.ssh', '/', '~/']) {
      const db = JSON.parse(readFileSync(join(home, 'hosts-local.json'), 'utf8'));
      db.hosts.sshdir.tekton_path = bad;
      writeFileSync(join(home, 'hosts-local.json'), `${JSON.stringify(db, null, 2)}\n`);
      const r = await till(home, ['host', 'deploy', 'sshdir', '--source', src, '--json']);
      expect(r.code, bad).toBe(1);
      const res = JSON.parse(r.stdout).results[0];
      expect(res.error).toContain(`cannot deploy to tekton_path ${JSON.stringify(bad)}: `);
      expect(res.error).toContain('till host edit sshdir --tekton-path');
      expect(res.attempts).toBe(1);
      expect(h.shell('ls -la .ssh; ls -a'), bad).toBe(listing);
    }
    // and it cannot be set again
    const edit = await till(home, ['host', 'edit', 'sshdir', '--tekton-path', '~/.ssh']);
    expect(edit.code).toBe(2);
    expect(edit.stderr).toContain('it is ~/.ssh or lies inside it');
    await tillOk(home, ['host', 'remove', 'sshdir']);
  });
});

describe('progress on a terminal', () => {
  it('the live line shows each transfer under way (percent, bytes, files); without a terminal, none of it', async () => {
    const src = join(work, 'progress');
    mkdirSync(src, { recursive: true });
    // incompressible, so the transfer takes a while even over loopback with lz4
    for (let i = 0; i < 12; i++) writeFileSync(join(src, `r${i}.bin`), randomBytes(3 * 1024 * 1024));
    const r = spawnSync(
      'script',
      ['-qec', `${process.execPath} ${TILL_BIN} host deploy h4 --source ${src}`, '/dev/null'],
      {
        encoding: 'utf8',
        timeout: 240_000,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          TILL_HOME: home,
          NO_COLOR: '1',
          TERM: 'dumb',
          COLUMNS: '200',
        },
      },
    );
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/0\/1 done · [\d.]+m?s · h4 \d{1,3}% [\d.]+ (B|KiB|MiB), \d+ files?/);
    expect(r.stdout).toMatch(/staged h4: 12 of 13 files/);
    // not on a terminal: no progress records (rsync is not even asked for them), no \r
    writeFileSync(join(src, 'r0.bin'), randomBytes(3 * 1024 * 1024));
    const plain = await tillOk(home, ['host', 'deploy', 'h4', '--source', src]);
    expect(plain.stderr).toMatch(/staged h4: 1 of 13 files/);
    expect(plain.stdout + plain.stderr).not.toMatch(/\r|\d%/);
  });
});

describe('resume', () => {
  it('after SIGKILL mid-deploy, --resume finishes every host without transferring finished ones again', async () => {
    const src = join(work, 'resume');
    makeTree(src, { 'version.txt': 'r1\n' });
    writeFileSync(join(src, 'big.bin'), Buffer.alloc(1024 * 1024, 1));
    await tillOk(home, ['host', 'deploy', 'h5', 'h6', '--source', src]);
    writeFileSync(join(src, 'version.txt'), 'r2\n');
    writeFileSync(join(src, 'big2.bin'), Buffer.alloc(80 * 1024 * 1024, 3));
    let child: ChildProcess | undefined;
    const run = till(home, ['host', 'deploy', 'h5', 'h6', 'h3', '--source', src, '--parallel', '1'], {
      onSpawn: (c) => (child = c),
      timeoutMs: 180_000,
    });
    await waitUntil(
      () => {
        const last = journal().runs.at(-1);
        return last !== undefined && last.hosts.h5?.state === 'staged';
      },
      120_000,
      'h5 staged',
    );
    child!.kill('SIGKILL');
    await run;
    const last = journal().runs.at(-1)!;
    expect(Object.values(last.hosts).some((x) => x.state !== 'done')).toBe(true);
    // rsync children of the killed till may still run; wait for them to end
    await waitUntil(() => !rsyncRunningFor(home), 120_000, 'orphaned rsync to end');
    // h5 finished staging: its files sit complete in <id>.partial (completed at the switch)
    const inode = lab.hosts[5]!.shell(
      `stat -c %i projects/github/Tekton.till/releases/${last.release}.partial/big2.bin`,
    ).trim();
    const r = await tillOk(home, ['host', 'deploy', '--resume', '--json'], { timeoutMs: 180_000 });
    const doc = JSON.parse(r.stdout);
    expect(doc.release).toBe(last.release);
    expect(doc.ok).toBe(true);
    const h5 = doc.results.find((x: { host: string }) => x.host === 'h5');
    expect(h5.filesTransferred).toBe(0);
    expect(h5.literalBytes).toBe(0);
    expect(lab.hosts[5]!.shell(`stat -c %i projects/github/Tekton.till/releases/${last.release}/big2.bin`).trim()).toBe(
      inode,
    );
    for (const i of [5, 6, 3]) {
      expect(lab.hosts[i]!.shell('readlink projects/github/Tekton').trim()).toBe(
        `Tekton.till/releases/${last.release}`,
      );
      expect(lab.hosts[i]!.shell('cat projects/github/Tekton/version.txt')).toBe('r2\n');
      expect(lab.hosts[i]!.shell('test -d projects/github/Tekton.till/lock && echo locked || echo free').trim()).toBe(
        'free',
      );
    }
    // nothing left to resume
    const again = await till(home, ['host', 'deploy', '--resume']);
    expect(again.code).toBe(2);
  }, 300_000);
});
