import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostJob, JobOutcome, Target } from '../core/fanout.js';
import type { Failure } from '../core/failure.js';
import type { TillPaths } from '../core/paths.js';
import type { DeployJournalWriter, DeployRun } from '../core/state/deploy-journal.js';
import { raiseTo, lifecycleOf, type HostEntry } from '../core/state/hosts.js';
import { renderEnvLocal } from '../core/dotenv.js';
import {
  absoluteRemotePath,
  adoptedId,
  contentHashOf,
  describeHold,
  describeLock,
  flat,
  linkDestOf,
  parseHoldInfo,
  remoteLayout,
  renderLockInfo,
  rsyncRemotePath,
  type HoldInfo,
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
import { lockOwner, recordHold } from '../deploy/record.js';
import { treeSize, type DeploySource } from '../deploy/source.js';
import { deployPathProblem, MAX_MESSAGE, plainDeployPath } from '../protocol/args.js';
import {
  deployCheck,
  deployCompare,
  deployCompareRsync,
  deployDiscard,
  deployPrepare,
  deployPrepareFused,
  deployState,
  deployUnlock,
  parseDeployReport,
  type PrepareParams,
} from '../protocol/deploy.js';
import type { HookRun } from '../protocol/hooks.js';
import { deployRevert } from '../protocol/rollback.js';
import { deploySwitch } from '../protocol/switch.js';
import { gateRefusal, GATE_UNKNOWN_SCRIPT, type Operation } from '../protocol/wire.js';
import { classifyRsync } from '../rsync/outcome.js';
import { rsyncRemoteShell } from '../ssh/args.js';
import { remoteFailure } from '../ssh/outcome.js';
import { runProcess, type ProcessResult } from '../ssh/process.js';
import {
  runScript,
  scriptFailure,
  scriptOutcome,
  scriptReason,
  sendScriptLine,
  type ScriptRun,
} from '../ssh/run-script.js';
import { plural } from '../core/format.js';
import { saysDiskFull } from '../core/errors.js';
import { formatBytes } from '../core/units.js';
import { lookParams, type EarlyLooks } from './deploy-look.js';

/** The deploy job's half of the fleet: staging and switching, as engine jobs. */
export interface DeployPlan {
  paths: TillPaths;
  run: DeployRun;
  source: DeploySource;
  forceUnlock: boolean;
  /**
   * Make a new release even on a host whose live release is what this one would be
   * (`--force-release`); otherwise such a host is compared, left as it is, and reported
   * unchanged.
   */
  forceRelease: boolean;
  /**
   * The source as deploy-compare-v2 lists a release (`listSource`), when the source
   * has no .tillignore (its rules are rsync's, which the listing does not read).
   */
  listing?: string;
  /** Looks sent to hosts before the source was walked (sendEarlyLooks): each host's job takes its own. */
  looks?: EarlyLooks;
  connectTimeout?: number;
  timeoutMs?: number;
  /** Who deploys what and why, for the release record on each host. */
  record: DeployRecord;
  /**
   * Hooks, each bound by timeoutSec. `run`: the release has some and --no-hooks was not
   * given; `enabled`: --no-hooks was not given (a host going back runs the post-rollback
   * hook of the release it goes back to, which the deployed one may not have).
   */
  hooks: { run: boolean; enabled: boolean; timeoutSec: number };
  /** Keep each host's deploy lock after its switch until the run ends (a progressive run may switch it back). */
  keepLock: boolean;
  /** Called when staging learnt whether a manual lock is on a host (`till host lock`): its info, or null. */
  onHold?: (host: string, hold: Partial<HoldInfo> | null) => void;
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
  /**
   * The host's live release is what this one would be (tree, .env.local, shared links,
   * installation): nothing was written there and `release` is the live one, which stays.
   */
  unchanged?: true;
  /** How a host left unchanged was compared: its release's listing (deploy-compare-v2), or a dry-run rsync. */
  compared?: 'listing' | 'rsync';
}

export interface SwitchData {
  release: string;
  previous: string | null;
  checkFailed: boolean;
  checkExit: number | null;
  /** The hook that failed: `pre-switch` (not switched) or `post-switch` (switched back). */
  hookFailed: string | null;
  registered: boolean | null;
  registerError: string | null;
  pruned: string[];
  /** What each hook did on this host, in order. */
  hooks: HookRun[];
}

/** What a release record says of a deploy: who, from which commit, why. */
export interface DeployRecord {
  deployer: string;
  commit: string | null;
  dirty: boolean | null;
  message: string;
}

export type DeployResultData = Partial<StageData> &
  Partial<SwitchData> & {
    /** Where the host ended: staged (or failed to), switched, or left as it was (its live release is this one). */
    phase: 'stage' | 'switch' | 'unchanged';
    /** The switch batch the host was in (1 first; the canaries, when any, are batch 1). */
    batch?: number;
    /** A manual lock stopped the deploy on this host (host text). */
    hold?: Partial<HoldInfo>;
    /** No manual lock was on the host when it was staged (the local record of one is cleared). */
    unheld?: boolean;
    /** The run switched this host back (a canary failed, or --max-fail was exceeded). */
    rolledBack?: RevertData;
  };

/** What a host's manual lock says, as a refusal (host text: the CLI escapes it). */
export function heldFailure(name: string, hold: Partial<HoldInfo>): Failure {
  return remoteFailure(`locked by ${describeHold(hold)}; when it is safe: till host unlock ${name}`);
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
export function deployScript<P, R>(
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
    // A gate checks the deploy root on a restricted host; the fused prepare and the
    // look sent as rsync's --rsync-path pass no gate, and sendScriptLine refuses any
    // argument the gate would. A tekton_path of "/" or "~/.ssh" (an older till took it,
    // or a hand edit) is said here first, in the user's terms, before any connection.
    const badPath = deployPathProblem(plainDeployPath(entry.tekton_path));
    if (badPath !== undefined)
      return {
        ok: false,
        failure: {
          kind: 'local',
          connection: false,
          retryable: false,
          message: `cannot deploy to tekton_path ${JSON.stringify(entry.tekton_path)}: ${badPath} (change it with till host edit ${name} --tekton-path …)`,
        },
      };
    const same = await unchangedOn(plan, name, entry, signal);
    if (same !== undefined) {
      if (same.ok && same.data !== undefined) {
        await journal.advance(run.run, name, 'done', { unchanged: same.data.release });
        plan.onStaged?.(name, same.data);
      }
      return same;
    }
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
    if ((run.options.check !== null || plan.hooks.run) && entry.restricted === true) {
      // A restricted host's gate refuses a --check that its gate.json does not list, and
      // hooks it does not allow: learn it before the lock and the upload (an older gate
      // without this script, or a host restricted behind till's back: the switch refuses).
      // Other hosts skip the round trip.
      const pre = await deployScript(
        plan,
        name,
        deployCheck,
        { path: layout.path, check: run.options.check ?? '', hooks: plan.hooks.run },
        signal,
      );
      if (pre.failure && pre.refused !== GATE_UNKNOWN_SCRIPT) return scriptOutcome(pre);
      if (pre.refused === GATE_UNKNOWN_SCRIPT && plan.hooks.run)
        return scriptFailure(
          pre,
          remoteFailure(
            `the release has hooks, and the till on ${name} is too old to run them: upgrade it (till host setup ${name}), or deploy with --no-hooks`,
          ),
        );
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
    const lockedOut = (state: RemoteState, res: ProcessResult): JobOutcome<StageData> => {
      if (state.hold !== undefined) plan.onHold?.(name, state.hold);
      return {
        ok: false,
        failure:
          state.hold !== undefined
            ? heldFailure(name, state.hold)
            : remoteFailure(
                `locked by ${describeLock(state.holder)}; if that deploy is dead: till host deploy ${name} --force-unlock …`,
              ),
        exitCode: res.exitCode,
        stdout: res.stdout,
        stderr: res.stderr,
      };
    };
    const noReport = (res: ProcessResult): JobOutcome<StageData> => ({
      ok: false,
      failure: remoteFailure('the prepare step did not report (a noisy login shell?)'),
      exitCode: res.exitCode,
      stdout: res.stdout,
      stderr: res.stderr,
    });

    const ignoreFile = await tillIgnore(plan.source.dir);
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

    /**
     * The host's file system filled up during the transfer: the partial release goes (it
     * holds space the host needs, and a resumed run starts it afresh), the lock is
     * released by runDeploy as after any failure, and the message says what the release
     * needs and what is free. P was never touched: the live release is still served.
     */
    const diskFull = async (rs: ProcessResult): Promise<JobOutcome<StageData>> => {
      const discard = await deployScript(
        plan,
        name,
        deployDiscard,
        { path: layout.path, id: run.release, run: run.run },
        signal,
      );
      const size = treeSize(plan.source.dir, run.options.shared);
      const freeKb = discard.value?.freeKb ?? null;
      const current = discard.value?.current ?? null;
      const live = discard.failure
        ? 'the live release was not touched'
        : current !== null
          ? `${current} is still live`
          : 'no release was live there';
      const partial = discard.failure
        ? `the partial release ${run.release}.partial could not be removed (${discard.failure.message})`
        : discard.value?.discarded === true
          ? 'the partial release was removed'
          : 'no partial release was left';
      return {
        ok: false,
        failure: remoteFailure(
          `disk full on ${name}: the release needs up to ${formatBytes(size.bytes)} (${plural(size.files, 'file')}); ${freeKb !== null ? `${formatBytes(freeKb * 1024)} free` : 'free space unknown'} in ${layout.releases} now; ${partial}; ${live}`,
        ),
        exitCode: rs.exitCode,
        stdout: rs.stdout,
        stderr: rs.stderr,
      };
    };

    if (entry.restricted !== true && run.hosts[name]?.state !== 'switched') {
      // One connection: the prepare script runs as rsync's remote command, reports on
      // stderr, then execs the host's rsync (with --link-dest when it did not copy).
      const fused = deployPrepareFused.versions[0]!;
      const rs = await sendScriptLine(plan.paths, name, fused, prepare, (rsyncPath) =>
        transfer(rsyncArgs({ rsyncPath })),
      );
      // A gate on a host not known as restricted refuses this form: the two-step one below.
      if (rs.exitCode === 0 || gateRefusal(rs.stderr) === undefined) {
        const report = parseDeployReport(rs.stderr);
        const state = readRemoteState(report, layout);
        if (state.locked || state.hold !== undefined) return lockedOut(state, rs);
        if (state.home !== undefined) plan.onHold?.(name, null);
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
          if (saysDiskFull(why)) return diskFull(rs);
          return {
            ok: false,
            failure: remoteFailure(`prepare failed: ${why}`),
            exitCode: rs.exitCode,
            stdout: rs.stdout,
            stderr: rs.stderr,
          };
        }
        const failed = transferFailure(rs);
        if (failed) return saysDiskFull(rs.stderr) ? diskFull(rs) : failed;
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
    const prep = await deployScript(plan, name, deployPrepare, prepare, signal);
    const state = prep.value ? readRemoteState(prep.value, layout) : undefined;
    if (state !== undefined && (state.locked || state.hold !== undefined)) return lockedOut(state, prep.result);
    if (prep.failure && saysDiskFull(prep.result.stderr)) return diskFull(prep.result);
    if (prep.failure) return scriptOutcome(prep);
    if (!state || state.home === undefined) return noReport(prep.result);
    // An older gate ran a prepare older than v4, which does not look for a manual lock.
    if (deployPrepare.versions.slice(0, 2).some((v) => v.name === prep.version)) plan.onHold?.(name, null);
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
    if (failed) return saysDiskFull(rs.stderr) ? diskFull(rs) : failed;
    return staged(state, state.home, rs, `${prep.result.stderr}${rs.stderr}`);
  };
}

/**
 * An unchanged redeploy on one host: when till's database says the live release was made
 * from a tree of this content hash, one read-only look (deploy-compare: no manual or
 * deploy lock, P on that release, its .env.local, shared links and registration as a
 * switch would leave them; v2 also lists the release, and when the source's listing is
 * known that decides, in this one connection). Without a listing (a .tillignore, no GNU
 * find on the host, an older gate), a dry-run rsync of the source against the live
 * release decides: on an unrestricted host with the look again as rsync's --rsync-path,
 * on a restricted one a dry-run upload its gate allows. No difference: the host's
 * outcome, unchanged, nothing written. A manual lock: the host's outcome, held. A lost
 * connection: that failure. Anything else (a difference, drift, a refusal): undefined,
 * the normal two-phase deploy. The look may already be on its way (plan.looks: sent
 * while the source was walked); the first attempt reads that one.
 */
async function unchangedOn(
  plan: DeployPlan,
  name: string,
  entry: HostEntry,
  signal: AbortSignal,
): Promise<JobOutcome<StageData> | undefined> {
  const { run } = plan;
  const hash = contentHashOf(run.release);
  const live = entry.deploy?.current ?? null;
  const state = run.hosts[name]?.state ?? 'pending';
  if (plan.forceRelease || hash === '' || live === null || contentHashOf(live) !== hash) return;
  if (state !== 'pending' && state !== 'failed') return;
  const params = lookParams(entry, hash, {
    shared: run.options.shared,
    installation: run.installation,
    envLocal: plan.source.envLocal,
  });
  if (params === undefined) return;
  const layout = remoteLayout(entry.tekton_path);
  const ignoreFile = await tillIgnore(plan.source.dir);
  const compare = (dest: string, rsyncPath?: string) =>
    runProcess(
      'rsync',
      buildDeployRsyncArgs({
        source: plan.source.dir,
        host: name,
        dest,
        remoteShell: rsyncRemoteShell(plan.paths, plan.connectTimeout),
        shared: run.options.shared,
        ...(ignoreFile !== undefined ? { ignoreFile } : {}),
        dryRun: true,
        ...(rsyncPath !== undefined ? { rsyncPath } : {}),
      }),
      { signal, timeoutMs: plan.timeoutMs },
    );
  // The look (deploy-compare-v2) lists the live release; the listing of the source is
  // known when it has no .tillignore. Both known: equal or not decides, in this one round
  // trip. Else a dry-run rsync compares: on an unrestricted host one connection that
  // looks again (rsync's --rsync-path), on a restricted one an upload the gate allows.
  const look = await (plan.looks?.take(name, params, signal) ??
    deployScript(plan, name, deployCompare, params, signal));
  if (look.failure?.connection === true) return scriptOutcome(look);
  if (look.failure || !look.value) return;
  let report = look.value;
  let rs = look.result;
  const tree = report.markers.values.get('TREE')?.[0];
  const byListing = tree !== undefined && plan.listing !== undefined;
  const current = readRemoteState(report, layout).current;
  if (!byListing && report.hold === undefined && report.markers.flags.has('SAME_SETUP') && current !== null) {
    if (entry.restricted !== true) {
      rs = await sendScriptLine(plan.paths, name, deployCompareRsync.versions[0]!, params, (rsyncPath) =>
        compare('.', rsyncPath),
      );
      report = parseDeployReport(rs.stderr);
    } else {
      rs = await compare(`${rsyncRemotePath(layout.releases)}/${current}`);
    }
  }
  const remote = readRemoteState(report, layout);
  if (remote.hold !== undefined) {
    plan.onHold?.(name, remote.hold);
    return {
      ok: false,
      failure: heldFailure(name, remote.hold),
      exitCode: rs.exitCode,
      stdout: rs.stdout,
      stderr: rs.stderr,
    };
  }
  // The look stopped before the compare (a difference, a lock): the normal deploy says the rest.
  if (report.markers.values.has('DIFFERS') || report.markers.values.has('EXIT')) return;
  const failed = byListing ? undefined : transferFailure(rs);
  if (failed?.ok === false && failed.failure?.connection === true && remote.home === undefined) return failed;
  if (failed !== undefined || !report.markers.flags.has('SAME_SETUP') || remote.current === null) return;
  if (byListing ? tree !== plan.listing : changedItems(itemizedChanges(rs.stdout)).length > 0) return;
  const record = listReleases(remote).find((r) => r.id === remote.current);
  if (record?.state !== 'good') return;
  if (remote.home !== undefined) plan.onHold?.(name, null);
  return {
    ok: true,
    exitCode: 0,
    stdout: '',
    stderr: '',
    data: {
      release: remote.current,
      previous: null,
      transferred: false,
      stats: byListing ? null : parseRsyncStats(rs.stdout),
      adopted: null,
      brokeLock: null,
      copiedFrom: null,
      releases: record !== undefined ? [record] : [],
      home: remote.home ?? '',
      unchanged: true,
      compared: byListing ? 'listing' : 'rsync',
    },
  };
}

/**
 * The dry run's changes that make a release differ: all but a folder whose time alone
 * differs (a switch writes `.env.local` and the shared links into a release after
 * rsync set its folders' times).
 */
export function changedItems(changes: readonly string[]): string[] {
  return changes.filter((l) => !/^\.d\.\.t[.]+ /.test(l));
}

/** The source's `.tillignore`, when it has one. */
export async function tillIgnore(dir: string): Promise<string | undefined> {
  const file = join(dir, '.tillignore');
  try {
    await access(file);
    return file;
  } catch {
    return undefined;
  }
}

/** Whether a host may run release hooks: any host but a restricted one whose gate.json does not allow them. */
export function hooksAllowedOn(entry: HostEntry): boolean {
  return entry.restricted !== true || entry.gate_hooks === true;
}

/**
 * The hooks flag a deploy sends a host: on where the release has hooks (a host that does
 * not allow them refuses the release, as it should), or where the host allows them (the
 * post-rollback hook of the release it may go back to); off with --no-hooks.
 */
function hooksFor(plan: DeployPlan, entry: HostEntry): { run: boolean; timeoutSec: number } {
  return { run: plan.hooks.enabled && (plan.hooks.run || hooksAllowedOn(entry)), timeoutSec: plan.hooks.timeoutSec };
}

/**
 * Sends a script that takes a hooks flag. When the flag is on only because till
 * believed the host allows hooks (`dropIfRefused`: the release itself has none, or
 * they are the post-rollback hook of a release it goes back to) and the host's gate
 * refuses hooks all the same (a host restricted behind till's back), it is sent again
 * without them: the gate ran nothing.
 */
export async function sendWithHooks<P extends { hooks: { run: boolean; timeoutSec: number } }, R>(
  plan: { paths: TillPaths; connectTimeout?: number; timeoutMs?: number },
  name: string,
  op: Operation<P, R>,
  params: P,
  dropIfRefused: boolean,
): Promise<ScriptRun<R>> {
  const res = await deployScript(plan, name, op, params, undefined);
  if (
    params.hooks.run &&
    dropIfRefused &&
    res.refused !== undefined &&
    /release hooks are not allowed/.test(res.refused)
  )
    return deployScript(plan, name, op, { ...params, hooks: { ...params.hooks, run: false } }, undefined);
  return res;
}

/** `pre-switch hook failed (exit 3)`, `… timed out after 300 s`, `… was refused: it is a symlink…`. */
export function describeHookFailure(run: HookRun | undefined, name: string, timeoutSec: number): string {
  if (run === undefined) return `${name} hook failed`;
  if (run.outcome === 'timeout') return `${name} hook timed out after ${timeoutSec} s`;
  if (run.outcome === 'refused') return `${name} hook was refused: ${run.why ?? 'not runnable'}`;
  return `${name} hook failed (exit ${run.exitCode ?? '?'})`;
}

/** Phase 2 on one host: pre-switch hook, switch, post-switch hook and health check (switching back on failure), prune, register, unlock. */
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
    const res = await sendWithHooks(
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
        record: {
          host: name,
          deployer: plan.record.deployer,
          commit: plan.record.commit ?? '',
          dirty: plan.record.dirty === null ? '' : plan.record.dirty ? '1' : '0',
          message: plan.record.message,
        },
        hooks: hooksFor(plan, entry),
        keepLock: plan.keepLock,
      },
      !plan.hooks.run,
    );
    // Read even when the script failed: a host it switched must be journaled as switched.
    const m = res.value ?? deploySwitch.parse('');
    if (m.held !== undefined) {
      const hold = parseHoldInfo(m.held);
      plan.onHold?.(name, hold);
      return scriptFailure(res, heldFailure(name, hold));
    }
    if (m.switched) await journal.advance(run.run, name, 'switched');
    const hookFailed = m.hookFailed ?? null;
    if (res.failure || (!m.done && m.checkFailed === undefined && hookFailed === null))
      return scriptFailure(res, res.failure ?? remoteFailure(scriptReason(res.result)));
    const data: SwitchData = {
      release: run.release,
      previous,
      checkFailed: m.checkFailed !== undefined || hookFailed === 'post-switch',
      checkExit: m.checkFailed ?? null,
      hookFailed,
      registered: m.registered,
      registerError: m.registerErrors.join('; ') || null,
      pruned: m.pruned,
      hooks: m.hooks,
    };
    if (!plan.keepLock) locked.delete(name);
    if (hookFailed !== null || data.checkFailed) {
      const why =
        hookFailed !== null
          ? describeHookFailure(
              m.hooks.find((h) => h.hook === hookFailed),
              hookFailed,
              plan.hooks.timeoutSec,
            )
          : `health check failed (exit ${m.checkFailed})`;
      await journal.advance(run.run, name, 'reverted', { error: why });
      const back =
        hookFailed === 'pre-switch'
          ? `not switched (${previous ?? 'nothing'} stays live)`
          : previous !== null
            ? `switched back to ${previous}`
            : 'no previous release: tekton_path removed';
      // The switch script itself exits 0 here: the exit code worth showing is the check's (or the hook's).
      const exitCode =
        hookFailed !== null ? (m.hooks.find((h) => h.hook === hookFailed)?.exitCode ?? null) : (m.checkFailed ?? null);
      return {
        ...scriptOutcome(res, data),
        ok: false,
        exitCode,
        failure: remoteFailure(`${why}; ${back}; ${run.release} kept as failed`),
      };
    }
    await journal.advance(run.run, name, 'done');
    return { ok: true, exitCode: 0, stdout: '', stderr: res.result.stderr, data };
  };
}

export interface RevertData {
  /** The release the host went back to (null: none, tekton_path removed as before the first deploy). */
  to: string | null;
  ok: boolean;
  error: string | null;
  hooks: HookRun[];
}

/**
 * A progressive run switching back a host it switched (deploy-revert): to the release
 * the host had, under the run's own deploy lock.
 */
export async function revertHost(
  plan: DeployPlan,
  target: Target,
  previous: string | null,
  why: string,
): Promise<RevertData> {
  const res = await sendWithHooks(
    plan,
    target.name,
    deployRevert,
    {
      path: remoteLayout(target.entry.tekton_path).path,
      id: plan.run.release,
      previous: previous ?? '',
      run: plan.run.run,
      now: new Date().toISOString(),
      record: { host: target.name, deployer: plan.record.deployer, message: flat(why).slice(0, MAX_MESSAGE) },
      hooks: hooksFor(plan, target.entry),
    },
    true,
  );
  const m = res.value ?? deployRevert.parse('');
  if (res.failure) return { to: null, ok: false, error: res.failure.message, hooks: m.hooks };
  if (m.notCurrent)
    return {
      to: null,
      ok: false,
      error: `not switched back: ${plan.run.release} is no longer live there (someone switched it since)`,
      hooks: m.hooks,
    };
  if (!m.reverted) return { to: null, ok: false, error: scriptReason(res.result), hooks: m.hooks };
  const hook = m.hooks.find((h) => h.hook === 'post-rollback');
  return {
    to: previous,
    ok: !m.hookFailed,
    error: m.hookFailed ? describeHookFailure(hook, 'post-rollback', plan.hooks.timeoutSec) : null,
    hooks: m.hooks,
  };
}

/** Releases the locks this run still holds (after a failure, --max-fail stop or Ctrl-C). */
export async function releaseLocks(plan: DeployPlan, targets: readonly Target[], locked: Set<string>): Promise<void> {
  const todo = targets.filter((t) => locked.has(t.name));
  await Promise.all(
    todo.map(async (t) => {
      const r = await deployScript(
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

/**
 * What a deploy records on the host entry: the release it switched to and who deployed it
 * (or, when the run switched it back, the release it went back to), and the manual lock
 * it saw on the host, if any.
 */
export function applyDeploy(
  entry: HostEntry,
  result: { ok: boolean; data?: DeployResultData },
  installation: string,
  record: DeployRecord,
  now = new Date(),
): void {
  const data = result.data;
  if (!data) return;
  if (data.hold !== undefined || data.unheld) recordHold(entry, data.hold ?? null, now);
  if (data.rolledBack !== undefined) {
    if (!data.rolledBack.ok && data.rolledBack.to === null) return;
    const back = data.releases?.find((r) => r.id === data.rolledBack!.to);
    entry.deploy = {
      current: data.rolledBack.to,
      previous: data.release ?? null,
      at: now.toISOString(),
      ...recordOf(back),
    };
    return;
  }
  if (result.ok && data.phase === 'unchanged') {
    entry.status = raiseTo(lifecycleOf(entry), 'deployed');
    if (entry.deploy?.current !== data.release) {
      const live = data.releases?.find((r) => r.id === data.release);
      entry.deploy = {
        current: data.release ?? null,
        previous: entry.deploy?.previous ?? null,
        at: now.toISOString(),
        ...recordOf(live),
      };
    }
    if (!entry.installations.includes(installation)) entry.installations.push(installation);
    return;
  }
  if (!result.ok || data.phase !== 'switch') return;
  entry.status = raiseTo(lifecycleOf(entry), 'deployed');
  entry.deploy = {
    current: data.release ?? null,
    previous: data.previous ?? null,
    at: now.toISOString(),
    ...recordOf({ ...record, message: record.message === '' ? null : record.message }),
  };
  if (!entry.installations.includes(installation)) entry.installations.push(installation);
}

/** The record fields a host entry keeps of its current release (those known). */
function recordOf(
  r: Pick<Release, 'deployer' | 'commit' | 'dirty' | 'message'> | undefined,
): Partial<{ deployer: string; commit: string; dirty: boolean; message: string }> {
  if (r === undefined) return {};
  return {
    ...(r.deployer !== null ? { deployer: r.deployer } : {}),
    ...(r.commit !== null ? { commit: r.commit } : {}),
    ...(r.dirty !== null ? { dirty: r.dirty } : {}),
    ...(r.message !== null ? { message: r.message } : {}),
  };
}

/**
 * Applies to the database what a journaled run finished but did not record: the host
 * entries are written once, when the run ends, so a till killed after some hosts were
 * `done` left them with the old release (and `--resume` skips `done` hosts). A host is
 * repaired when its entry does not name the release the run left live, its deploy record
 * is older than the journal's `done`, and the entry existed when the run started (a name
 * re-added since is another machine).
 * Returns the names it changed; the caller writes them in one update.
 */
export function applyJournaled(db: { hosts: Record<string, HostEntry> }, run: DeployRun, now = new Date()): string[] {
  const changed: string[] = [];
  const record = run.record ?? { deployer: lockOwner(), commit: null, dirty: null, message: '' };
  for (const [name, h] of Object.entries(run.hosts)) {
    const entry = db.hosts[name];
    if (h.state !== 'done' || entry === undefined || Date.parse(entry.added) > Date.parse(run.started)) continue;
    // Recorded already: the entry names the release this run left live (an unchanged host's
    // record keeps its old time), or holds a later record (a rollback since, another run).
    if (entry.deploy?.current === (h.unchanged ?? run.release)) continue;
    if (entry.deploy !== undefined && Date.parse(entry.deploy.at) >= Date.parse(h.at)) continue;
    const before = JSON.stringify(entry);
    const data: DeployResultData =
      h.unchanged !== undefined
        ? { phase: 'unchanged', release: h.unchanged }
        : { phase: 'switch', release: run.release, previous: h.previous ?? null };
    applyDeploy(entry, { ok: true, data }, run.installation, record, now);
    if (JSON.stringify(entry) !== before) changed.push(name);
  }
  return changed;
}

// ---------------------------------------------------------------- dry run

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
    const read = await deployScript({ paths, ...opts }, name, deployState, { path: layout.path }, signal);
    if (read.failure || !read.value) return scriptOutcome(read);
    const state = readRemoteState(read.value, layout);
    const ignoreFile = await tillIgnore(source.dir);
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
