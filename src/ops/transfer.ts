import { lstatSync, readdirSync } from 'node:fs';
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileErrorText, saysDiskFull } from '../core/errors.js';
import { plural } from '../core/format.js';
import { formatBytes } from '../core/units.js';
import type { HostJob, JobOutcome } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { parseRsyncStats, type RsyncProgress } from '../deploy/rsync.js';
import { buildCopyArgs, buildFetchArgs } from '../rsync/copy.js';
import { classifyRsync } from '../rsync/outcome.js';
import { HOME_EXPANSION_SH, remoteScript } from '../protocol/wire.js';
import { rsyncRemoteShell } from '../ssh/args.js';
import { sshRun } from '../ssh/client.js';
import { remoteFailure } from '../ssh/outcome.js';
import { runProcess, type ProcessResult } from '../ssh/process.js';
import { progressReader } from './deploy.js';

/**
 * `host copy` and `host fetch`, one rsync per host (src/rsync/copy.ts builds them). A
 * gate's refusal, a connection failure or rsync's own error is the host's failure; the
 * engine retries only connection failures.
 */
export interface TransferData {
  /** Regular files sent or received. */
  files: number;
  /** File data moved (rsync's "Literal data"; compressed on the wire). */
  bytes: number;
  /** fetch: the local folder this host's files went to. */
  dir?: string;
}

export interface TransferOpts {
  connectTimeout?: number;
  timeoutMs?: number;
  onProgress?: (host: string, progress: RsyncProgress | undefined) => void;
}

/** The regular files under the local paths and their bytes (symlinks are copied as links). */
function localSize(sources: readonly string[]): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (path: string): void => {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st?.isFile()) {
      files += 1;
      bytes += st.size;
    } else if (st?.isDirectory()) for (const e of readdirSync(path)) walk(join(path, e));
  };
  for (const s of sources) walk(s);
  return { files, bytes };
}

/** rsync's first line that says the disk is full, for the message. */
const fullLine = (stderr: string): string =>
  stderr
    .split('\n')
    .map((l) => l.trim())
    .find(saysDiskFull) ?? 'No space left on device';

/**
 * The space left (KiB) where a copy went, for the disk-full message: `df` on the folder
 * or, when it was not made, its deepest existing parent. `host copy` is refused on a
 * restricted host, so this plain script never meets a gate. Unknown on any failure.
 */
const FREE_SPACE_SH = `${HOME_EXPANSION_SH}; while [ ! -e "$P" ]; do P=$(dirname -- "$P"); done; df -Pk -- "$P" | awk 'NR == 2 { print $4 }'`;

async function freeSpaceKb(
  paths: TillPaths,
  name: string,
  remoteDir: string,
  signal: AbortSignal,
  opts: TransferOpts,
): Promise<number | undefined> {
  const r = await sshRun(paths, name, remoteScript(FREE_SPACE_SH, [remoteDir]), {
    signal,
    connectTimeout: opts.connectTimeout,
    timeoutMs: 15_000,
  });
  const kb = r.exitCode === 0 ? r.stdout.trim() : '';
  return /^\d+$/.test(kb) ? Number(kb) : undefined;
}

async function transfer(
  args: string[],
  name: string,
  signal: AbortSignal,
  opts: TransferOpts,
  dir?: string,
  diskFull?: (rs: ProcessResult) => Promise<string>,
): Promise<JobOutcome<TransferData>> {
  const rs = await runProcess('rsync', args, {
    signal,
    timeoutMs: opts.timeoutMs,
    ...(opts.onProgress ? { onStdout: progressReader((p) => opts.onProgress!(name, p)) } : {}),
  });
  opts.onProgress?.(name, undefined);
  const failure = classifyRsync(rs);
  if (failure && !failure.connection && diskFull && saysDiskFull(rs.stderr))
    return {
      ok: false,
      failure: remoteFailure(await diskFull(rs)),
      exitCode: rs.exitCode,
      stdout: '',
      stderr: rs.stderr,
    };
  if (failure) return { ok: false, failure, exitCode: rs.exitCode, stdout: '', stderr: rs.stderr };
  const stats = parseRsyncStats(rs.stdout);
  return {
    ok: true,
    exitCode: 0,
    stdout: '',
    stderr: rs.stderr,
    data: { files: stats.filesTransferred, bytes: stats.literalBytes, ...(dir !== undefined ? { dir } : {}) },
  };
}

export function copyJob(
  paths: TillPaths,
  sources: readonly string[],
  remoteDir: string,
  opts: TransferOpts & { delete?: boolean },
): HostJob<TransferData> {
  return ({ name, signal }) =>
    transfer(
      buildCopyArgs(name, sources, remoteDir, {
        remoteShell: rsyncRemoteShell(paths, opts.connectTimeout),
        progress: opts.onProgress !== undefined,
        delete: opts.delete === true,
      }),
      name,
      signal,
      opts,
      undefined,
      // The host's disk filled: said like deploy's and setup's. rsync writes each file to a
      // temp file beside it and removes that temp file when the write fails (no --partial),
      // so what is left is the files copied whole before it filled.
      async (rs) => {
        const size = localSize(sources);
        const freeKb = await freeSpaceKb(paths, name, remoteDir, signal, opts);
        const free = freeKb !== undefined ? `${formatBytes(freeKb * 1024)} free` : 'free space unknown';
        return `disk full on ${name}: the copy needs up to ${formatBytes(size.bytes)} (${plural(size.files, 'file')}); ${free} in ${remoteDir} now; what was copied whole is kept, the file being written was not left (${fullLine(rs.stderr)})`;
      },
    );
}

/** Into `<localDir>/<host>/` (a host name is a safe folder name: [A-Za-z0-9][A-Za-z0-9._-]*). */
export function fetchJob(
  paths: TillPaths,
  remotePaths: readonly string[],
  localDir: string,
  opts: TransferOpts,
): HostJob<TransferData> {
  return async ({ name, signal }) => {
    const dir = join(localDir, name);
    let made: string | undefined;
    try {
      made = await mkdir(dir, { recursive: true });
    } catch (err) {
      const message = `cannot make the folder ${dir}: ${fileErrorText(err)}`;
      return { ok: false, failure: { kind: 'local', connection: false, retryable: false, message } };
    }
    const outcome = await transfer(
      buildFetchArgs(name, remotePaths, dir, {
        remoteShell: rsyncRemoteShell(paths, opts.connectTimeout),
        progress: opts.onProgress !== undefined,
      }),
      name,
      signal,
      opts,
      dir,
    );
    // A host that sent nothing (down, the path missing) leaves no empty folder that looks
    // like a fetch; one that was there before, or holds what a partial fetch got, stays.
    if (!outcome.ok && made !== undefined) await removeEmptyFolder(dir);
    return outcome;
  };
}

/** Removes a folder only when it is empty (rmdir refuses any other). */
export async function removeEmptyFolder(dir: string): Promise<void> {
  await rmdir(dir).catch(() => undefined);
}
