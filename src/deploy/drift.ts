import { aliasOf } from '../ssh/config.js';
import { deployExcludeArgs } from './rsync.js';

/**
 * `host diff`: the host's live release against the local source, as one read-only rsync
 * in the other direction from a deploy. The host is rsync's *sender* in dry-run mode
 * (`rsync --server --sender -n…`): it only lists its files, with a checksum of each
 * (`--checksum`), and with `-n` on its own command line it sends no file's content
 * even if asked (rsync's sender does no transfers in a dry run). The local source is
 * the receiver, also in dry-run mode: nothing is written on either side. `--delete`
 * (dry) lists what the source has and the host lacks. Excludes are the deploy's own.
 * `--open-noatime` keeps even the files' access times as they were.
 *
 * What rsync would do to make the source look like the host is what the host changed:
 *   >f+++++++++ path   added on the host      *deleting path   removed on the host
 *   >fc…/cL…   path    changed on the host (content, or a symlink's target)
 * Only content is compared: permissions, owners and times are not (no -p -o -g -t).
 */
export interface DriftRsyncParams {
  host: string;
  /** `-e` value (rsyncRemoteShell). */
  remoteShell: string;
  /** The folder on the host: relative to its home, or absolute (a release, or a plain tekton_path). */
  remoteDir: string;
  /** The local source tree. */
  localDir: string;
  shared: readonly string[];
  ignoreFile?: string;
}

export function buildDriftRsyncArgs(p: DriftRsyncParams): string[] {
  return [
    '--dry-run',
    '--checksum',
    '--recursive',
    '--links',
    '--delete',
    '--open-noatime',
    '--itemize-changes',
    '--out-format=%i %n',
    ...deployExcludeArgs(p.shared, p.ignoreFile),
    '-e',
    p.remoteShell,
    '--',
    `${aliasOf(p.host)}:${p.remoteDir.replace(/\/+$/, '')}/`,
    `${p.localDir.replace(/\/+$/, '')}/`,
  ];
}

export interface Drift {
  /** In the source and on the host, with other content (or another symlink target). */
  changed: string[];
  /** On the host, not in the source (folders end with `/`). */
  added: string[];
  /** In the source, not on the host. */
  removed: string[];
}

/** rsync writes a name's unprintable bytes as `\#ooo` (octal). */
function unescapeName(name: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(name, 'utf8');
  for (let i = 0; i < raw.length; i += 1) {
    if (raw[i] === 0x5c && raw[i + 1] === 0x23 && /^[0-7]{3}$/.test(raw.subarray(i + 2, i + 5).toString('latin1'))) {
      bytes.push(parseInt(raw.subarray(i + 2, i + 5).toString('latin1'), 8));
      i += 4;
    } else bytes.push(raw[i]!);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The itemized lines of buildDriftRsyncArgs's run (`%i %n`: 11 characters of code, a space, the name). */
export function parseDrift(stdout: string): Drift {
  const drift: Drift = { changed: [], added: [], removed: [] };
  for (const line of stdout.split('\n')) {
    if (line.length < 13 || line[11] !== ' ') continue;
    const code = line.slice(0, 11);
    const name = unescapeName(line.slice(12));
    if (name === './' || name === '.') continue;
    if (code.startsWith('*deleting')) drift.removed.push(name);
    else if (!/^[<>ch.][fdLDS]/.test(code)) continue;
    else if (code.slice(2) === '+++++++++') drift.added.push(name);
    // A folder's own attributes (`.d..t……`) are not compared; content changes are `>f` or `cL`.
    else if (code[0] === '>' || code[0] === 'c') {
      if (code[1] !== 'd') drift.changed.push(name);
    }
  }
  for (const list of [drift.changed, drift.added, drift.removed]) list.sort();
  return drift;
}

export function driftCount(d: Drift): number {
  return d.changed.length + d.added.length + d.removed.length;
}
