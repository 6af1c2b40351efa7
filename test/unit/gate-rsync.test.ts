import { describe, expect, it } from 'vitest';
import { checkRsyncServer, type RsyncPolicy } from '../../src/gate/rsync.js';
import { splitWords } from '../../src/gate/words.js';

/**
 * The gate's check of an upload (src/gate/rsync.ts) on its own: every option it lets
 * through, every refusal with its message, and the symlink check with a stand-in for
 * realpath (gate.test.ts runs it on a real folder with planted symlinks).
 */

const HOME = '/h';
const REL = '/h/T.till/releases';
/** Real paths: a path under a key is resolved to the value (a symlink there). */
const policyWith = (links: Record<string, string> = {}, over: Partial<RsyncPolicy> = {}): RsyncPolicy => ({
  home: HOME,
  deployRoots: ['/h/T', '/srv/app'],
  upgrade: true,
  outwardLink: () => undefined,
  realpath: (p) => {
    for (const [from, to] of Object.entries(links)) {
      if (to === 'throw' && p.startsWith(from)) throw new Error(`${from} is a dangling symlink`);
      if (p === from || p.startsWith(`${from}/`)) return to + p.slice(from.length);
    }
    return p;
  },
  ...over,
});
const check = (line: string, policy = policyWith()) => {
  const split = splitWords(line);
  if (!split.ok) throw new Error(split.reason);
  return checkRsyncServer(split.words, policy);
};
/** The refusal as the key reads it, then what only the gate's log adds (where a path leads). */
const why = (line: string, policy = policyWith()) => {
  const r = check(line, policy);
  return r.ok ? `allowed: ${r.argv.join(' ')}` : `${r.reason}${r.detail !== undefined ? ` [log: ${r.detail}]` : ''}`;
};
const argv = (line: string, policy = policyWith()) => {
  const r = check(line, policy);
  return r.ok ? r.argv : r.reason;
};
const DEPLOY = `. ${REL}/r2`;
const BUNDLE = '. .till/lib/till-1.0.0.mjs';

describe('the destination', () => {
  it('is the bundle (home-relative, ~/ or absolute) or a release folder of a deploy root', () => {
    for (const d of ['.till/lib/till-1.0.0.mjs', '~/.till/lib/till-1.0.0.mjs', '/h/.till/lib/till-1.0.0.mjs'])
      expect(check(`rsync --server -t . ${d}`), d).toStrictEqual({
        ok: true,
        argv: ['--server', '-t', '.', '/h/.till/lib/till-1.0.0.mjs'],
        target: 'bundle',
        dest: '/h/.till/lib/till-1.0.0.mjs',
      });
    expect(check(`rsync --server -r . ~/T.till/releases/r2/sub/`)).toEqual({
      ok: true,
      argv: ['--server', '-r', '.', '/h/T.till/releases/r2/sub/'],
      target: 'deploy',
      dest: '/h/T.till/releases/r2/sub/',
      root: '/h/T',
      // the release the upload goes into, which the gate makes a real folder first
      release: '/h/T.till/releases/r2',
    });
    expect(check('rsync --server -r . /srv/app.till/releases/r2')).toMatchObject({ ok: true, root: '/srv/app' });
    expect(check('rsync --server -r . T.till/releases/a.b_c-9')).toMatchObject({ ok: true, root: '/h/T' });
    expect(argv('rsync --server . .till/lib/till-1.mjs')).toEqual(['--server', '.', '/h/.till/lib/till-1.mjs']);
  });

  it.each([
    ['rsync --server . ~', "rsync destination /h is outside till's folders"],
    ['rsync --server . /', "rsync destination / is outside till's folders"],
    ['rsync --server . ~/.till/lib/', "rsync destination /h/.till/lib/ is outside till's folders"],
    ['rsync --server . .till/lib/till-.mjs', "rsync destination /h/.till/lib/till-.mjs is outside till's folders"],
    ['rsync --server . .till/lib/till-.x.mjs', "rsync destination /h/.till/lib/till-.x.mjs is outside till's folders"],
    ['rsync --server . .till/lib/till-1.mjsx', "rsync destination /h/.till/lib/till-1.mjsx is outside till's folders"],
    ['rsync --server . .till/lib/xtill-1.mjs', "rsync destination /h/.till/lib/xtill-1.mjs is outside till's folders"],
    [
      'rsync --server . .till/lib/sub/till-1.mjs',
      "rsync destination /h/.till/lib/sub/till-1.mjs is outside till's folders",
    ],
    ['rsync --server . ~/T.till/releases', "rsync destination /h/T.till/releases is outside till's folders"],
    ['rsync --server . ~/T.till/releasesX/r', "rsync destination /h/T.till/releasesX/r is outside till's folders"],
    ['rsync --server . ~/T.till/releases/.r', "rsync destination /h/T.till/releases/.r is outside till's folders"],
    ['rsync --server . ~/T.till/releases/-r', "rsync destination /h/T.till/releases/-r is outside till's folders"],
    ['rsync --server . ~/U.till/releases/r', "rsync destination /h/U.till/releases/r is outside till's folders"],
    ['rsync --server . ~/T/releases/r', "rsync destination /h/T/releases/r is outside till's folders"],
  ])('refuses %s', (line, reason) => {
    expect(check(line)).toEqual({
      ok: false,
      reason: `${reason} (~/.till/lib/till-<version>.mjs, <deploy root>.till/releases/<id>)`,
    });
  });

  it('an id over 128 characters is not a release folder', () => {
    expect(check(`rsync --server -r . ${REL}/r${'1'.repeat(127)}`).ok).toBe(true);
    expect(why(`rsync --server -r . ${REL}/r${'1'.repeat(128)}`)).toMatch(/is outside till's folders/);
  });

  it('is one plain path: no .., no ~user, one of them, after the "."', () => {
    expect(check(`rsync --server -r . ${REL}/./r`)).toMatchObject({ ok: true, dest: `${REL}/r` });
    expect(why('rsync --server . .till/lib/../lib/till-1.mjs')).toBe(
      'rsync destination ".till/lib/../lib/till-1.mjs" is not a plain path (no .., no ~user)',
    );
    expect(why('rsync --server . ~root/.till/lib/till-1.mjs')).toBe(
      'rsync destination "~root/.till/lib/till-1.mjs" is not a plain path (no .., no ~user)',
    );
    expect(why(`rsync --server ${DEPLOY} ${REL}/r3`)).toBe('an upload names exactly one destination (got 2)');
    expect(why('rsync --server -r .')).toBe('an upload names exactly one destination (got 0)');
    expect(why(`rsync --server -r ${REL}/r2`)).toBe('rsync server command without its "." argument');
    expect(why('rsync --server')).toBe('rsync server command without its "." argument');
  });

  it('is an rsync server receiving, nothing else', () => {
    expect(checkRsyncServer([], policyWith())).toEqual({ ok: false, reason: 'not an rsync server command' });
    for (const line of ['rsync', 'rsync --daemon . x', 'rsync -r --server . x', 'rsyncx --server . x'])
      expect(why(line), line).toBe('not an rsync server command');
    const notARead =
      'downloads (rsync --sender) are not allowed: a read of a release must be a dry run (-n), which sends no content';
    expect(why(`rsync --server --sender -r ${DEPLOY}`)).toBe(notARead);
    expect(why(`rsync --server -r ${DEPLOY} --sender`)).toBe('a read names exactly one source (got 2)');
  });

  it('the bundle only while gate.json allows upgrades', () => {
    expect(why(`rsync --server -t ${BUNDLE}`, policyWith({}, { upgrade: false }))).toBe(
      'gate.json says "upgrade": false: till cannot be replaced through this key',
    );
    expect(check(`rsync --server -r ${DEPLOY}`, policyWith({}, { upgrade: false })).ok).toBe(true);
  });
});

describe('options', () => {
  it('takes the short flags a receiving server writes nothing outside with, in one cluster', () => {
    expect(argv(`rsync --server -ltprogDzncvxHSEIiWOJUdqmuy ${DEPLOY}`)).toEqual([
      '--server',
      '-ltprogDzncvxHSEIiWOJUdqmuy',
      '.',
      `${REL}/r2`,
    ]);
    expect(argv(`rsync --server -tpzncvI ${BUNDLE}`)).toEqual([
      '--server',
      '-tpzncvI',
      '.',
      '/h/.till/lib/till-1.0.0.mjs',
    ]);
    expect(argv(`rsync --server -logDtprze.iLsfxCIvu ${DEPLOY}`)[1]).toBe('-logDtprze.iLsfxCIvu');
    expect(argv(`rsync --server -te31.iLsfxC ${DEPLOY}`)[1]).toBe('-te31.iLsfxC');
    expect(why(`rsync --server -t -r ${DEPLOY}`)).toBe('two rsync flag clusters');
    expect(why(`rsync --server - ${DEPLOY}`)).toBe('rsync argument "-" is not allowed');
    expect(why(`rsync --server -e ${DEPLOY}`)).toBe('rsync -e is not allowed');
    expect(why(`rsync --server -te ${DEPLOY}`)).toBe('rsync -e is not allowed');
    expect(why(`rsync --server -te. ${DEPLOY}`)).toMatch(/^allowed/);
    expect(why(`rsync --server -t1 ${DEPLOY}`)).toBe('rsync argument "-t1" is not allowed');
  });

  it.each([
    ['s', 'arguments sent inside the protocol (-s/--protect-args) bypass the check'],
    ['K', 'following symlinked folders (-K) can lead out of the destination'],
    ['L', 'following symlinks (-L) can lead out of the destination'],
    ['k', 'following symlinked folders (-k) can lead out of the destination'],
    ['R', 'relative paths (-R) place files outside the destination'],
    ['b', 'backups (-b) are not used by till'],
  ])('refuses -%s, saying why', (ch, reason) => {
    expect(why(`rsync --server -t${ch} ${DEPLOY}`)).toBe(`rsync option -${ch} is not allowed: ${reason}`);
    expect(why(`rsync --server -t${ch} ${BUNDLE}`)).toBe(`rsync option -${ch} is not allowed: ${reason}`);
  });

  it('refuses other short flags, and for the bundle those only a tree needs', () => {
    expect(why(`rsync --server -tA ${DEPLOY}`)).toBe('rsync option -A is not allowed');
    expect(why(`rsync --server -tr ${BUNDLE}`)).toBe('rsync option -r is not allowed for the till bundle');
    expect(why(`rsync --server -tl ${BUNDLE}`)).toBe('rsync option -l is not allowed for the till bundle');
  });

  it('takes --modify-window as -@N', () => {
    for (const w of ['-@-1', '-@0', '-@1234']) expect(argv(`rsync --server ${w} ${DEPLOY}`)[1], w).toBe(w);
    for (const w of ['-@12345', '-@', '-@x', '-@--1', 'a-@1', '-@1x'])
      expect(why(`rsync --server ${w} ${DEPLOY}`), w).toBe(`rsync argument ${JSON.stringify(w)} is not allowed`);
  });

  const DEPLOY_FLAGS = [
    'delete',
    'delete-before',
    'delete-during',
    'delete-delay',
    'delete-after',
    'delete-excluded',
    'mkpath',
    'safe-links',
    'munge-links',
    'numeric-ids',
    'size-only',
    'ignore-times',
    'delay-updates',
    'fsync',
    'partial',
    'existing',
    'ignore-existing',
    'no-implied-dirs',
    'force',
    'no-W',
    'stats',
  ];
  it('takes the long flags of a deploy, and of the bundle only --ignore-times, --fsync and --stats', () => {
    for (const f of DEPLOY_FLAGS) expect(argv(`rsync --server --${f} ${DEPLOY}`)[1], f).toBe(`--${f}`);
    for (const f of ['ignore-times', 'fsync', 'stats'])
      expect(argv(`rsync --server --${f} ${BUNDLE}`)[1], f).toBe(`--${f}`);
    for (const f of DEPLOY_FLAGS.filter((f) => !['ignore-times', 'fsync', 'stats'].includes(f)))
      expect(why(`rsync --server --${f} ${BUNDLE}`), f).toBe(`rsync option --${f} is not allowed for the till bundle`);
    expect(why(`rsync --server --delete=1 ${DEPLOY}`)).toBe('rsync option --delete is not allowed');
    expect(why(`rsync --server --copy-links ${DEPLOY}`)).toBe('rsync option --copy-links is not allowed');
    // till never sends it, and it writes through a hard link into whatever file shares it
    expect(why(`rsync --server --inplace ${DEPLOY}`)).toBe('rsync option --inplace is not allowed');
    expect(why(`rsync --server --Delete ${DEPLOY}`)).toBe('rsync argument "--Delete" is not allowed');
    expect(why(`rsync --server ---delete ${DEPLOY}`)).toBe('rsync argument "---delete" is not allowed');
    expect(why(`rsync --server x--delete ${DEPLOY}`)).toBe('rsync argument "x--delete" is not allowed');
    expect(why(`rsync --server --delete@x ${DEPLOY}`)).toBe('rsync argument "--delete@x" is not allowed');
    expect(why(`rsync --server --delete.x ${DEPLOY}`)).toBe('rsync argument "--delete.x" is not allowed');
  });

  it.each([
    ['log-format', ['%i', "%o:%'b.%L-x"], ['%i %n', '%i;id', '']],
    ['out-format', ['%n%L'], ['a b', '$x']],
    ['timeout', ['0', '30'], ['-1', '1s', '']],
    ['contimeout', ['5', '10'], ['x', 'x5', '5x']],
    ['bwlimit', ['1000', '10K', '2m', '3G', '4g', '5M', '6k'], ['1T', 'K', '1KK', 'x1']],
    ['compress-level', ['3'], ['10', 'x']],
    ['compress-choice', ['zstd', 'lz4'], ['Zstd', 'a-b']],
    ['checksum-choice', ['xxh128,md5'], ['a b', 'A']],
    ['max-delete', ['10'], ['-1', '1x']],
    ['max-size', ['1M', '10M', '100'], ['1.5M']],
    ['min-size', ['1k', '10k', '5'], ['x', 'x1k', '1kx', 'k']],
    ['modify-window', ['-1', '2', '-10', '12'], ['1.5', '--1']],
  ] as const)('--%s takes a value of its shape, inline or as the next word', (name, good, bad) => {
    for (const v of good) {
      expect(argv(`rsync --server --${name}=${v.replace("'", "\\'")} ${DEPLOY}`)[1], v).toBe(`--${name}=${v}`);
      if (!v.includes("'"))
        expect(argv(`rsync --server --${name} ${v} ${DEPLOY}`), v).toEqual([
          '--server',
          `--${name}=${v}`,
          '.',
          `${REL}/r2`,
        ]);
    }
    for (const v of bad)
      expect(why(`rsync --server '--${name}=${v}' ${DEPLOY}`), v).toBe(
        `rsync --${name} value ${JSON.stringify(v)} is not allowed`,
      );
  });

  it('a value option at the end has no value; --max-delete is not for the bundle', () => {
    expect(why(`rsync --server --timeout ${DEPLOY}`)).toBe('rsync --timeout value "" is not allowed');
    expect(why(`rsync --server --log-format ${DEPLOY}`)).toBe('rsync --log-format value "" is not allowed');
    expect(argv(`rsync --server --timeout=5 ${BUNDLE}`)[1]).toBe('--timeout=5');
    expect(why(`rsync --server --max-delete=1 ${BUNDLE}`)).toBe(
      'rsync option --max-delete is not allowed for the till bundle',
    );
  });

  it('refuses an option word that starts with ~', () => {
    expect(why(`rsync --server ~/x ${DEPLOY}`)).toBe('rsync option "~/x" is not allowed');
  });
});

describe('--link-dest', () => {
  it('names another release of the same root: relative to the destination, ~/ or absolute, inline or not', () => {
    const expected = ['--server', `--link-dest=${REL}/r1`, '.', `${REL}/r2/`];
    expect(argv(`rsync --server --link-dest ../r1 . ${REL}/r2/`)).toEqual(expected);
    expect(argv(`rsync --server --link-dest=../r1 . ${REL}/r2/`)).toEqual(expected);
    expect(argv(`rsync --server --link-dest ~/T.till/releases/r1 . ${REL}/r2/`)).toEqual(expected);
    expect(argv(`rsync --server '--link-dest=~/T.till/releases/r1' . ${REL}/r2/`)).toEqual(expected);
    expect(argv(`rsync --server --link-dest ${REL}/r1 --link-dest ../r0 . ${REL}/r2`)).toEqual([
      '--server',
      `--link-dest=${REL}/r1`,
      `--link-dest=${REL}/r0`,
      '.',
      `${REL}/r2`,
    ]);
  });

  it.each([
    ['..', `--link-dest ".." is outside ${REL}`],
    ['../..', `--link-dest "../.." is outside ${REL}`],
    ['/h/T.till/releasesX', `--link-dest "/h/T.till/releasesX" is outside ${REL}`],
    ['~/.ssh', `--link-dest "~/.ssh" is outside ${REL}`],
    ['~root/x', `--link-dest "~root/x" is outside ${REL}`],
    ['~/T.till/releases/../../.ssh', `--link-dest "~/T.till/releases/../../.ssh" is outside ${REL}`],
  ])('refuses %s', (value, reason) => {
    expect(why(`rsync --server --link-dest ${value} . ${REL}/r2`)).toBe(reason);
  });

  it('is for deploys only, and needs a folder', () => {
    expect(why(`rsync --server --link-dest ../r1 ${BUNDLE}`)).toBe(
      'rsync option --link-dest is not allowed for the till bundle',
    );
    expect(why(`rsync --server --link-dest ${DEPLOY}`)).toBe('--link-dest without a folder');
    // relative to the destination, a trailing slash or not
    expect(argv(`rsync --server --link-dest=../r1/ . ${REL}/r2/`)).toEqual([
      '--server',
      `--link-dest=${REL}/r1`,
      '.',
      `${REL}/r2/`,
    ]);
    expect(argv(`rsync --server --link-dest ../r1 . ${REL}/r2.partial`)).toEqual([
      '--server',
      `--link-dest=${REL}/r1`,
      '.',
      `${REL}/r2.partial`,
    ]);
  });

  it("is another release, whole: never the upload's own, nor a folder inside a release", () => {
    const notAnother = (v: string) => `--link-dest ${JSON.stringify(v)} is not another release of ${REL}`;
    expect(why(`rsync --server --link-dest=. . ${REL}/r2/`)).toBe(notAnother('.'));
    expect(why(`rsync --server --link-dest ../r2 . ${REL}/r2/sub`)).toBe(notAnother('../r2'));
    expect(why(`rsync --server --link-dest ../r1/up . ${REL}/r2`)).toBe(notAnother('../r1/up'));
    expect(why(`rsync --server --link-dest ${REL}/r1/a . ${REL}/r2`)).toBe(notAnother(`${REL}/r1/a`));
  });

  it('is another release by its real path too: a release name that is a symlink is refused', () => {
    // r1 -> r2 (the upload's own), r1 -> r0/sub (a folder inside another release), r1 -> r0 (another release, but a link)
    for (const [to, real] of [
      [`${REL}/r2`, `${REL}/r2`],
      [`${REL}/r0/sub`, `${REL}/r0/sub`],
      [`${REL}/r0`, `${REL}/r0`],
    ] as const)
      expect(why(`rsync --server --link-dest ../r1 . ${REL}/r2.partial`, policyWith({ [`${REL}/r1`]: to })), to).toBe(
        `--link-dest ${REL}/r1 is not another release of ${REL} [log: it is ${real}]`,
      );
    // the upload's own release a link to the linked one
    expect(why(`rsync --server --link-dest ../r1 . ${REL}/r2/`, policyWith({ [`${REL}/r2`]: `${REL}/r1` }))).toBe(
      `--link-dest ${REL}/r1 is not another release of ${REL} [log: it is ${REL}/r1]`,
    );
  });

  it('is not used when its tree holds a symlink to a folder outside the root: the upload goes on, sending whole files', () => {
    const asked: Array<[string, readonly string[]]> = [];
    const leaky = policyWith(
      {},
      {
        outwardLink: (tree, within) => {
          asked.push([tree, within]);
          return tree.endsWith('/r1') ? `${tree}/a -> /h/.ssh` : undefined;
        },
      },
    );
    const r = check(
      `rsync --server -logDtprze.iLsfxCIvu --link-dest ../r1 --link-dest ../r0 . ${REL}/r2.partial`,
      leaky,
    );
    expect(r).toEqual({
      ok: true,
      argv: ['--server', '-logDtprze.iLsfxCIvu', `--link-dest=${REL}/r0`, '.', `${REL}/r2.partial`],
      // the key is told that a link leads out, the log where it leads
      notes: [
        `--link-dest ${REL}/r1 not used: it holds a link out of the deploy root's folders (or a folder the gate cannot look through); files are sent whole`,
      ],
      logNotes: [
        `--link-dest ${REL}/r1 not used: ${REL}/r1/a -> /h/.ssh leads out of the deploy root's folders; files are sent whole`,
      ],
      target: 'deploy',
      dest: `${REL}/r2.partial`,
      root: '/h/T',
      release: `${REL}/r2.partial`,
    });
    // Each tree is looked at, with the real releases and shared folders as the places links may lead.
    expect(asked).toEqual([
      [`${REL}/r1`, [REL, '/h/T.till/shared']],
      [`${REL}/r0`, [REL, '/h/T.till/shared']],
    ]);
    // No --link-dest: nothing to look at.
    asked.length = 0;
    expect(check(`rsync --server -r . ${REL}/r2`, leaky).ok).toBe(true);
    expect(asked).toEqual([]);
  });
});

describe('symlinks on the way', () => {
  it('the destination must really lie in the releases folder', () => {
    const out = policyWith({ [`${REL}/evil`]: '/h/.ssh' });
    expect(why(`rsync --server -r . ${REL}/evil/x`, out)).toBe(
      `rsync destination ${REL}/evil/x does not lie inside ${REL} [log: to /h/.ssh/x]`,
    );
    expect(why(`rsync --server -r . ${REL}/evil`, out)).toBe(
      `rsync destination ${REL}/evil does not lie inside ${REL} [log: to /h/.ssh]`,
    );
    // a releases folder that is itself a symlink: what counts is where it really is
    const moved = policyWith({ '/h/T.till': '/data/T.till' });
    expect(check(`rsync --server -r . ${REL}/r2`, moved).ok).toBe(true);
    const lib = policyWith({ '/h/.till/lib/till-1.mjs': '/h/.bashrc' });
    expect(why('rsync --server . .till/lib/till-1.mjs', lib)).toBe(
      'rsync destination /h/.till/lib/till-1.mjs does not lie inside /h/.till/lib [log: to /h/.bashrc]',
    );
    const prefix = policyWith({ [`${REL}/r2`]: `${REL}X/r2` });
    expect(why(`rsync --server -r . ${REL}/r2`, prefix)).toMatch(/does not lie inside/);
    const root = policyWith({ [REL]: '/' });
    expect(check(`rsync --server -r . ${REL}/r2`, root).ok).toBe(true);
    // a symlink (uploaded by an earlier session with -l) back to the releases folder: an upload
    // there would land beside the releases, and --delete would remove them
    const self = policyWith({ [`${REL}/r1/up`]: REL });
    expect(why(`rsync --server -r --delete . ${REL}/r1/up`, self)).toBe(
      `rsync destination ${REL}/r1/up does not lie inside ${REL} [log: to ${REL}]`,
    );
  });

  it('so must every --link-dest', () => {
    const self = policyWith({ [`${REL}/r1`]: REL });
    expect(why(`rsync --server --link-dest ../r1 . ${REL}/r2`, self)).toBe(
      `--link-dest ${REL}/r1 does not lie inside ${REL} [log: to ${REL}]`,
    );
    const out = policyWith({ [`${REL}/evil`]: '/h/.ssh' });
    expect(why(`rsync --server --link-dest ../r1 --link-dest ../evil . ${REL}/r2`, out)).toBe(
      `--link-dest ${REL}/evil does not lie inside ${REL} [log: to /h/.ssh]`,
    );
  });

  it('a path that cannot be resolved is refused, naming it', () => {
    expect(why(`rsync --server -r . ${REL}/d/x`, policyWith({ [`${REL}/d`]: 'throw' }))).toBe(
      `rsync destination ${REL}/d/x does not lie inside ${REL} [log: ${REL}/d is a dangling symlink]`,
    );
    expect(why(`rsync --server -r . ${REL}/r2`, policyWith({ [REL]: 'throw' }))).toBe(
      `rsync destination ${REL}/r2 does not lie inside ${REL} [log: ${REL} is a dangling symlink]`,
    );
    const baseOnly: RsyncPolicy = {
      ...policyWith(),
      realpath: (p) => {
        if (p === REL) throw new Error('gone');
        return p;
      },
    };
    expect(why(`rsync --server -r . ${REL}/r2`, baseOnly)).toBe(`cannot resolve ${REL} [log: gone]`);
    expect(why(`rsync --server --link-dest ../d . ${REL}/r2`, policyWith({ [`${REL}/d`]: 'throw' }))).toBe(
      `--link-dest ${REL}/d does not lie inside ${REL} [log: ${REL}/d is a dangling symlink]`,
    );
  });
});

describe('arguments hidden in the protocol (-s, --protect-args, --secluded-args)', () => {
  const WHY_S = 'arguments sent inside the protocol (-s/--protect-args) bypass the check';
  it('are refused before anything else: the paths are then not on the command line at all', () => {
    // With -s the client sends the paths inside the protocol: the server's line has none.
    for (const line of [
      'rsync --server -s .',
      'rsync --server -tps .',
      'rsync --server -se.iLsfxC .',
      'rsync --server -se31.iLsfxC .',
      'rsync --server -tse.L .',
      'rsync --server --protect-args .',
      'rsync --server --secluded-args .',
      `rsync --server -t --protect-args ${DEPLOY}`,
      `rsync --server --secluded-args -t ${BUNDLE}`,
    ])
      expect(why(line), line).toBe(`rsync option -s is not allowed: ${WHY_S}`);
  });

  it('an s after the e. of a capability string is not -s, nor is an s in a path or a value', () => {
    expect(why(`rsync --server -te.iLsfxC ${DEPLOY}`)).toMatch(/^allowed/);
    expect(why(`rsync --server -te31.s ${DEPLOY}`)).toMatch(/^allowed/);
    expect(why(`rsync --server -t . ${REL}/s`)).toMatch(/^allowed/);
    expect(why(`rsync --server --out-format=%s ${DEPLOY}`)).toMatch(/^allowed/);
    expect(why(`rsync --server -n --sender . ${REL}/s`)).toMatch(/^allowed/);
  });

  it('in a read too, saying so', () => {
    for (const line of [
      `rsync --server --sender -ns . ${REL}/r2`,
      `rsync --server --sender -nse.iLsfxC .`,
      `rsync --server --sender -n --protect-args . ${REL}/r2`,
      `rsync --server --sender -n --secluded-args .`,
    ])
      expect(why(line), line).toBe(`rsync option -s is not allowed in a read: ${WHY_S}`);
  });
});

describe('a deploy root', () => {
  it('given with trailing slashes is the same root', () => {
    const slashes = policyWith({}, { deployRoots: ['/srv/app//', '/h/T/'] });
    expect(check('rsync --server -r . /srv/app.till/releases/r2', slashes)).toMatchObject({
      ok: true,
      target: 'deploy',
      root: '/srv/app',
    });
    expect(check(`rsync --server -r ${DEPLOY}`, slashes)).toMatchObject({ ok: true, root: '/h/T' });
    expect(why('rsync --server -r . /srv/app/.till/releases/r2', slashes)).toMatch(/is outside till's folders/);
  });
});

describe('a destination with a trailing slash', () => {
  it('is resolved without it: a symlinked release with a slash still leads out', () => {
    const out = policyWith({ [`${REL}/evil`]: '/h/.ssh' });
    expect(why(`rsync --server -r . ${REL}/evil/`, out)).toBe(
      `rsync destination ${REL}/evil/ does not lie inside ${REL} [log: to /h/.ssh]`,
    );
  });
});

/**
 * `host diff`'s read of a release: `rsync --server --sender -n… . <release>`. A dry run
 * inside a release folder, with options that neither write nor follow symlinks; every
 * other download is refused, with its reason.
 */
describe('a read (rsync --server --sender)', () => {
  const READ = `. ${REL}/r2/`;
  const NOT_A_READ = (path: string) =>
    `downloads (rsync --sender) are not allowed: the one read is a dry-run listing of a release (<deploy root>.till/releases/<id>), not ${path}`;

  it('a dry-run listing of a release is allowed, written back with --sender first', () => {
    expect(check(`rsync --server --sender -nlrcdtpgoDHxvqz ${READ}`)).toStrictEqual({
      ok: true,
      argv: ['--server', '--sender', '-nlrcdtpgoDHxvqz', '.', `${REL}/r2/`],
      target: 'read',
      dest: `${REL}/r2/`,
      root: '/h/T',
    });
    expect(check('rsync --server --sender -nr . /srv/app.till/releases/r2/sub')).toStrictEqual({
      ok: true,
      argv: ['--server', '--sender', '-nr', '.', '/srv/app.till/releases/r2/sub'],
      target: 'read',
      dest: '/srv/app.till/releases/r2/sub',
      root: '/srv/app',
    });
    // --sender anywhere among the options; the rest keep their order
    expect(argv(`rsync --server -ne.iLsfxCIvu --timeout=5 --sender --dry-run -@-1 . ~/T.till/releases/r2`)).toEqual([
      '--server',
      '--sender',
      '-ne.iLsfxCIvu',
      '--timeout=5',
      '--dry-run',
      '-@-1',
      '.',
      `${REL}/r2`,
    ]);
  });

  it('must be a dry run: -n in the flag cluster or --dry-run', () => {
    const notDry =
      'downloads (rsync --sender) are not allowed: a read of a release must be a dry run (-n), which sends no content';
    expect(why(`rsync --server --sender -r ${READ}`)).toBe(notDry);
    expect(why(`rsync --server --sender ${READ}`)).toBe(notDry);
    expect(why(`rsync --server --sender --timeout=5 ${READ}`)).toBe(notDry);
    // the n of a capability string (after e.) is not a dry run
    expect(why(`rsync --server --sender -re.nLsfxC ${READ}`)).toBe(notDry);
    expect(argv(`rsync --server --sender --dry-run -r ${READ}`)).toEqual([
      '--server',
      '--sender',
      '--dry-run',
      '-r',
      '.',
      `${REL}/r2/`,
    ]);
    expect(argv(`rsync --server --sender -rn ${READ}`)).toEqual(['--server', '--sender', '-rn', '.', `${REL}/r2/`]);
  });

  it('only of a release: not the bundle, the home, a key, the releases folder, nor another root', () => {
    for (const [path, resolved] of [
      ['.till/lib/till-1.0.0.mjs', '/h/.till/lib/till-1.0.0.mjs'],
      ['~', '/h'],
      ['~/.ssh/id_ed25519', '/h/.ssh/id_ed25519'],
      ['/etc/shadow', '/etc/shadow'],
      ['-', '/h/-'],
      [REL, REL],
      [`${REL}/`, `${REL}/`],
      [`${REL}/.r`, `${REL}/.r`],
      ['/h/U.till/releases/r2', '/h/U.till/releases/r2'],
    ] as const)
      expect(why(`rsync --server --sender -n . ${path}`), path).toBe(NOT_A_READ(resolved));
  });

  it('one plain source: no .., no ~user, exactly one, after the "."', () => {
    expect(why(`rsync --server --sender -n . ~/T.till/releases/r2/../../../.ssh`)).toBe(
      'rsync source "~/T.till/releases/r2/../../../.ssh" is not a plain path (no .., no ~user)',
    );
    expect(why(`rsync --server --sender -n . ~root/T.till/releases/r2`)).toBe(
      'rsync source "~root/T.till/releases/r2" is not a plain path (no .., no ~user)',
    );
    expect(why(`rsync --server --sender -n . ${REL}/r1 ${REL}/r2`)).toBe('a read names exactly one source (got 2)');
    expect(why(`rsync --server --sender -n .`)).toBe('a read names exactly one source (got 0)');
    expect(why(`rsync --server --sender -n ${REL}/r2`)).toBe('rsync server command without its "." argument');
  });

  it('takes its own flags and values, and nothing that writes, deletes, links or follows symlinks', () => {
    for (const f of ['dry-run', 'open-noatime', 'numeric-ids', 'size-only', 'ignore-times'])
      expect(argv(`rsync --server --sender -n --${f} ${READ}`)[3], f).toBe(`--${f}`);
    for (const [name, v] of [
      ['checksum-choice', 'xxh128'],
      ['compress-choice', 'zstd'],
      ['compress-level', '3'],
      ['timeout', '30'],
      ['contimeout', '5'],
      ['bwlimit', '10M'],
      ['max-size', '1G'],
      ['min-size', '1k'],
      ['modify-window', '-1'],
    ])
      expect(argv(`rsync --server --sender -n --${name} ${v} ${READ}`)[3], name).toBe(`--${name}=${v}`);
    for (const option of [
      'remove-source-files',
      'log-file=/h/.bashrc',
      'write-batch=/h/x',
      'only-write-batch=/h/x',
      'delete',
      'mkpath',
      'fsync',
      'stats',
      'copy-links',
      'copy-dirlinks',
      'copy-unsafe-links',
      'link-dest=../r1',
      'max-delete=1',
      'log-format=%i',
      'out-format=%n',
      'rsync-path=/bin/sh',
      'sender=1',
    ])
      expect(why(`rsync --server --sender -n --${option} ${READ}`), option).toBe(
        `rsync option --${option.replace(/=.*/, '')} is not allowed in a read`,
      );
    for (const [ch, reason] of [
      ['L', ': following symlinks (-L) can lead out of the destination'],
      ['k', ': following symlinked folders (-k) can lead out of the destination'],
      ['K', ': following symlinked folders (-K) can lead out of the destination'],
      ['R', ': relative paths (-R) place files outside the destination'],
      ['b', ': backups (-b) are not used by till'],
      ['S', ' in a read'],
      ['u', ' in a read'],
      ['W', ' in a read'],
    ])
      expect(why(`rsync --server --sender -n${ch} ${READ}`), ch).toBe(`rsync option -${ch} is not allowed${reason}`);
    expect(why(`rsync --server --sender -ne ${READ}`)).toBe('rsync -e is not allowed');
    expect(why(`rsync --server --sender -n -r ${READ}`)).toBe('two rsync flag clusters');
    expect(why(`rsync --server --sender -n --timeout=x ${READ}`)).toBe('rsync --timeout value "x" is not allowed');
    expect(why(`rsync --server --sender -n ~/x ${READ}`)).toBe('rsync option "~/x" is not allowed');
  });

  it('--sender once', () => {
    expect(why(`rsync --server --sender --sender -n ${READ}`)).toBe('--sender given twice');
    expect(why(`rsync --server --sender -n --timeout=5 --sender ${READ}`)).toBe('--sender given twice');
  });

  it('the source must really lie in the releases folder', () => {
    const out = policyWith({ [`${REL}/evil`]: '/h/.ssh' });
    expect(why(`rsync --server --sender -n . ${REL}/evil/`, out)).toBe(
      `rsync source ${REL}/evil/ does not lie inside ${REL} [log: to /h/.ssh]`,
    );
    expect(why(`rsync --server --sender -nr . ${REL}/evil/id_ed25519`, out)).toBe(
      `rsync source ${REL}/evil/id_ed25519 does not lie inside ${REL} [log: to /h/.ssh/id_ed25519]`,
    );
    expect(why(`rsync --server --sender -n . ${REL}/d/x`, policyWith({ [`${REL}/d`]: 'throw' }))).toBe(
      `rsync source ${REL}/d/x does not lie inside ${REL} [log: ${REL}/d is a dangling symlink]`,
    );
    // a releases folder that is itself a symlink: what counts is where it really is
    expect(check(`rsync --server --sender -n . ${REL}/r2`, policyWith({ '/h/T.till': '/data/T.till' })).ok).toBe(true);
  });
});
