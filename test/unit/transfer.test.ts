/** host copy / fetch argv, as data: how a path stays a path. */
import { describe, expect, it } from 'vitest';
import { splitTransferWords } from '../../src/cli/commands/transfer.js';
import { buildCopyArgs, buildFetchArgs, localTransferPath, remoteTransferPath } from '../../src/rsync/copy.js';

describe('remote and local paths', () => {
  it.each([
    ['~', '.'],
    ['~/x y', './x y'],
    ['-rf', './-rf'],
    ['dir/-x', './dir/-x'],
    ['/srv/app', '/srv/app'],
    ['../up', '../up'],
    ['$(id)', './$(id)'],
  ])('remote %j -> %j', (given, sent) => expect(remoteTransferPath(given, 'p')).toBe(sent));

  it.each([
    ['', /is empty/],
    ['a\nb', /control character/],
    ['a\tb', /control character/],
    ['~root/x', /another user's home/],
  ])('refuses the remote path %j', (given, why) => expect(() => remoteTransferPath(given, 'p')).toThrow(why));

  it('a relative local path is ./x: neither a dash nor a colon changes its meaning', () => {
    expect(localTransferPath('-x')).toBe('./-x');
    expect(localTransferPath('host:file')).toBe('./host:file');
    expect(localTransferPath('dir/')).toBe('./dir/');
    expect(localTransferPath('/abs:x')).toBe('/abs:x');
  });
});

describe('the argv', () => {
  it('copy: protected arguments, paths after --, the remote folder a folder; --delete only when asked', () => {
    const args = buildCopyArgs('web1', ['-a b', '/abs/dir/'], '~/in', { remoteShell: 'ssh -F c -T' });
    expect(args).toEqual([
      '-s',
      '--recursive',
      '--links',
      '--perms',
      '--times',
      '--compress',
      '--stats',
      '-e',
      'ssh -F c -T',
      '--',
      './-a b',
      '/abs/dir/',
      'till-web1:./in/',
    ]);
    expect(buildCopyArgs('web1', ['a'], '/x', { remoteShell: 's', delete: true })).toContain('--delete');
  });

  it('fetch: every remote path from the one host, --safe-links, into the local folder', () => {
    const args = buildFetchArgs('web1', ['/var/log/*.log', '-x'], '/tmp/out/web1', { remoteShell: 's' });
    expect(args).toContain('--safe-links');
    expect(args).not.toContain('--delete');
    expect(args.slice(-4)).toEqual(['--', 'till-web1:/var/log/*.log', 'till-web1:./-x', '/tmp/out/web1/']);
  });
});

describe('which words are targets and which are paths', () => {
  const u = 'usage';
  it.each([
    [['web1', 'a', '/d'], [], {}, ['web1'], ['a', '/d']],
    [['a', '/d'], [], { all: true }, [], ['a', '/d']],
    [['a', '/d'], [], { group: ['g'] }, [], ['a', '/d']],
    [['web1', 'web2'], ['-x', '/d'], {}, ['web1', 'web2'], ['-x', '/d']],
    [[], ['a', '/d'], { all: true }, [], ['a', '/d']],
    // --list-hosts only prints the targets: no path needed.
    [['web-*'], [], { listHosts: true }, ['web-*'], []],
  ])('%j -- %j %j', (words, rest, opts, patterns, paths) => {
    expect(splitTransferWords(words, rest, opts, u)).toEqual({ patterns, paths });
  });
  it('needs a target and two paths', () => {
    expect(() => splitTransferWords([], ['a', 'b'], {}, u)).toThrow(/no target given/);
    expect(() => splitTransferWords(['web1', 'a'], [], {}, u)).toThrow(/at least one path/);
  });
});
