import { access, mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import {
  runFleet,
  summarize,
  type FleetEvent,
  type FleetOptions,
  type FleetReport,
  type HostJob,
  type HostResult,
  type JobOutcome,
  type Target,
} from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import type { DeployJournalWriter, DeployRun } from '../core/state/deploy-journal.js';
import { raiseTo, lifecycleOf, type HostEntry } from '../core/state/hosts.js';
import { renderEnvLocal } from '../core/dotenv.js';
import {
  absoluteRemotePath,
  adoptedId,
  contentHashOf,
  describeLock,
  flat,
  linkDestOf,
  remoteLayout,
  renderLockInfo,
  rsyncRemotePath,
  parseLockInfo,
  type LockInfo,
} from '../deploy/layout.js';
import { listReleases, readRemoteState, releasesToPrune, type Release, type RemoteState } from '../deploy/releases.js';
import {
  buildDeployRsyncArgs,
  itemizedChanges,
  parseRsyncProgress,
  parseRsyncStats,
  type RsyncProgress,
  type RsyncStats,
} from '../deploy/rsync.js';
import type { DeploySource } from '../deploy/source.js';
import {
  deployCheck,
  deployPrepare,
  deployPrepareFused,
  deployState,
  deployUnlock,
  parseDeployReport,
  type PrepareParams,
} from '../protocol/deploy.js';
import { deploySwitch, rollback } from '../protocol/switch.js';
import { commandLine, gateRefusal, GATE_UNKNOWN_SCRIPT, type Operation } from '../protocol/wire.js';
import { classifyRsync } from '../rsync/outcome.js';
import { rsyncRemoteShell } from '../ssh/args.js';
import { remoteFailure } from '../ssh/outcome.js';
import { runProcess, type ProcessResult } from '../ssh/process.js';
import { runScript, scriptFailure, scriptOutcome, scriptReason, type ScriptRun } from '../ssh/run-script.js';
import { plural } from '../core/format.js';

/** The deploy job's half of the fleet: staging and switching, as engine jobs. */
export interface DeployPlan {
  paths: TillPaths;
  run: DeployRun;
  source: DeploySource;
  forceUnlock: boolean;
  connectTimeout?: number;
  timeoutMs?: number;
  /** Called when a host finished staging. */
  onStaged?: (host: string, data: StageData) => void;
  /** Called as a host's transfer progresses (rsync --info=progress2; for a terminal). */
  onTransfer?: (host: string, progress: RsyncProgress) => void;
}

export interface StageData {
  release: string;
  previous: string | null;
  /** False when the release was already complete on the host (a resumed run). */
  transferred: boolean;
  stats: RsyncStats | null;
  adopted: string | null;
  brokeLock: string | null;
  /** The live release this one was staged from by a hard-linked copy (same tree), or null. */
  copiedFrom: string | null;
  /** Complete releases and the log, as read before staging (for pruning). */
  releases: Release[];
  /** The remote $HOME (for TEKTON_ROOT). */
  home: string;
}

export interface SwitchData {
  release: string;
  previous: string | null;
  checkFailed: boolean;
  checkExit: number | null;
  registered: boolean | null;
  registerError: string | null;
  pruned: string[];
}

export type DeployResultData = Partial<StageData> & Partial<SwitchData> & { phase: 'stage' | 'switch' };

export function lockOwner(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry
  }
  return `${user}@${hostname()}`;
}

function lockInfo(plan: DeployPlan): LockInfo {
  return {
    who: lockOwner(),
    when: new Date().toISOString(),
    what: `deploy ${plan.run.release} from ${plan.run.source}`,
    pid: process.pid,
    run: plan.run.run,
  };
}

/** Bounds a remote script that runs without the abort signal. */
const SCRIPT_TIMEOUT_MS = 120_000;

/** One deploy script on a host, through the protocol's one runner. */
function remote<P, R>(
  plan: { paths: TillPaths; connectTimeout?: number; timeoutMs?: number },
  name: string,
  op: Operation<P, R>,
  params: P,
  signal: AbortSignal | undefined,
): Promise<ScriptRun<R>> {
  return runScript(plan.paths, name, op, params, {
    ...(signal !== undefined ? { signal } : {}),
    connectTimeout: plan.connectTimeout,
    timeoutMs: plan.timeoutMs ?? (signal === undefined ? SCRIPT_TIMEOUT_MS : undefined),
  });
}

/** A failed transfer (a gate's refusal, rsync's own failure, a lost connection), or undefined. */
function transferFailure(rs: ProcessResult): JobOutcome<never> | undefined {
  const failure = classifyRsync(rs);
  if (!failure) return undefined;
  return { ok: false, failure, exitCode: rs.exitCode, stdout: rs.stdout, stderr: rs.stderr };
}

/** Feeds rsync's stdout to `parseRsyncProgress` record by record (a chunk may end mid-record). */
export function progressReader(report: (p: RsyncProgress) => void): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    const text = pending + chunk.toString('latin1');
    const end = text.lastIndexOf('\r');
    pending = (end < 0 ? text : text.slice(end + 1)).slice(-200);
    const p = end < 0 ? undefined : parseRsyncProgress(text.slice(0, end + 1));
    if (p) report(p);
  };
}

/** Phase 1 on one host: lock, adopt, transfer into `<id>.partial`, configure, mark complete. */
export function stageJob(plan: DeployPlan, journal: DeployJournalWriter, locked: Set<string>): HostJob<StageData> {
  const { run } = plan;
  return async ({ name, entry, signal }) => {
    const layout = remoteLayout(entry.tekton_path);
    const now = new Date();
    const lock = lockInfo(plan);
    const prepare: PrepareParams = {
      path: layout.path,
      id: run.release,
      lockInfo: renderLockInfo(lock),
      run: lock.run,
      forceUnlock: plan.forceUnlock,
      shared: run.options.shared,
      adoptId: adoptedId(now),
      now: now.toISOString(),
      contentHash: contentHashOf(run.release),
    };
    if (run.options.check !== null && entry.restricted === true) {
      // A restricted host's gate refuses a --check that its gate.json does not list: learn
      // it before the lock and the upload (an older gate without this script, or a host
      // restricted behind till's back: the switch refuses). Other hosts skip the round trip.
      const pre = await remote(plan, name, deployCheck, { path: layout.path, check: run.options.check }, signal);
      if (pre.failure && pre.refused !== GATE_UNKNOWN_SCRIPT) return scriptOutcome(pre);
    }
    // Counted as ours before the call: if Ctrl-C lands while it runs, the unlock in
    // runDeploy's finally still runs (it only removes a lock holding this run's id).
    locked.add(name);
    const known = run.hosts[name]?.previous;
    const previousOf = (state: RemoteState) =>
      known !== undefined && known !== null && known !== run.release
        ? known
        : state.current !== run.release
          ? state.current
          : null;
    const stageData = (state: RemoteState, home: string): StageData => ({
      release: run.release,
      previous: previousOf(state),
      transferred: false,
      stats: null,
      adopted: state.adopted ?? null,
      brokeLock: state.oldLock ? describeLock(state.oldLock) : null,
      copiedFrom: state.copiedFrom ?? null,
      releases: listReleases(state),
      home,
    });
    const lockedOut = (state: RemoteState, res: ProcessResult): JobOutcome<StageData> => ({
      ok: false,
      failure: remoteFailure(
        `locked by ${describeLock(state.holder)}; if that deploy is dead: till host deploy ${name} --force-unlock …`,
      ),
      exitCode: res.exitCode,
      stdout: res.stdout,
      stderr: res.stderr,
    });
    const noReport = (res: ProcessResult): JobOutcome<StageData> => ({
      ok: false,
      failure: remoteFailure('the prepare step did not report (a noisy login shell?)'),
      exitCode: res.exitCode,
      stdout: res.stdout,
      stderr: res.stderr,
    });

    let ignoreFile: string | undefined = join(plan.source.dir, '.tillignore');
    try {
      await access(ignoreFile);
    } catch {
      ignoreFile = undefined;
    }
    const rsyncArgs = (extra: { linkDest?: string; rsyncPath?: string }) =>
      buildDeployRsyncArgs({
        source: plan.source.dir,
        host: name,
        dest: `${rsyncRemotePath(layout.releases)}/${run.release}.partial`,
        remoteShell: rsyncRemoteShell(plan.paths, plan.connectTimeout),
        shared: run.options.shared,
        ...(ignoreFile !== undefined ? { ignoreFile } : {}),
        deleteExcluded: true,
        progress: plan.onTransfer !== undefined,
        ...extra,
      });
    const transfer = (args: string[]) =>
      runProcess('rsync', args, {
        signal,
        timeoutMs: plan.timeoutMs,
        ...(plan.onTransfer !== undefined ? { onStdout: progressReader((p) => plan.onTransfer!(name, p)) } : {}),
      });
    const staged = async (
      state: RemoteState,
      home: string,
      rs: ProcessResult,
      stderr: string,
    ): Promise<JobOutcome<StageData>> => {
      const data = { ...stageData(state, home), transferred: true, stats: parseRsyncStats(rs.stdout) };
      await journal.advance(run.run, name, 'staged', { previous: data.previous });
      plan.onStaged?.(name, data);
      return { ok: true, stdout: '', stderr, exitCode: 0, data };
    };

    if (entry.restricted !== true && run.hosts[name]?.state !== 'switched') {
      // One connection: the prepare script runs as rsync's remote command, reports on
      // stderr, then execs the host's rsync (with --link-dest when it did not copy).
      const fused = deployPrepareFused.versions[0]!;
      const rs = await transfer(rsyncArgs({ rsyncPath: commandLine(fused, prepare) }));
      // A gate on a host not known as restricted refuses this form: the two-step one below.
      if (rs.exitCode === 0 || gateRefusal(rs.stderr) === undefined) {
        const report = parseDeployReport(rs.stderr);
        const state = readRemoteState(report, layout);
        if (state.locked) return lockedOut(state, rs);
        const exited = report.markers.values.get('EXIT')?.[0];
        if (exited !== undefined) {
          // The prepare step ran and failed: a remote failure, never retried as a lost connection.
          const why =
            rs.stderr
              .split('\n')
              .find((l) => l.startsWith('TILL_ERROR '))
              ?.slice('TILL_ERROR '.length) ??
            rs.stderr
              .split('\n')
              .filter((l) => l !== '' && !l.startsWith('TILL_'))
              .pop() ??
            `exit ${exited}`;
          return {
            ok: false,
            failure: remoteFailure(`prepare failed: ${why}`),
            exitCode: rs.exitCode,
            stdout: rs.stdout,
            stderr: rs.stderr,
          };
        }
        const failed = transferFailure(rs);
        if (failed) return failed;
        if (state.home === undefined) return noReport(rs);
        return staged(
          state,
          state.home,
          rs,
          rs.stderr
            .split('\n')
            .filter((l) => !l.startsWith('TILL_'))
            .join('\n'),
        );
      }
    }

    // Restricted hosts: the prepare script first, as a registered script; then a plain
    // rsync push into <id>.partial, which a restricted key's gate allows too.
    const prep = await remote(plan, name, deployPrepare, prepare, signal);
    const state = prep.value ? readRemoteState(prep.value, layout) : undefined;
    if (state?.locked) return lockedOut(state, prep.result);
    if (prep.failure) return scriptOutcome(prep);
    if (!state || state.home === undefined) return noReport(prep.result);
    if (run.hosts[name]?.state === 'switched' && state.complete) {
      // A resumed host that was already switched: its release is complete; lock and report only.
      const data = stageData(state, state.home);
      await journal.advance(run.run, name, 'staged', { previous: data.previous });
      plan.onStaged?.(name, data);
      return { ok: true, stdout: '', stderr: prep.result.stderr, exitCode: 0, data };
    }
    // Unchanged files become hard links to the current release, a sibling in releases/.
    // Not when prepare already staged a hard-linked copy of it: --link-dest would make
    // rsync look up every file a second time (about twice its CPU) to link nothing.
    const copied = state.copiedFrom !== undefined;
    const base = !copied && state.current !== null && state.current !== run.release ? state.current : null;
    const rs = await transfer(rsyncArgs(base !== null ? { linkDest: linkDestOf(base) } : {}));
    const failed = transferFailure(rs);
    if (failed) return failed;
    return staged(state, state.home, rs, `${prep.result.stderr}${rs.stderr}`);
  };
}

/** Phase 2 on one host: switch, health check (switching back on failure), prune, register, unlock. */
export function switchJob(
  plan: DeployPlan,
  journal: DeployJournalWriter,
  staged: Map<string, StageData>,
  locked: Set<string>,
): HostJob<SwitchData> {
  const { run } = plan;
  return async ({ name, entry }) => {
    const layout = remoteLayout(entry.tekton_path);
    const s = staged.get(name);
    const previous = s?.previous ?? null;
    const prune = s ? releasesToPrune(s.releases, run.release, previous, run.options.keep) : [];
    const res = await remote(
      plan,
      name,
      deploySwitch,
      {
        path: layout.path,
        id: run.release,
        previous: previous ?? '',
        check: run.options.check ?? '',
        prune,
        run: run.run,
        now: new Date().toISOString(),
        source: flat(run.source),
        installation: run.installation,
        shared: run.options.shared,
        env: renderEnvLocal(plan.source.envLocal, absoluteRemotePath(layout.path, s?.home ?? '~')),
      },
      undefined,
    );
    // Read even when the script failed: a host it switched must be journaled as switched.
    const m = res.value ?? deploySwitch.parse('');
    if (m.switched) await journal.advance(run.run, name, 'switched');
    if (res.failure || (!m.done && m.checkFailed === undefined))
      return scriptFailure(res, res.failure ?? remoteFailure(scriptReason(res.result)));
    const data: SwitchData = {
      release: run.release,
      previous,
      checkFailed: m.checkFailed !== undefined,
      checkExit: m.checkFailed ?? null,
      registered: m.registered,
      registerError: m.registerErrors.join('; ') || null,
      pruned: m.pruned,
    };
    locked.delete(name);
    if (data.checkFailed) {
      await journal.advance(run.run, name, 'reverted', { error: `check failed (exit ${m.checkFailed})` });
      const back = previous !== null ? `switched back to ${previous}` : 'no previous release: tekton_path removed';
      return {
        ...scriptOutcome(res, data),
        ok: false,
        failure: remoteFailure(`health check failed (exit ${m.checkFailed}); ${back}; ${run.release} kept as failed`),
      };
    }
    await journal.advance(run.run, name, 'done');
    return { ok: true, exitCode: 0, stdout: '', stderr: res.result.stderr, data };
  };
}

/** Releases the locks this run still holds (after a failure, --max-fail stop or Ctrl-C). */
export async function releaseLocks(plan: DeployPlan, targets: readonly Target[], locked: Set<string>): Promise<void> {
  const todo = targets.filter((t) => locked.has(t.name));
  await Promise.all(
    todo.map(async (t) => {
      const r = await remote(
        { paths: plan.paths, connectTimeout: plan.connectTimeout, timeoutMs: 20_000 },
        t.name,
        deployUnlock,
        { path: remoteLayout(t.entry.tekton_path).path, run: plan.run.run },
        new AbortController().signal,
      );
      if (!r.failure) locked.delete(t.name);
    }),
  );
}

export interface DeployOutcome {
  report: FleetReport<DeployResultData>;
  stagingFailed: number;
  switched: boolean;
  /** Hosts whose lock could not be released (unreachable at the end). */
  stillLocked: string[];
}

/**
 * The fleet deploy: phase 1 stages on every target; phase 2 switches only if at most
 * `maxFail` hosts failed to stage, so hosts run mixed versions as briefly as possible.
 * Locks are released in `finally`, whatever happened (failure, --max-fail, Ctrl-C).
 */
export async function runDeploy(
  plan: DeployPlan,
  journal: DeployJournalWriter,
  targets: readonly Target[],
  engine: Omit<FleetOptions, 'onEvent'> & { onEvent?: (phase: 'stage' | 'switch', e: FleetEvent) => void },
): Promise<DeployOutcome> {
  const locked = new Set<string>();
  const staged = new Map<string, StageData>();
  const results = new Map<string, HostResult<DeployResultData>>();
  let stagingFailed = 0;
  let switched = false;
  let cancelled = false;
  try {
    const phase1 = await runFleet(targets, stageJob(plan, journal, locked), {
      ...engine,
      onEvent: (e) => engine.onEvent?.('stage', e as FleetEvent),
    });
    cancelled = phase1.cancelled;
    for (const r of phase1.results) {
      if (r.ok && r.data) staged.set(r.host, r.data);
      else {
        if (r.status !== 'skipped') await journal.advance(plan.run.run, r.host, 'failed', { error: r.error });
        stagingFailed += r.status === 'skipped' ? 0 : 1;
      }
      results.set(r.host, { ...r, data: { ...(r.data ?? {}), phase: 'stage' } });
    }
    const maxFail = plan.run.options.maxFail;
    const toSwitch = targets.filter((t) => staged.has(t.name));
    if (!cancelled && stagingFailed <= maxFail && toSwitch.length > 0) {
      switched = true;
      const phase2 = await runFleet(toSwitch, switchJob(plan, journal, staged, locked), {
        ...engine,
        onEvent: (e) => engine.onEvent?.('switch', e as FleetEvent),
      });
      cancelled = phase2.cancelled;
      for (const r of phase2.results) {
        const stage = staged.get(r.host);
        results.set(r.host, {
          ...r,
          durationMs: r.durationMs + (results.get(r.host)?.durationMs ?? 0),
          data: { ...stage, ...(r.data ?? {}), phase: 'switch' },
        });
      }
    } else {
      const why = cancelled
        ? 'staged, not switched (interrupted)'
        : `staged, not switched: ${plural(stagingFailed, 'host')} failed to stage (--max-fail ${maxFail})`;
      for (const t of toSwitch) {
        const r = results.get(t.name)!;
        results.set(t.name, { ...r, ok: false, status: 'skipped', error: why });
      }
    }
  } finally {
    await journal.flush();
    if (locked.size > 0) await releaseLocks(plan, targets, locked);
  }
  const ordered = targets.map((t) => results.get(t.name)!).filter((r) => r !== undefined);
  const summary = summarize(ordered);
  return {
    report: { ok: summary.ok === summary.total, summary, results: ordered, cancelled },
    stagingFailed,
    switched,
    stillLocked: [...locked],
  };
}

/** What a successful deploy records on the host entry. */
export function applyDeploy(
  entry: HostEntry,
  data: DeployResultData | undefined,
  installation: string,
  now = new Date(),
): void {
  if (!data || data.phase !== 'switch' || data.checkFailed) return;
  entry.status = raiseTo(lifecycleOf(entry), 'deployed');
  entry.deploy = { current: data.release ?? null, previous: data.previous ?? null, at: now.toISOString() };
  if (!entry.installations.includes(installation)) entry.installations.push(installation);
}

// ---------------------------------------------------------------- read, rollback, dry run

export interface ReleasesData {
  current: string | null;
  link: string | null;
  plain: boolean;
  releases: Release[];
  lock: Partial<LockInfo> | null;
  home: string | null;
}

export function toReleasesData(state: RemoteState): ReleasesData {
  return {
    current: state.current,
    link: state.link ?? null,
    plain: state.plain,
    releases: listReleases(state),
    lock: state.lockHeld ? state.holder : null,
    home: state.home ?? null,
  };
}

export function releasesJob(
  paths: TillPaths,
  opts: { connectTimeout?: number; timeoutMs?: number } = {},
): HostJob<ReleasesData> {
  return async ({ name, entry, signal }) => {
    const layout = remoteLayout(entry.tekton_path);
    const res = await remote({ paths, ...opts }, name, deployState, { path: layout.path }, signal);
    if (res.failure || !res.value) return scriptOutcome(res);
    return { ...scriptOutcome(res, toReleasesData(readRemoteState(res.value, layout))), stdout: '' };
  };
}

export interface RollbackData {
  from: string | null;
  to: string;
}

/** `host rollback`: one locked round trip per host; the target is chosen on the host from till's record. */
export function rollbackJob(
  paths: TillPaths,
  opts: { to?: string; connectTimeout?: number; timeoutMs?: number },
): HostJob<RollbackData> {
  return async ({ name, entry }) => {
    const layout = remoteLayout(entry.tekton_path);
    const lock: LockInfo = {
      who: lockOwner(),
      when: new Date().toISOString(),
      what: `rollback${opts.to !== undefined ? ` to ${opts.to}` : ''}`,
      pid: process.pid,
      run: `rollback-${process.pid}-${Date.now()}`,
    };
    const res = await remote(
      { paths, ...opts },
      name,
      rollback,
      { path: layout.path, to: opts.to ?? '', lockInfo: renderLockInfo(lock), now: new Date().toISOString() },
      undefined,
    );
    const m = res.value ?? rollback.parse('');
    const fail = (message: string) => scriptFailure<RollbackData>(res, remoteFailure(message));
    if (m.locked) return fail(`locked by ${describeLock(parseLockInfo(m.holderLines))}`);
    if (m.noTarget) return fail(`no previous good release on ${name} to roll back to`);
    if (m.already) return fail(`${opts.to} is already current on ${name}`);
    if (m.noSuch) return fail(`no release ${opts.to} on ${name}; see: till host releases ${name}`);
    if (res.failure) return scriptOutcome(res);
    if (!m.done || m.to === null) return fail(scriptReason(res.result));
    return { ok: true, exitCode: 0, stdout: '', stderr: res.result.stderr, data: { from: m.from, to: m.to } };
  };
}

export function applyRollback(entry: HostEntry, data: RollbackData | undefined, now = new Date()): void {
  if (!data) return;
  entry.deploy = { current: data.to, previous: data.from, at: now.toISOString() };
}

export interface DryRunData {
  changes: string[];
  stats: RsyncStats;
  current: string | null;
}

/** `--dry-run`: what rsync would change against the current tree; no lock, no directory. */
export function dryRunJob(
  paths: TillPaths,
  source: DeploySource,
  shared: readonly string[],
  opts: { connectTimeout?: number; timeoutMs?: number } = {},
): HostJob<DryRunData> {
  return async ({ name, entry, signal }) => {
    const layout = remoteLayout(entry.tekton_path);
    const read = await remote({ paths, ...opts }, name, deployState, { path: layout.path }, signal);
    if (read.failure || !read.value) return scriptOutcome(read);
    const state = readRemoteState(read.value, layout);
    let ignoreFile: string | undefined = join(source.dir, '.tillignore');
    try {
      await access(ignoreFile);
    } catch {
      ignoreFile = undefined;
    }
    // Against the current release itself (not P, its symlink: a restricted key's gate
    // allows uploads into releases/ only); before any deploy, against an empty local
    // folder (everything is new); a plain directory at P is compared as it is.
    const empty = state.current === null && !state.plain ? await mkdtemp(join(tmpdir(), 'till-dry-')) : null;
    const args = buildDeployRsyncArgs({
      source: source.dir,
      host: empty !== null ? null : name,
      dest:
        empty ??
        (state.current !== null
          ? `${rsyncRemotePath(layout.releases)}/${state.current}`
          : rsyncRemotePath(layout.path)),
      remoteShell: rsyncRemoteShell(paths, opts.connectTimeout),
      shared,
      dryRun: true,
      ...(ignoreFile !== undefined ? { ignoreFile } : {}),
    });
    const rs = await runProcess('rsync', args, { signal, timeoutMs: opts.timeoutMs }).finally(() =>
      empty !== null ? rm(empty, { recursive: true, force: true }) : undefined,
    );
    const failed = transferFailure(rs);
    if (failed) return failed;
    return {
      ok: true,
      exitCode: 0,
      stdout: '',
      stderr: rs.stderr,
      data: { changes: itemizedChanges(rs.stdout), stats: parseRsyncStats(rs.stdout), current: state.current },
    };
  };
}
