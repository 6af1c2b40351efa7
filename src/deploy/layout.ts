import { posix } from 'node:path';
import { remoteScript } from '../remote/script.js';

/**
 * The remote layout of a deployed installation, next to the host's `tekton_path` P:
 *
 *   P                      symlink -> P.till/releases/<id>, switched by rename(2)
 *   P.till/releases/<id>/  one complete release (hard links to the previous where unchanged)
 *   P.till/releases/<id>.partial/  a release being staged (a resumed deploy continues it)
 *   P.till/shared/         persistent paths (logs/, data/ …), linked into every release
 *   P.till/lock/           atomic mkdir lock; lock/info says who, when, what, pid, run
 *   P.till/releases.log    till's own record: one line per state change, tab-separated
 *                          `id state time source`; the last line for an id is its state
 *
 * Everything here is pure: paths, shell scripts built from quoted values, and parsers
 * of what those scripts print. Scripts print `TILL_<WORD> value` marker lines on
 * stdout; everything else they say goes to stderr.
 */

export const DEFAULT_SHARED = ['logs', 'data'] as const;
export const DEFAULT_KEEP = 5;

export type ReleaseState = 'adopted' | 'staged' | 'good' | 'failed' | 'rolled-back';
export const RELEASE_STATES: readonly ReleaseState[] = ['adopted', 'staged', 'good', 'failed', 'rolled-back'];

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

/** The absolute remote path, once the remote `$HOME` is known. */
export function absoluteRemotePath(path: string, home: string): string {
  if (path === '~') return home;
  return path.startsWith('~/') ? `${home.replace(/\/+$/, '')}/${path.slice(2)}` : path;
}

const RELEASE_ID_RE = /^\d{8}T\d{6}Z-[a-z0-9]+$/;

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

/** A shared path: relative, safe characters, no `..`, no trailing slash. */
export function sharedPathProblem(p: string): string | undefined {
  if (p === '' || p.startsWith('/')) return 'it must be a relative path inside the installation';
  if (!/^[A-Za-z0-9._+@,=/-]+$/.test(p)) return 'it contains whitespace, quotes or shell characters';
  if (p.split('/').some((s) => s === '..' || s === '.' || s === '')) return 'it contains an empty, . or .. segment';
  if (p.startsWith('-')) return 'it starts with -';
  return undefined;
}

export function normalizeShared(p: string): string {
  return p.replace(/\/+$/, '');
}

/** `logs` -> `../../shared/logs`; `data/cache` -> `../../../shared/data/cache` (relative to the link). */
export function sharedLinkTarget(p: string): string {
  const depth = p.split('/').length;
  return `${'../'.repeat(depth + 1)}shared/${p}`;
}

/** One line of the lock's info file / releases.log field: no tabs or newlines. */
export function flat(value: string): string {
  return value.replace(/[\t\r\n]+/g, ' ');
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

export function describeLock(info: Partial<LockInfo>): string {
  if (info.who === undefined && info.run === undefined) return 'an unknown holder (the lock has no info file)';
  return `${info.who ?? '?'} since ${info.when ?? '?'} (${info.what ?? '?'}, pid ${info.pid ?? '?'}, run ${info.run ?? '?'})`;
}

// ---------------------------------------------------------------- shell scripts
//
// Every script is a constant text (registered in remote/allowlist.ts, so a restricted
// key's gate allows it byte for byte); values arrive only as positional parameters,
// through remoteScript. "$1" is always tekton_path as stored: a `~/` value arrives
// literally and is expanded here with "$HOME".

const HEAD = ['set -u', `case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac`, 'B=$P.till', 'N=${P##*/}'].join(
  '\n',
);
/** rename(2) of a fresh symlink over P: a reader sees the old target or the new one, never neither. */
const SWITCH_FN = `till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }`;
/**
 * Shell builtins instead of sed/cat where a script runs on every host of every deploy:
 * on a busy host each fork+exec costs more than the work. `till_lockrun` sets $lr to
 * the lock's run id; `till_prefix WORD FILE` prints each line of FILE after WORD;
 * `till_ours RUN` is true when the lock is held by RUN.
 */
const READ_FNS = [
  `till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }`,
  `till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }`,
  'till_ours() { till_lockrun; [ "$lr" = "$1" ]; }',
].join('\n');
const LOG_FN = `till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }`;
/** `till_shtarget logs` sets $st to `../../shared/logs` (see sharedLinkTarget). */
const SHTARGET_FN = `till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }`;

/** Prints the current link, release directories and the log (for releases, rollback, dry-run). */
const REPORT_STATE = [
  'echo "TILL_HOME_DIR $HOME"',
  'if [ -L "$P" ]; then echo "TILL_CURRENT $(readlink "$P")"; elif [ -d "$P" ]; then echo TILL_PLAIN; elif [ -e "$P" ]; then echo TILL_NOTDIR; fi',
  'if [ -d "$B/releases" ]; then for d in "$B/releases"/*; do [ -d "$d" ] && echo "TILL_DIR ${d##*/}"; done; fi',
  'till_prefix TILL_LOG "$B/releases.log"',
  'if [ -d "$B/lock" ]; then echo TILL_LOCK_HELD; till_prefix TILL_HOLDER "$B/lock/info"; fi',
].join('\n');

/** Args: tekton_path. */
export const DEPLOY_STATE_SCRIPT = [HEAD, READ_FNS, REPORT_STATE, 'exit 0'].join('\n');

export function readStateScript(l: RemoteLayout): string {
  return remoteScript(DEPLOY_STATE_SCRIPT, [l.path]);
}

export interface PrepareParams {
  id: string;
  lock: LockInfo;
  forceUnlock: boolean;
  shared: readonly string[];
  adoptId: string;
  now: string;
}

/** Take (or keep) the lock, adopt a plain directory at P, say whether <id> is complete: every prepare version. */
const PREPARE_LOCK_ADOPT = [
  'umask 022',
  SWITCH_FN,
  LOG_FN,
  READ_FNS,
  SHTARGET_FN,
  '[ -d "$B/releases" ] && [ -d "$B/shared" ] || mkdir -p "$B/releases" "$B/shared" || exit 20',
  'if [ "$force" = 1 ] && [ -d "$B/lock" ] && ! till_ours "$run"; then echo TILL_BROKE_LOCK; till_prefix TILL_OLDLOCK "$B/lock/info"; rm -rf "$B/lock"; fi',
  `if mkdir "$B/lock" 2>/dev/null; then printf '%s' "$info" > "$B/lock/info" || exit 20`,
  'elif ! till_ours "$run"; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi',
  'if [ -e "$P" ] && [ ! -L "$P" ] && [ ! -d "$P" ]; then echo "TILL_ERROR $P exists and is not a directory or symlink" >&2; exit 22; fi',
  // A first deploy onto a plain directory keeps it, whole, as the first release.
  'if [ -d "$P" ] && [ ! -L "$P" ]; then',
  '  R=$B/releases/$A',
  '  mv "$P" "$R" || exit 22',
  '  set -f; for s in $shared; do',
  '    if [ -e "$R/$s" ] && [ ! -L "$R/$s" ] && [ ! -e "$B/shared/$s" ]; then till_shtarget "$s"; mkdir -p "$(dirname "$B/shared/$s")" && mv "$R/$s" "$B/shared/$s" && ln -s "$st" "$R/$s"; fi',
  '  done; set +f',
  `  till_log "$A" adopted "$now" 'existing directory'`,
  '  till_switch "$N.till/releases/$A" || exit 22',
  '  echo "TILL_ADOPTED $A"',
  'fi',
  // rsync creates <id>.partial itself (its parent exists)
  'if [ -d "$B/releases/$id" ]; then echo TILL_COMPLETE; fi',
];

/**
 * Phase 1, before the transfer: take (or, for a resumed run, keep) the lock; adopt a
 * plain directory at P as the first release; report whether `<id>` is already
 * complete, and the state (the current release is the transfer's --link-dest).
 * Args: tekton_path, id, lock info, run, force-unlock (1/0), shared paths (space-separated), adopted id, now.
 */
export const DEPLOY_PREPARE_SCRIPT = [
  HEAD,
  'id=$2; info=$3; run=$4; force=$5; shared=$6; A=$7; now=$8',
  ...PREPARE_LOCK_ADOPT,
  REPORT_STATE,
  'exit 0',
].join('\n');

/** Version 2's start: version 1's, with the content hash as $9. */
const PREPARE_BASE = [HEAD, 'id=$2; info=$3; run=$4; force=$5; shared=$6; A=$7; now=$8; h=$9', ...PREPARE_LOCK_ADOPT];
const PREPARE_V2_LINES = [
  ...PREPARE_BASE,
  // The same tree as the live release (same content hash in its id): stage by hard-linking
  // it whole (one cp, far cheaper than rsync --link-dest file by file); rsync then only
  // verifies. .env.local is written fresh by the switch, never through a shared inode.
  'if [ -n "$h" ] && [ -L "$P" ] && [ ! -d "$B/releases/$id" ] && [ ! -e "$B/releases/$id.partial" ]; then',
  '  l=$(readlink "$P"); c=${l#"$N.till/releases/"}',
  '  case $c in */*|"$l") ;; *"-$h") if [ -d "$B/releases/$c" ] && cp -al "$B/releases/$c" "$B/releases/$id.partial" 2>/dev/null && rm -f "$B/releases/$id.partial/.env.local"; then echo "TILL_COPIED $c"; else rm -rf "$B/releases/$id.partial"; fi ;; esac',
  'fi',
  REPORT_STATE,
];

/**
 * Version 2 (what this till sends to a restricted host; others get it fused with the
 * transfer, DEPLOY_PREPARE_RSYNC_SCRIPT): as version 1, plus "$9", the new release's
 * content hash; when the live release has the same one, `<id>.partial` starts as its
 * hard-linked copy. Version 1 stays registered for older controllers.
 */
export const DEPLOY_PREPARE_SCRIPT_V2 = [...PREPARE_V2_LINES, 'exit 0'].join('\n');

function prepareArgs(l: RemoteLayout, p: PrepareParams): string[] {
  return [
    l.path,
    p.id,
    renderLockInfo(p.lock),
    p.lock.run,
    p.forceUnlock ? '1' : '0',
    p.shared.join(' '),
    p.adoptId,
    p.now,
    contentHashOf(p.id),
  ];
}

export function prepareScript(l: RemoteLayout, p: PrepareParams): string {
  return remoteScript(DEPLOY_PREPARE_SCRIPT_V2, prepareArgs(l, p));
}

/**
 * Version 2 fused with the transfer: what `--rsync-path` runs, so staging costs one
 * connection per host instead of two. Its report goes to stderr (stdout is rsync's
 * protocol); then it execs the host's rsync with the server arguments rsync appended,
 * adding `--link-dest=../<current>` unless the release was staged as a hard-linked copy
 * (rsync would look up every file again to link nothing). P is read once. The copy keeps
 * `.env.local` as a hard link until the transfer's `--delete-excluded` removes it, and
 * the switch, which writes the new one, only runs after a complete transfer. A gate does
 * not allow this form: restricted hosts run version 2, then a plain rsync.
 */
export const DEPLOY_PREPARE_RSYNC_SCRIPT = [
  'exec 3>&1 1>&2',
  // A failure before the exec says so (the exec itself runs no trap): not a lost connection.
  `trap 'e=$?; [ "$e" = 0 ] || echo "TILL_EXIT $e"' EXIT`,
  ...PREPARE_BASE,
  // (cl: the shell functions above use $l)
  'cl=; if [ -L "$P" ]; then cl=$(readlink "$P"); fi',
  'cp=; if [ -n "$h" ] && [ -n "$cl" ] && [ ! -d "$B/releases/$id" ] && [ ! -e "$B/releases/$id.partial" ]; then',
  '  c=${cl#"$N.till/releases/"}',
  '  case $c in */*|"$cl") ;; *"-$h") if [ -d "$B/releases/$c" ] && cp -al "$B/releases/$c" "$B/releases/$id.partial" 2>/dev/null; then cp=1; echo "TILL_COPIED $c"; else rm -rf "$B/releases/$id.partial"; fi ;; esac',
  'fi',
  REPORT_STATE.replace('echo "TILL_CURRENT $(readlink "$P")"', 'echo "TILL_CURRENT $cl"'),
  'ld=; if [ -z "$cp" ]; then case $cl in "$N.till/releases/"*/*) ;; "$N.till/releases/"*) ld=${cl#"$N.till/releases/"} ;; esac; fi',
  '[ "$ld" != "$id" ] || ld=',
  'shift 9',
  '[ "${1-}" = --server ] || { echo "TILL_ERROR rsync did not start this script as its server" >&2; exit 23; }',
  'shift',
  'if [ -n "$ld" ]; then exec rsync --server "--link-dest=../$ld" "$@" >&3 3>&-; fi',
  'exec rsync --server "$@" >&3 3>&-',
].join('\n');

/** The `--rsync-path` of a fused staging transfer (see DEPLOY_PREPARE_RSYNC_SCRIPT). */
export function prepareRsyncPath(l: RemoteLayout, p: PrepareParams): string {
  return remoteScript(DEPLOY_PREPARE_RSYNC_SCRIPT, prepareArgs(l, p));
}

/** link-dest for a staging transfer into `releases/<id>.partial`: the current release, a sibling. */
export function linkDestOf(current: string): string {
  return `../${current}`;
}

export interface SwitchParams {
  id: string;
  /** The release to go back to when the check fails (null: none, P is removed). */
  previous: string | null;
  check?: string;
  prune: readonly string[];
  run: string;
  now: string;
  source: string;
  /** Registers the installation with the remote till when it is installed. */
  installation?: string;
  /** Shared paths linked into the release when it is completed here. */
  shared: readonly string[];
  /** The host's `.env.local` for the release. */
  env: string;
}

/** Rewrites releases.log without the pruned ids' lines (ids have no tab or newline); `tab` is how the script gets a tab. */
function dropPrunedFromLog(tab: string): string {
  return `  tab=${tab}; while IFS= read -r l || [ -n "$l" ]; do keep=1; for r in $prune; do case $l in "$r$tab"*) keep= ;; esac; done; [ -z "$keep" ] || printf '%s\\n' "$l"; done < "$B/releases.log" > "$B/releases.log.tmp"; mv -f "$B/releases.log.tmp" "$B/releases.log"`;
}

/** Every switch version's start: lock check, then complete <id>.partial up to its shared links. */
const SWITCH_START = [
  HEAD,
  'id=$2; prev=$3; check=$4; prune=$5; run=$6; now=$7; src=$8; inst=$9; shared=${10}; env=${11}',
  SWITCH_FN,
  LOG_FN,
  'umask 022',
  READ_FNS,
  SHTARGET_FN,
  'till_ours "$run" || { echo "TILL_ERROR the deploy lock is no longer ours" >&2; exit 33; }',
  'if [ ! -d "$B/releases/$id" ]; then',
  '  R=$B/releases/$id.partial',
  '  [ -d "$R" ] || { echo "TILL_ERROR staging directory missing" >&2; exit 31; }',
  `  printf '%s' "$env" > "$R/.env.local" || exit 31`,
  '  set -f; for s in $shared; do',
  '    [ -d "$B/shared/$s" ] || mkdir -p "$B/shared/$s" || exit 31',
];
/** ...and its end: rename to <id>, switch P, run the check (back on failure), mark good. */
const SWITCH_FINISH = [
  '  done; set +f',
  '  mv -T "$R" "$B/releases/$id" || exit 31',
  '  till_log "$id" staged "$now" "$src"',
  'fi',
  'till_switch "$N.till/releases/$id" || exit 32',
  'echo TILL_SWITCHED',
  'if [ -n "$check" ]; then',
  // The user's shell (this one), in the new release; its output goes to stderr so stdout stays markers only.
  '  ( cd "$B/releases/$id" && eval "$check" ) </dev/null >&2; rc=$?',
  '  if [ "$rc" -ne 0 ]; then',
  '    if [ -n "$prev" ]; then till_switch "$N.till/releases/$prev" || exit 32; else rm -f "$P"; fi',
  '    till_log "$id" failed "$now" "$src"',
  '    rm -rf "$B/lock"',
  '    echo "TILL_CHECK_FAILED $rc"',
  '    exit 0',
  '  fi',
  'fi',
  'till_log "$id" good "$now" "$src"',
];
/** Versions 1 and 2 prune one rm per release and rewrite the log with a $(printf) tab. */
const SWITCH_PRUNE_V1 = [
  'if [ -n "$prune" ]; then',
  '  set -f; for r in $prune; do rm -rf "$B/releases/$r" && echo "TILL_PRUNED $r"; done; set +f',
  dropPrunedFromLog("$(printf '\\t')"),
  'fi',
];

/**
 * Phase 2: complete the release when it is still `<id>.partial` (`.env.local`, shared
 * links, the rename to `<id>`: folded in here to spare a round trip per host; it only
 * touches the new release), switch P, run the health check in the new release, switch
 * back and mark the release failed if it fails; otherwise mark it good, prune, register
 * the installation with the remote till, and release the lock.
 * Args: tekton_path, id, previous ('' none), check ('' none), prune ids (space-separated),
 * run, now, source, installation ('' none), shared paths (space-separated), .env.local text.
 */
export const DEPLOY_SWITCH_SCRIPT = [
  ...SWITCH_START,
  '    if [ -e "$R/$s" ] || [ -L "$R/$s" ]; then rm -rf "$R/$s"; fi',
  '    d=$(dirname "$R/$s"); [ -d "$d" ] || mkdir -p "$d" || exit 31',
  '    till_shtarget "$s"; ln -s "$st" "$R/$s" || exit 31',
  ...SWITCH_FINISH,
  ...SWITCH_PRUNE_V1,
  'if [ -n "$inst" ] && [ -x "$HOME/.till/bin/till" ]; then',
  `  if out=$("$HOME/.till/bin/till" installation add "$P" --name "$inst" 2>&1); then echo TILL_REGISTERED; else echo TILL_REGISTER_FAILED; printf '%s\\n' "$out" | head -n 5 | sed 's/^/TILL_REGISTER_ERROR /'; fi`,
  'fi',
  'rm -rf "$B/lock"',
  'echo TILL_DONE',
  'exit 0',
].join('\n');

/** Complete, switch, check, mark good: what versions 2 and 3 share. */
const SWITCH_MAIN = [
  ...SWITCH_START,
  // Already the right link (a release staged as a cp -al copy has them): no forks.
  '    if [ -L "$R/$s" ] && [ "$R/$s" -ef "$B/shared/$s" ]; then continue; fi',
  '    if [ -e "$R/$s" ] || [ -L "$R/$s" ]; then rm -rf "$R/$s"; fi',
  '    case $s in */*) d=$R/${s%/*} ;; *) d=$R ;; esac; [ -d "$d" ] || mkdir -p "$d" || exit 31',
  '    till_shtarget "$s"; ln -s "$st" "$R/$s" || exit 31',
  ...SWITCH_FINISH,
];
/** Register the installation with the host's till, unless P.till/registered says it is. */
const SWITCH_REGISTER = [
  'if [ -n "$inst" ] && [ -x "$HOME/.till/bin/till" ]; then',
  // Registered by an earlier deploy and the registry not changed since: starting the
  // host's till (a node process) again would only say so.
  '  mark="$inst $P"; old=; reg="$HOME/.till/installations.json"',
  '  if [ -f "$B/registered" ]; then IFS= read -r old < "$B/registered" || true; fi',
  '  if [ "$old" = "$mark" ] && [ -f "$reg" ] && [ ! "$reg" -nt "$B/registered" ]; then echo TILL_REGISTERED',
  `  elif out=$("$HOME/.till/bin/till" installation add "$P" --name "$inst" --if-absent 2>&1); then printf '%s\\n' "$mark" > "$B/registered"; echo TILL_REGISTERED; else echo TILL_REGISTER_FAILED; printf '%s\\n' "$out" | head -n 5 | sed 's/^/TILL_REGISTER_ERROR /'; fi`,
  'fi',
];
const SWITCH_V2_LINES = [
  ...SWITCH_MAIN,
  ...SWITCH_PRUNE_V1,
  ...SWITCH_REGISTER,
  'rm -rf "$B/lock"',
  'echo TILL_DONE',
  'exit 0',
];
/**
 * Version 2: as version 1, but a shared path that is already the
 * right link is left alone, no `dirname` process per shared path (on a busy host each
 * fork+exec costs more than the work), and the installation is registered with the
 * host's till only when `P.till/registered` does not already record it (name and path)
 * or the host's registry changed since. Versions 1 and 2 stay registered; this till sends version 3.
 */
export const DEPLOY_SWITCH_SCRIPT_V2 = SWITCH_V2_LINES.join('\n');

/**
 * Version 3 (what this till sends): as version 2 with two processes less per host (on a
 * busy host each fork+exec costs more than the work): the log rewrite's tab is a
 * literal, not a `$(printf)` subshell, and the pruned releases go with the lock, in one
 * `rm -rf` at the end. Versions 1 and 2 stay registered.
 */
export const DEPLOY_SWITCH_SCRIPT_V3 = [
  ...SWITCH_MAIN,
  'if [ -n "$prune" ]; then',
  dropPrunedFromLog("'\t'"),
  'fi',
  ...SWITCH_REGISTER,
  'set -f; set --; for r in $prune; do set -- "$@" "$B/releases/$r"; done',
  'rm -rf "$@" "$B/lock"',
  'for r in $prune; do [ -e "$B/releases/$r" ] || echo "TILL_PRUNED $r"; done; set +f',
  'echo TILL_DONE',
  'exit 0',
].join('\n');

export function switchScript(l: RemoteLayout, p: SwitchParams): string {
  return remoteScript(DEPLOY_SWITCH_SCRIPT_V3, [
    l.path,
    p.id,
    p.previous ?? '',
    p.check ?? '',
    p.prune.join(' '),
    p.run,
    p.now,
    flat(p.source),
    p.installation ?? '',
    p.shared.join(' '),
    p.env,
  ]);
}

/** Releases the lock only if this run holds it (a later deploy's lock is not ours to remove). Args: tekton_path, run. */
export const DEPLOY_UNLOCK_SCRIPT = [
  HEAD,
  READ_FNS,
  'if till_ours "$2"; then rm -rf "$B/lock"; echo TILL_UNLOCKED; fi',
  'exit 0',
].join('\n');

export function unlockScript(l: RemoteLayout, run: string): string {
  return remoteScript(DEPLOY_UNLOCK_SCRIPT, [l.path, run]);
}

/**
 * `host rollback` in one round trip: under the lock, choose the target from till's
 * record (the release that went live most recently, other than the current one,
 * whose last state is good or adopted, and whose directory exists: never directory
 * order, never a failed or rolled-back release), or take `--to`; switch; record.
 * Args: tekton_path, to ('' chooses), lock info, now.
 */
export const ROLLBACK_SCRIPT = [
  HEAD,
  'to=$2; info=$3; now=$4',
  SWITCH_FN,
  LOG_FN,
  READ_FNS,
  '[ -d "$B" ] || mkdir -p "$B"',
  `if ! mkdir "$B/lock" 2>/dev/null; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi`,
  `trap 'rm -rf "$B/lock"' EXIT`,
  `printf '%s' "$info" > "$B/lock/info"`,
  'link=$(readlink "$P" 2>/dev/null || true)',
  'case "$link" in "$N.till/releases/"*) cur=${link#"$N.till/releases/"} ;; *) cur= ;; esac',
  'auto=; if [ -z "$to" ]; then auto=1',
  `  to=$(awk -F '\t' -v cur="$cur" '{ st[$1]=$2; if ($2=="good"||$2=="adopted") ord[$1]=NR } END { for (i in ord) if (i!=cur && (st[i]=="good"||st[i]=="adopted")) print ord[i], i }' "$B/releases.log" 2>/dev/null |`,
  '    sort -rn | while read -r _ id; do if [ -d "$B/releases/$id" ]; then echo "$id"; break; fi; done)',
  'fi',
  'echo "TILL_FROM $cur"',
  '[ -n "$to" ] || { echo TILL_NO_TARGET; exit 0; }',
  '[ "$to" != "$cur" ] || { echo TILL_ALREADY; exit 0; }',
  '[ -d "$B/releases/$to" ] || { echo TILL_NO_SUCH; exit 0; }',
  'till_switch "$N.till/releases/$to" || exit 32',
  // An automatic rollback marks what it left as rolled-back (never chosen again); `--to` is a plain switch.
  `if [ -n "$auto" ] && [ -n "$cur" ]; then till_log "$cur" rolled-back "$now" ''; fi`,
  `till_log "$to" good "$now" ''`,
  'echo "TILL_TO $to"',
  'echo TILL_DONE',
  'exit 0',
].join('\n');

/**
 * Version 2 (what this till sends): as version 1, but the rollback target is found with
 * shell builtins instead of an awk | sort | while pipeline. Version 1 stays registered.
 */
export const ROLLBACK_SCRIPT_V2 = [
  HEAD,
  'to=$2; info=$3; now=$4',
  SWITCH_FN,
  LOG_FN,
  READ_FNS,
  '[ -d "$B" ] || mkdir -p "$B"',
  `if ! mkdir "$B/lock" 2>/dev/null; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi`,
  `trap 'rm -rf "$B/lock"' EXIT`,
  `printf '%s' "$info" > "$B/lock/info"`,
  'link=$(readlink "$P" 2>/dev/null || true)',
  'case "$link" in "$N.till/releases/"*) cur=${link#"$N.till/releases/"} ;; *) cur= ;; esac',
  'auto=; if [ -z "$to" ]; then auto=1',
  // The releases whose last line is good/adopted, in the order they last went live
  // (builtins only: awk, sort and a pipeline cost more processes than the work).
  "  cand=; tab='\t'",
  '  if [ -f "$B/releases.log" ]; then while IFS= read -r l || [ -n "$l" ]; do',
  '    i=${l%%"$tab"*}; r=${l#*"$tab"}; st=${r%%"$tab"*}',
  '    case " $cand " in *" $i "*) c=" $cand "; c="${c%%" $i "*} ${c#*" $i "}"; c=${c# }; cand=${c% } ;; esac',
  '    case $st in good|adopted) cand="${cand:+$cand }$i" ;; esac',
  '  done < "$B/releases.log"; fi',
  '  set -f; for i in $cand; do if [ "$i" != "$cur" ] && [ -d "$B/releases/$i" ]; then to=$i; fi; done; set +f',
  'fi',
  'echo "TILL_FROM $cur"',
  '[ -n "$to" ] || { echo TILL_NO_TARGET; exit 0; }',
  '[ "$to" != "$cur" ] || { echo TILL_ALREADY; exit 0; }',
  '[ -d "$B/releases/$to" ] || { echo TILL_NO_SUCH; exit 0; }',
  'till_switch "$N.till/releases/$to" || exit 32',
  // An automatic rollback marks what it left as rolled-back (never chosen again); `--to` is a plain switch.
  `if [ -n "$auto" ] && [ -n "$cur" ]; then till_log "$cur" rolled-back "$now" ''; fi`,
  `till_log "$to" good "$now" ''`,
  'echo "TILL_TO $to"',
  'echo TILL_DONE',
  'exit 0',
].join('\n');

export function rollbackScript(l: RemoteLayout, p: { to?: string; lock: LockInfo; now: string }): string {
  return remoteScript(ROLLBACK_SCRIPT_V2, [l.path, p.to ?? '', renderLockInfo(p.lock), p.now]);
}

// ---------------------------------------------------------------- parsing

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
  flags: Set<string>;
  values: Map<string, string[]>;
}

/** Parses the marker lines every script prints. */
export function parseMarkers(stdout: string, l: RemoteLayout): RemoteState {
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  for (const raw of stdout.split('\n')) {
    const m = /^TILL_([A-Z_]+)(?: (.*))?$/.exec(raw);
    if (!m) continue;
    const key = m[1]!;
    if (m[2] === undefined) flags.add(key);
    else {
      const list = values.get(key) ?? [];
      list.push(m[2]);
      values.set(key, list);
    }
  }
  const link = values.get('CURRENT')?.[0];
  const prefix = l.linkTarget('');
  const currentId =
    link !== undefined && link.startsWith(prefix) && !link.slice(prefix.length).includes('/')
      ? link.slice(prefix.length)
      : null;
  const log = (values.get('LOG') ?? []).map(parseLogLine).filter((x): x is LogLine => x !== undefined);
  return {
    ...(values.has('HOME_DIR') ? { home: values.get('HOME_DIR')![0] } : {}),
    ...(link !== undefined ? { link } : {}),
    current: currentId,
    plain: flags.has('PLAIN'),
    notDir: flags.has('NOTDIR'),
    dirs: values.get('DIR') ?? [],
    log,
    lockHeld: flags.has('LOCK_HELD') || flags.has('LOCKED'),
    holder: parseLockInfo(values.get('HOLDER') ?? []),
    ...(flags.has('BROKE_LOCK') ? { oldLock: parseLockInfo(values.get('OLDLOCK') ?? []) } : {}),
    ...(values.has('ADOPTED') ? { adopted: values.get('ADOPTED')![0] } : {}),
    complete: flags.has('COMPLETE'),
    locked: flags.has('LOCKED'),
    flags,
    values,
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

/** The host's `.env.local`: the source's values, with TEKTON_ROOT set to the remote path. */
export function renderEnvLocal(sourceEnv: string | undefined, tektonRoot: string): string {
  const lines = (sourceEnv ?? '').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let found = false;
  const out = lines.map((line) => {
    if (/^\s*(export\s+)?TEKTON_ROOT\s*=/.test(line)) {
      found = true;
      return `TEKTON_ROOT=${tektonRoot}`;
    }
    return line;
  });
  if (!found) out.push(`TEKTON_ROOT=${tektonRoot}`);
  return `${out.join('\n')}\n`;
}

/** TEKTON_REGISTRY_NAME from a `.env.local`, if set. */
export function registryNameOf(env: string | undefined): string | undefined {
  const m = /^\s*(?:export\s+)?TEKTON_REGISTRY_NAME\s*=\s*["']?([^"'\s#]+)/m.exec(env ?? '');
  return m?.[1];
}
