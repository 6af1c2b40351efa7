import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, hostResult, liveRelease, tempHome, till, tillOk } from '../lab/till.js';

/**
 * An unchanged redeploy (issue 19): a host whose live release is what the new one would
 * be is compared, left as it is and reported unchanged; drift, another .env.local or
 * shared path, a manual lock and --force-release each take the normal path. h0 is
 * reached with an unrestricted key, h1 through `till gate` (host setup --restrict).
 */
describe('unchanged redeploy', { timeout: 600_000 }, () => {
  let home: string;
  let lab: Lab;
  let work: string;
  const src = () => join(work, 'src');
  const base = (h: LabHost) => join(h.home, 'projects/github/Tekton.till');
  /** Everything under P.till with its times and inodes, and P's link: what "nothing written" compares. */
  const snapshot = (h: LabHost) =>
    execFileSync('find', [base(h), '-printf', '%P %y %i %T@ %s\\n'], { encoding: 'utf8' })
      .split('\n')
      .sort()
      .join('\n') + h.shell('readlink projects/github/Tekton');
  const deploy = async (extra: string[] = []) => {
    const r = await till(home, ['host', 'deploy', 'h0', 'h1', '--source', src(), '--json', ...extra], {
      timeoutMs: 120_000,
    });
    return { code: r.code, doc: JSON.parse(r.stdout), stderr: r.stderr };
  };

  beforeAll(async () => {
    home = tempHome().home;
    work = mkdtempSync('/tmp/t-du-');
    await tillOk(home, ['host', 'init']);
    const key = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8');
    lab = await startLab(2, { authorizedKey: key });
    for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
    await tillOk(home, ['host', 'setup', 'h1', '--restrict'], { timeoutMs: 240_000 });
    for (const [rel, text] of Object.entries({
      'README.md': 'v1\n',
      'lib/a.txt': 'A\n',
      'lib/deep/b.txt': 'B\n',
      '.env.local': 'OTHER=1\n',
    })) {
      mkdirSync(join(src(), rel, '..'), { recursive: true });
      writeFileSync(join(src(), rel), text);
    }
    const first = await deploy();
    expect(first.code).toBe(0);
  }, 400_000);

  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
    rmSync(work, { recursive: true, force: true });
  });

  it('reports each host unchanged and writes nothing there: no release, no lock, no log line', async () => {
    const [h0, h1] = lab.hosts as [LabHost, LabHost];
    const before = [snapshot(h0), snapshot(h1)];
    const ids = [liveRelease(h0), liveRelease(h1)];
    const gateLines = readFileSync(join(h1.home, '.till/logs/gate.log'), 'utf8').split('\n').length;
    const { code, doc } = await deploy();
    expect(code).toBe(0);
    expect(doc.ok).toBe(true);
    expect(doc.switched).toBe(false);
    for (const [i, host] of ['h0', 'h1'].entries())
      expect(hostResult(doc, host)).toMatchObject({
        ok: true,
        phase: 'unchanged',
        unchanged: true,
        release: ids[i],
        compared: 'listing',
        bytesSent: null,
      });
    expect([snapshot(h0), snapshot(h1)]).toEqual(before);
    // Through the gate: the look (which lists the release), nothing else: no rsync at all.
    const gate = readFileSync(join(h1.home, '.till/logs/gate.log'), 'utf8')
      .split('\n')
      .slice(gateLines - 1);
    expect(gate.join('\n')).toMatch(/allowed deploy-compare-v2 from/);
    expect(gate.join('\n')).not.toMatch(/allowed rsync|deploy-prepare|deploy-switch/);
    // The journal says done (unchanged, with the live id); the database still has the live release.
    const journal = JSON.parse(readFileSync(join(home, 'state', 'deploy-journal.json'), 'utf8'));
    const run = journal.runs.at(-1);
    expect(run.hosts.h0).toMatchObject({ state: 'done', unchanged: ids[0] });
    expect(run.hosts.h1).toMatchObject({ state: 'done', unchanged: ids[1] });
    const shown = JSON.parse((await tillOk(home, ['host', 'show', 'h0', '--json'])).stdout);
    expect(JSON.stringify(shown)).toContain(ids[0]);
    // --resume has nothing left to do; the text output names the release that stays.
    expect((await till(home, ['host', 'deploy', '--resume'])).stderr).toMatch(/no interrupted deploy/);
    const text = await till(home, ['host', 'deploy', 'h0', '--source', src()]);
    expect(text.code).toBe(0);
    expect(text.stderr).toContain(`h0: unchanged (${ids[0]} stays live)`);
  });

  it('a controller without GNU find walks the source itself and lists it the same: the hosts stay unchanged', async () => {
    const [h0, h1] = lab.hosts as [LabHost, LabHost];
    const ids = [liveRelease(h0), liveRelease(h1)];
    // A `find` that fails comes first on PATH (as BSD find refuses -printf).
    const bin = mkdtempSync('/tmp/t-dufind-');
    symlinkSync('/bin/false', join(bin, 'find'));
    try {
      const r = await till(home, ['host', 'deploy', 'h0', 'h1', '--source', src(), '--json'], {
        timeoutMs: 120_000,
        env: { PATH: `${bin}:${process.env.PATH}` },
      });
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      for (const [i, host] of ['h0', 'h1'].entries())
        expect(hostResult(doc, host)).toMatchObject({
          ok: true,
          unchanged: true,
          release: ids[i],
          compared: 'listing',
        });
      expect([liveRelease(h0), liveRelease(h1)]).toEqual(ids);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('the look goes out while the source is walked: unchanged, it is the one ssh per host; changed, it is ended unread and the deploy goes on', async () => {
    const [h0, h1] = lab.hosts as [LabHost, LabHost];
    // Every ssh till (or its rsync) starts goes through this wrapper, which notes whether it
    // carries the look's script (deploy-compare) and to which host.
    const bin = mkdtempSync('/tmp/t-dussh-');
    const calls = join(bin, 'calls');
    writeFileSync(
      join(bin, 'ssh'),
      [
        '#!/bin/sh',
        'case "$*" in *TILL_SAME_SETUP*) k=look ;; *) k=other ;; esac',
        'case "$*" in *till-h0*) h=h0 ;; *till-h1*) h=h1 ;; *) h=none ;; esac',
        `echo "$k $h" >> ${calls}`,
        'exec /usr/bin/ssh "$@"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    // The source's listing takes a second (as a big tree's may): every look is out before it ends.
    writeFileSync(join(bin, 'find'), '#!/bin/sh\nsleep 1\nexec /usr/bin/find "$@"\n', { mode: 0o755 });
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const noted = () => {
      const text = existsSync(calls) ? readFileSync(calls, 'utf8') : '';
      rmSync(calls, { force: true });
      return text.split('\n').filter(Boolean).sort();
    };
    const run = async (extra: string[] = []) => {
      const r = await till(home, ['host', 'deploy', 'h0', 'h1', '--source', src(), '--json', ...extra], {
        timeoutMs: 120_000,
        env,
      });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    try {
      // Unchanged: the look each host was sent before the walk is the one its job reads.
      const same = await run();
      for (const host of ['h0', 'h1']) expect(hostResult(same, host)).toMatchObject({ ok: true, phase: 'unchanged' });
      expect(noted()).toEqual(['look h0', 'look h1']);

      // Changed: each host still got the look (sent before the listing said), ended unread,
      // and then the deploy. (With a quick listing a look may be ended before its spawn.)
      const gateLines = readFileSync(join(h1.home, '.till/logs/gate.log'), 'utf8').split('\n').length;
      writeFileSync(join(src(), 'README.md'), 'v2\n');
      const changed = await run();
      for (const host of ['h0', 'h1'])
        expect(hostResult(changed, host)).toMatchObject({ ok: true, phase: 'switch', release: changed.release });
      const seen = noted();
      expect(seen.filter((l) => l.startsWith('look '))).toEqual(['look h0', 'look h1']);
      expect(seen.filter((l) => l.startsWith('other ')).length).toBeGreaterThan(1);
      expect(readFileSync(join(h0.home, 'projects/github/Tekton/README.md'), 'utf8')).toBe('v2\n');
      expect(readFileSync(join(h1.home, 'projects/github/Tekton/README.md'), 'utf8')).toBe('v2\n');
      // Through the gate: nothing refused. (Whether the look got as far as the gate before it
      // was ended depends on how fast it ran against that second.)
      const gate = readFileSync(join(h1.home, '.till/logs/gate.log'), 'utf8')
        .split('\n')
        .slice(gateLines - 1)
        .join('\n');
      expect(gate).toMatch(/allowed deploy-switch/);
      expect(gate).not.toMatch(/refused/);

      // --force-release makes a release whatever the hosts have: no look is sent.
      const forced = await run(['--force-release']);
      for (const host of ['h0', 'h1']) expect(hostResult(forced, host)).toMatchObject({ ok: true, phase: 'switch' });
      expect(noted().filter((l) => l.startsWith('look '))).toEqual([]);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('a file changed on the host (drift) gets a real new release that fixes it; the other host stays', async () => {
    const [h0, h1] = lab.hosts as [LabHost, LabHost];
    const old = liveRelease(h0);
    h0.shell('echo drift >> projects/github/Tekton/lib/a.txt');
    const { code, doc } = await deploy();
    expect(code).toBe(0);
    expect(hostResult(doc, 'h0')).toMatchObject({ ok: true, phase: 'switch', unchanged: false, release: doc.release });
    expect(hostResult(doc, 'h1')).toMatchObject({ ok: true, phase: 'unchanged' });
    expect(liveRelease(h0)).toBe(doc.release);
    expect(liveRelease(h0)).not.toBe(old);
    expect(readFileSync(join(h0.home, 'projects/github/Tekton/lib/a.txt'), 'utf8')).toBe('A\n');
    expect(liveRelease(h1)).not.toBe(doc.release);
    // a file only touched on the restricted host (same bytes, a newer mtime): the listing sees it, as rsync would
    h1.shell('touch projects/github/Tekton/lib/deep/b.txt');
    const touched = await deploy();
    expect(hostResult(touched.doc, 'h1')).toMatchObject({ ok: true, phase: 'switch', release: touched.doc.release });
    expect(hostResult(touched.doc, 'h0')).toMatchObject({ ok: true, phase: 'unchanged', compared: 'listing' });
  });

  it('another .env.local, or another shared path, makes a new release; so does --force-release', async () => {
    const [h0, h1] = lab.hosts as [LabHost, LabHost];
    writeFileSync(join(src(), '.env.local'), 'OTHER=2\n');
    const env = await deploy();
    expect(env.code).toBe(0);
    for (const host of ['h0', 'h1']) expect(hostResult(env.doc, host)).toMatchObject({ ok: true, phase: 'switch' });
    expect(readFileSync(join(h1.home, 'projects/github/Tekton/.env.local'), 'utf8')).toMatch(/^OTHER=2$/m);

    const shared = await deploy(['--shared', 'cache']);
    for (const host of ['h0', 'h1']) expect(hostResult(shared.doc, host)).toMatchObject({ ok: true, phase: 'switch' });
    expect(h0.shell('readlink projects/github/Tekton/cache').trim()).toBe('../../shared/cache');

    const again = await deploy(['--shared', 'cache']);
    for (const host of ['h0', 'h1'])
      expect(hostResult(again.doc, host)).toMatchObject({ ok: true, phase: 'unchanged' });

    const forced = await deploy(['--shared', 'cache', '--force-release']);
    expect(forced.code).toBe(0);
    for (const host of ['h0', 'h1'])
      expect(hostResult(forced.doc, host)).toMatchObject({ ok: true, phase: 'switch', release: forced.doc.release });
    expect([liveRelease(h0), liveRelease(h1)]).toEqual([forced.doc.release, forced.doc.release]);
  });

  it('a host under a manual lock is reported held, never unchanged', async () => {
    const [h0, h1] = lab.hosts as [LabHost, LabHost];
    await tillOk(home, ['host', 'lock', 'h0', 'h1', '-m', 'incident 42']);
    const before = [snapshot(h0), snapshot(h1)];
    const { code, doc } = await deploy(['--shared', 'cache']);
    expect(code).toBe(1);
    for (const host of ['h0', 'h1']) {
      const r = hostResult(doc, host);
      expect(r).toMatchObject({ ok: false, unchanged: false });
      expect(String(r.error)).toMatch(/locked by .*incident 42/);
    }
    expect([snapshot(h0), snapshot(h1)]).toEqual(before);
    await tillOk(home, ['host', 'unlock', 'h0', 'h1']);
  });

  it('a corrupt journal stops the run before it changes anything: exit 4, the file left as it was, the look sent ended', async () => {
    const [h0] = lab.hosts as [LabHost];
    const file = join(home, 'state', 'deploy-journal.json');
    const journal = readFileSync(file, 'utf8');
    writeFileSync(file, '{"runs": [');
    // Frozen: the look sent while the source is walked (read-only) gets no answer, and would
    // hold till until its 60 s timeout if the failed run did not end it.
    h0.pause();
    try {
      const started = Date.now();
      const r = await till(home, ['host', 'deploy', 'h0', '--source', src(), '--timeout', '60'], { timeoutMs: 90_000 });
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/deploy-journal\.json is not valid JSON .*till left it unchanged/);
      expect(readFileSync(file, 'utf8')).toBe('{"runs": [');
    } finally {
      h0.resume();
      writeFileSync(file, journal);
    }
  });

  it('with a .tillignore (rsync filter rules the listing does not read) a dry-run rsync compares instead', async () => {
    const [h0, h1] = lab.hosts as [LabHost, LabHost];
    writeFileSync(join(src(), '.tillignore'), '*.bak\n');
    writeFileSync(join(src(), 'lib/old.bak'), 'never sent\n');
    const first = await deploy(['--shared', 'cache']);
    for (const host of ['h0', 'h1']) expect(hostResult(first.doc, host)).toMatchObject({ ok: true, phase: 'switch' });
    expect(h0.shell('ls projects/github/Tekton/lib')).not.toContain('old.bak');
    const gateLines = readFileSync(join(h1.home, '.till/logs/gate.log'), 'utf8').split('\n').length;
    const before = [snapshot(h0), snapshot(h1)];
    const { code, doc } = await deploy(['--shared', 'cache']);
    expect(code).toBe(0);
    for (const host of ['h0', 'h1'])
      expect(hostResult(doc, host)).toMatchObject({
        ok: true,
        phase: 'unchanged',
        compared: 'rsync',
        filesTransferred: 0,
      });
    expect([snapshot(h0), snapshot(h1)]).toEqual(before);
    const gate = readFileSync(join(h1.home, '.till/logs/gate.log'), 'utf8')
      .split('\n')
      .slice(gateLines - 1);
    expect(gate.join('\n')).toMatch(new RegExp(`allowed rsync to \\S+/releases/${liveRelease(h1)}/ from`));
    // rsync's compare finds drift as the listing does
    h0.shell('echo drift >> projects/github/Tekton/lib/a.txt');
    const drift = await deploy(['--shared', 'cache']);
    expect(hostResult(drift.doc, 'h0')).toMatchObject({ ok: true, phase: 'switch' });
    expect(hostResult(drift.doc, 'h1')).toMatchObject({ ok: true, phase: 'unchanged', compared: 'rsync' });
  });
});
