import { posix } from 'node:path';
import { RELEASE_ID_RE, sharedPathProblem } from '../protocol/args.js';
import { expandHome } from '../protocol/wire.js';

/**
 * The remote layout of a deployed installation, next to the host's `tekton_path` P:
 *
 *   P                      symlink -> P.till/releases/<id>, switched by rename(2)
 *   P.till/releases/<id>/  one complete release (hard links to the previous where unchanged)
 *   P.till/releases/<id>.partial/  a release being staged (a resumed deploy continues it)
 *   P.till/shared/         persistent paths (logs/, data/ …), linked into every release
 *   P.till/lock/           atomic mkdir lock; lock/info says who, when, what, pid, run
 *   P.till/hold/           the manual lock (`till host lock -m`); hold/info: by, when, from, message
 *   P.till/releases.log    till's own record: one line per state change, tab-separated
 *                          `id state time source [deployer commit dirty message hooks]`;
 *                          the last line for an id is its state
 *   P.till/hook-output/    the kept output of each hook run, `<id>.<hook>` (16 KiB at most)
 *
 * Paths, release ids and the lock's info, all pure. The scripts that act on the layout
 * are src/protocol/deploy.ts and switch.ts; releases.ts reads what they report;
 * dotenv.ts writes the host's `.env.local`.
 */

export const DEFAULT_SHARED = ['logs', 'data'] as const;
export const DEFAULT_KEEP = 5;

export interface RemoteLayout {
  /** tekton_path as stored (`~/x` or `/abs`). */
  path: string;
  /** P.till */
  base: string;
  releases: string;
  shared: string;
  lock: string;
  log: string;
  /** What the P symlink holds for a release: relative, so moving the home keeps it valid. */
  linkTarget(id: string): string;
}

export function remoteLayout(tektonPath: string): RemoteLayout {
  const path = tektonPath.replace(/\/+$/, '');
  const base = `${path}.till`;
  const name = posix.basename(path);
  return {
    path,
    base,
    releases: `${base}/releases`,
    shared: `${base}/shared`,
    lock: `${base}/lock`,
    log: `${base}/releases.log`,
    linkTarget: (id) => `${name}.till/releases/${id}`,
  };
}

/** rsync remote paths are relative to the remote home: `~/x` is `x`. */
export function rsyncRemotePath(path: string): string {
  if (path === '~') return '.';
  return path.startsWith('~/') ? path.slice(2) : path;
}

/** The absolute remote path, once the remote `$HOME` is known (the protocol's one `~/` expansion). */
export const absoluteRemotePath = expandHome;

/** The content-hash part of a release id (`''` for an adopted one). */
export function contentHashOf(id: string): string {
  const m = /-([0-9a-f]{6})$/.exec(id);
  return m ? m[1]! : '';
}

export function isReleaseId(id: string): boolean {
  return RELEASE_ID_RE.test(id);
}

/** `20261126T031500Z-3fa9c2`: UTC time (sortable) and a short content hash. */
export function releaseId(at: Date, contentHash: string): string {
  const t = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${t}-${contentHash.slice(0, 6).toLowerCase()}`;
}

export function adoptedId(at: Date): string {
  return `${releaseId(at, '')}adopted`;
}

/** A shared path: relative, safe characters, no `..`, no trailing slash (the protocol's `shared path` type). */
export { sharedPathProblem };

export function normalizeShared(p: string): string {
  return p.replace(/\/+$/, '');
}

/** `logs` -> `../../shared/logs`; `data/cache` -> `../../../shared/data/cache` (relative to the link). */
export function sharedLinkTarget(p: string): string {
  const depth = p.split('/').length;
  return `${'../'.repeat(depth + 1)}shared/${p}`;
}

/** One line of the lock's info file / releases.log field: no control characters (tabs and newlines become spaces). */
export function flat(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ');
}

export interface LockInfo {
  who: string;
  when: string;
  what: string;
  pid: number;
  run: string;
}

export function renderLockInfo(info: LockInfo): string {
  return `who=${flat(info.who)}\nwhen=${flat(info.when)}\nwhat=${flat(info.what)}\npid=${info.pid}\nrun=${flat(info.run)}\n`;
}

export function parseLockInfo(lines: readonly string[]): Partial<LockInfo> {
  const out: Record<string, string> = {};
  for (const l of lines) {
    const eq = l.indexOf('=');
    if (eq > 0) out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return {
    ...(out.who !== undefined ? { who: out.who } : {}),
    ...(out.when !== undefined ? { when: out.when } : {}),
    ...(out.what !== undefined ? { what: out.what } : {}),
    ...(out.pid !== undefined ? { pid: Number(out.pid) } : {}),
    ...(out.run !== undefined ? { run: out.run } : {}),
  };
}

/** The manual lock of `till host lock` (P.till/hold/info; src/protocol/hold.ts). */
export interface HoldInfo {
  by: string;
  when: string;
  /** The client address sshd saw when it was placed. */
  from: string;
  message: string;
}

export function parseHoldInfo(lines: readonly string[]): Partial<HoldInfo> {
  const out: Partial<HoldInfo> = {};
  for (const l of lines) {
    const eq = l.indexOf('=');
    if (eq <= 0) continue;
    const key = l.slice(0, eq);
    if (key === 'by' || key === 'when' || key === 'from' || key === 'message') out[key] = l.slice(eq + 1);
  }
  return out;
}

/** `ann@laptop (from 10.0.0.5) since 2026-…: "db migration"`; host text, so printed through printable(). */
export function describeHold(info: Partial<HoldInfo>): string {
  const from = info.from ? ` (from ${info.from})` : '';
  const why = info.message ? `: ${JSON.stringify(info.message)}` : '';
  return `${info.by ?? 'someone'}${from} since ${info.when ?? '?'}${why}`;
}

export function describeLock(info: Partial<LockInfo>): string {
  if (info.who === undefined && info.run === undefined) return 'an unknown holder (the lock has no info file)';
  return `${info.who ?? '?'} since ${info.when ?? '?'} (${info.what ?? '?'}, pid ${info.pid ?? '?'}, run ${info.run ?? '?'})`;
}

/** link-dest for a staging transfer into `releases/<id>.partial`: the current release, a sibling. */
export function linkDestOf(current: string): string {
  return `../${current}`;
}
