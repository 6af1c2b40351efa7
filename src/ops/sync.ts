import type { HostJob, JobOutcome } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import type { RunRecord } from '../core/state/schedule.js';
import { sync, syncDryRun, type LocalSyncResult } from '../protocol/host.js';
import { remoteFailure } from '../ssh/outcome.js';
import { runScript, scriptOutcome } from '../ssh/run-script.js';
import { localFailed } from './sync-local.js';
import { plural } from '../core/format.js';

/**
 * `till sync`, step 2: on every set-up host, the remote till's own `till sync
 * --local-only` (src/protocol/host.ts; always --local-only: a host never reaches on to
 * hosts of its own because its manager asked, no transitive trust), and the run's
 * record. Step 1, the local checkouts, is sync-local.ts.
 */
export { localFailed, syncInstallation, syncInstallations } from './sync-local.js';
export type { LocalSyncResult };

export interface HostSyncData {
  /** The host's own installations, as its till reported them; null if it printed no report. */
  local: LocalSyncResult[] | null;
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  );
}

/** An older till says so when it lacks `sync` or one of its options (commander's wording). */
export function looksTooOld(stderr: string): boolean {
  return /unknown (option|command)|too many arguments/i.test(stderr);
}

export function hostSyncJob(
  paths: TillPaths,
  opts: { dryRun?: boolean; connectTimeout?: number; timeoutMs?: number } = {},
): HostJob<HostSyncData> {
  const op = opts.dryRun === true ? syncDryRun : sync;
  return async ({ name, signal }): Promise<JobOutcome<HostSyncData>> => {
    const run = await runScript(paths, name, op, undefined, {
      signal,
      connectTimeout: opts.connectTimeout,
      timeoutMs: opts.timeoutMs,
    });
    const { result, failure } = run;
    if (failure && failure.kind !== 'remote') return scriptOutcome(run);
    const remote = op.parse(result.stdout);
    const fail = (message: string) => scriptOutcome(run, { local: remote?.local ?? null }, remoteFailure(message));
    if (result.exitCode === 127) return fail(`till is not installed on ${name} (run: till host setup ${name})`);
    if (run.refused !== undefined) return scriptOutcome(run, { local: null });
    if (!remote) {
      const why = firstLine(result.stderr);
      const hint = looksTooOld(result.stderr) ? `; it may be older than this till: run till host setup ${name}` : '';
      return fail(
        `the remote till printed no sync report (exit ${result.exitCode})${why !== '' ? `: ${why}` : ''}${hint}`,
      );
    }
    if (failure || !remote.ok) {
      const failed = localFailed(remote.local);
      return fail(
        failed.length > 0
          ? `on the host: ${failed.map((f) => `${f.name}: ${f.reason ?? 'failed'}`).join('; ')}`
          : `remote sync failed (exit ${result.exitCode})`,
      );
    }
    // The report is in `data`; its raw JSON would only repeat it.
    return { ...scriptOutcome(run, { local: remote.local }), stdout: '' };
  };
}

/** Counts for schedule.json and the report. */
export function countLocal(results: readonly LocalSyncResult[]) {
  const counts = { total: results.length, updated: 0, 'up-to-date': 0, 'would-update': 0, skipped: 0, failed: 0 };
  for (const r of results) counts[r.status] += 1;
  return counts;
}

export interface SyncRunInput {
  started: Date;
  finished: Date;
  trigger: string;
  local: readonly LocalSyncResult[] | null;
  hosts: { total: number; ok: number; failed: number; unreachable: number; skipped: number } | null;
  cancelled?: boolean;
  /** A step that stopped the run after something may have changed (e.g. the database could not be written). */
  error?: string;
}

/** The schedule.json history entry for one run. */
export function buildRunRecord(input: SyncRunInput): RunRecord {
  const local = input.local ?? [];
  const localFailures = localFailed(local);
  const hostFailures = input.hosts ? input.hosts.failed + input.hosts.unreachable : 0;
  const hostOk = input.hosts?.ok ?? 0;
  const localOk = local.filter((r) => r.status === 'updated' || r.status === 'up-to-date').length;
  const anyFailure = localFailures.length > 0 || hostFailures > 0 || input.error !== undefined;
  const anySuccess = localOk > 0 || hostOk > 0;
  const status: RunRecord['status'] = input.cancelled
    ? 'cancelled'
    : !anyFailure
      ? 'success'
      : anySuccess
        ? 'partial'
        : 'failed';
  const errors: string[] = [];
  if (localFailures.length > 0) errors.push(`${plural(localFailures.length, 'installation')} failed`);
  if (hostFailures > 0) errors.push(`${plural(hostFailures, 'host')} failed`);
  if (input.error !== undefined) errors.push(input.error);
  return {
    started: input.started.toISOString(),
    finished: input.finished.toISOString(),
    status,
    duration_ms: input.finished.getTime() - input.started.getTime(),
    trigger: input.trigger,
    error: errors.length > 0 ? errors.join(', ') : null,
    installations: {
      total: local.length,
      synced: localOk,
      updated: local.filter((r) => r.status === 'updated').length,
      skipped: local.filter((r) => r.status === 'skipped').length,
      failed: localFailures.length,
    },
    hosts: input.hosts
      ? { total: input.hosts.total, synced: hostOk, failed: hostFailures }
      : { total: 0, synced: 0, failed: 0 },
  };
}
