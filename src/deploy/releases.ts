import type { DeployReport } from '../protocol/deploy.js';
import { parseHookField, type HookOutcome } from '../protocol/hooks.js';
import { parseHoldInfo, parseLockInfo, type HoldInfo, type LockInfo, type RemoteLayout } from './layout.js';

/**
 * The releases on a host, from what a deploy script reported (src/protocol/deploy.ts):
 * till's record (releases.log) and the release directories, newest first; which of
 * them to prune after a deploy.
 */
export type ReleaseState = 'adopted' | 'staged' | 'good' | 'failed' | 'rolled-back';
export const RELEASE_STATES: readonly ReleaseState[] = ['adopted', 'staged', 'good', 'failed', 'rolled-back'];

/**
 * One line of releases.log. Lines written since deploy-switch-v5 / rollback-v4 have nine
 * tab-separated fields: `id state time source deployer commit dirty message hooks`;
 * older ones the first four. The fields after the fourth are null on an older line.
 */
export interface LogLine {
  id: string;
  state: ReleaseState;
  at: string;
  source: string;
  /** `user@machine` of the controller that wrote this line. */
  deployer: string | null;
  /** The deployed source's git commit (on a deploy's lines). */
  commit: string | null;
  /** The git checkout had uncommitted changes (null: not a git checkout, or an older line). */
  dirty: boolean | null;
  /** `-m/--message` of the deploy or rollback. */
  message: string | null;
  /** The hooks that ran at this event, with their outcome words (`pre-switch=ok`). */
  hooks: string | null;
}

/** Fields a releases.log line has since the release record (deploy-switch-v5). */
export const RECORD_FIELDS = 9;

export function parseLogLine(line: string): LogLine | undefined {
  const fields = line.split('\t');
  const [id, state, at] = fields;
  if (!id || !state || !RELEASE_STATES.includes(state as ReleaseState)) return undefined;
  const base = { id, state: state as ReleaseState, at: at ?? '' };
  if (fields.length !== RECORD_FIELDS)
    return {
      ...base,
      source: fields.slice(3).join(' '),
      deployer: null,
      commit: null,
      dirty: null,
      message: null,
      hooks: null,
    };
  const text = (v: string | undefined) => (v === undefined || v === '' ? null : v);
  return {
    ...base,
    source: fields[3] ?? '',
    deployer: text(fields[4]),
    commit: text(fields[5]),
    dirty: fields[6] === '1' ? true : fields[6] === '0' ? false : null,
    message: text(fields[7]),
    hooks: text(fields[8]),
  };
}

/** A host's deploy state: a deploy script's report, read against its layout. */
export interface RemoteState {
  home?: string;
  /** The symlink's target, as read. */
  link?: string;
  /** The current release id, when P is till's symlink. */
  current: string | null;
  plain: boolean;
  notDir: boolean;
  dirs: string[];
  log: LogLine[];
  lockHeld: boolean;
  holder: Partial<LockInfo>;
  oldLock?: Partial<LockInfo>;
  adopted?: string;
  complete: boolean;
  locked: boolean;
  copiedFrom?: string;
  /** A manual lock (`till host lock`) is on the host (deploy-state-v2, prepare-v4). */
  hold?: Partial<HoldInfo>;
  hookOutputs: Map<string, string[]>;
}

export function readRemoteState(report: DeployReport, l: RemoteLayout): RemoteState {
  const prefix = l.linkTarget('');
  const link = report.link;
  const current =
    link !== undefined && link.startsWith(prefix) && !link.slice(prefix.length).includes('/')
      ? link.slice(prefix.length)
      : null;
  return {
    ...(report.home !== undefined ? { home: report.home } : {}),
    ...(link !== undefined ? { link } : {}),
    current,
    plain: report.plain,
    notDir: report.notDir,
    dirs: report.dirs,
    log: report.logLines.map(parseLogLine).filter((x): x is LogLine => x !== undefined),
    lockHeld: report.lockHeld,
    holder: parseLockInfo(report.holderLines),
    ...(report.oldLockLines !== undefined ? { oldLock: parseLockInfo(report.oldLockLines) } : {}),
    ...(report.adopted !== undefined ? { adopted: report.adopted } : {}),
    complete: report.complete,
    locked: report.locked,
    ...(report.copiedFrom !== undefined ? { copiedFrom: report.copiedFrom } : {}),
    ...(report.hold !== undefined ? { hold: parseHoldInfo(report.hold) } : {}),
    hookOutputs: report.hookOutputs,
  };
}

export interface Release {
  id: string;
  state: ReleaseState | 'partial' | 'unknown';
  /** When it was first recorded (staged or adopted). */
  at: string | null;
  source: string;
  current: boolean;
  /** Position of its last `good`/`adopted` line: the order releases went live. */
  liveOrder: number;
  /** Who deployed it (from the first line of its deploy that names one), and from what. */
  deployer: string | null;
  commit: string | null;
  dirty: boolean | null;
  message: string | null;
  /** Every state change of it, oldest first: who did it, why, and the hooks that ran. */
  history: ReleaseEvent[];
  /** The last run of each of its hooks, with the output the host kept (deploy-state-v2). */
  hooks: ReleaseHook[];
}

export interface ReleaseHook {
  hook: string;
  outcome: HookOutcome;
  exitCode: number | null;
  at: string;
  /** The first 16 KiB of its output, as the host kept it; null when the host did not report it. */
  output: string | null;
}

export interface ReleaseEvent {
  state: ReleaseState;
  at: string;
  by: string | null;
  message: string | null;
  hooks: Array<{ hook: string; outcome: HookOutcome; exitCode: number | null }>;
}

/**
 * A release's place in time: when till recorded it (ISO, milliseconds), else the time
 * in its id. Ids alone do not order releases made within one second: their suffix is
 * a content hash.
 */
function releaseTime(r: Pick<Release, 'id' | 'at'>): string {
  if (r.at) return r.at;
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(r.id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z` : '';
}

/** Newest first: by recorded time, then id. */
function newestFirst(a: Pick<Release, 'id' | 'at'>, b: Pick<Release, 'id' | 'at'>): number {
  const ta = releaseTime(a);
  const tb = releaseTime(b);
  if (ta !== tb) return ta < tb ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** A release as nothing but its id and state (a directory till has no record of, before its lines are read). */
function unrecorded(id: string, state: Release['state']): Release {
  return {
    id,
    state,
    at: null,
    source: '',
    current: false,
    liveOrder: -1,
    deployer: null,
    commit: null,
    dirty: null,
    message: null,
    history: [],
    hooks: [],
  };
}

/** Releases from till's record and the directories that exist, newest first. */
export function listReleases(
  state: Pick<RemoteState, 'log' | 'dirs' | 'current'> & { hookOutputs?: ReadonlyMap<string, string[]> },
): Release[] {
  const map = new Map<string, Release>();
  state.log.forEach((line, i) => {
    let r = map.get(line.id);
    if (!r) {
      r = { ...unrecorded(line.id, line.state), at: line.at || null, source: line.source };
      map.set(line.id, r);
    }
    r.state = line.state;
    if (r.source === '' && line.source !== '') r.source = line.source;
    if (line.state === 'good' || line.state === 'adopted') r.liveOrder = i;
    // The deploy's own lines carry its commit: the first such line says who deployed it.
    if (r.deployer === null && line.deployer !== null && line.source !== '') {
      r.deployer = line.deployer;
      r.commit = line.commit;
      r.dirty = line.dirty;
      r.message = line.message;
    }
    const hooks = parseHookField(line.hooks ?? '');
    r.history.push({ state: line.state, at: line.at, by: line.deployer, message: line.message, hooks });
    for (const h of hooks) {
      const lines = state.hookOutputs?.get(`${line.id}.${h.hook}`);
      const run: ReleaseHook = { ...h, at: line.at, output: lines === undefined ? null : lines.join('\n') };
      const at = r.hooks.findIndex((x) => x.hook === h.hook);
      if (at === -1) r.hooks.push(run);
      else r.hooks[at] = run;
    }
  });
  const dirs = new Set(state.dirs);
  const out: Release[] = [];
  for (const r of map.values()) if (dirs.has(r.id)) out.push(r);
  for (const d of state.dirs) {
    if (map.has(d)) continue;
    if (d.endsWith('.partial')) out.push(unrecorded(d.slice(0, -'.partial'.length), 'partial'));
    else out.push(unrecorded(d, 'unknown'));
  }
  for (const r of out) r.current = r.id === state.current && r.state !== 'partial';
  return out.sort(newestFirst);
}

/**
 * Releases to delete after `newId` went live: beyond the newest `keep`, but never the
 * new one, the previous good one (the rollback target), or one being staged.
 */
export function releasesToPrune(
  releases: readonly Release[],
  newId: string,
  previous: string | null,
  keep: number,
): string[] {
  const complete = releases
    .filter((r) => r.state !== 'partial' && r.id !== newId)
    .sort(newestFirst)
    .map((r) => r.id);
  const ordered = [newId, ...complete];
  return ordered.slice(Math.max(1, keep)).filter((id) => id !== newId && id !== previous);
}
