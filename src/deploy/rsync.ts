import { aliasOf } from '../ssh/config.js';

/** The seed's excludes: never deployed, whatever the source holds. */
export const SEED_EXCLUDES = ['.git', '*.pyc', '__pycache__', 'logs/', 'tmp/'] as const;

export interface DeployRsyncParams {
  source: string;
  /** The host; null for a local destination (a dry run against nothing). */
  host: string | null;
  /** Destination directory, relative to the remote home or absolute. */
  dest: string;
  /** `-e` value (see rsyncRemoteShell). */
  remoteShell: string;
  shared: readonly string[];
  /** `--exclude-from` file (the source's .tillignore), when present. */
  ignoreFile?: string;
  /** The current release, relative to dest (`../<id>`): unchanged files become hard links. */
  linkDest?: string;
  /**
   * Also delete what the excludes hide in the destination (a staging transfer: the
   * destination may be a hard-linked copy of the live release, made by cp -al, or one
   * resumed from it, with a tmp/ or __pycache__ written on the host), so a release is
   * the source tree; the shared links are protected.
   */
  deleteExcluded?: boolean;
  dryRun?: boolean;
  /** `--rsync-path`: what starts rsync on the host (till runs its prepare script there first). */
  rsyncPath?: string;
  /** `--info=progress2`: progress records on stdout (see parseRsyncProgress), for a terminal. */
  progress?: boolean;
}

/**
 * What a deploy never transfers, as rsync options: the seed's excludes, `.env.local`
 * (till writes the host's own), the shared paths (they live on the host) and the
 * source's `.tillignore`. `host diff` compares with exactly these.
 */
export function deployExcludeArgs(shared: readonly string[], ignoreFile?: string): string[] {
  const args = SEED_EXCLUDES.map((e) => `--exclude=${e}`);
  args.push('--exclude=/.env.local');
  for (const s of shared) args.push(`--exclude=/${s}`);
  if (ignoreFile !== undefined) args.push(`--exclude-from=${ignoreFile}`);
  return args;
}

/**
 * The rsync argv of one staging transfer. `.env.local` is excluded because till
 * writes the host's own; shared paths are excluded because they live on the host.
 */
export function buildDeployRsyncArgs(p: DeployRsyncParams): string[] {
  // lz4: a fraction of zstd's or zlib's CPU, which on a fast network is the whole
  // cost of compressing (needs rsync >= 3.2 with lz4 on both ends).
  // --modify-window=-1: compare mtimes to the nanosecond. With whole seconds, a file
  // edited twice within one second at the same size looks unchanged to the quick
  // check and --link-dest would hard-link the previous release's content.
  const args = ['-a', '--delete', '--compress', '--compress-choice=lz4', '--modify-window=-1', '--stats'];
  if (p.dryRun) args.push('--dry-run', '--itemize-changes');
  if (p.progress && !p.dryRun) args.push('--info=progress2');
  args.push(...deployExcludeArgs(p.shared, p.ignoreFile));
  if (p.deleteExcluded) {
    // --delete-excluded makes the excludes sender-side; protect rules keep the shared links.
    args.push('--delete-excluded');
    for (const s of p.shared) args.push(`--filter=P /${s}`);
  }
  if (p.linkDest !== undefined) args.push(`--link-dest=${p.linkDest}`);
  if (p.rsyncPath !== undefined) args.push(`--rsync-path=${p.rsyncPath}`);
  if (p.host !== null) args.push('-e', p.remoteShell);
  args.push(
    '--',
    `${p.source.replace(/\/+$/, '')}/`,
    `${p.host !== null ? `${aliasOf(p.host)}:` : ''}${p.dest.replace(/\/+$/, '')}/`,
  );
  return args;
}

export interface RsyncStats {
  /** Regular files created or updated. */
  filesTransferred: number;
  /** Total files in the transfer's list. */
  files: number;
  /** File data actually sent (rsync's "Literal data"). */
  literalBytes: number;
  /** Everything sent on the wire, protocol included. */
  bytesSent: number;
  totalSize: number;
}

function num(stdout: string, label: string): number {
  const m = new RegExp(`^${label}:\\s*([\\d,.]+)`, 'm').exec(stdout);
  return m ? Number(m[1]!.replace(/,/g, '')) : 0;
}

/** Parses `rsync --stats` (numbers may carry thousands separators). */
export function parseRsyncStats(stdout: string): RsyncStats {
  return {
    filesTransferred: num(stdout, 'Number of regular files transferred'),
    files: num(stdout, 'Number of files'),
    literalBytes: num(stdout, 'Literal data'),
    bytesSent: num(stdout, 'Total bytes sent'),
    totalSize: num(stdout, 'Total file size'),
  };
}

/** Where a transfer is, from rsync's `--info=progress2` records. */
export interface RsyncProgress {
  /** Bytes of the tree done (sent, or found unchanged). */
  bytes: number;
  percent: number;
  /** Files transferred so far. */
  files: number;
  /** Files in the list so far (grows while rsync still scans the tree). */
  total: number | null;
}

const PROGRESS_RE = /([\d,]+)\s+(\d{1,3})%\s+\S+\s+\d+:\d{2}:\d{2}(?:\s+\(xfr#(\d+), (?:ir|to)-chk=\d+\/(\d+)\))?/g;

/** The newest progress record in a chunk of rsync's stdout (records end with \r), if any. */
export function parseRsyncProgress(chunk: string): RsyncProgress | undefined {
  let last: RegExpExecArray | undefined;
  for (const m of chunk.matchAll(PROGRESS_RE)) last = m;
  if (!last) return undefined;
  return {
    bytes: Number(last[1]!.replace(/,/g, '')),
    percent: Number(last[2]),
    files: last[3] !== undefined ? Number(last[3]) : 0,
    total: last[4] !== undefined ? Number(last[4]) : null,
  };
}

/** The itemized change lines of a dry run (`>f+++++++++ path`, `*deleting path`). */
export function itemizedChanges(stdout: string): string[] {
  // The root's own line (`.d..t...... ./`) is noise: its mtime differs on every run.
  return stdout.split('\n').filter((l) => /^([<>ch.*][fdLDS]|\*deleting)/.test(l) && !/^\S+ \.\/$/.test(l));
}
