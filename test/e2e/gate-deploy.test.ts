import { spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../lab/lab.js';
import { closeMasters, rsyncRunningFor, tempHome, till, tillOk, waitUntil } from '../lab/till.js';
import { olderGate } from './helpers-gate.js';

/**
 * host health, deploy, rollback and releases on a host whose key was restricted with
 * `host setup --restrict`: every remote command they send must pass `till gate`.
 */
describe('restricted host: health, deploy, rollback, releases through the gate', { timeout: 600_000 }, () => {
  let home: string;
  let lab: Lab;
  let work: string;
  const host = () => lab.hosts[0]!;
  const src = () => join(work, 'src');
  const P = () => join(host().home, 'projects/github/Tekton');
  const gateLog = (h = host()) => readFileSync(join(h.home, '.till/logs/gate.log'), 'utf8');
  const releasesDir = () => join(host().home, 'projects/github/Tekton.till/releases');
  const journal = (): { runs: Array<{ run: string; release: string; hosts: Record<string, { state: string }> }> } => {
    try {
      return JSON.parse(readFileSync(join(home, 'state', 'deploy-journal.json'), 'utf8'));
    } catch {
      return { runs: [] };
    }
  };
  const write = (files: Record<string, string>) => {
    for (const [rel, content] of Object.entries(files)) {
      mkdirSync(join(src(), rel, '..'), { recursive: true });
      writeFileSync(join(src(), rel), content);
    }
  };

  beforeAll(async () => {
    home = tempHome().home;
    work = mkdtempSync('/tmp/t-gd-');
    await tillOk(home, ['host', 'init']);
    const key = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8');
    lab = await startLab(2, { authorizedKey: key });
    for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
    const r = await tillOk(home, ['host', 'setup', 'h0', 'h1', '--restrict', '--json'], { timeoutMs: 240_000 });
    for (const res of JSON.parse(r.stdout).results) expect(res).toMatchObject({ ok: true, restricted: true });
  }, 300_000);

  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
    rmSync(work, { recursive: true, force: true });
  });

  it('host health works (up, no gate refusal), and host exec is still refused', async () => {
    const r = JSON.parse(
      (await tillOk(home, ['host', 'health', 'h0', '--json', '--load-max', '1000', '--disk-min', '0'])).stdout,
    );
    expect(r.results[0]).toMatchObject({ host: 'h0', ok: true });
    expect(r.results[0].health.up).toBe(true);
    // One call, the v2 script, its latency answered through the gate (which passes stdin on).
    expect(r.results[0].health.latencyMs).toBeGreaterThan(0);
    expect(gateLog()).toMatch(/allowed health-v2 from/);
    expect(gateLog()).not.toMatch(/allowed health latency/);
    expect(gateLog()).not.toMatch(/refused from [^\n]*(health|exit 0)/);

    const exec = await till(home, ['host', 'exec', 'h0', '--', 'id']);
    expect(exec.code).toBe(1);
    expect(exec.stdout + exec.stderr).toMatch(/refused by till gate/);
  });

  it('host deploy stages, links against the current release, switches; releases and rollback work', async () => {
    const logStart = gateLog().length;
    write({ 'README.md': 'v1\n', 'lib/same.txt': 'same\n', '.env.local': 'TEKTON_REGISTRY_NAME=gated.example\n' });
    const dry = await tillOk(home, ['host', 'deploy', 'h0', '--source', src(), '--dry-run']);
    expect(dry.code).toBe(0);

    const d1 = JSON.parse((await tillOk(home, ['host', 'deploy', 'h0', '--source', src(), '--json'])).stdout);
    expect(d1.ok).toBe(true);
    expect(host().shell('readlink projects/github/Tekton').trim()).toBe(`Tekton.till/releases/${d1.release}`);
    expect(readFileSync(join(P(), 'README.md'), 'utf8')).toBe('v1\n');
    expect(readFileSync(join(P(), '.env.local'), 'utf8')).toContain(`TEKTON_ROOT=${P()}`);

    write({ 'README.md': 'v2\n' });
    const dry2 = await tillOk(home, ['host', 'deploy', 'h0', '--source', src(), '--dry-run']);
    expect(dry2.stdout).toMatch(/README\.md/);
    // registered with the host's till once; the next deploy does not start it again
    expect(d1.results[0].registered).toBe(true);
    const registry = join(host().home, '.till/installations.json');
    expect(readFileSync(registry, 'utf8')).toContain(P());
    const registeredAt = statSync(registry).mtimeMs;
    const d2 = JSON.parse((await tillOk(home, ['host', 'deploy', 'h0', '--source', src(), '--json'])).stdout);
    expect(d2.ok).toBe(true);
    expect(d2.results[0].registered).toBe(true);
    expect(statSync(registry).mtimeMs).toBe(registeredAt);
    expect(readFileSync(join(P(), 'README.md'), 'utf8')).toBe('v2\n');
    // the unchanged file is a hard link to the first release's (--link-dest ../<current> passed the gate)
    const releases = join(host().home, 'projects/github/Tekton.till/releases');
    expect(statSync(join(releases, d2.release, 'lib/same.txt')).ino).toBe(
      statSync(join(releases, d1.release, 'lib/same.txt')).ino,
    );

    const rel = JSON.parse((await tillOk(home, ['host', 'releases', 'h0', '--json'])).stdout);
    expect(JSON.stringify(rel)).toContain(d1.release);
    expect(JSON.stringify(rel)).toContain(d2.release);

    const rb = JSON.parse((await tillOk(home, ['host', 'rollback', 'h0', '--json'])).stdout);
    expect(rb.ok).toBe(true);
    expect(host().shell('readlink projects/github/Tekton').trim()).toBe(`Tekton.till/releases/${d1.release}`);
    expect(readFileSync(join(P(), 'README.md'), 'utf8')).toBe('v1\n');
    // the same tree twice: the second is staged as a hard-linked copy of the live release (prepare v2)
    // the host's registry changed since (say, another installation added): asked again, and
    // the host's till answers that it is already registered (--if-absent), not a failure
    utimesSync(registry, new Date(Date.now() + 5_000), new Date(Date.now() + 5_000));
    const d3 = JSON.parse((await tillOk(home, ['host', 'deploy', 'h0', '--source', src(), '--json'])).stdout);
    expect(d3.results[0].copiedFrom).toBe(null);
    expect(d3.results[0]).toMatchObject({ registered: true, registerError: null });
    const d4 = JSON.parse(
      (await tillOk(home, ['host', 'deploy', 'h0', '--source', src(), '--json', '--force-release'])).stdout,
    );
    expect(d4.results[0].copiedFrom).toBe(d3.release);
    expect(statSync(join(releases, d4.release, 'README.md')).ino).toBe(
      statSync(join(releases, d3.release, 'README.md')).ino,
    );
    expect(readFileSync(join(P(), 'README.md'), 'utf8')).toBe('v2\n');
    expect(gateLog()).toMatch(/allowed deploy-prepare-v5 from/);
    expect(gateLog()).toMatch(/allowed deploy-switch-v5 from/);
    expect(gateLog()).toMatch(/allowed rollback-v4 from/);
    expect(gateLog().slice(logStart)).not.toMatch(/refused from/);
  });

  it("a host restricted behind till's back (not marked in the database): the one-connection staging is refused, the two-step one deploys", async () => {
    const h1 = lab.hosts[1]!;
    const dbFile = join(home, 'hosts-local.json');
    const db = JSON.parse(readFileSync(dbFile, 'utf8'));
    expect(db.hosts.h1.restricted).toBe(true);
    delete db.hosts.h1.restricted;
    writeFileSync(dbFile, `${JSON.stringify(db, null, 2)}\n`);
    try {
      const logStart = gateLog(h1).length;
      const own = join(work, 'src-h1');
      mkdirSync(own);
      writeFileSync(join(own, 'README.md'), 'behind its back\n');
      const d = JSON.parse((await tillOk(home, ['host', 'deploy', 'h1', '--source', own, '--json'])).stdout);
      expect(d.ok).toBe(true);
      expect(readFileSync(join(h1.home, 'projects/github/Tekton/README.md'), 'utf8')).toBe('behind its back\n');
      const log = gateLog(h1).slice(logStart);
      expect(log).toMatch(/refused from/);
      expect(log).toMatch(/allowed deploy-prepare-v5 from/);
      expect(log).toMatch(/allowed deploy-switch-v5 from/);
      // a rollback there too: its post-rollback hook is refused by that gate, so it goes back without it
      writeFileSync(join(own, 'README.md'), 'behind its back, again\n');
      await tillOk(home, ['host', 'deploy', 'h1', '--source', own]);
      const rb = JSON.parse((await tillOk(home, ['host', 'rollback', 'h1', '--json'])).stdout);
      expect(rb.results[0]).toMatchObject({ ok: true, to: d.release });
      expect(readFileSync(join(h1.home, 'projects/github/Tekton/README.md'), 'utf8')).toBe('behind its back\n');
      expect(gateLog(h1).slice(logStart)).toMatch(/allowed rollback-v4 from/);
    } finally {
      const now = JSON.parse(readFileSync(dbFile, 'utf8'));
      now.hosts.h1.restricted = true;
      writeFileSync(dbFile, `${JSON.stringify(now, null, 2)}\n`);
    }
  });

  it('a host whose gate is older than this till: deploy and rollback fall back to the versions it knows', async () => {
    // A stand-in for an installed gate from before deploy-prepare-v3 (and -v4), deploy-switch-v4
    // and rollback-v3: it refuses them as unknown (as an older gate does) and runs the rest.
    const h1 = lab.hosts[1]!;
    const older = olderGate(home, h1, 'till_release');
    spawnSync('ssh', ['-F', `${home}/ssh/config`, '-O', 'exit', 'till-h1'], { stdio: 'ignore' });
    try {
      const own = join(work, 'src-old-gate');
      mkdirSync(own);
      writeFileSync(join(own, 'README.md'), 'through an older gate\n');
      const d = JSON.parse((await tillOk(home, ['host', 'deploy', 'h1', '--source', own, '--json'])).stdout);
      expect(d.ok).toBe(true);
      expect(readFileSync(join(h1.home, 'projects/github/Tekton/README.md'), 'utf8')).toBe('through an older gate\n');
      const rb = JSON.parse((await tillOk(home, ['host', 'rollback', 'h1', '--json'])).stdout);
      expect(rb.results[0]).toMatchObject({ ok: true, to: expect.any(String) });
      expect(readFileSync(join(h1.home, 'projects/github/Tekton/README.md'), 'utf8')).not.toBe(
        'through an older gate\n',
      );
      // prepare (v5, v4 and v3), switch (v5, v4) and rollback (v4, v3) were refused, then sent in the version it knows
      expect(older.log().filter((l) => l === 'refused')).toHaveLength(7);
    } finally {
      older.restore();
      spawnSync('ssh', ['-F', `${home}/ssh/config`, '-O', 'exit', 'till-h1'], { stdio: 'ignore' });
    }
  });

  it('host test through a gate older than test-v2: refused as unknown, then the test line it knows reports the version', async () => {
    const h1 = lab.hosts[1]!;
    const dbFile = join(home, 'hosts-local.json');
    const db = JSON.parse(readFileSync(dbFile, 'utf8'));
    db.hosts.h1.till_version = null;
    writeFileSync(dbFile, `${JSON.stringify(db, null, 2)}\n`);
    const older = olderGate(home, h1, 'TILL_LOGIN_CSH');
    spawnSync('ssh', ['-F', `${home}/ssh/config`, '-O', 'exit', 'till-h1'], { stdio: 'ignore' });
    try {
      const t = JSON.parse((await tillOk(home, ['host', 'test', 'h1', '--json'])).stdout);
      expect(t.results[0]).toMatchObject({
        host: 'h1',
        ok: true,
        tillVersion: expect.stringMatching(/^\d+\.\d+\.\d+/),
      });
      expect(older.log()).toEqual(['refused', 'ran']);
      const now = JSON.parse(readFileSync(dbFile, 'utf8'));
      expect(now.hosts.h1.till_version).toBe(t.results[0].tillVersion);
      // The line cannot tell a login shell: nothing was learned of it.
      expect(existsSync(join(home, 'state/csh-hosts'))).toBe(false);
    } finally {
      older.restore();
      spawnSync('ssh', ['-F', `${home}/ssh/config`, '-O', 'exit', 'till-h1'], { stdio: 'ignore' });
    }
  });

  it('--force-unlock works through the gate', async () => {
    host().shell(
      `mkdir projects/github/Tekton.till/lock && printf 'who=ghost\\nrun=dead-run\\n' > projects/github/Tekton.till/lock/info`,
    );
    const locked = await till(home, ['host', 'deploy', 'h0', '--source', src(), '--json']);
    expect(locked.code).toBe(1);
    expect(JSON.parse(locked.stdout).results[0].error).toMatch(/locked by ghost/);
    const forced = await till(home, ['host', 'deploy', 'h0', '--source', src(), '--force-unlock', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
  });

  it('--check not listed in gate.json "checks" fails before the lock and the upload, leaving nothing behind; listed, it runs', async () => {
    const logStart = gateLog().length;
    write({ 'README.md': 'v3\n' });
    const refused = await till(home, ['host', 'deploy', 'h0', '--source', src(), '--check', 'true', '--json']);
    expect(refused.code).toBe(1);
    const result = JSON.parse(refused.stdout).results[0];
    expect(result.error).toBe(
      'refused by till gate on the host: script deploy-check-v2: the check "true" is not listed in ~/.till/gate.json "checks"',
    );
    expect(result.phase).toBe('stage');
    // nothing happened on the host: no lock, no <id>.partial, no upload, the release as it was
    expect(readdirSync(releasesDir()).filter((d) => d.endsWith('.partial'))).toEqual([]);
    expect(existsSync(join(host().home, 'projects/github/Tekton.till/lock'))).toBe(false);
    expect(readFileSync(join(P(), 'README.md'), 'utf8')).toBe('v2\n');
    const log = gateLog().slice(logStart);
    expect(log).toMatch(/refused from [^\n]*script deploy-check-v2: the check "true" is not listed/);
    expect(log).not.toMatch(/allowed (deploy-prepare|rsync|deploy-switch)/);

    host().shell(`printf '%s' '{"deployRoots":["~/projects/github/Tekton"],"checks":["true"]}' > .till/gate.json`);
    const ok = await till(home, ['host', 'deploy', 'h0', '--source', src(), '--check', 'true', '--json']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(readFileSync(join(P(), 'README.md'), 'utf8')).toBe('v3\n');
    // The check, then the prepare. The early look (deploy-compare-v2: read-only, sent while
    // the source is listed, ended once the tree is known to differ) may land anywhere among them.
    const steps = gateLog()
      .slice(logStart)
      .split('\n')
      .filter((l) => !/ allowed deploy-compare-v2 from /.test(l))
      .join('\n');
    expect(steps).toMatch(/allowed deploy-check-v2 from[^\n]*\n[^\n]*allowed deploy-prepare-v5 from/);
  });

  it('--resume finishes a deploy killed mid-run, through the gate of both hosts', async () => {
    const logStarts = lab.hosts.map((h) => gateLog(h).length);
    write({ 'version.txt': 'resumed\n' });
    writeFileSync(join(src(), 'big.bin'), Buffer.alloc(40 * 1024 * 1024, 7));
    let child: ChildProcess | undefined;
    const run = till(home, ['host', 'deploy', 'h0', 'h1', '--source', src(), '--parallel', '1'], {
      onSpawn: (c) => (child = c),
      timeoutMs: 240_000,
    });
    await waitUntil(() => journal().runs.at(-1)?.hosts.h0?.state === 'staged', 180_000, 'h0 staged');
    child!.kill('SIGKILL');
    expect((await run).signal).toBe('SIGKILL');
    const last = journal().runs.at(-1)!;
    expect(Object.values(last.hosts).some((x) => x.state !== 'done')).toBe(true);
    // rsync children of the killed till may still run; wait for them to end
    await waitUntil(() => !rsyncRunningFor(home), 120_000, 'orphaned rsync to end');
    // h0's staged release waits, complete, as <id>.partial (it is completed at the switch)
    const inode = host()
      .shell(`stat -c %i projects/github/Tekton.till/releases/${last.release}.partial/big.bin`)
      .trim();

    const r = await tillOk(home, ['host', 'deploy', '--resume', '--json'], { timeoutMs: 240_000 });
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: true, release: last.release });
    const h0 = doc.results.find((x: { host: string }) => x.host === 'h0');
    expect(h0).toMatchObject({ ok: true, filesTransferred: 0, literalBytes: 0 });
    expect(host().shell(`stat -c %i projects/github/Tekton.till/releases/${last.release}/big.bin`).trim()).toBe(inode);
    lab.hosts.forEach((h, i) => {
      expect(h.shell('readlink projects/github/Tekton').trim()).toBe(`Tekton.till/releases/${last.release}`);
      expect(h.shell('cat projects/github/Tekton/version.txt')).toBe('resumed\n');
      expect(h.shell('test -d projects/github/Tekton.till/lock && echo locked || echo free').trim()).toBe('free');
      expect(
        h
          .shell('ls projects/github/Tekton.till/releases')
          .split('\n')
          .filter((d) => d.endsWith('.partial')),
      ).toEqual([]);
      const log = gateLog(h).slice(logStarts[i]);
      expect(log).toMatch(/allowed deploy-switch-v5 from/);
      expect(log).not.toMatch(/refused from/);
    });
    // nothing left to resume
    expect((await till(home, ['host', 'deploy', '--resume'])).code).toBe(2);
    rmSync(join(src(), 'big.bin'));
  });
});
