import { realpath, stat } from 'node:fs/promises';
import pLimit from 'p-limit';
import type { HostJob, JobOutcome } from '../core/fanout.js';
import type { InstallationView } from '../core/installations.js';
import type { TillPaths } from '../core/paths.js';
import type { RunRecord } from '../core/state/schedule.js';
import { sshRun, toOutcome } from '../ssh/client.js';
import { runProcess, type ProcessResult } from '../ssh/process.js';
import { REMOTE_TILL } from './test.js';
import { plural } from '../core/format.js';

/**
 * `till sync`: (1) fast-forward every local installation that is a git checkout,
 * never forcing, stashing or resetting; (2) on every set-up host, the remote till's
 * own local sync. The remote side is always run with --local-only: a host never
 * reaches on to hosts of its own because its manager asked (no transitive trust).
 */
export type LocalSyncStatus = 'updated' | 'up-to-date' | 'would-update' | 'skipped' | 'failed';

export interface LocalSyncResult {
  name: string;
  path: string;
  status: LocalSyncStatus;
  /** Why it was skipped or failed; a note for the others (e.g. local commits not pushed). */
  reason: string | null;
  branch: string | null;
  upstream: string | null;
  /** Commit before and after (after = before unless updated; the upstream commit in a dry run). */
  from: string | null;
  to: string | null;
  /** Upstream commits not in HEAD (known only after a fetch, or in a dry run when already fetched). */
  behind: number | null;
  durationMs: number;
}

const GIT_TIMEOUT_MS = 120_000;

interface GitRun {
  (args: string[]): Promise<ProcessResult>;
}

function gitIn(dir: string, signal?: AbortSignal): GitRun {
  // No prompts (a fetch must never wait for a password); C locale for stable messages.
  // No optional locks: `git status` would otherwise refresh .git/index under index.lock,
  // a write that a dry run (which takes no run lock) must not make.
  const env = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C', GIT_OPTIONAL_LOCKS: '0' };
  return (args) => runProcess('git', ['-C', dir, ...args], { env, signal, timeoutMs: GIT_TIMEOUT_MS });
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  );
}

function gitError(what: string, r: ProcessResult): string {
  if (r.spawnError !== undefined) return `could not run git: ${r.spawnError}`;
  if (r.timedOut) return `${what} timed out`;
  const msg = firstLine(r.stderr.replace(/^(fatal|error): /gm, ''));
  return `${what} failed${msg !== '' ? `: ${msg}` : ` (exit ${r.exitCode})`}`;
}

/** Brings one installation up to date with its upstream, or says why not. */
export async function syncInstallation(
  inst: Pick<InstallationView, 'name' | 'path'>,
  opts: { dryRun?: boolean; signal?: AbortSignal } = {},
): Promise<LocalSyncResult> {
  const started = performance.now();
  const result: LocalSyncResult = {
    name: inst.name,
    path: inst.path,
    status: 'failed',
    reason: null,
    branch: null,
    upstream: null,
    from: null,
    to: null,
    behind: null,
    durationMs: 0,
  };
  const done = (status: LocalSyncStatus, reason: string | null = null): LocalSyncResult => {
    result.status = status;
    result.reason = reason;
    result.durationMs = Math.round(performance.now() - started);
    return result;
  };

  try {
    if (!(await stat(inst.path)).isDirectory()) return done('failed', `not a directory: ${inst.path}`);
  } catch {
    return done('failed', `directory not found: ${inst.path}`);
  }
  const git = gitIn(inst.path, opts.signal);

  const top = await git(['rev-parse', '--show-toplevel']);
  if (top.spawnError !== undefined) return done('failed', gitError('git', top));
  if (top.exitCode !== 0) return done('skipped', 'not a git checkout');
  const [real, topReal] = await Promise.all([
    realpath(inst.path),
    realpath(top.stdout.trim()).catch(() => top.stdout.trim()),
  ]);
  if (real !== topReal) return done('skipped', `not the top of a git checkout (inside ${topReal})`);

  const branch = await git(['symbolic-ref', '-q', '--short', 'HEAD']);
  if (branch.exitCode !== 0) return done('skipped', 'detached HEAD (not on a branch)');
  result.branch = branch.stdout.trim();

  const upstream = await git(['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{upstream}']);
  if (upstream.exitCode !== 0) return done('skipped', `branch ${result.branch} has no upstream`);
  result.upstream = upstream.stdout.trim();

  const head = await git(['rev-parse', 'HEAD']);
  if (head.exitCode !== 0) return done('failed', gitError('git rev-parse HEAD', head));
  result.from = head.stdout.trim();
  result.to = result.from;

  // Tracked changes only: untracked files (logs, caches) are common in an installation,
  // and one that a fast-forward would overwrite makes git refuse, which is reported.
  const status = await git(['status', '--porcelain', '--untracked-files=no']);
  if (status.exitCode !== 0) return done('failed', gitError('git status', status));
  const changed = status.stdout.split('\n').filter((l) => l.trim() !== '').length;
  if (changed > 0)
    return done('skipped', `uncommitted changes in ${plural(changed, 'file')} (commit or stash them yourself)`);

  if (opts.dryRun) return dryRunCompare(git, result, done);

  // `git pull --ff-only` in its two halves, so a diverged branch is told apart before anything changes.
  const fetch = await git(['fetch', '--quiet']);
  if (fetch.exitCode !== 0) return done('failed', gitError('git fetch', fetch));
  const counts = await git(['rev-list', '--left-right', '--count', 'HEAD...@{upstream}']);
  if (counts.exitCode !== 0) return done('failed', gitError('git rev-list', counts));
  const [ahead, behind] = counts.stdout.trim().split(/\s+/).map(Number) as [number, number];
  result.behind = behind;
  if (behind === 0) return done('up-to-date', ahead > 0 ? `${plural(ahead, 'local commit')} not pushed` : null);
  if (ahead > 0)
    return done(
      'skipped',
      `diverged from ${result.upstream} (${ahead} local, ${behind} upstream commits); merge or rebase it yourself`,
    );
  const merge = await git(['merge', '--ff-only', '--quiet', '@{upstream}']);
  if (merge.exitCode !== 0) return done('failed', gitError('git merge --ff-only', merge));
  const after = await git(['rev-parse', 'HEAD']);
  result.to = after.stdout.trim();
  return done('updated');
}

/**
 * Dry run: asks the upstream for its commit with `git ls-remote` (which changes no
 * ref, unlike `git fetch`) and compares it with HEAD.
 */
async function dryRunCompare(
  git: GitRun,
  result: LocalSyncResult,
  done: (s: LocalSyncStatus, reason?: string | null) => LocalSyncResult,
): Promise<LocalSyncResult> {
  const remote = (await git(['config', '--get', `branch.${result.branch}.remote`])).stdout.trim();
  const mergeRef = (await git(['config', '--get', `branch.${result.branch}.merge`])).stdout.trim();
  let upstreamSha: string;
  if (remote === '.' || remote === '') {
    const local = await git(['rev-parse', '@{upstream}']);
    if (local.exitCode !== 0) return done('failed', gitError('git rev-parse @{upstream}', local));
    upstreamSha = local.stdout.trim();
  } else {
    const ls = await git(['ls-remote', '--quiet', '--', remote, mergeRef]);
    if (ls.exitCode !== 0) return done('failed', gitError('git ls-remote', ls));
    const line = ls.stdout.split('\n').find((l) => l.endsWith(`\t${mergeRef}`));
    if (!line) return done('failed', `${mergeRef} not found on remote ${remote}`);
    upstreamSha = line.split('\t')[0]!;
  }
  result.to = upstreamSha;
  if (upstreamSha === result.from) return done('up-to-date');
  const known = await git(['cat-file', '-e', `${upstreamSha}^{commit}`]);
  if (known.exitCode !== 0)
    return done(
      'would-update',
      'upstream has commits not fetched yet (a real sync fetches them; it skips the checkout if they diverge)',
    );
  if ((await git(['merge-base', '--is-ancestor', 'HEAD', upstreamSha])).exitCode === 0) {
    const n = await git(['rev-list', '--count', `HEAD..${upstreamSha}`]);
    result.behind = Number(n.stdout.trim());
    return done('would-update');
  }
  if ((await git(['merge-base', '--is-ancestor', upstreamSha, 'HEAD'])).exitCode === 0) {
    result.to = result.from;
    return done('up-to-date', 'local commits not pushed');
  }
  return done('skipped', `diverged from ${result.upstream}; a sync would skip it`);
}

/** Every installation, a few at a time (each is a git fetch), in registry order. */
export async function syncInstallations(
  list: ReadonlyArray<Pick<InstallationView, 'name' | 'path'>>,
  opts: { dryRun?: boolean; signal?: AbortSignal; parallel?: number } = {},
): Promise<LocalSyncResult[]> {
  const limit = pLimit(Math.max(1, opts.parallel ?? 4));
  return Promise.all(list.map((inst) => limit(() => syncInstallation(inst, opts))));
}

/** Only a failure fails a run; skipped checkouts are reported, not failed. */
export function localFailed(results: readonly LocalSyncResult[]): LocalSyncResult[] {
  return results.filter((r) => r.status === 'failed');
}

/** The remote side of a host sync. Always --local-only: no transitive trust. */
export function remoteSyncCommand(dryRun: boolean): string {
  return `"$HOME"/${REMOTE_TILL} sync --local-only --json${dryRun ? ' --dry-run' : ''} --trigger remote`;
}

export interface HostSyncData {
  /** The host's own installations, as its till reported them; null if it printed no report. */
  local: LocalSyncResult[] | null;
}

/** How many places a document could start at are tried before giving up (noise is short). */
const MAX_CANDIDATES = 20;

function asSyncReport(text: string): { ok: boolean; local: LocalSyncResult[] } | undefined {
  try {
    const doc = JSON.parse(text) as { ok?: unknown; local?: unknown };
    if (typeof doc !== 'object' || doc === null || typeof doc.ok !== 'boolean' || !Array.isArray(doc.local))
      return undefined;
    return { ok: doc.ok, local: doc.local as LocalSyncResult[] };
  } catch {
    return undefined;
  }
}

/**
 * Parses the remote till's one JSON document; undefined when stdout holds none.
 * A noisy login shell may print before it, even without a newline (`welcome {`), or
 * after it: the till prints the document pretty, opening with `{` and a newline and
 * closing with a line that is exactly `}`, so each such `{` is tried up to the last
 * such `}`.
 */
export function parseRemoteSync(stdout: string): { ok: boolean; local: LocalSyncResult[] } | undefined {
  const whole = asSyncReport(stdout);
  if (whole) return whole;
  const end = stdout.lastIndexOf('\n}');
  if (end === -1) return undefined;
  let tried = 0;
  for (
    let at = stdout.indexOf('{\n');
    at !== -1 && at < end && tried < MAX_CANDIDATES;
    at = stdout.indexOf('{\n', at + 1)
  ) {
    tried += 1;
    const found = asSyncReport(stdout.slice(at, end + 2));
    if (found) return found;
  }
  return undefined;
}

/** An older till says so when it lacks `sync` or one of its options (commander's wording). */
export function looksTooOld(stderr: string): boolean {
  return /unknown (option|command)|too many arguments/i.test(stderr);
}

export function hostSyncJob(
  paths: TillPaths,
  opts: { dryRun?: boolean; connectTimeout?: number; timeoutMs?: number } = {},
): HostJob<HostSyncData> {
  const command = remoteSyncCommand(opts.dryRun === true);
  return async ({ name, signal }): Promise<JobOutcome<HostSyncData>> => {
    const result = await sshRun(paths, name, command, {
      signal,
      connectTimeout: opts.connectTimeout,
      timeoutMs: opts.timeoutMs,
    });
    const outcome = toOutcome<HostSyncData>(result);
    if (
      outcome.failure?.connection ||
      outcome.failure?.kind === 'cancelled' ||
      outcome.failure?.kind === 'deadline' ||
      outcome.failure?.kind === 'spawn'
    )
      return outcome;
    const remote = parseRemoteSync(result.stdout);
    const fail = (message: string): JobOutcome<HostSyncData> => ({
      ...outcome,
      ok: false,
      failure: { kind: 'remote', connection: false, retryable: false, message },
      data: { local: remote?.local ?? null },
    });
    if (result.exitCode === 127) return fail(`till is not installed on ${name} (run: till host setup ${name})`);
    if (!remote) {
      const why = firstLine(result.stderr);
      const hint = looksTooOld(result.stderr) ? `; it may be older than this till: run till host setup ${name}` : '';
      return fail(
        `the remote till printed no sync report (exit ${result.exitCode})${why !== '' ? `: ${why}` : ''}${hint}`,
      );
    }
    if (!outcome.ok || !remote.ok) {
      const failed = localFailed(remote.local);
      return fail(
        failed.length > 0
          ? `on the host: ${failed.map((f) => `${f.name}: ${f.reason ?? 'failed'}`).join('; ')}`
          : `remote sync failed (exit ${result.exitCode})`,
      );
    }
    // The report is in `data`; its raw JSON would only repeat it.
    return { ...outcome, stdout: '', data: { local: remote.local } };
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
