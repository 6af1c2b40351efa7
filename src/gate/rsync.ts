import { posix } from 'node:path';
import { VERSION_RE } from '../protocol/args.js';
import { expandHome } from '../protocol/wire.js';
import type { Word } from './words.js';

/**
 * The gate's check of an upload: `rsync --server <options> . <dest>` as an rsync
 * client writes it. Only options an rsync client sends for till's own transfers pass,
 * and the destination must be one of two places:
 *   - `~/.till/lib/till-<version>.mjs`: one file, the bundle `host setup` copies;
 *   - `<root>.till/releases/<id>[/…]` for a deploy root of gate.json.
 * And of one read (checkRsyncSender): `rsync --server --sender -n… . <release>`, the
 * dry-run listing `host diff` compares with; every other download is refused.
 * Paths are resolved without a shell (`~/` is the home), `..` is refused, and the
 * deepest existing folder on the way must really lie inside the allowed folder (a
 * symlink planted earlier cannot lead the upload out).
 */
export interface RsyncPolicy {
  /** The home, absolute. */
  home: string;
  /** Deploy roots, absolute (gate.json's, with `~/` expanded). */
  deployRoots: readonly string[];
  /** Whether the bundle may be replaced (gate.json "upgrade", default true). */
  upgrade: boolean;
  /** Real path of a folder (the deepest existing ancestor resolved); injected for tests. */
  realpath: (path: string) => string;
  /**
   * The first symlink inside `tree` that resolves to a folder outside every folder of
   * `within` (real paths), or one the gate cannot look into; undefined when there is
   * none. Injected for tests (decide.ts's outwardLink on a real tree).
   */
  outwardLink: (tree: string, within: readonly string[]) => string | undefined;
}

export type RsyncCheck =
  | {
      ok: true;
      argv: string[];
      /** What the gate changed in the command, said on stderr (a --link-dest it did not use). */
      notes?: string[];
      /** The same for the gate's log, with what the key is not told (where a link leads). */
      logNotes?: string[];
      /** An upload of the bundle or into a release, or a read of a release (`host diff`). */
      target: 'bundle' | 'deploy' | 'read';
      dest: string;
      /** The deploy root of a deploy upload (the gate holds its lock while rsync runs). */
      root?: string;
      /**
       * An upload into a release: `<releases>/<id>`, which the gate makes a real folder
       * (when nothing is there) before rsync starts, so that no upload can make a
       * release's name itself a symlink (`rsync -l link HOST:…/releases/<id>`).
       */
      release?: string;
    }
  | {
      ok: false;
      reason: string;
      /** For the gate's log only: what the key is not told (where a path really leads, errno text). */
      detail?: string;
    };

/** Short options of a receiving server that write nothing outside the destination. */
const SHORT_DEPLOY = new Set('ltprogDzncvxHSEIiWOJUdqmuy');
const SHORT_BUNDLE = new Set('tpzncvI');
const SHORT_WHY: Record<string, string> = {
  s: 'arguments sent inside the protocol (-s/--protect-args) bypass the check',
  K: 'following symlinked folders (-K) can lead out of the destination',
  L: 'following symlinks (-L) can lead out of the destination',
  k: 'following symlinked folders (-k) can lead out of the destination',
  R: 'relative paths (-R) place files outside the destination',
  b: 'backups (-b) are not used by till',
};

const LONG_FLAGS_DEPLOY = new Set([
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
]);
const LONG_FLAGS_BUNDLE = new Set(['ignore-times', 'fsync', 'stats']);
const LONG_VALUES = new Map<string, RegExp>([
  ['log-format', /^[%A-Za-z0-9'.:-]+$/],
  ['out-format', /^[%A-Za-z0-9'.:-]+$/],
  ['timeout', /^\d+$/],
  ['contimeout', /^\d+$/],
  ['bwlimit', /^\d+[KMGkmg]?$/],
  ['compress-level', /^\d$/],
  ['compress-choice', /^[a-z0-9]+$/],
  ['checksum-choice', /^[a-z0-9,]+$/],
  ['max-delete', /^\d+$/],
  ['max-size', /^\d+[KMGkmg]?$/],
  ['min-size', /^\d+[KMGkmg]?$/],
  ['modify-window', /^-?\d+$/],
]);
const DEPLOY_ONLY_VALUES = new Set(['max-delete']);
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function refuse(reason: string, detail?: string): RsyncCheck {
  return { ok: false, reason, ...(detail !== undefined ? { detail } : {}) };
}

/** A path from the command line, absolute, without a shell: `~/x` and relative paths are in the home. */
function resolvePath(word: Word, home: string, base: string): string | undefined {
  let text = word.text;
  if (word.tilde) {
    if (text === '~') return home;
    if (!text.startsWith('~/')) return undefined; // ~user
    text = expandHome(text, home);
  }
  if (text.split('/').includes('..')) return undefined;
  const resolved = posix.resolve(base, text);
  // rsync gives a trailing slash meaning: keep it.
  return text.endsWith('/') && !resolved.endsWith('/') ? `${resolved}/` : resolved;
}

/** Strictly inside: the folder itself is not (an upload or a --link-dest is one release, never the releases folder). */
function inside(path: string, folder: string): boolean {
  return path.startsWith(folder.endsWith('/') ? folder : `${folder}/`);
}

/** Where an rsync path lies: the bundle or a deploy root's release, and the folder it must stay inside. */
type Place = { target: 'bundle' | 'deploy'; base: string; root?: string };

/** The destination's kind, and the folder it must stay inside. */
function classify(dest: string, policy: RsyncPolicy): Place | undefined {
  const lib = `${policy.home}/.till/lib`;
  if (posix.dirname(dest) === lib) {
    const m = /^till-(.+)\.mjs$/.exec(posix.basename(dest));
    if (m && VERSION_RE.test(m[1]!)) return { target: 'bundle', base: lib };
    return undefined;
  }
  for (const root of policy.deployRoots) {
    const releases = `${root.replace(/\/+$/, '')}.till/releases`;
    if (!dest.startsWith(`${releases}/`)) continue;
    const id = dest.slice(releases.length + 1).split('/')[0]!;
    if (ID_RE.test(id)) return { target: 'deploy', base: releases, root: root.replace(/\/+$/, '') };
  }
  return undefined;
}

/**
 * The one path after the "." of `rsync --server [--sender] <options> . <path>`, resolved
 * without a shell and placed (classify), with the options before it; or why not.
 */
function serverPath(
  words: readonly Word[],
  policy: RsyncPolicy,
  role: { article: string; noun: 'destination' | 'source' },
): { options: Word[]; path: string; place: Place | undefined } | { refusal: string } {
  // Words 0 and 1 are "rsync" and "--server" (checkRsyncServer's check).
  const dot = words.findIndex((w) => w.text === '.');
  if (dot === -1) return { refusal: 'rsync server command without its "." argument' };
  const paths = words.slice(dot + 1);
  if (paths.length !== 1) return { refusal: `${role.article} names exactly one ${role.noun} (got ${paths.length})` };
  const path = resolvePath(paths[0]!, policy.home, policy.home);
  if (path === undefined)
    return { refusal: `rsync ${role.noun} ${JSON.stringify(paths[0]!.text)} is not a plain path (no .., no ~user)` };
  // resolvePath leaves at most one trailing slash.
  return { options: words.slice(2, dot), path, place: classify(path.replace(/\/$/, ''), policy) };
}

/**
 * Why `path` does not really lie inside `base` once symlinks are resolved (the deepest
 * existing folder); undefined when it does. The key is told only that, in one sentence
 * whatever stopped it: where the path leads, or the error that stopped the resolution
 * (a file on the way, a loop, a folder it cannot enter), is for the log (`detail`).
 * Otherwise a link uploaded into a release would tell the key where any path of the home
 * leads, or, by which of two sentences came back, whether it exists.
 */
function leadsOut(what: string, path: string, base: string, policy: RsyncPolicy): Refused | undefined {
  const refusal = `${what} ${path} does not lie inside ${base}`;
  let real: string;
  try {
    // Without its trailing slash: `<id>/` through a dangling link would read as a missing folder
    // (resolvePath leaves at most one, posix.resolve none).
    real = policy.realpath(path.replace(/\/$/, ''));
  } catch (err) {
    return { refusal, detail: (err as Error).message };
  }
  let realBase: string;
  try {
    realBase = policy.realpath(base);
  } catch (err) {
    return { refusal: `cannot resolve ${base}`, detail: (err as Error).message };
  }
  return inside(real, realBase) ? undefined : { refusal, detail: `to ${real}` };
}

type Refused = { refusal: string; detail: string };

/** What options one form of rsync server command takes (checkOptions). */
interface OptionSpec {
  /** Letters allowed in the one flag cluster (`-logDtprze.iLsfxCIvu`: the letters before `e.`). */
  short: ReadonlySet<string>;
  /** Long options without a value. */
  flags: ReadonlySet<string>;
  /** Which of LONG_VALUES (options with a checked value) this form takes. */
  values: (name: string) => boolean;
  /** Said after "is not allowed" when nothing more precise is: ' for the till bundle', ' in a read'. */
  where: string;
  /**
   * An option this form decides itself (`--sender` whole, else a long option's name):
   * what goes into the argv, a refusal, or undefined to go on with the tables.
   * `value()` takes the option's value (inline, or the next word).
   */
  special: (name: string, value: () => Word | undefined) => { argv: string[] } | { refusal: string } | undefined;
}

/**
 * The options before the "." of an rsync server command, against a form's tables: each
 * known and allowed, values checked, written back in one canonical spelling. Anything
 * else is refused, naming the option (and why, where SHORT_WHY says).
 */
function checkOptions(
  options: readonly Word[],
  spec: OptionSpec,
): { argv: string[]; short: string } | { refusal: string } {
  const argv: string[] = [];
  // Stryker disable next-line StringLiteral: only includes('n') reads it, and Stryker's text has no n
  let short = '';
  let sawFlags = false;
  for (let k = 0; k < options.length; k += 1) {
    const w = options[k]!;
    const text = w.text;
    if (w.tilde) return { refusal: `rsync option ${JSON.stringify(text)} is not allowed` };
    if (text === '--sender') {
      const own = spec.special(text, () => undefined);
      if (own === undefined) return { refusal: 'downloads (rsync --sender) are not allowed' };
      if ('refusal' in own) return own;
      argv.push(...own.argv);
      continue;
    }
    const cluster = /^-([A-Za-z]*?)(e\d*\.[A-Za-z]*)?$/.exec(text);
    if (cluster && text.length > 1) {
      for (const ch of cluster[1]!) {
        if (ch === 'e') return { refusal: 'rsync -e is not allowed' };
        if (!spec.short.has(ch))
          return {
            refusal: `rsync option -${ch} is not allowed${SHORT_WHY[ch] ? `: ${SHORT_WHY[ch]}` : spec.where}`,
          };
      }
      if (sawFlags) return { refusal: 'two rsync flag clusters' };
      sawFlags = true;
      short = cluster[1]!;
      argv.push(text);
      continue;
    }
    // --modify-window=N reaches the server as `-@N` (deploy compares mtimes to the nanosecond: -@-1).
    if (/^-@-?\d{1,4}$/.test(text)) {
      argv.push(text);
      continue;
    }
    // `--no-W` (rsync sends it for --no-whole-file) has a capital.
    const long = /^--([a-z][A-Za-z0-9-]*)(?:=(.*))?$/s.exec(text);
    if (!long) return { refusal: `rsync argument ${JSON.stringify(text)} is not allowed` };
    const [, name, inline] = long as unknown as [string, string, string | undefined];
    const value = (): Word | undefined => {
      if (inline !== undefined) return { text: inline, tilde: inline.startsWith('~') };
      k += 1;
      return options[k];
    };
    const own = spec.special(name, value);
    if (own !== undefined) {
      if ('refusal' in own) return own;
      argv.push(...own.argv);
      continue;
    }
    if (inline === undefined && spec.flags.has(name)) {
      argv.push(text);
      continue;
    }
    const pattern = LONG_VALUES.get(name);
    if (pattern && spec.values(name)) {
      const v = value()?.text;
      if (v === undefined || !pattern.test(v))
        return { refusal: `rsync --${name} value ${JSON.stringify(v ?? '')} is not allowed` };
      argv.push(`--${name}=${v}`);
      continue;
    }
    return { refusal: `rsync option --${name} is not allowed${spec.where}` };
  }
  return { argv, short };
}

/** `-s` (--protect-args, --secluded-args) moves the paths into the protocol, where no check sees them. */
function hidesArguments(words: readonly Word[]): boolean {
  return words.some(
    (w) =>
      w.text === '--protect-args' ||
      w.text === '--secluded-args' ||
      (/^-[A-Za-z]*?(e\d*\.[A-Za-z]*)?$/.test(w.text) && /^-[^e]*s/.test(w.text)),
  );
}

export function checkRsyncServer(words: readonly Word[], policy: RsyncPolicy): RsyncCheck {
  if (words[0]?.text !== 'rsync' || words[0].tilde || words[1]?.text !== '--server')
    return refuse('not an rsync server command');
  const reading = words.some((w) => w.text === '--sender');
  if (hidesArguments(words))
    return refuse(`rsync option -s is not allowed${reading ? ' in a read' : ''}: ${SHORT_WHY.s}`);
  if (reading) return checkRsyncSender(words, policy);
  const found = serverPath(words, policy, { article: 'an upload', noun: 'destination' });
  if ('refusal' in found) return refuse(found.refusal);
  const { options, path: dest, place: kind } = found;
  if (!kind)
    return refuse(
      `rsync destination ${dest} is outside till's folders (~/.till/lib/till-<version>.mjs, <deploy root>.till/releases/<id>)`,
    );
  if (kind.target === 'bundle' && !policy.upgrade)
    return refuse('gate.json says "upgrade": false: till cannot be replaced through this key');
  const bundle = kind.target === 'bundle';

  const linkDests: string[] = [];
  const destRelease = dest.slice(kind.base.length + 1).split('/')[0]!;
  const checked = checkOptions(options, {
    short: bundle ? SHORT_BUNDLE : SHORT_DEPLOY,
    flags: bundle ? LONG_FLAGS_BUNDLE : LONG_FLAGS_DEPLOY,
    values: (name) => !(bundle && DEPLOY_ONLY_VALUES.has(name)),
    where: bundle ? ' for the till bundle' : '',
    special: (name, value) => {
      if (name !== 'link-dest' || bundle) return undefined;
      const folder = value();
      if (folder === undefined) return { refusal: '--link-dest without a folder' };
      // rsync reads a relative --link-dest from the destination folder: `../<previous>` is the usual one.
      const linked = folder.tilde ? resolvePath(folder, policy.home, policy.home) : posix.resolve(dest, folder.text);
      if (linked === undefined || !inside(linked, kind.base))
        return { refusal: `--link-dest ${JSON.stringify(folder.text)} is outside ${kind.base}` };
      // Another release, whole: never the upload's own (which the upload changes as rsync reads it).
      const release = linked.replace(/\/+$/, '');
      if (posix.dirname(release) !== kind.base || posix.basename(release) === destRelease)
        return { refusal: `--link-dest ${JSON.stringify(folder.text)} is not another release of ${kind.base}` };
      linkDests.push(linked);
      return { argv: [`--link-dest=${linked}`] };
    },
  });
  if ('refusal' in checked) return refuse(checked.refusal);

  // The deepest existing folder on the way must really be inside the allowed one.
  for (const [what, path] of [['rsync destination', dest], ...linkDests.map((l) => ['--link-dest', l])] as const) {
    const out = leadsOut(what, path, kind.base, policy);
    if (out !== undefined) return refuse(out.refusal, out.detail);
  }
  // rsync looks each file up under a --link-dest folder by its path, and the kernel
  // follows a symlinked folder on the way: a release holding `a -> ~/.ssh` would let an
  // upload of `a/authorized_keys` hard-link the real one into the new release (whose
  // attributes the upload then sets, and which a later transfer could write through).
  // A link-dest tree with a symlink to a folder outside the deploy root's releases and
  // shared folders is not used: the upload still works, sending whole files.
  const notes: string[] = [];
  const logNotes: string[] = [];
  let argv = checked.argv;
  if (linkDests.length > 0) {
    // By real path as well: a release's name may be a symlink an upload made (to another
    // release, or to a folder inside one, or to the upload's own).
    const realBase = policy.realpath(kind.base);
    const ownReal = policy.realpath(`${kind.base}/${destRelease}`);
    for (const linked of linkDests) {
      const real = policy.realpath(linked.replace(/\/+$/, ''));
      if (real !== `${realBase}/${posix.basename(linked)}` || real === ownReal)
        return refuse(`--link-dest ${linked} is not another release of ${kind.base}`, `it is ${real}`);
    }
    const within: string[] = [];
    for (const folder of [kind.base, `${kind.root!}.till/shared`]) {
      try {
        within.push(policy.realpath(folder));
      } catch {
        // a shared folder that cannot be resolved is not a place links may lead
      }
    }
    for (const linked of linkDests) {
      const out = policy.outwardLink(linked, within);
      if (out === undefined) continue;
      argv = argv.filter((a) => a !== `--link-dest=${linked}`);
      notes.push(
        `--link-dest ${linked} not used: it holds a link out of the deploy root's folders (or a folder the gate cannot look through); files are sent whole`,
      );
      logNotes.push(
        `--link-dest ${linked} not used: ${out} leads out of the deploy root's folders; files are sent whole`,
      );
    }
  }
  return {
    ok: true,
    argv: ['--server', ...argv, '.', dest],
    ...(notes.length > 0 ? { notes, logNotes } : {}),
    target: kind.target,
    dest,
    ...(kind.root !== undefined ? { root: kind.root } : {}),
    ...(bundle ? {} : { release: `${kind.base}/${destRelease}` }),
  };
}

/** Short options of a dry-run sender: none writes, none follows a symlink (-L -k -K are refused). */
const SHORT_SENDER = new Set('nlrcdtpgoDHxvqz');
const LONG_FLAGS_SENDER = new Set(['dry-run', 'open-noatime', 'numeric-ids', 'size-only', 'ignore-times']);
const SENDER_VALUES = new Set([
  'checksum-choice',
  'compress-choice',
  'compress-level',
  'timeout',
  'contimeout',
  'bwlimit',
  'max-size',
  'min-size',
  'modify-window',
]);

/**
 * `host diff`'s read: `rsync --server --sender -n<flags> [options] . <release>[/]`.
 *   - a dry run (`-n` on the host's own command line): rsync's sender then sends no
 *     file's content, whatever the client asks; only names, sizes, times, modes and
 *     (`-c`) checksums leave the host;
 *   - inside `<root>.till/releases/<id>` of a deploy root, checked as uploads are (no
 *     `..`, no `~user`, the real path of the deepest existing folder inside the real
 *     releases folder: a release that is a symlink is refused), under the root's lock;
 *   - one source, and only options that neither write (`--remove-source-files`,
 *     `--log-file`, batches) nor follow symlinks (`-L`, `-k`, `--copy-*`) nor hide
 *     arguments in the protocol (`-s`).
 */
export function checkRsyncSender(words: readonly Word[], policy: RsyncPolicy): RsyncCheck {
  const found = serverPath(words, policy, { article: 'a read', noun: 'source' });
  if ('refusal' in found) return refuse(found.refusal);
  const { options, path: source, place: kind } = found;
  if (kind?.target !== 'deploy')
    return refuse(
      `downloads (rsync --sender) are not allowed: the one read is a dry-run listing of a release (<deploy root>.till/releases/<id>), not ${source}`,
    );
  let senders = 0;
  const checked = checkOptions(options, {
    short: SHORT_SENDER,
    flags: LONG_FLAGS_SENDER,
    values: (name) => SENDER_VALUES.has(name),
    where: ' in a read',
    special: (name) => {
      if (name !== '--sender') return undefined;
      senders += 1;
      return senders > 1 ? { refusal: '--sender given twice' } : { argv: [] };
    },
  });
  if ('refusal' in checked) return refuse(checked.refusal);
  if (!checked.short.includes('n') && !checked.argv.includes('--dry-run'))
    return refuse(
      'downloads (rsync --sender) are not allowed: a read of a release must be a dry run (-n), which sends no content',
    );
  const out = leadsOut('rsync source', source, kind.base, policy);
  if (out !== undefined) return refuse(out.refusal, out.detail);
  return {
    ok: true,
    argv: ['--server', '--sender', ...checked.argv, '.', source],
    target: 'read',
    dest: source,
    root: kind.root!,
  };
}
