import { applyJournaled, changedItems } from '../../src/ops/deploy.js';
import type { DeployRun } from '../../src/core/state/deploy-journal.js';
import type { HostEntry } from '../../src/core/state/hosts.js';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeTransfers, freshReleaseId } from '../../src/cli/commands/deploy.js';
import { envLocalAround, renderEnvLocal } from '../../src/core/dotenv.js';
import {
  absoluteRemotePath,
  adoptedId,
  contentHashOf,
  isReleaseId,
  linkDestOf,
  releaseId,
  remoteLayout,
  renderLockInfo,
  rsyncRemotePath,
  sharedLinkTarget,
  sharedPathProblem,
  type LockInfo,
  type RemoteLayout,
} from '../../src/deploy/layout.js';
import { listReleases, readRemoteState, releasesToPrune, type LogLine } from '../../src/deploy/releases.js';
import { buildDeployRsyncArgs, itemizedChanges, parseRsyncProgress, parseRsyncStats } from '../../src/deploy/rsync.js';
import { deployPrepare, deployPrepareFused, parseDeployReport, type PrepareParams } from '../../src/protocol/deploy.js';
import { rollback } from '../../src/protocol/rollback.js';
import { deploySwitch, type SwitchParams } from '../../src/protocol/switch.js';
import { commandLine, remoteScript } from '../../src/protocol/wire.js';

const ROLLBACK_SCRIPT = rollback.versions.find((v) => v.name === 'rollback')!.text;
const DEPLOY_PREPARE_RSYNC_SCRIPT = deployPrepareFused.versions[0]!.text;

/** A deploy script's command line, as the controller sends it (scripts here run under a plain sh, no gate). */
interface PrepareInput {
  id: string;
  lock: LockInfo;
  forceUnlock: boolean;
  shared: readonly string[];
  adoptId: string;
  now: string;
}
const prepareParams = (l: RemoteLayout, p: PrepareInput): PrepareParams => ({
  path: l.path,
  id: p.id,
  lockInfo: renderLockInfo(p.lock),
  run: p.lock.run,
  forceUnlock: p.forceUnlock,
  shared: p.shared,
  adoptId: p.adoptId,
  now: p.now,
  contentHash: contentHashOf(p.id),
});
const prepareScript = (l: RemoteLayout, p: PrepareInput) =>
  commandLine(deployPrepare.versions[0]!, prepareParams(l, p));
const prepareRsyncPath = (l: RemoteLayout, p: PrepareInput) =>
  commandLine(deployPrepareFused.versions[0]!, prepareParams(l, p));
const switchScript = (
  l: RemoteLayout,
  p: Omit<SwitchParams, 'path' | 'previous' | 'check' | 'installation' | 'record' | 'hooks' | 'keepLock'> &
    Partial<Pick<SwitchParams, 'record' | 'hooks' | 'keepLock'>> & {
      previous: string | null;
      check?: string;
      installation?: string;
    },
) =>
  commandLine(deploySwitch.versions[0]!, {
    record: { host: 'h0', deployer: 'ann@laptop', commit: '', dirty: '', message: '' },
    hooks: { run: false, timeoutSec: 300 },
    keepLock: false,
    ...p,
    path: l.path,
    previous: p.previous ?? '',
    check: p.check ?? '',
    installation: p.installation ?? '',
  });
const rollbackScript = (l: RemoteLayout, p: { to?: string; lock: LockInfo; now: string }) =>
  commandLine(rollback.versions[0]!, {
    path: l.path,
    to: p.to ?? '',
    lockInfo: renderLockInfo(p.lock),
    now: p.now,
    record: { host: 'h0', deployer: 'ann@laptop', message: '' },
    hooks: { run: false, timeoutSec: 300 },
  });
/** What a deploy script printed, read against its layout, with its raw markers. */
const parseMarkers = (stdout: string, l: RemoteLayout) => {
  const report = parseDeployReport(stdout);
  return { ...readRemoteState(report, l), values: report.markers.values, flags: report.markers.flags };
};

const lock = { who: "o'brien@host", when: '2026-11-26T03:00:00Z', what: 'deploy x', pid: 42, run: 'r1' };
/** A releases.log line of before the release record: its record fields are null. */
const NO_RECORD = { deployer: null, commit: null, dirty: null, message: null, hooks: null };

describe('layout', () => {
  it('names releases by UTC time and content hash, sortable', () => {
    const id = releaseId(new Date('2026-11-26T03:15:00.123Z'), '3FA9C2DEADBEEF');
    expect(id).toBe('20261126T031500Z-3fa9c2');
    expect(isReleaseId(id)).toBe(true);
    expect(isReleaseId(adoptedId(new Date('2026-11-26T03:15:00Z')))).toBe(true);
    expect(isReleaseId('../etc')).toBe(false);
  });

  it('maps ~/ paths for rsync and for TEKTON_ROOT', () => {
    expect(rsyncRemotePath('~/projects/Tekton')).toBe('projects/Tekton');
    expect(rsyncRemotePath('/srv/Tekton')).toBe('/srv/Tekton');
    expect(absoluteRemotePath('~/projects/Tekton', '/home/d/')).toBe('/home/d/projects/Tekton');
    const l = remoteLayout('~/projects/Tekton/');
    expect(l.base).toBe('~/projects/Tekton.till');
    expect(l.linkTarget('x')).toBe('Tekton.till/releases/x');
    expect(linkDestOf('20260101T000000Z-aaaaaa')).toBe('../20260101T000000Z-aaaaaa');
  });

  it('links shared paths relative to the release', () => {
    expect(sharedLinkTarget('logs')).toBe('../../shared/logs');
    expect(sharedLinkTarget('data/cache')).toBe('../../../shared/data/cache');
    expect(sharedPathProblem('../x')).toBeDefined();
    expect(sharedPathProblem('a b')).toBeDefined();
    expect(sharedPathProblem('/abs')).toBeDefined();
    expect(sharedPathProblem('data/cache')).toBeUndefined();
  });

  it('sets TEKTON_ROOT in place or appends it, keeping other values', () => {
    expect(renderEnvLocal('A=1\nexport TEKTON_ROOT=/old\nB=2\n', '/h/T')).toBe('A=1\nTEKTON_ROOT=/h/T\nB=2\n');
    expect(renderEnvLocal(undefined, '/h/T')).toBe('TEKTON_ROOT=/h/T\n');
    expect(renderEnvLocal('A=1', '/h/T')).toBe('A=1\nTEKTON_ROOT=/h/T\n');
  });
});

describe('releases record', () => {
  const line = (id: string, state: LogLine['state']): LogLine => ({ id, state, at: '', source: '', ...NO_RECORD });

  it('lists releases with their last state and the partial ones, newest first', () => {
    const rs = listReleases({
      log: [
        line('20260101T000000Z-aaaaaa', 'staged'),
        line('20260101T000000Z-aaaaaa', 'good'),
        line('20260102T000000Z-bbbbbb', 'failed'),
      ],
      dirs: ['20260101T000000Z-aaaaaa', '20260102T000000Z-bbbbbb', '20260103T000000Z-cccccc.partial'],
      current: '20260101T000000Z-aaaaaa',
    });
    expect(rs.map((r) => [r.id, r.state, r.current])).toEqual([
      ['20260103T000000Z-cccccc', 'partial', false],
      ['20260102T000000Z-bbbbbb', 'failed', false],
      ['20260101T000000Z-aaaaaa', 'good', true],
    ]);
  });

  it('prunes beyond --keep but never the new, the previous good or a partial release', () => {
    const ids = ['20260101T000000Z-a', '20260102T000000Z-b', '20260103T000000Z-c', '20260104T000000Z-d'];
    const rs = listReleases({
      log: ids.map((i) => line(i, 'good')),
      dirs: [...ids, '20260109T000000Z-z.partial'],
      current: ids[3]!,
    });
    expect(releasesToPrune(rs, '20260105T000000Z-e', ids[0]!, 2).sort()).toEqual([ids[1], ids[2]]);
    expect(releasesToPrune(rs, '20260105T000000Z-e', ids[3]!, 1).sort()).toEqual([ids[0], ids[1], ids[2]]);
    expect(releasesToPrune(rs, '20260105T000000Z-e', ids[3]!, 10)).toEqual([]);
  });

  it('orders releases made within one second by when they were recorded, not by their hash', () => {
    // three deploys in one second: hashes sort z, a, m; they went live in that order
    const at = (ms: number) => `2026-01-01T00:00:00.${String(ms).padStart(3, '0')}Z`;
    const log: LogLine[] = [
      { id: '20260101T000000Z-zzzzzz', state: 'good', at: at(100), source: '', ...NO_RECORD },
      { id: '20260101T000000Z-aaaaaa', state: 'good', at: at(400), source: '', ...NO_RECORD },
      { id: '20260101T000000Z-mmmmmm', state: 'good', at: at(800), source: '', ...NO_RECORD },
    ];
    const rs = listReleases({ log, dirs: log.map((l) => l.id), current: '20260101T000000Z-mmmmmm' });
    expect(rs.map((r) => r.id)).toEqual([
      '20260101T000000Z-mmmmmm',
      '20260101T000000Z-aaaaaa',
      '20260101T000000Z-zzzzzz',
    ]);
    // keep 2 after a new deploy whose previous is the m release: only the oldest goes
    expect(releasesToPrune(rs, '20260101T000001Z-bbbbbb', '20260101T000000Z-mmmmmm', 2)).toEqual([
      '20260101T000000Z-aaaaaa',
      '20260101T000000Z-zzzzzz',
    ]);
  });
});

describe('rsync', () => {
  it('staging: deletes what the excludes hide in the destination, but protects the shared links', () => {
    const args = buildDeployRsyncArgs({
      source: '/src',
      host: 'web-1',
      dest: 'p/T.till/releases/x.partial',
      remoteShell: 'ssh',
      shared: ['logs', 'data/cache'],
      deleteExcluded: true,
    });
    expect(args).toContain('--delete-excluded');
    expect(args).toContain('--filter=P /logs');
    expect(args).toContain('--filter=P /data/cache');
    expect(args.some((a) => a.startsWith('--link-dest'))).toBe(false);
    expect(
      buildDeployRsyncArgs({ source: '/src', host: 'web-1', dest: 'd', remoteShell: 'ssh', shared: ['logs'] }),
    ).not.toContain('--delete-excluded');
  });

  it('builds the staging argv: compression, excludes, shared paths, .tillignore, link-dest, remote path', () => {
    const args = buildDeployRsyncArgs({
      source: '/src/',
      host: 'web-1',
      dest: 'p/T.till/releases/x.partial',
      remoteShell: 'ssh -F /c -T',
      shared: ['logs', 'data/cache'],
      ignoreFile: '/src/.tillignore',
      linkDest: '../../../T',
    });
    expect(args.slice(0, 3)).toEqual(['-a', '--delete', '--compress']);
    for (const e of [
      '--exclude=.git',
      '--exclude=*.pyc',
      '--exclude=__pycache__',
      '--exclude=logs/',
      '--exclude=tmp/',
      '--exclude=/.env.local',
      '--exclude=/data/cache',
      '--exclude-from=/src/.tillignore',
      '--link-dest=../../../T',
    ]) {
      expect(args).toContain(e);
    }
    expect(args.slice(-3)).toEqual(['--', '/src/', 'till-web-1:p/T.till/releases/x.partial/']);
  });

  it('parses --stats with thousands separators and itemized changes', () => {
    const out =
      'Number of files: 2,001 (reg: 2,000, dir: 1)\nNumber of regular files transferred: 1,234\nTotal file size: 20,971,520 bytes\nLiteral data: 0 bytes\nTotal bytes sent: 61,234\n';
    expect(parseRsyncStats(out)).toEqual({
      files: 2001,
      filesTransferred: 1234,
      totalSize: 20971520,
      literalBytes: 0,
      bytesSent: 61234,
    });
    expect(itemizedChanges('>f+++++++++ a.txt\n*deleting   old.txt\nsent 10 bytes\n.d..t...... ./\n')).toEqual([
      '>f+++++++++ a.txt',
      '*deleting   old.txt',
    ]);
  });
});

/** The remote scripts, run by a real sh on a scratch tree (absolute tekton_path). */
describe('remote scripts under sh', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const sh = (script: string, input?: string) =>
    execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', input: input ?? '', stdio: ['pipe', 'pipe', 'pipe'] });

  function setup() {
    dir = mkdtempSync('/tmp/tu-');
    const P = join(dir, 'Tekton');
    return { P, l: remoteLayout(P) };
  }

  it('prepare adopts a plain directory, locks, refuses another run, and reports', () => {
    const { P, l } = setup();
    mkdirSync(join(P, 'logs'), { recursive: true });
    writeFileSync(join(P, 'mine.txt'), 'mine');
    writeFileSync(join(P, 'logs', 'a.log'), 'log');
    const params = {
      id: '20260101T000000Z-aaaaaa',
      lock,
      forceUnlock: false,
      shared: ['logs'],
      adoptId: '20251231T000000Z-adopted',
      now: 'now',
    };
    const out = parseMarkers(sh(prepareScript(l, params)), l);
    expect(out.adopted).toBe('20251231T000000Z-adopted');
    expect(out.current).toBe('20251231T000000Z-adopted');
    expect(readlinkSync(P)).toBe('Tekton.till/releases/20251231T000000Z-adopted');
    expect(readFileSync(join(P, 'mine.txt'), 'utf8')).toBe('mine');
    expect(readFileSync(join(dir, 'Tekton.till/shared/logs/a.log'), 'utf8')).toBe('log');
    expect(readFileSync(join(dir, 'Tekton.till/lock/info'), 'utf8')).toContain("who=o'brien@host");
    // another run is refused and told who holds the lock
    let err = '';
    try {
      sh(prepareScript(l, { ...params, lock: { ...lock, run: 'r2' } }));
    } catch (e) {
      err = (e as { stdout: string }).stdout;
    }
    const m = parseMarkers(err, l);
    expect(m.locked).toBe(true);
    expect(m.holder.who).toBe("o'brien@host");
  });

  it('prepare stages an unchanged tree as a hard-linked copy of the live release, and only then', () => {
    const { P, l } = setup();
    const B = `${P}.till`;
    const live = '20260101T000000Z-abc123';
    mkdirSync(join(B, 'releases', live, 'lib'), { recursive: true });
    writeFileSync(join(B, 'releases', live, 'lib', 'a.txt'), 'a');
    writeFileSync(join(B, 'releases', live, '.env.local'), 'TEKTON_ROOT=/old\n');
    symlinkSync(`Tekton.till/releases/${live}`, P);
    const base = { lock, forceUnlock: false, shared: [], adoptId: '20251231T000000Z-adopted', now: 'now' };
    // a different tree: nothing is copied (rsync --link-dest does the staging)
    const other = '20260102T000000Z-ffffff';
    let out = parseMarkers(sh(prepareScript(l, { ...base, id: other })), l);
    expect(out.values.has('COPIED')).toBe(false);
    expect(existsSync(join(B, 'releases', `${other}.partial`))).toBe(false);
    sh(`rm -rf ${JSON.stringify(join(B, 'lock'))}`);
    // the same tree: <id>.partial is the live release, hard-linked, without .env.local
    const same = '20260103T000000Z-abc123';
    out = parseMarkers(sh(prepareScript(l, { ...base, id: same })), l);
    expect(out.values.get('COPIED')).toEqual([live]);
    const copy = join(B, 'releases', `${same}.partial`);
    expect(statSync(join(copy, 'lib', 'a.txt')).ino).toBe(statSync(join(B, 'releases', live, 'lib', 'a.txt')).ino);
    expect(existsSync(join(copy, '.env.local'))).toBe(false);
    expect(readFileSync(join(B, 'releases', live, '.env.local'), 'utf8')).toBe('TEKTON_ROOT=/old\n');
    // a resumed run (the partial exists) is never copied over
    writeFileSync(join(copy, 'lib', 'b.txt'), 'from the interrupted transfer');
    out = parseMarkers(sh(prepareScript(l, { ...base, id: same })), l);
    expect(out.values.has('COPIED')).toBe(false);
    expect(readFileSync(join(copy, 'lib', 'b.txt'), 'utf8')).toBe('from the interrupted transfer');
  });

  it("the fused prepare (rsync's remote command) reports on stderr, then execs rsync with link-dest only when it did not copy", () => {
    const { P, l } = setup();
    const B = `${P}.till`;
    // `rsync` on PATH records the argv it was exec'd with and what its stdout is
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'rsync'), '#!/bin/sh\nprintf "%s\\n" "$@" > "$RSYNC_ARGV"\necho protocol-on-stdout\n', {
      mode: 0o755,
    });
    const argvFile = join(dir, 'argv');
    const run = (params: Parameters<typeof prepareRsyncPath>[1]) => {
      // rsync appends the server arguments to --rsync-path; the remote shell runs the whole line
      const line = `${prepareRsyncPath(l, params)} --server -logDtpre.iLsfxCIvu --delete . 'rel/x.partial'`;
      const r = spawnSync('/bin/sh', ['-c', line], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, RSYNC_ARGV: argvFile },
      });
      const argv = existsSync(argvFile) ? readFileSync(argvFile, 'utf8').split('\n').slice(0, -1) : null;
      rmSync(argvFile, { force: true });
      return { ...r, argv, markers: parseMarkers(r.stderr, l) };
    };
    // P is read once (one readlink process, not three)
    expect(DEPLOY_PREPARE_RSYNC_SCRIPT.split('readlink').length - 1).toBe(1);
    const live = '20260101T000000Z-abc123';
    mkdirSync(join(B, 'releases', live), { recursive: true });
    writeFileSync(join(B, 'releases', live, 'a.txt'), 'a');
    symlinkSync(`Tekton.till/releases/${live}`, P);
    const base = { lock, forceUnlock: false, shared: [], adoptId: '20251231T000000Z-adopted', now: 'now' };

    // a changed tree: link-dest against the live release; markers on stderr only
    let r = run({ ...base, id: '20260102T000000Z-ffffff' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('protocol-on-stdout\n');
    expect(r.markers.current).toBe(live);
    expect(r.markers.home).toBeDefined();
    expect(r.argv).toEqual([
      '--server',
      `--link-dest=../${live}`,
      '-logDtpre.iLsfxCIvu',
      '--delete',
      '.',
      'rel/x.partial',
    ]);
    // the same run again (a retry) keeps its own lock
    r = run({ ...base, id: '20260102T000000Z-ffffff' });
    expect(r.status).toBe(0);
    rmSync(join(B, 'lock'), { recursive: true });

    // an unchanged tree: staged as a copy, so no link-dest
    r = run({ ...base, id: '20260103T000000Z-abc123' });
    expect(r.status).toBe(0);
    expect(r.markers.values.get('COPIED')).toEqual([live]);
    expect(r.argv).toEqual(['--server', '-logDtpre.iLsfxCIvu', '--delete', '.', 'rel/x.partial']);

    // another run holds the lock: refused, rsync never started, the holder reported
    r = run({ ...base, id: '20260104T000000Z-eeeeee', lock: { ...lock, run: 'r2' } });
    expect(r.status).toBe(21);
    expect(r.argv).toBeNull();
    expect(r.stdout).toBe('');
    expect(r.markers.locked).toBe(true);
    expect(r.markers.holder.who).toBe("o'brien@host");
    expect(r.markers.values.get('EXIT')).toEqual(['21']);
    rmSync(join(B, 'lock'), { recursive: true });

    // nothing live yet (first deploy into an empty place): no link-dest
    rmSync(P);
    r = run({ ...base, id: '20260105T000000Z-dddddd' });
    expect(r.status).toBe(0);
    expect(r.argv).toEqual(['--server', '-logDtpre.iLsfxCIvu', '--delete', '.', 'rel/x.partial']);
  });

  it('expands a ~/ tekton_path with $HOME on the host (it arrives literally, as a positional value)', () => {
    dir = mkdtempSync('/tmp/tu-');
    mkdirSync(join(dir, 'p/Tekton'), { recursive: true });
    const l = remoteLayout('~/p/Tekton');
    const params = {
      id: '20260101T000000Z-aaaaaa',
      lock,
      forceUnlock: false,
      shared: [],
      adoptId: '20251231T000000Z-adopted',
      now: 'now',
    };
    const out = execFileSync('/bin/sh', ['-c', prepareScript(l, params)], {
      encoding: 'utf8',
      env: { ...process.env, HOME: dir },
    });
    expect(parseMarkers(out, l).current).toBe('20251231T000000Z-adopted');
    expect(readlinkSync(join(dir, 'p/Tekton'))).toBe('Tekton.till/releases/20251231T000000Z-adopted');
  });

  it('rollback v3 (shell builtins) picks the same target as v1 (awk and sort) for any record', () => {
    const ids = [
      '20260101T000000Z-aaaaaa',
      '20260102T000000Z-bbbbbb',
      '20260103T000000Z-cccccc',
      '20260104T000000Z-dddddd',
    ];
    const logs: [string, string][][] = [
      [
        [ids[0]!, 'good'],
        [ids[1]!, 'good'],
        [ids[2]!, 'good'],
      ],
      [
        [ids[0]!, 'adopted'],
        [ids[1]!, 'staged'],
        [ids[1]!, 'good'],
        [ids[2]!, 'good'],
        [ids[1]!, 'rolled-back'],
      ],
      [
        [ids[0]!, 'good'],
        [ids[2]!, 'good'],
        [ids[1]!, 'good'],
        [ids[3]!, 'failed'],
      ],
      [
        [ids[2]!, 'good'],
        [ids[0]!, 'good'],
        [ids[2]!, 'good'],
      ],
      [],
    ];
    const expected = [ids[1], ids[0], ids[1], ids[0], 'none'];
    for (const [n, log] of logs.entries()) {
      const picked = ['v1', 'v2'].map((v) => {
        const { P, l } = setup();
        const B = `${P}.till`;
        for (const id of ids.slice(0, 3)) mkdirSync(join(B, 'releases', id), { recursive: true });
        writeFileSync(join(B, 'releases.log'), log.map(([id, st]) => `${id}\t${st}\tt\ts\n`).join(''));
        execFileSync('ln', ['-s', `Tekton.till/releases/${ids[2]}`, P]);
        const script =
          v === 'v1'
            ? remoteScript(ROLLBACK_SCRIPT, [l.path, '', 'run=r\n', 'n'])
            : rollbackScript(l, { lock, now: 'n' });
        const m = parseMarkers(sh(script), l);
        rmSync(dir, { recursive: true, force: true });
        return m.values.get('TO')?.[0] ?? (m.flags.has('NO_TARGET') ? 'none' : 'other');
      });
      expect(picked, `record ${n}`).toEqual([expected[n], expected[n]]);
    }
  });

  it('switch completes, switches, and on a failing check goes back and records failed; rollback never picks it', () => {
    const { P, l } = setup();
    const B = `${P}.till`;
    const a = '20260101T000000Z-aaaaaa';
    const b = '20260102T000000Z-bbbbbb';
    mkdirSync(join(B, 'releases', a), { recursive: true });
    mkdirSync(join(B, 'releases', `${b}.partial`), { recursive: true });
    mkdirSync(join(B, 'lock'));
    writeFileSync(join(B, 'lock', 'info'), 'run=r1\n');
    writeFileSync(join(B, 'releases.log'), `${a}\tgood\tt\ts\n`);
    execFileSync('ln', ['-s', `Tekton.till/releases/${a}`, P]);
    // a wrong link where a shared path goes is replaced (a right one is left alone)
    symlinkSync('../../elsewhere', join(B, 'releases', `${b}.partial`, 'logs'));
    const out = sh(
      switchScript(l, {
        id: b,
        previous: a,
        check: 'test -f nope',
        prune: [],
        run: 'r1',
        now: 'n',
        source: 's',
        shared: ['logs', 'data/cache'],
        env: 'TEKTON_ROOT=/x\n',
      }),
    );
    expect(parseMarkers(out, l).values.get('CHECK_FAILED')).toEqual(['1']);
    expect(readlinkSync(P)).toBe(`Tekton.till/releases/${a}`);
    expect(readFileSync(join(B, 'releases', b, '.env.local'), 'utf8')).toBe('TEKTON_ROOT=/x\n');
    expect(readlinkSync(join(B, 'releases', b, 'logs'))).toBe('../../shared/logs');
    expect(readlinkSync(join(B, 'releases', b, 'data/cache'))).toBe('../../../shared/data/cache');
    expect(readFileSync(join(B, 'releases.log'), 'utf8')).toContain(`${b}\tfailed`);
    // nothing good to go back to from a: the failed b is not a candidate
    const rb = parseMarkers(sh(rollbackScript(l, { lock, now: 'n' })), l);
    expect(rb.flags.has('NO_TARGET')).toBe(true);
    // an explicit --to is the operator's word
    const to = parseMarkers(sh(rollbackScript(l, { to: b, lock, now: 'n' })), l);
    expect(to.values.get('TO')).toEqual([b]);
    expect(readlinkSync(P)).toBe(`Tekton.till/releases/${b}`);
    // --to is a plain switch: a stays good, so a rollback from b goes back to a
    const back = parseMarkers(sh(rollbackScript(l, { lock, now: 'n' })), l);
    expect(back.values.get('TO')).toEqual([a]);
    // b was rolled back: a further rollback finds nothing, never b
    expect(parseMarkers(sh(rollbackScript(l, { lock, now: 'n' })), l).flags.has('NO_TARGET')).toBe(true);
  });
});

describe('transfer progress', () => {
  it('reads the newest --info=progress2 record of a chunk', () => {
    const chunk =
      '\r         32,768   0%    0.00kB/s    0:00:00  \r      3,000,000   5%   26.45MB/s    0:00:00 (xfr#1, to-chk=19/21)\r     12,000,000  45%   21.62MB/s    0:00:01 (xfr#4, ir-chk=1016/2000)\r';
    expect(parseRsyncProgress(chunk)).toEqual({ bytes: 12_000_000, percent: 45, files: 4, total: 2000 });
    expect(parseRsyncProgress('\r         32,768   0%    0.00kB/s    0:00:00  ')).toEqual({
      bytes: 32_768,
      percent: 0,
      files: 0,
      total: null,
    });
    expect(parseRsyncProgress('Number of files: 21 (reg: 20, dir: 1)\n')).toBeUndefined();
  });

  it('asks rsync for progress records only when told to, never on a dry run', () => {
    const base = { source: '/s', host: 'h', dest: 'd', remoteShell: 'ssh', shared: [] };
    expect(buildDeployRsyncArgs({ ...base, progress: true })).toContain('--info=progress2');
    expect(buildDeployRsyncArgs(base)).not.toContain('--info=progress2');
    expect(buildDeployRsyncArgs({ ...base, progress: true, dryRun: true })).not.toContain('--info=progress2');
  });

  it('describes the transfers under way, three at most', () => {
    const p = (percent: number, files: number) => ({ bytes: 5 * 1024 * 1024, percent, files, total: null });
    expect(describeTransfers(new Map([['web-1', p(45, 1)]]))).toBe('web-1 45% 5.0 MiB, 1 file');
    const many = new Map([
      ['a', p(1, 2)],
      ['b', p(2, 2)],
      ['c', p(3, 2)],
      ['d', p(4, 2)],
      ['e', p(5, 2)],
    ]);
    expect(describeTransfers(many)).toBe(
      'a 1% 5.0 MiB, 2 files · b 2% 5.0 MiB, 2 files · c 3% 5.0 MiB, 2 files · +2 more',
    );
    expect(describeTransfers(new Map())).toBe('');
  });
});

describe('an unchanged redeploy: what counts as a difference', () => {
  it('a folder whose time alone differs is none; anything else is', () => {
    const lines = [
      '.d..t...... lib/',
      '>f.st...... lib/a.txt',
      '*deleting   stray.txt',
      '.d...p..... bin/',
      'cd+++++++++ new/',
      '.L..t...... link',
    ];
    expect(changedItems(lines)).toEqual(lines.slice(1));
  });

  it('.env.local split around TEKTON_ROOT: before + the path + after is what the switch writes', () => {
    for (const env of [undefined, 'A=1\n', 'A=1\nTEKTON_ROOT=/x\nB=2', 'export TEKTON_ROOT=/y\n']) {
      const [before, after] = envLocalAround(env)!;
      expect(`${before}/home/u/app${after}`).toBe(renderEnvLocal(env, '/home/u/app'));
    }
    // a text that already holds the separator cannot be split: no unchanged look, the normal deploy
    expect(envLocalAround('A=\u0001\n')).toBeUndefined();
  });
});

describe('freshReleaseId', () => {
  const now = Date.parse('2026-12-07T05:55:10.600Z');
  it('is this second, or the next free one at once (no wait) when an earlier run of the tree took it', () => {
    expect(freshReleaseId(new Set(), 'abc123', now)).toBe('20261207T055510Z-abc123');
    const used = new Set(['20261207T055510Z-abc123', '20261207T055511Z-abc123']);
    expect(freshReleaseId(used, 'abc123', now)).toBe('20261207T055512Z-abc123');
    expect(freshReleaseId(used, 'def456', now)).toBe('20261207T055510Z-def456');
    // ids still sort in the order the runs began: a later run never takes an earlier second
    expect(freshReleaseId(new Set([...used, '20261207T055512Z-abc123']), 'abc123', now + 900)).toBe(
      '20261207T055513Z-abc123',
    );
  });
});

describe('applyJournaled: what a killed run finished but did not record', () => {
  const started = '2026-12-07T10:00:00.000Z';
  const doneAt = '2026-12-07T10:05:00.000Z';
  const entry = (over: Partial<HostEntry> = {}): HostEntry =>
    ({
      user: 'u',
      host: '127.0.0.9',
      port: 22,
      status: 'deployed',
      added: '2026-12-01T00:00:00.000Z',
      tekton_path: '~/app',
      installations: [],
      deploy: { current: 'R0', previous: null, at: '2026-12-06T00:00:00.000Z' },
      ...over,
    }) as HostEntry;
  const run = (hosts: DeployRun['hosts']) =>
    ({ run: 'run1', release: 'R1', source: '/s', installation: null, started, hosts }) as unknown as DeployRun;

  it('records a switched host that the database still shows on the old release', () => {
    const db = { hosts: { a: entry() } };
    expect(applyJournaled(db, run({ a: { state: 'done', at: doneAt, previous: 'R0' } }))).toEqual(['a']);
    expect(db.hosts.a.deploy).toMatchObject({ current: 'R1', previous: 'R0' });
  });

  it('leaves alone a host the run left unchanged and the database already names (an unreachable one stays so)', () => {
    const db = { hosts: { a: entry({ status: 'unreachable', previous_status: 'deployed' }) } };
    const before = JSON.stringify(db);
    expect(applyJournaled(db, run({ a: { state: 'done', at: doneAt, unchanged: 'R0' } }))).toEqual([]);
    expect(JSON.stringify(db)).toBe(before);
  });

  it('leaves alone a host recorded since (a rollback after the run), and one added after the run started', () => {
    const rolledBack = {
      hosts: { a: entry({ deploy: { current: 'R0', previous: 'R1', at: '2026-12-07T11:00:00.000Z' } }) },
    };
    expect(applyJournaled(rolledBack, run({ a: { state: 'done', at: doneAt, previous: 'R0' } }))).toEqual([]);
    expect(rolledBack.hosts.a.deploy?.current).toBe('R0');
    const readded = { hosts: { a: entry({ added: '2026-12-07T10:01:00.000Z', deploy: undefined }) } };
    expect(applyJournaled(readded, run({ a: { state: 'done', at: doneAt, previous: null } }))).toEqual([]);
  });
});
