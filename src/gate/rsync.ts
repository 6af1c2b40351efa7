import { posix } from 'node:path';
import { VERSION_RE } from '../protocol/args.js';
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
}

export type RsyncCheck =
  | {
      ok: true;
      argv: string[];
      /** An upload of the bundle or into a release, or a read of a release (`host diff`). */
      target: 'bundle' | 'deploy' | 'read';
      dest: string;
      /** The deploy root of a deploy upload (the gate holds its lock while rsync runs). */
      root?: string;
    }
  | { ok: false; reason: string };

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
  'inplace',
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

function refuse(reason: string): RsyncCheck {
  return { ok: false, reason };
}

/** A path from the command line, absolute, without a shell: `~/x` and relative paths are in the home. */
function resolvePath(word: Word, home: string, base: string): string | undefined {
  let text = word.text;
  if (word.tilde) {
    if (text === '~') return home;
    if (!text.startsWith('~/')) return undefined; // ~user
    text = `${home}/${text.slice(2)}`;
  }
  if (text.split('/').includes('..')) return undefined;
  const resolved = posix.resolve(base, text);
  // rsync gives a trailing slash meaning: keep it.
  return text.endsWith('/') && !resolved.endsWith('/') ? `${resolved}/` : resolved;
}

function inside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith('/') ? folder : `${folder}/`);
}

/** The destination's kind, and the folder it must stay inside. */
function classify(
  dest: string,
  policy: RsyncPolicy,
): { target: 'bundle' | 'deploy'; base: string; root?: string } | undefined {
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
  const options: Word[] = [];
  let i = 2;
  for (; i < words.length && words[i]!.text !== '.'; i += 1) options.push(words[i]!);
  if (i >= words.length) return refuse('rsync server command without its "." argument');
  const paths = words.slice(i + 1);
  if (paths.length !== 1) return refuse(`an upload names exactly one destination (got ${paths.length})`);
  const dest = resolvePath(paths[0]!, policy.home, policy.home);
  if (dest === undefined)
    return refuse(`rsync destination ${JSON.stringify(paths[0]!.text)} is not a plain path (no .., no ~user)`);
  const kind = classify(dest.replace(/\/+$/, '') || '/', policy);
  if (!kind)
    return refuse(
      `rsync destination ${dest} is outside till's folders (~/.till/lib/till-<version>.mjs, <deploy root>.till/releases/<id>)`,
    );
  if (kind.target === 'bundle' && !policy.upgrade)
    return refuse('gate.json says "upgrade": false: till cannot be replaced through this key');
  const bundle = kind.target === 'bundle';

  const argv = ['--server'];
  const linkDests: string[] = [];
  let sawFlags = false;
  for (let k = 0; k < options.length; k += 1) {
    const w = options[k]!;
    const text = w.text;
    if (w.tilde) return refuse(`rsync option ${JSON.stringify(text)} is not allowed`);
    if (text === '--sender') return refuse('downloads (rsync --sender) are not allowed');
    const cluster = /^-([A-Za-z]*?)(e\d*\.[A-Za-z]*)?$/.exec(text);
    if (cluster && text.length > 1 && !text.startsWith('--')) {
      for (const ch of cluster[1]!) {
        if (ch === 'e') return refuse('rsync -e is not allowed');
        if (!(bundle ? SHORT_BUNDLE : SHORT_DEPLOY).has(ch))
          return refuse(
            `rsync option -${ch} is not allowed${SHORT_WHY[ch] ? `: ${SHORT_WHY[ch]}` : bundle ? ' for the till bundle' : ''}`,
          );
      }
      if (sawFlags) return refuse('two rsync flag clusters');
      sawFlags = true;
      argv.push(text);
      continue;
    }
    // --modify-window=N reaches the server as `-@N` (deploy compares mtimes to the nanosecond: -@-1).
    if (/^-@-?\d{1,4}$/.test(text)) {
      argv.push(text);
      continue;
    }
    const long = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(text);
    if (!long) return refuse(`rsync argument ${JSON.stringify(text)} is not allowed`);
    const [, name, inline] = long as unknown as [string, string, string | undefined];
    if (inline === undefined && (bundle ? LONG_FLAGS_BUNDLE : LONG_FLAGS_DEPLOY).has(name)) {
      argv.push(text);
      continue;
    }
    if (name === 'link-dest' && !bundle) {
      let value: Word;
      if (inline !== undefined) value = { text: inline, tilde: inline.startsWith('~') };
      else {
        k += 1;
        if (k >= options.length) return refuse('--link-dest without a folder');
        value = options[k]!;
      }
      // rsync reads a relative --link-dest from the destination folder: `../<previous>` is the usual one.
      const linked = value.tilde
        ? resolvePath(value, policy.home, policy.home)
        : posix.resolve(dest.replace(/\/+$/, ''), value.text);
      if (linked === undefined || !inside(linked, kind.base) || linked === kind.base)
        return refuse(`--link-dest ${JSON.stringify(value.text)} is outside ${kind.base}`);
      linkDests.push(linked);
      argv.push(`--link-dest=${linked}`);
      continue;
    }
    const pattern = LONG_VALUES.get(name);
    if (pattern && !(bundle && DEPLOY_ONLY_VALUES.has(name))) {
      let value = inline;
      if (value === undefined) {
        k += 1;
        value = options[k]?.text;
      }
      if (value === undefined || !pattern.test(value))
        return refuse(`rsync --${name} value ${JSON.stringify(value ?? '')} is not allowed`);
      argv.push(`--${name}=${value}`);
      continue;
    }
    return refuse(`rsync option --${name} is not allowed${bundle ? ' for the till bundle' : ''}`);
  }

  // The deepest existing folder on the way must really be inside the allowed one.
  let real: string;
  try {
    // Without its trailing slash: `<id>/` through a dangling link would read as a missing folder.
    real = policy.realpath(dest.replace(/\/+$/, '') || '/');
  } catch (err) {
    return refuse(`cannot resolve ${dest}: ${(err as Error).message}`);
  }
  let realBase: string;
  try {
    realBase = policy.realpath(kind.base);
  } catch (err) {
    return refuse(`cannot resolve ${kind.base}: ${(err as Error).message}`);
  }
  if (!inside(real, realBase)) return refuse(`rsync destination ${dest} leads out of ${kind.base} (to ${real})`);
  for (const linked of linkDests) {
    let realLinked: string;
    try {
      realLinked = policy.realpath(linked);
    } catch (err) {
      return refuse(`cannot resolve ${linked}: ${(err as Error).message}`);
    }
    if (!inside(realLinked, realBase))
      return refuse(`--link-dest ${linked} leads out of ${kind.base} (to ${realLinked})`);
  }
  argv.push('.', dest);
  return { ok: true, argv, target: kind.target, dest, ...(kind.root !== undefined ? { root: kind.root } : {}) };
}

/** Short options of a dry-run sender: none writes, none follows a symlink (-L -k -K are refused). */
const SHORT_SENDER = new Set('nlrcdtpgoDHxvqz');
const LONG_FLAGS_SENDER = new Set(['open-noatime', 'numeric-ids', 'size-only', 'ignore-times']);
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
  const options: Word[] = [];
  let i = 2;
  for (; i < words.length && words[i]!.text !== '.'; i += 1) options.push(words[i]!);
  if (i >= words.length) return refuse('rsync server command without its "." argument');
  const paths = words.slice(i + 1);
  if (paths.length !== 1) return refuse(`a read names exactly one source (got ${paths.length})`);
  const source = resolvePath(paths[0]!, policy.home, policy.home);
  if (source === undefined)
    return refuse(`rsync source ${JSON.stringify(paths[0]!.text)} is not a plain path (no .., no ~user)`);
  const kind = classify(source.replace(/\/+$/, '') || '/', policy);
  if (kind?.target !== 'deploy')
    return refuse(
      `downloads (rsync --sender) are not allowed: the one read is a dry-run listing of a release (<deploy root>.till/releases/<id>), not ${source}`,
    );

  const argv = ['--server', '--sender'];
  let sawFlags = false;
  let dryRun = false;
  let sawSender = false;
  for (let k = 0; k < options.length; k += 1) {
    const w = options[k]!;
    const text = w.text;
    if (w.tilde) return refuse(`rsync option ${JSON.stringify(text)} is not allowed`);
    if (text === '--sender') {
      if (sawSender) return refuse('--sender given twice');
      sawSender = true;
      continue;
    }
    const cluster = /^-([A-Za-z]*?)(e\d*\.[A-Za-z]*)?$/.exec(text);
    if (cluster && text.length > 1 && !text.startsWith('--')) {
      for (const ch of cluster[1]!) {
        if (ch === 'e') return refuse('rsync -e is not allowed');
        if (!SHORT_SENDER.has(ch))
          return refuse(`rsync option -${ch} is not allowed in a read${SHORT_WHY[ch] ? `: ${SHORT_WHY[ch]}` : ''}`);
      }
      if (sawFlags) return refuse('two rsync flag clusters');
      sawFlags = true;
      dryRun = cluster[1]!.includes('n');
      argv.push(text);
      continue;
    }
    if (/^-@-?\d{1,4}$/.test(text)) {
      argv.push(text);
      continue;
    }
    const long = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(text);
    if (!long) return refuse(`rsync argument ${JSON.stringify(text)} is not allowed`);
    const [, name, inline] = long as unknown as [string, string, string | undefined];
    if (inline === undefined && LONG_FLAGS_SENDER.has(name)) {
      argv.push(text);
      continue;
    }
    if (name === 'dry-run' && inline === undefined) {
      dryRun = true;
      argv.push(text);
      continue;
    }
    const pattern = LONG_VALUES.get(name);
    if (pattern && SENDER_VALUES.has(name)) {
      let value = inline;
      if (value === undefined) {
        k += 1;
        value = options[k]?.text;
      }
      if (value === undefined || !pattern.test(value))
        return refuse(`rsync --${name} value ${JSON.stringify(value ?? '')} is not allowed`);
      argv.push(`--${name}=${value}`);
      continue;
    }
    return refuse(`rsync option --${name} is not allowed in a read`);
  }
  if (!dryRun)
    return refuse(
      'downloads (rsync --sender) are not allowed: a read of a release must be a dry run (-n), which sends no content',
    );

  let real: string;
  let realBase: string;
  try {
    // Without its trailing slash: `<id>/` through a dangling link would read as a missing folder.
    real = policy.realpath(source.replace(/\/+$/, '') || '/');
    realBase = policy.realpath(kind.base);
  } catch (err) {
    return refuse(`cannot resolve ${source}: ${(err as Error).message}`);
  }
  if (!inside(real, realBase)) return refuse(`rsync source ${source} leads out of ${kind.base} (to ${real})`);
  argv.push('.', source);
  return { ok: true, argv, target: 'read', dest: source, ...(kind.root !== undefined ? { root: kind.root } : {}) };
}
