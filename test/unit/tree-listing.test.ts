import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeployRsyncArgs, deployExcludeArgs } from '../../src/deploy/rsync.js';
import { listSource, treeListing } from '../../src/deploy/source.js';
import { deployCompare, parseDeployReport, type CompareParams } from '../../src/protocol/deploy.js';
import { commandLine } from '../../src/protocol/wire.js';

/**
 * An unchanged redeploy decides by a listing (issue 19): deploy-compare-v2 lists the live
 * release on the host, `listSource` lists the source (with the controller's GNU find, or
 * `treeListing`'s own walk where there is none: both are checked), and equal means rsync would find
 * nothing to do. The oracle is rsync itself: for each change made to a release (or to the
 * source), the listings differ exactly when a dry-run rsync of the deploy (its excludes,
 * --delete, --modify-window=-1) reports a change. The script runs in a real sh with GNU
 * find, as an unprivileged user (as root it answers TILL_TREE_UNKNOWN: rsync -a would also
 * compare owners, which the listing leaves out).
 */
const ROOT = process.getuid?.() === 0;
const SHARED = ['logs', 'data'];
const ID = '20260101T000000Z-abc123';

describe('the listing of an unchanged redeploy agrees with rsync', () => {
  let base: string;
  const src = () => join(base, 'src');
  const home = () => join(base, 'h');
  const P = () => join(home(), 'app');
  const R = () => join(home(), 'app.till', 'releases', ID);
  const params = (): CompareParams => ({
    path: P(),
    contentHash: 'abc123',
    shared: SHARED,
    installation: '',
    envBefore: 'TEKTON_ROOT=',
    envAfter: '\n',
  });
  /** Runs a command as nobody when we are root (the files then belong to nobody). */
  const asUser = (argv: string[]) =>
    execFileSync(ROOT ? '/usr/sbin/runuser' : argv[0]!, ROOT ? ['-u', 'nobody', '--', ...argv] : argv.slice(1), {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
    });
  const write = (rel: string, text: string) => {
    mkdirSync(dirname(join(src(), rel)), { recursive: true });
    writeFileSync(join(src(), rel), text);
  };
  /** The release as a deploy leaves it: rsync with the deploy's excludes, then what the switch writes. */
  const release = () => {
    rmSync(join(home(), 'app.till'), { recursive: true, force: true });
    rmSync(P(), { force: true });
    mkdirSync(R(), { recursive: true });
    execFileSync('rsync', ['-a', ...deployExcludeArgs(SHARED), `${src()}/`, `${R()}/`]);
    writeFileSync(join(R(), '.env.local'), `TEKTON_ROOT=${P()}\n`);
    for (const s of SHARED) {
      mkdirSync(join(home(), 'app.till', 'shared', s), { recursive: true });
      symlinkSync(`../../shared/${s}`, join(R(), s));
    }
    symlinkSync(`app.till/releases/${ID}`, P());
    if (ROOT) execFileSync('chown', ['-R', 'nobody:nogroup', home()]);
  };
  const hostListing = (): string | undefined => {
    const out = asUser([
      '/usr/bin/env',
      `HOME=${home()}`,
      '/bin/sh',
      '-c',
      commandLine(deployCompare.versions[0]!, params()),
    ]);
    const report = parseDeployReport(out);
    expect(report.markers.flags.has('SAME_SETUP'), out).toBe(true);
    return report.markers.values.get('TREE')?.[0];
  };
  /**
   * rsync's verdict: every itemized line but a folder or a link whose time alone differs
   * (the listing leaves those times out, as the dry-run compare does for folders: a switch
   * writes into the release after rsync set them; and rsync does not set the time of a
   * folder or link changed within the second before it runs). The release folder's own
   * line counts (the dry-run compare leaves it out; the listing is stricter: its mode).
   */
  const rsyncSeesChange = () =>
    asUser([
      'rsync',
      ...buildDeployRsyncArgs({ source: src(), host: null, dest: R(), remoteShell: '', shared: SHARED, dryRun: true }),
    ])
      .split('\n')
      .filter((l) => /^([<>ch.*][fdLDS]|\*deleting)/.test(l) && !/^\.[dL]\.\.t\.+ /.test(l)).length > 0;
  const verdicts = async () => {
    const listed = hostListing();
    expect(listed).toMatch(/^[0-9a-f]{64}$/);
    const source = await listSource(src(), SHARED);
    // till's own walk (no GNU find on the controller) lists the source as GNU find does.
    expect(treeListing(src(), SHARED)).toBe(source);
    return { listingDiffers: listed !== source, rsyncSeesChange: rsyncSeesChange() };
  };
  const inRelease = (cmd: string) => asUser(['/bin/sh', '-c', `cd "$1" && ${cmd}`, 'sh', R()]);

  beforeAll(() => {
    base = mkdtempSync('/tmp/t-tl-');
    chmodSync(base, 0o755);
    write('README.md', 'v1\n');
    write('lib/a.txt', 'AAAA\n');
    write('lib/deep/b.txt', 'B\n');
    write('bin/run.sh', '#!/bin/sh\n');
    chmodSync(join(src(), 'bin/run.sh'), 0o755);
    write('tmp', 'a file named tmp is sent\n');
    write('sub/logs/x', 'a logs folder is not\n');
    write('sub/tmp/y', 'nor a tmp folder\n');
    write('x.pyc', 'compiled\n');
    write('__pycache__/c', 'cache\n');
    write('.git/HEAD', 'ref\n');
    write('.env.local', 'MINE=1\n');
    write('data/db', "the shared data folder is the host's\n");
    write('lib/data/z', 'a data folder deeper down is sent\n');
    write('name with space.txt', 's\n');
    write('ünïcode.txt', 'u\n');
    // Names a listing must not misread: a newline (a link's record holds one), a leading
    // dash (an option where a path goes), find's own escapes and directives.
    write('two\nlines', 'n\n');
    write('-rf', 'dash\n');
    write('back\\slash %P %s', 'esc\n');
    mkdirSync(join(src(), 'empty'));
    symlinkSync('lib/a.txt', join(src(), 'link'));
    chmodSync(src(), 0o755);
  });

  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it.runIf(ROOT)('as root the host answers TILL_TREE_UNKNOWN, and the client falls back to rsync', () => {
    release();
    const out = execFileSync('/bin/sh', ['-c', commandLine(deployCompare.versions[0]!, params())], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', HOME: home() },
    });
    expect(out).toMatch(/^TILL_SAME_SETUP$/m);
    expect(out).toMatch(/^TILL_TREE_UNKNOWN$/m);
    expect(out).not.toMatch(/^TILL_TREE [0-9a-f]/m);
  });

  it('a fresh release lists as its source', async () => {
    release();
    expect(await verdicts()).toEqual({ listingDiffers: false, rsyncSeesChange: false });
  });

  const ns = (path: string) => statSync(path, { bigint: true }).mtimeNs;
  const cases: Array<[string, () => void, boolean]> = [
    ['a file grew', () => appendFileSync(join(R(), 'lib/a.txt'), 'drift\n'), true],
    ['a file touched (same content, newer mtime)', () => inRelease('touch lib/a.txt'), true],
    [
      'a file one nanosecond off (rsync compares with --modify-window=-1)',
      () => {
        const t = ns(join(src(), 'lib/a.txt')) + 1n;
        inRelease(`touch -d @${t / 1_000_000_000n}.${String(t % 1_000_000_000n).padStart(9, '0')} lib/a.txt`);
      },
      true,
    ],
    [
      "same size and mtime, other bytes (rsync's quick check does not look either)",
      () => inRelease(`printf 'BBBB\\n' > lib/a.txt && touch -r "${join(src(), 'lib/a.txt')}" lib/a.txt`),
      false,
    ],
    ['a file chmod 600', () => inRelease('chmod 600 lib/a.txt'), true],
    ['a folder chmod 700', () => inRelease('chmod 700 lib/deep'), true],
    ['the release folder itself chmod 700', () => inRelease('chmod 700 .'), true],
    ['an extra file', () => inRelease('echo new > lib/new.txt'), true],
    ['a file removed', () => inRelease('rm lib/deep/b.txt'), true],
    ['an empty folder removed', () => inRelease('rmdir empty'), true],
    ['a link pointed elsewhere', () => inRelease('ln -sfn lib/deep/b.txt link'), true],
    ['a file became a folder', () => inRelease('rm bin/run.sh && mkdir bin/run.sh'), true],
    ['the file named tmp changed', () => inRelease('echo more >> tmp'), true],
    ['a data folder deeper down changed', () => inRelease('echo more >> lib/data/z'), true],
    [
      'a file in a tmp folder written on the host (excluded: rsync leaves it)',
      () => inRelease('mkdir -p sub/tmp && echo t > sub/tmp/new'),
      false,
    ],
    [
      'a .pyc and a __pycache__ written on the host',
      () => inRelease('echo c > lib/m.pyc && mkdir -p __pycache__ && echo c > __pycache__/m'),
      false,
    ],
    [
      'a logs folder deeper down written on the host',
      () => inRelease('mkdir -p lib/logs && echo l > lib/logs/today'),
      false,
    ],
    ['in the shared folder (behind the data link)', () => inRelease('echo d > data/new'), false],
    ['the source: a file touched', () => execFileSync('touch', [join(src(), 'README.md')]), true],
    ['the source: a new file', () => writeFileSync(join(src(), 'lib/newer.txt'), 'n\n'), true],
  ];
  for (const [what, change, differs] of cases)
    it(`${what}: ${differs ? 'differs' : 'the same'}, as rsync says`, async () => {
      release();
      change();
      expect(await verdicts()).toEqual({ listingDiffers: differs, rsyncSeesChange: differs });
    });

  it("a name that is not UTF-8: GNU find lists it as the host's does (till's own walk cannot read it)", async () => {
    const name = Buffer.from([0x6e, 0xff, 0xfe, 0x2e, 0x74]);
    const inSource = Buffer.concat([Buffer.from(`${src()}/lib/`), name]);
    writeFileSync(inSource, 'latin\n');
    try {
      release();
      expect(rsyncSeesChange()).toBe(false);
      expect(await listSource(src(), SHARED)).toBe(hostListing());
      expect(() => treeListing(src(), SHARED)).toThrow(/ENOENT/);
      // Its last byte other on the host: the listings differ, as rsync says.
      renameSync(
        Buffer.concat([Buffer.from(`${R()}/lib/`), name]),
        Buffer.concat([Buffer.from(`${R()}/lib/`), name.subarray(0, 4), Buffer.from('u')]),
      );
      expect(rsyncSeesChange()).toBe(true);
      expect(await listSource(src(), SHARED)).not.toBe(hostListing());
    } finally {
      rmSync(inSource, { force: true });
    }
  });
});

describe('the source listed by GNU find, and without it', () => {
  let base: string;
  let savedPath: string | undefined;
  const tree = () => join(base, 'src');
  /** PATH as one folder: `sh`, and as `find` the given program (a real one: `false`, `echo`) or none. */
  const pathWithFind = (program: string | null) => {
    const bin = mkdtempSync(join(base, 'bin-'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    if (program !== null) symlinkSync(program, join(bin, 'find'));
    process.env.PATH = bin;
  };

  beforeAll(() => {
    base = mkdtempSync('/tmp/t-tl-');
    mkdirSync(join(tree(), 'lib', 'deep'), { recursive: true });
    writeFileSync(join(tree(), 'lib', 'a.txt'), 'A\n');
    writeFileSync(join(tree(), 'lib', 'deep', 'b\nc'), 'B\n');
    writeFileSync(join(tree(), 'tmp'), 'a file named tmp is listed\n');
    mkdirSync(join(tree(), 'logs'));
    writeFileSync(join(tree(), 'logs', 'x'), 'a logs folder is not\n');
    symlinkSync('lib/a.txt', join(tree(), 'link'));
    savedPath = process.env.PATH;
  });
  afterAll(() => {
    process.env.PATH = savedPath;
    rmSync(base, { recursive: true, force: true });
  });

  it('GNU find and the walk list the tree the same', async () => {
    process.env.PATH = savedPath;
    expect(await listSource(tree(), ['data'])).toBe(treeListing(tree(), ['data']));
    expect(await listSource(tree(), ['lib/deep'])).toBe(treeListing(tree(), ['lib/deep']));
    // The shared paths are in the listing's rules: another set, another listing.
    expect(await listSource(tree(), ['lib/deep'])).not.toBe(await listSource(tree(), ['data']));
  });

  it('a source given as a link to its folder lists as the folder (rsync -a <link>/ copies the folder)', async () => {
    process.env.PATH = savedPath;
    chmodSync(tree(), 0o750);
    const link = join(base, 'link-to-src');
    symlinkSync(tree(), link);
    const listed = await listSource(tree(), ['data']);
    expect(await listSource(link, ['data'])).toBe(listed);
    expect(treeListing(link, ['data'])).toBe(listed);
  });

  it('no find on PATH, a find that fails, a find that prints something else: the walk decides', async () => {
    process.env.PATH = savedPath;
    const walked = treeListing(tree(), ['data']);
    for (const program of [null, '/bin/false', '/bin/echo']) {
      pathWithFind(program);
      expect(await listSource(tree(), ['data']), String(program)).toBe(walked);
    }
  });

  it('a find that prints its times otherwise (an older find: %T@ not to the nanosecond) is not used', async () => {
    process.env.PATH = savedPath;
    const walked = treeListing(tree(), ['data']);
    const bin = mkdtempSync(join(base, 'bin-'));
    // Its folder record is right; a file's time has one decimal where GNU find prints ten.
    writeFileSync(join(bin, 'find'), "#!/bin/sh\nprintf 'd 755 \\000f 644 2 1700000000.5 lib/a.txt\\000'\n", {
      mode: 0o755,
    });
    process.env.PATH = `${bin}:${savedPath}`;
    expect(await listSource(tree(), ['data'])).toBe(walked);
  });

  it('a source the walk cannot read fails as the walk does, with its reason', async () => {
    pathWithFind(null);
    await expect(listSource(join(base, 'missing'), ['data'])).rejects.toThrow(/ENOENT/);
  });
});
