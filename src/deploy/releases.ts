import type { DeployReport } from '../protocol/deploy.js';
import { parseLockInfo, type LockInfo, type RemoteLayout } from './layout.js';

/**
 * The releases on a host, from what a deploy script reported (src/protocol/deploy.ts):
 * till's record (releases.log) and the release directories, newest first; which of
 * them to prune after a deploy.
 */
export type ReleaseState = 'adopted' | 'staged' | 'good' | 'failed' | 'rolled-back';
export const RELEASE_STATES: readonly ReleaseState[] = ['adopted', 'staged', 'good', 'failed', 'rolled-back'];

export interface LogLine {
  id: string;
  state: ReleaseState;
  at: string;
  source: string;
}

export function parseLogLine(line: string): LogLine | undefined {
  const [id, state, at, ...rest] = line.split('\t');
  if (!id || !state || !RELEASE_STATES.includes(state as ReleaseState)) return undefined;
  return { id, state: state as ReleaseState, at: at ?? '', source: rest.join(' ') };
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

/** Releases from till's record and the directories that exist, newest first. */
export function listReleases(state: Pick<RemoteState, 'log' | 'dirs' | 'current'>): Release[] {
  const map = new Map<string, Release>();
  state.log.forEach((line, i) => {
    let r = map.get(line.id);
    if (!r) {
      r = { id: line.id, state: line.state, at: line.at || null, source: line.source, current: false, liveOrder: -1 };
      map.set(line.id, r);
    }
    r.state = line.state;
    if (r.source === '' && line.source !== '') r.source = line.source;
    if (line.state === 'good' || line.state === 'adopted') r.liveOrder = i;
  });
  const dirs = new Set(state.dirs);
  const out: Release[] = [];
  for (const r of map.values()) if (dirs.has(r.id)) out.push(r);
  for (const d of state.dirs) {
    if (map.has(d)) continue;
    if (d.endsWith('.partial'))
      out.push({
        id: d.slice(0, -'.partial'.length),
        state: 'partial',
        at: null,
        source: '',
        current: false,
        liveOrder: -1,
      });
    else out.push({ id: d, state: 'unknown', at: null, source: '', current: false, liveOrder: -1 });
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
