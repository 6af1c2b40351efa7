import type { TillPaths } from '../core/paths.js';
import { rsyncRemoteShell } from '../ssh/args.js';
import { aliasOf } from '../ssh/config.js';

export interface RsyncCallOptions {
  connectTimeout?: number;
  /** Remote command that replaces `rsync` on the host (e.g. to create a folder first). */
  rsyncPath?: string;
  /** Extra rsync options, placed before the paths. */
  extra?: string[];
}

/**
 * The rsync argv that copies local `sources` to `remotePath` on a host, through
 * till's ssh config and the `till-<name>` alias. Pure: a list of words.
 * `remotePath` is relative to the remote home unless absolute; rsync passes it to the
 * remote shell, so it must be a plain path (callers validate it).
 *
 * rsync writes each file to a temporary name in the destination folder and renames it
 * into place (no --inplace, no --partial), so an interrupted copy never leaves half a
 * file under the final name.
 */
export function buildRsyncPushArgs(
  paths: TillPaths,
  name: string,
  sources: readonly string[],
  remotePath: string,
  opts: RsyncCallOptions = {},
): string[] {
  if (sources.length === 0) throw new Error('rsync needs at least one source');
  const args = ['-e', rsyncRemoteShell(paths, opts.connectTimeout), '--times'];
  if (opts.rsyncPath !== undefined) args.push(`--rsync-path=${opts.rsyncPath}`);
  args.push(...(opts.extra ?? []));
  // `--` keeps a source that starts with '-' from being read as an option.
  args.push('--', ...sources, `${aliasOf(name)}:${remotePath}`);
  return args;
}
