/** host diff's rsync, as data: its argv and what its itemized lines mean. */
import { describe, expect, it } from 'vitest';
import { buildDriftRsyncArgs, driftCount, parseDrift } from '../../src/deploy/drift.js';
import { buildDeployRsyncArgs, deployExcludeArgs } from '../../src/deploy/rsync.js';

describe('buildDriftRsyncArgs', () => {
  const args = buildDriftRsyncArgs({
    host: 'web1',
    remoteShell: 'ssh -F /t/ssh/config -T',
    remoteDir: 'Tekton.till/releases/20260101T000000Z-abcdef',
    localDir: '/src/app/',
    shared: ['logs', 'data', 'uploads'],
    ignoreFile: '/src/app/.tillignore',
  });

  it('is a read-only dry run by checksum, pulling from the host into nothing', () => {
    expect(args.slice(0, 6)).toEqual([
      '--dry-run',
      '--checksum',
      '--recursive',
      '--links',
      '--delete',
      '--open-noatime',
    ]);
    // Content only: no times, permissions or owners; nothing that follows a link.
    for (const a of ['-a', '--times', '--perms', '--owner', '--group', '-L', '--copy-links', '--inplace'])
      expect(args).not.toContain(a);
    expect(args.slice(-3)).toEqual(['--', 'till-web1:Tekton.till/releases/20260101T000000Z-abcdef/', '/src/app/']);
  });

  it('excludes exactly what a deploy excludes', () => {
    const excludes = deployExcludeArgs(['logs', 'data', 'uploads'], '/src/app/.tillignore');
    expect(args).toEqual(expect.arrayContaining(excludes));
    expect(args.filter((a) => a.startsWith('--exclude'))).toEqual(excludes);
    const deploy = buildDeployRsyncArgs({
      source: '/src/app',
      host: 'web1',
      dest: 'x',
      remoteShell: 's',
      shared: ['logs', 'data', 'uploads'],
      ignoreFile: '/src/app/.tillignore',
    });
    expect(deploy.filter((a) => a.startsWith('--exclude'))).toEqual(excludes);
  });
});

describe('parseDrift', () => {
  it('reads changed, added and removed paths from the itemized lines', () => {
    const out = [
      '*deleting   gone.txt',
      '*deleting   old dir/',
      '>f+++++++++ extra.txt',
      '>fcsT...... lib/a.txt',
      '>fc.T...... same-size.txt',
      'cLc.T...... link',
      'cL+++++++++ newlink',
      'cd+++++++++ newdir/',
      '>f+++++++++ newdir/n',
      '.d..t...... lib/',
      '>f+++++++++ we ird\\#012name',
      '',
      'sent 12 bytes  received 34 bytes',
    ].join('\n');
    const d = parseDrift(out);
    expect(d).toEqual({
      changed: ['lib/a.txt', 'link', 'same-size.txt'],
      added: ['extra.txt', 'newdir/', 'newdir/n', 'newlink', 'we ird\nname'],
      removed: ['gone.txt', 'old dir/'],
    });
    expect(driftCount(d)).toBe(10);
  });

  it('no lines: no drift', () => {
    expect(parseDrift('')).toEqual({ changed: [], added: [], removed: [] });
  });
});
