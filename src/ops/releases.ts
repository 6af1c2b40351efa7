import type { HostJob } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import type { HostEntry } from '../core/state/hosts.js';
import {
  describeLock,
  flat,
  parseHoldInfo,
  parseLockInfo,
  remoteLayout,
  renderLockInfo,
  type HoldInfo,
  type LockInfo,
} from '../deploy/layout.js';
import { listReleases, parseLogLine, readRemoteState, type Release, type RemoteState } from '../deploy/releases.js';
import { deployState } from '../protocol/deploy.js';
import type { HookRun } from '../protocol/hooks.js';
import { rollback } from '../protocol/rollback.js';
import { remoteFailure } from '../ssh/outcome.js';
import { scriptFailure, scriptOutcome, scriptReason } from '../ssh/run-script.js';
import { lockOwner, recordHold } from '../deploy/record.js';
import { deployScript, describeHookFailure, heldFailure, hooksAllowedOn, sendWithHooks } from './deploy.js';

/**
 * Reading a host's releases (`host releases`) and going back to one (`host rollback`):
 * one round trip each, through the protocol's deploy-state and rollback.
 */

export interface ReleasesData {
  current: string | null;
  link: string | null;
  plain: boolean;
  releases: Release[];
  lock: Partial<LockInfo> | null;
  /** The manual lock (`till host lock`), or null; undefined when the host's till is too old to say. */
  hold: Partial<HoldInfo> | null | undefined;
  home: string | null;
}

export function toReleasesData(state: RemoteState, holdKnown: boolean): ReleasesData {
  return {
    current: state.current,
    link: state.link ?? null,
    plain: state.plain,
    releases: listReleases(state),
    lock: state.lockHeld ? state.holder : null,
    hold: state.hold ?? (holdKnown ? null : undefined),
    home: state.home ?? null,
  };
}

export function releasesJob(
  paths: TillPaths,
  opts: { connectTimeout?: number; timeoutMs?: number } = {},
): HostJob<ReleasesData> {
  return async ({ name, entry, signal }) => {
    const layout = remoteLayout(entry.tekton_path);
    const res = await deployScript({ paths, ...opts }, name, deployState, { path: layout.path }, signal);
    if (res.failure || !res.value) return scriptOutcome(res);
    const holdKnown = res.version === deployState.versions[0]!.name;
    return { ...scriptOutcome(res, toReleasesData(readRemoteState(res.value, layout), holdKnown)), stdout: '' };
  };
}

export interface RollbackData {
  from: string | null;
  to: string | null;
  /** What the release switched to says of who deployed it (rollback-v4), else null. */
  toRecord: Pick<Release, 'deployer' | 'commit' | 'dirty' | 'message'> | null;
  hooks: HookRun[];
  /** The manual lock that refused the rollback (host text). */
  hold?: Partial<HoldInfo>;
  /** The rollback looked for a manual lock and found none (rollback-v4; an older host's till does not look). */
  noHold?: boolean;
}

/** `host rollback`: one locked round trip per host; the target is chosen on the host from till's record. */
export function rollbackJob(
  paths: TillPaths,
  opts: {
    to?: string;
    message: string;
    noHooks: boolean;
    hookTimeoutSec: number;
    connectTimeout?: number;
    timeoutMs?: number;
  },
): HostJob<RollbackData> {
  return async ({ name, entry }) => {
    const layout = remoteLayout(entry.tekton_path);
    const who = lockOwner();
    const lock: LockInfo = {
      who,
      when: new Date().toISOString(),
      what: `rollback${opts.to !== undefined ? ` to ${opts.to}` : ''}`,
      pid: process.pid,
      run: `rollback-${process.pid}-${Date.now()}`,
    };
    const res = await sendWithHooks(
      { paths, ...opts },
      name,
      rollback,
      {
        path: layout.path,
        to: opts.to ?? '',
        lockInfo: renderLockInfo(lock),
        now: new Date().toISOString(),
        record: { host: name, deployer: who, message: flat(opts.message) },
        hooks: { run: !opts.noHooks && hooksAllowedOn(entry), timeoutSec: opts.hookTimeoutSec },
      },
      true,
    );
    const m = res.value ?? rollback.parse('');
    const fail = (message: string) => scriptFailure<RollbackData>(res, remoteFailure(message));
    if (m.held !== undefined) {
      const hold = parseHoldInfo(m.held);
      return {
        ...scriptFailure(res, heldFailure(name, hold)),
        data: { from: null, to: null, toRecord: null, hooks: [], hold },
      };
    }
    if (m.locked) return fail(`locked by ${describeLock(parseLockInfo(m.holderLines))}`);
    if (m.noTarget) return fail(`no previous good release on ${name} to roll back to`);
    if (m.already) return fail(`${opts.to} is already current on ${name}`);
    if (m.noSuch) return fail(`no release ${opts.to} on ${name}; see: till host releases ${name}`);
    if (res.failure) return scriptOutcome(res);
    if (!m.done || m.to === null) return fail(scriptReason(res.result));
    const to = m.to;
    const target = listReleases({
      log: m.logLines.map(parseLogLine).filter((l) => l !== undefined),
      dirs: [to],
      current: to,
    }).find((r) => r.id === to);
    const data: RollbackData = {
      from: m.from,
      to,
      toRecord: target
        ? { deployer: target.deployer, commit: target.commit, dirty: target.dirty, message: target.message }
        : null,
      hooks: m.hooks,
      ...(res.version === rollback.versions[0]!.name ? { noHold: true } : {}),
    };
    if (m.hookFailed)
      return {
        ...scriptFailure(
          res,
          remoteFailure(
            `switched to ${to}, but ${describeHookFailure(
              m.hooks.find((h) => h.hook === 'post-rollback'),
              'post-rollback',
              opts.hookTimeoutSec,
            )}`,
          ),
        ),
        data,
      };
    return { ok: true, exitCode: 0, stdout: '', stderr: res.result.stderr, data };
  };
}

/** What a rollback that switched records on the host entry (also when only its hook failed). */
export function applyRollback(entry: HostEntry, data: RollbackData | undefined, now = new Date()): void {
  if (!data) return;
  if (data.hold !== undefined) {
    recordHold(entry, data.hold, now);
    return;
  }
  if (data.noHold) recordHold(entry, null, now);
  if (data.to === null) return;
  entry.deploy = {
    current: data.to,
    previous: data.from,
    at: now.toISOString(),
    ...(data.toRecord?.deployer ? { deployer: data.toRecord.deployer } : {}),
    ...(data.toRecord?.commit ? { commit: data.toRecord.commit } : {}),
    ...(data.toRecord?.dirty !== null && data.toRecord?.dirty !== undefined ? { dirty: data.toRecord.dirty } : {}),
    ...(data.toRecord?.message ? { message: data.toRecord.message } : {}),
  };
}
