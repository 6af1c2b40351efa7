import type { HostJob, JobOutcome } from '../core/fanout.js';
import type { HostEntry } from '../core/state/hosts.js';
import type { TillPaths } from '../core/paths.js';
import { buildDriftRsyncArgs, driftCount, parseDrift, type Drift } from '../deploy/drift.js';
import { remoteLayout, rsyncRemotePath } from '../deploy/layout.js';
import { readRemoteState } from '../deploy/releases.js';
import type { DeploySource } from '../deploy/source.js';
import { deployState } from '../protocol/deploy.js';
import { classifyRsync } from '../rsync/outcome.js';
import { rsyncRemoteShell } from '../ssh/args.js';
import { remoteFailure } from '../ssh/outcome.js';
import { runProcess } from '../ssh/process.js';
import { runScript, scriptOutcome } from '../ssh/run-script.js';
import { tillIgnore } from './deploy.js';

/**
 * `till host diff`: what changed on a host since its deploy (drift). One read-only
 * script says which release is live (deploy-state, as `host releases` uses); one
 * read-only rsync compares it with the source (src/deploy/drift.ts). Nothing on the host
 * or in the source is written. A host that differs is a failed result (exit 1), as a
 * degraded host is in `host health`.
 */
export interface DiffData extends Drift {
  /** The live release (the tekton_path symlink's target), or null for a plain folder. */
  release: string | null;
  /** The release till last deployed there, from the database (null: none recorded). */
  recorded: string | null;
  /** Whether the live release is the recorded one (null when none is recorded). */
  liveIsRecorded: boolean | null;
  /** The folder compared on the host. */
  compared: string;
  differs: boolean;
}

export function describeDrift(d: DiffData): string {
  const parts: string[] = [];
  if (d.changed.length) parts.push(`${d.changed.length} changed`);
  if (d.added.length) parts.push(`${d.added.length} added`);
  if (d.removed.length) parts.push(`${d.removed.length} removed`);
  if (d.liveIsRecorded === false) parts.push(`live release ${d.release ?? 'a plain folder'} is not ${d.recorded}`);
  return parts.join(', ');
}

export interface CompareOptions {
  connectTimeout?: number;
  timeoutMs?: number;
}

/**
 * One host's live release against the source (the two read-only calls above): its drift,
 * or why it could not be read. `host diff` and `host health --drift` both use it.
 */
export async function compareLive(
  paths: TillPaths,
  name: string,
  entry: HostEntry,
  source: DeploySource,
  shared: readonly string[],
  signal: AbortSignal,
  opts: CompareOptions = {},
): Promise<{ data: DiffData } | { outcome: JobOutcome<never> }> {
  const layout = remoteLayout(entry.tekton_path);
  const read = await runScript(
    paths,
    name,
    deployState,
    { path: layout.path },
    { signal, connectTimeout: opts.connectTimeout, timeoutMs: opts.timeoutMs },
  );
  if (read.failure || !read.value) return { outcome: scriptOutcome(read) };
  const state = readRemoteState(read.value, layout);
  if (state.current === null && !state.plain)
    return {
      outcome: { ok: false, failure: remoteFailure(`nothing deployed at ${layout.path}: no release to compare`) },
    };
  const remoteDir = state.current !== null ? `${layout.releases}/${state.current}` : layout.path;
  const ignoreFile = await tillIgnore(source.dir);
  const args = buildDriftRsyncArgs({
    host: name,
    remoteShell: rsyncRemoteShell(paths, opts.connectTimeout),
    remoteDir: rsyncRemotePath(remoteDir),
    localDir: source.dir,
    shared,
    ...(ignoreFile !== undefined ? { ignoreFile } : {}),
  });
  const rs = await runProcess('rsync', args, { signal, timeoutMs: opts.timeoutMs });
  const failure = classifyRsync(rs);
  if (failure) return { outcome: { ok: false, failure, exitCode: rs.exitCode, stdout: '', stderr: rs.stderr } };
  const drift = parseDrift(rs.stdout);
  const recorded = entry.deploy?.current ?? null;
  const liveIsRecorded = recorded === null ? null : recorded === state.current;
  return {
    data: {
      ...drift,
      release: state.current,
      recorded,
      liveIsRecorded,
      compared: remoteDir,
      differs: driftCount(drift) > 0 || liveIsRecorded === false,
    },
  };
}

export function diffJob(
  paths: TillPaths,
  source: DeploySource,
  shared: readonly string[],
  opts: CompareOptions = {},
): HostJob<DiffData> {
  return async ({ name, entry, signal }) => {
    const compared = await compareLive(paths, name, entry, source, shared, signal, opts);
    if ('outcome' in compared) return compared.outcome;
    const { data } = compared;
    if (!data.differs) return { ok: true, exitCode: 0, stdout: '', stderr: '', data };
    return {
      ok: false,
      failure: remoteFailure(`differs from the source: ${describeDrift(data)}`),
      exitCode: 0,
      stdout: '',
      stderr: '',
      data,
    };
  };
}
