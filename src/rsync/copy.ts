import { isAbsolute } from 'node:path';
import { UsageError } from '../core/errors.js';
import { aliasOf } from '../ssh/config.js';

/**
 * `host copy` and `host fetch` as rsync argv (pure). What keeps a path a path:
 *   - `-s` (--protect-args, --secluded-args in newer rsync): the remote paths travel
 *     inside rsync's protocol, never on the remote shell's command line, so no shell on
 *     the host expands `$x`, `;`, backticks or spaces in them (the host's rsync expands
 *     `*`, `?` and `[…]` itself, as pscp/pslurp users expect);
 *   - remote paths are made explicit: `~/x` and `x` become `./x` (the remote rsync runs
 *     in the home), so one starting with `-` is never an option even without `-s`;
 *   - local paths come after `--` and a relative one is written `./x`, so neither a
 *     leading `-` nor a `:` (`a:b` would name a host to rsync) changes what it means.
 * A restricted key's gate refuses both (`-s` hides arguments from its check).
 */
export interface TransferOptions {
  /** `-e` value (rsyncRemoteShell). */
  remoteShell: string;
  /** `--info=progress2` records on stdout (a terminal's live line). */
  progress?: boolean;
}

// eslint-disable-next-line no-control-regex -- control characters are what is refused
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** A remote path as rsync's argument for it: `./x`, `/abs`; `~/x` is home-relative. Throws a UsageError for a bad one. */
export function remoteTransferPath(path: string, what: string): string {
  if (path === '') throw new UsageError(`${what} is empty`);
  if (CONTROL_RE.test(path))
    throw new UsageError(`${what} ${JSON.stringify(path)} contains a control character (a newline, a tab…)`);
  if (path === '~') return '.';
  if (path.startsWith('~/')) return `./${path.slice(2)}`;
  if (path.startsWith('~'))
    throw new UsageError(`${what} ${JSON.stringify(path)} names another user's home`, 'use an absolute path');
  if (path.startsWith('/') || path.startsWith('./') || path.startsWith('../')) return path;
  return `./${path}`;
}

/** A local path as rsync's argument: a relative one as `./x` (keeps a trailing slash, and its meaning). */
export function localTransferPath(path: string): string {
  if (path === '') throw new UsageError('a local path is empty');
  if (isAbsolute(path) || path.startsWith('./') || path.startsWith('../')) return path;
  return `./${path}`;
}

const COMMON = ['-s', '--recursive', '--links', '--perms', '--times', '--compress', '--stats'];

/** `host copy`: local paths into a folder on the host (made if missing); `--delete` only when asked. */
export function buildCopyArgs(
  host: string,
  sources: readonly string[],
  remoteDir: string,
  opts: TransferOptions & { delete?: boolean },
): string[] {
  const args = [...COMMON];
  if (opts.delete) args.push('--delete');
  if (opts.progress) args.push('--info=progress2');
  const dest = remoteTransferPath(remoteDir, 'the remote folder').replace(/\/*$/, '/');
  return [...args, '-e', opts.remoteShell, '--', ...sources.map(localTransferPath), `${aliasOf(host)}:${dest}`];
}

/**
 * `host fetch`: remote paths from the host into a local folder of its own. `--safe-links`:
 * a symlink the host sends that points out of what is copied is skipped, so nothing a host
 * sends can later lead a write outside that folder.
 */
export function buildFetchArgs(
  host: string,
  remotePaths: readonly string[],
  localDir: string,
  opts: TransferOptions,
): string[] {
  const args = [...COMMON, '--safe-links'];
  if (opts.progress) args.push('--info=progress2');
  const sources = remotePaths.map((p) => `${aliasOf(host)}:${remoteTransferPath(p, 'a remote path')}`);
  return [...args, '-e', opts.remoteShell, '--', ...sources, `${localTransferPath(localDir).replace(/\/*$/, '')}/`];
}
