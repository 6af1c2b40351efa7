import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { formatBytes } from '../../src/core/units.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployDiscard } from '../../src/protocol/deploy.js';
import { commandLine } from '../../src/protocol/wire.js';
import type { Lab, LabHost } from '../lab/lab.js';
import { closeMasters, homeWithHosts, till, tillOk, type TillRun } from '../lab/till.js';
import { buildVariant, LOCAL_VERSION, sshOut, stolenKey, tillVariant } from './helpers-remote.js';

/**
 * A host's disk fills up (issue 20 item 1): a small tmpfs mounted where the lab user's
 * releases go (d0 reached with till's full key, d1 restricted by `host setup --restrict`,
 * so through its gate), one as d2's ~/.till for `host setup` and one as its ~/drop for
 * `host copy`. The command says
 * "disk full on <host>" and what the release needs, the live release stays live and
 * served, no partial release or lock is left, the other hosts are not held back, and the
 * next run after space is freed succeeds. A stolen restricted key gets nothing from the
 * new discard script.
 */
let home: string;
let lab: Lab;
let src: string;
let scratch: string;
const mounts: string[] = [];
const MiB = 1 << 20;

function mountTmpfs(h: LabHost, rel: string, size: string): string {
  const dir = join(h.home, rel);
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},uid=${h.uid},gid=${h.gid},mode=755`, 'till-test', dir]);
  mounts.push(dir);
  return dir;
}
/** Fills a mount (a root-owned file the host's user cannot remove), leaving `leaveKb` free. */
function fill(dir: string, leaveKb: number): void {
  const free = Number(execFileSync('df', ['-Pk', dir], { encoding: 'utf8' }).split('\n')[1]!.split(/\s+/)[3]);
  writeFileSync(join(dir, 'filler'), Buffer.alloc(Math.max(0, free - leaveKb) * 1024));
}
const P = (h: LabHost) => join(h.home, 'projects/github/Tekton');
const releases = (h: LabHost) => readdirSync(join(h.home, 'projects/github/Tekton.till/releases')).sort();
const lockDir = (h: LabHost) => join(h.home, 'projects/github/Tekton.till/lock');
const errorOf = (r: TillRun, host: string) =>
  (JSON.parse(r.stdout) as { results: Array<{ host: string; error: string | null }> }).results.find(
    (x) => x.host === host,
  )!.error ?? '';

beforeAll(async () => {
  ({ home, lab } = await homeWithHosts(3, 'd'));
  const [d0, d1, d2] = lab.hosts as [LabHost, LabHost, LabHost];
  mountTmpfs(d0, 'projects', '8m');
  mountTmpfs(d1, 'projects', '8m');
  mountTmpfs(d2, '.till', '8m');
  mountTmpfs(d2, 'drop', '4m');
  await tillOk(home, ['host', 'setup', 'd1', '--restrict'], { timeoutMs: 180_000 });
  await tillOk(home, ['host', 'setup', 'd2'], { timeoutMs: 180_000 });
  src = mkdtempSync('/tmp/t-hdf-');
  scratch = mkdtempSync('/tmp/t-hdfv-');
}, 300_000);

afterAll(async () => {
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  lab?.stop();
  await closeMasters(home);
  rmSync(src, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

describe('disk full on a host', () => {
  it('deploy: "disk full on <host>", the live release served, no partial release or lock left, the others deployed; the next deploy after space is freed succeeds', async () => {
    const [d0, d1, d2] = lab.hosts as [LabHost, LabHost, LabHost];
    writeFileSync(join(src, 'version.txt'), 'v1\n');
    writeFileSync(join(src, 'a.bin'), Buffer.alloc(3 * MiB, 1));
    const v1 = JSON.parse((await tillOk(home, ['host', 'deploy', '--all', '--source', src, '--json'])).stdout)
      .release as string;

    // 6 MiB more does not fit in the 5 MiB left on d0 and d1.
    writeFileSync(join(src, 'version.txt'), 'v2\n');
    writeFileSync(join(src, 'b.bin'), Buffer.alloc(6 * MiB, 2));
    const r = await till(home, ['host', 'deploy', '--all', '--source', src, '--max-fail', '2', '--json'], {
      timeoutMs: 180_000,
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).not.toMatch(/internal error/);
    const v2 = JSON.parse(r.stdout).release as string;
    for (const [h, name] of [
      [d0, 'd0'],
      [d1, 'd1'],
    ] as const) {
      expect(errorOf(r, name)).toMatch(
        new RegExp(
          `^disk full on ${name}: the release needs up to 9 MiB \\(3 files\\); [\\d.]+ MiB free in ~/projects/github/Tekton.till/releases now; the partial release was removed; ${v1} is still live$`,
        ),
      );
      expect(readFileSync(join(P(h), 'version.txt'), 'utf8')).toBe('v1\n');
      expect(releases(h)).toEqual([v1]);
      expect(existsSync(lockDir(h))).toBe(false);
    }
    // The restricted host went through its gate: the discard was allowed there.
    expect(readFileSync(join(d1.home, '.till/logs/gate.log'), 'utf8')).toMatch(/allowed deploy-discard from/);
    expect(readFileSync(join(P(d2), 'version.txt'), 'utf8')).toBe('v2\n');
    expect(JSON.parse(r.stdout).results.find((x: { host: string }) => x.host === 'd2').ok).toBe(true);

    // No space at all: the lock could not even be written, and none is left.
    fill(join(d0.home, 'projects'), 0);
    const full = await till(home, ['host', 'deploy', 'd0', '--source', src, '--json']);
    expect(full.code).toBe(1);
    expect(errorOf(full, 'd0')).toMatch(/^disk full on d0: .*; 0 B free in .*; no partial release was left; /);
    expect(existsSync(lockDir(d0))).toBe(false);
    expect(readFileSync(join(P(d0), 'version.txt'), 'utf8')).toBe('v1\n');

    // Space freed: the next deploy succeeds on both.
    rmSync(join(d0.home, 'projects', 'filler'));
    for (const h of [d0, d1]) execFileSync('mount', ['-o', 'remount,size=32m', join(h.home, 'projects')]);
    const again = JSON.parse((await tillOk(home, ['host', 'deploy', 'd0', 'd1', '--source', src, '--json'])).stdout);
    for (const h of [d0, d1]) {
      expect(readFileSync(join(P(h), 'version.txt'), 'utf8')).toBe('v2\n');
      expect(releases(h)).toEqual([v1, again.release].sort());
    }
    expect(again.release).not.toBe(v2);
  }, 300_000);

  it('setup: an upgrade on a full ~/.till says "disk full on <host>" and the previous till keeps answering; after space is freed it upgrades', async () => {
    const d2 = lab.hosts[2]!;
    const next = `${LOCAL_VERSION}-full`;
    const bundle = await buildVariant(next, scratch);
    fill(join(d2.home, '.till'), 200);
    const r = await tillVariant(bundle, home, ['host', 'setup', 'd2', '--json']);
    expect(r.code, r.stderr).toBe(1);
    expect(errorOf(r, 'd2')).toMatch(
      new RegExp(
        `^disk full on d2: till ${next} needs [\\d.]+ KiB in ~/.till/lib; till ${LOCAL_VERSION} is still installed there$`,
      ),
    );
    expect(sshOut(home, 'd2', '~/.till/bin/till --version').trim()).toBe(LOCAL_VERSION);
    // Nothing half-written: no temp file of rsync's.
    expect(readdirSync(join(d2.home, '.till/lib'))).toEqual([`till-${LOCAL_VERSION}.mjs`]);
    expect(readdirSync(join(d2.home, '.till/bin'))).toEqual(['till']);

    // Room for the bundle to the page, none for the new launcher: the old one stays, no till.new is left.
    rmSync(join(d2.home, '.till', 'filler'));
    fill(join(d2.home, '.till'), Math.ceil(statSync(bundle).size / 4096) * 4);
    const launcher = await tillVariant(bundle, home, ['host', 'setup', 'd2', '--json']);
    expect(launcher.code, launcher.stderr).toBe(1);
    expect(errorOf(launcher, 'd2')).toBe(
      `disk full on d2: could not write the launcher for till ${next}; the previous launcher was left in place; till ${LOCAL_VERSION} is still installed there`,
    );
    expect(sshOut(home, 'd2', '~/.till/bin/till --version').trim()).toBe(LOCAL_VERSION);
    expect(readdirSync(join(d2.home, '.till/bin'))).toEqual(['till']);

    rmSync(join(d2.home, '.till', 'filler'));
    const up = await tillVariant(bundle, home, ['host', 'setup', 'd2', '--json']);
    expect(up.code, up.stderr).toBe(0);
    expect(sshOut(home, 'd2', '~/.till/bin/till --version').trim()).toBe(next);
  }, 300_000);

  it('copy: "disk full on <host>", no rsync temp file left, the other host copied; the next copy after space is freed succeeds', async () => {
    const [d0, , d2] = lab.hosts as [LabHost, LabHost, LabHost];
    const files = join(scratch, 'copy');
    mkdirSync(files);
    writeFileSync(join(files, 'a.bin'), Buffer.alloc(2 * MiB, 1));
    writeFileSync(join(files, 'b.bin'), Buffer.alloc(3 * MiB, 2));
    const r = await till(home, ['host', 'copy', 'd0', 'd2', '--json', '--', files, '~/drop'], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).not.toMatch(/internal error/);
    // the space left there, as df on the host says it now
    const freeKb = Number(
      execFileSync('df', ['-Pk', join(d2.home, 'drop')], { encoding: 'utf8' })
        .split('\n')[1]!
        .split(/\s+/)[3],
    );
    expect(errorOf(r, 'd2')).toMatch(
      new RegExp(
        `^disk full on d2: the copy needs up to 5 MiB \\(2 files\\); ${formatBytes(freeKb * 1024).replace('.', '\\.')} free in ~/drop now; what was copied whole is kept, the file being written was not left \\(rsync: .*No space left on device`,
      ),
    );
    expect(errorOf(r, 'd0')).toBe('');
    expect(readdirSync(join(d0.home, 'drop/copy')).sort()).toEqual(['a.bin', 'b.bin']);
    // Only whole files: no rsync temp file (.b.bin.XXXXXX) of the file that did not fit.
    const left = readdirSync(join(d2.home, 'drop/copy'));
    expect(left.filter((f) => f.startsWith('.'))).toEqual([]);
    for (const f of left) expect(statSync(join(d2.home, 'drop/copy', f)).size).toBe(statSync(join(files, f)).size);

    execFileSync('mount', ['-o', 'remount,size=16m', join(d2.home, 'drop')]);
    await tillOk(home, ['host', 'copy', 'd2', files, '~/drop']);
    expect(readdirSync(join(d2.home, 'drop/copy')).sort()).toEqual(['a.bin', 'b.bin']);
    expect(readFileSync(join(d2.home, 'drop/copy/b.bin')).equals(readFileSync(join(files, 'b.bin')))).toBe(true);
  }, 180_000);

  it("a stolen restricted key gets nothing from deploy-discard: a hostile release id or run is refused by the gate, a planted symlink's target is kept", async () => {
    const d1 = lab.hosts[1]!;
    const key = stolenKey(home, d1);
    const send = (params: { path: string; id: string; run: string }) =>
      key.ssh(commandLine(deployDiscard.versions[0]!, params));
    const root = '~/projects/github/Tekton';
    for (const [params, why] of [
      [{ path: root, id: '../../../.ssh/x', run: 'r1' }, /is not a release id/],
      [{ path: root, id: '20261207T000000Z-aaaaaa', run: 'r1\nrm -rf ~' }, /run id/],
      [{ path: '~/.ssh', id: '20261207T000000Z-aaaaaa', run: 'r1' }, /it is ~\/\.ssh or lies inside it/],
    ] as const) {
      const res = send(params);
      expect(res.status).not.toBe(0);
      expect(res.stderr).toMatch(why);
    }
    // A symlink planted as <id>.partial (to a folder the key must not touch), with the lock
    // taken under the run id the key sends: the link may go, never what it points at.
    const keep = join(d1.home, 'keep');
    mkdirSync(keep);
    writeFileSync(join(keep, 'precious'), 'x\n');
    const base = join(d1.home, 'projects/github/Tekton.till');
    execFileSync('ln', ['-s', keep, join(base, 'releases', '20261207T000000Z-aaaaaa.partial')]);
    mkdirSync(join(base, 'lock'));
    writeFileSync(join(base, 'lock', 'info'), 'run=r1\n');
    const res = send({ path: root, id: '20261207T000000Z-aaaaaa', run: 'r1' });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).not.toMatch(/TILL_DISCARDED/);
    expect(readFileSync(join(keep, 'precious'), 'utf8')).toBe('x\n');
    rmSync(join(base, 'lock'), { recursive: true });
    rmSync(join(base, 'releases', '20261207T000000Z-aaaaaa.partial'));
  }, 120_000);
});
