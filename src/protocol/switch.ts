import { ARG } from './args.js';
import { parseHookRuns, type HookRun } from './hooks.js';
import { frozen, parseMarkers, type Markers, type Operation } from './wire.js';

/**
 * Phase 2 of a deploy (deploy-switch): the script that moves P, the symlink at
 * tekton_path, to a new release. "$1" is tekton_path as stored. It prints markers
 * (wire.ts): TILL_SWITCHED, TILL_CHECK_FAILED <exit>, TILL_REGISTERED /
 * TILL_REGISTER_FAILED + TILL_REGISTER_ERROR <line>…, TILL_PRUNED <id>…, TILL_DONE; since
 * v5 also TILL_HELD + TILL_HOLD <line>… (a manual lock), TILL_HOOK_FAILED <name> and the
 * hook markers of hooks.ts; and TILL_ERROR <why> on stderr. Going back (`host rollback`,
 * a progressive run's deploy-revert) is rollback.ts.
 *
 * Since deploy-switch-v4 a release is a real directory: a release name that is a symlink
 * (an upload may plant one) is never switched to, written into or completed;
 * `.env.local` is written to a new file in P.till and renamed into the release; a shared
 * link is only made where every folder on its way is a real one.
 */

export interface SwitchParams {
  path: string;
  id: string;
  /** The release to go back to when the check fails ('' none: P is removed). */
  previous: string;
  /** '' for none. */
  check: string;
  prune: readonly string[];
  run: string;
  now: string;
  /** The release's source, for releases.log (one line, no control characters). */
  source: string;
  /** Registers the installation with the remote till when it is installed ('' none). */
  installation: string;
  /** Shared paths linked into the release when it is completed here. */
  shared: readonly string[];
  /** The host's `.env.local` for the release. */
  env: string;
  /** Who deploys what, for the release record (since deploy-switch-v5). */
  record: RecordParams;
  /** The release's hooks (`.till/hooks/*`, since deploy-switch-v5). */
  hooks: HookParams;
  /** Keep the deploy lock after the switch: a progressive run may still switch this host back (deploy-revert). */
  keepLock: boolean;
}

/** What a release record says about the deploy (or rollback) that wrote it. */
export interface RecordParams {
  /** The host's name in till's inventory (a hook's TILL_HOST). */
  host: string;
  /** `user@machine` of the controller. */
  deployer: string;
  /** The source's git commit, or '' when it is not a git checkout. */
  commit: string;
  /** '1' uncommitted changes, '0' none, '' not a git checkout. */
  dirty: '' | '0' | '1';
  /** `-m/--message`, or ''. */
  message: string;
}

export interface HookParams {
  /** Run the release's hooks (false: --no-hooks, or the host does not allow them; a hook found is reported skipped). */
  run: boolean;
  /** Each hook's bound, in seconds (`timeout -k 10`). */
  timeoutSec: number;
}

const SWITCH_ARGS = [
  ARG.deployRoot,
  ARG.releaseId,
  ARG.releaseIdOrEmpty,
  ARG.check,
  ARG.releaseIds,
  ARG.runId,
  ARG.time,
  ARG.label,
  ARG.installationOrEmpty,
  ARG.sharedPaths,
  ARG.envFile,
] as const;

const SWITCH_V5_ARGS = [
  ...SWITCH_ARGS,
  ARG.hostName,
  ARG.deployer,
  ARG.commitOrEmpty,
  ARG.dirty,
  ARG.message,
  ARG.hooks,
  ARG.hookTimeout,
  ARG.flag,
] as const;

const switchArgs = (p: SwitchParams) => [
  p.path,
  p.id,
  p.previous,
  p.check,
  p.prune.join(' '),
  p.run,
  p.now,
  p.source,
  p.installation,
  p.shared.join(' '),
  p.env,
];

const switchV5Args = (p: SwitchParams) => [
  ...switchArgs(p),
  p.record.host,
  p.record.deployer,
  p.record.commit,
  p.record.dirty,
  p.record.message,
  p.hooks.run ? '1' : '0',
  String(p.hooks.timeoutSec),
  p.keepLock ? '1' : '0',
];

export interface SwitchReport {
  switched: boolean;
  done: boolean;
  /** The check's exit code when it failed (the host was switched back). */
  checkFailed?: number;
  /** The hook that failed (`pre-switch`: not switched; `post-switch`: switched back). */
  hookFailed?: string;
  /** A manual lock (`till host lock`) stopped it: its info lines. */
  held?: string[];
  /** What each hook did, in the order they ran. */
  hooks: HookRun[];
  registered: boolean | null;
  registerErrors: string[];
  pruned: string[];
  markers: Markers;
}

export function parseSwitchReport(stdout: string): SwitchReport {
  const m = parseMarkers(stdout);
  const failed = m.values.get('CHECK_FAILED')?.[0];
  const hookFailed = m.values.get('HOOK_FAILED')?.[0];
  return {
    switched: m.flags.has('SWITCHED'),
    done: m.flags.has('DONE'),
    ...(failed !== undefined ? { checkFailed: Number(failed) } : {}),
    ...(hookFailed !== undefined ? { hookFailed } : {}),
    ...(m.flags.has('HELD') ? { held: m.values.get('HOLD') ?? [] } : {}),
    hooks: parseHookRuns(m),
    registered: m.flags.has('REGISTERED') ? true : m.flags.has('REGISTER_FAILED') ? false : null,
    registerErrors: m.values.get('REGISTER_ERROR') ?? [],
    pruned: m.values.get('PRUNED') ?? [],
    markers: m,
  };
}

/**
 * Completes the release when it is still `<id>.partial` (`.env.local`, shared links,
 * the rename to `<id>`), switches P, runs the health check in the new release, switches
 * back and marks the release failed if it fails; otherwise marks it good, prunes,
 * registers the installation with the host's till, and releases the lock.
 * v2: a shared link that is already right is left alone, no `dirname` per shared path,
 * and the installation is registered only when P.till/registered does not say so.
 * v3: the pruned releases go with the lock in one `rm -rf`, the log's tab is a literal.
 * v4: never follows a symlink it did not make (see above).
 * v5 (what this till sends): refuses a host under a manual lock (P.till/hold, `till host
 * lock`); runs the release's hooks (`pre-switch` before the switch: a failure leaves the
 * host where it was; `post-switch` after it: a failure switches back like a failed check,
 * then `post-rollback` runs in the release switched back to), when "$17" is 1, each bound
 * by `timeout` ("$18" seconds); writes releases.log lines of nine fields (id, state, time,
 * source, deployer, commit, dirty, message, hook outcomes); and, with "$19" = 1, keeps the
 * deploy lock for the run to release (a progressive run may still switch the host back).
 */
export const deploySwitch: Operation<SwitchParams, SwitchReport> = {
  name: 'deploy-switch',
  versions: [
    {
      name: 'deploy-switch-v5',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; prev=$3; check=$4; prune=$5; run=$6; now=$7; src=$8; inst=$9; shared=\${10}; env=\${11}
host=\${12}; who=\${13}; commit=\${14}; dirty=\${15}; msg=\${16}; hooks=\${17}; tmo=\${18}; keep=\${19}
hk=
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$now" "$3" "$who" "$4" "$5" "$msg" "$hk" >> "$B/releases.log"; }
umask 022
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
till_release() { [ -d "$B/releases/$1" ] && [ ! -L "$B/releases/$1" ]; }
till_hook() {
  hn=$1; hd=$B/releases/$2; hf=$hd/.till/hooks/$1; hw=
  if [ -L "$hd/.till" ] || [ -L "$hd/.till/hooks" ] || [ -L "$hf" ]; then
    [ -e "$hf" ] || [ -L "$hf" ] || return 0
    hw='it is a symlink or lies behind one (a hook is never followed out of its release)'
  elif [ ! -e "$hf" ]; then return 0
  elif [ ! -f "$hf" ]; then hw='it is not a regular file'
  elif [ ! -x "$hf" ]; then hw='it is not executable (chmod +x it)'
  elif ! command -v timeout >/dev/null 2>&1; then hw='timeout(1) is not installed on the host'
  fi
  if [ "$hooks" != 1 ]; then echo "TILL_HOOK $hn skipped 0"; hk="\${hk:+$hk }$hn=skipped"; return 0; fi
  if [ -n "$hw" ]; then echo "TILL_HOOK $hn refused 0"; echo "TILL_HOOK_WHY $hn $hw"; hk="\${hk:+$hk }$hn=refused"; return 1; fi
  [ -d "$B/hook-output" ] || mkdir "$B/hook-output" || return 1
  ht=$B/hook-output/.run-$$; hs=$(date +%s)
  ( cd "$hd" || exit 126; TILL_HOST=$host; TILL_RELEASE=$2; TILL_PREVIOUS_RELEASE=$3; TILL_TEKTON_PATH=$P; TILL_DEPLOYER=$who; export TILL_HOST TILL_RELEASE TILL_PREVIOUS_RELEASE TILL_TEKTON_PATH TILL_DEPLOYER; exec timeout -k 10 "$tmo" "./.till/hooks/$hn" ) </dev/null >"$ht" 2>&1; hc=$?
  he=$(( $(date +%s) - hs ))
  head -c 16384 "$ht" > "$B/hook-output/$2.$hn"; hb=$(wc -c < "$ht"); rm -f "$ht"
  if [ "$hc" = 0 ]; then hr=ok; elif { [ "$hc" = 124 ] || [ "$hc" = 137 ]; } && [ "$he" -ge "$tmo" ]; then hr=timeout; else hr=$hc; fi
  echo "TILL_HOOK $hn $hr $he"
  [ $((hb)) -le 16384 ] || echo "TILL_HOOK_CUT $hn"
  while IFS= read -r l || [ -n "$l" ]; do printf 'TILL_HOOK_OUT %s %s\\n' "$hn" "$l"; done < "$B/hook-output/$2.$hn"
  hk="\${hk:+$hk }$hn=$hr"
  [ "$hr" = ok ]
}
till_unlock() { [ "$keep" = 1 ] || rm -rf "$B/lock"; }
till_ours "$run" || { echo "TILL_ERROR the deploy lock is no longer ours" >&2; exit 33; }
if [ -d "$B/hold" ]; then echo TILL_HELD; till_prefix TILL_HOLD "$B/hold/info"; exit 24; fi
case $inst in -*|*[!A-Za-z0-9._-]*) echo "TILL_ERROR not an installation name: $inst" >&2; exit 31 ;; esac
if [ -L "$B/releases/$id" ]; then echo "TILL_ERROR release $id is a symlink (not made by till)" >&2; exit 31; fi
if [ ! -d "$B/releases/$id" ]; then
  R=$B/releases/$id.partial
  if [ -L "$R" ] || [ ! -d "$R" ]; then echo "TILL_ERROR staging directory missing (or a symlink)" >&2; exit 31; fi
  e=$B/env.till-$$
  rm -f "$e" && printf '%s' "$env" > "$e" && mv -T "$e" "$R/.env.local" || { rm -f "$e"; exit 31; }
  set -f; for s in $shared; do
    [ -d "$B/shared/$s" ] || mkdir -p "$B/shared/$s" || exit 31
    d=$R; r=$s
    while :; do case $r in */*) d=$d/\${r%%/*}; r=\${r#*/}
      if [ -L "$d" ]; then echo "TILL_ERROR shared path $s: $d is a symlink" >&2; exit 31; fi
      [ -d "$d" ] || mkdir "$d" || exit 31 ;; *) break ;; esac; done
    if [ -L "$R/$s" ] && [ "$R/$s" -ef "$B/shared/$s" ]; then continue; fi
    if [ -e "$R/$s" ] || [ -L "$R/$s" ]; then rm -rf "$R/$s"; fi
    till_shtarget "$s"; ln -s "$st" "$R/$s" || exit 31
  done; set +f
  mv -T "$R" "$B/releases/$id" || exit 31
  till_log "$id" staged "$src" "$commit" "$dirty"
fi
if ! till_hook pre-switch "$id" "$prev"; then
  till_log "$id" failed "$src" "$commit" "$dirty"
  till_unlock
  echo "TILL_HOOK_FAILED pre-switch"
  exit 0
fi
till_switch "$N.till/releases/$id" || exit 32
echo TILL_SWITCHED
bad=
till_hook post-switch "$id" "$prev" || bad=post-switch
if [ -z "$bad" ] && [ -n "$check" ]; then
  ( cd "$B/releases/$id" && eval "$check" ) </dev/null >&2; rc=$?
  if [ "$rc" -ne 0 ]; then bad=check; echo "TILL_CHECK_FAILED $rc"; fi
fi
if [ -n "$bad" ]; then
  back=; if [ -n "$prev" ] && till_release "$prev"; then till_switch "$N.till/releases/$prev" || exit 32; back=1; else rm -f "$P"; fi
  till_log "$id" failed "$src" "$commit" "$dirty"
  if [ -n "$back" ]; then hk=; till_hook post-rollback "$prev" "$id" || :; till_log "$prev" good '' '' ''; fi
  till_unlock
  [ "$bad" = check ] || echo "TILL_HOOK_FAILED $bad"
  exit 0
fi
till_log "$id" good "$src" "$commit" "$dirty"
if [ -n "$prune" ]; then
  tab='\t'; while IFS= read -r l || [ -n "$l" ]; do keep_l=1; for r in $prune; do case $l in "$r$tab"*) keep_l= ;; esac; done; [ -z "$keep_l" ] || printf '%s\\n' "$l"; done < "$B/releases.log" > "$B/releases.log.tmp"; mv -f "$B/releases.log.tmp" "$B/releases.log"
fi
if [ -n "$inst" ] && [ -x "$HOME/.till/bin/till" ]; then
  mark="$inst $P"; old=; reg="$HOME/.till/installations.json"
  if [ -f "$B/registered" ]; then IFS= read -r old < "$B/registered" || true; fi
  if [ "$old" = "$mark" ] && [ -f "$reg" ] && [ ! "$reg" -nt "$B/registered" ]; then echo TILL_REGISTERED
  elif out=$("$HOME/.till/bin/till" installation add "$P" --name "$inst" --if-absent 2>&1); then printf '%s\\n' "$mark" > "$B/registered"; echo TILL_REGISTERED; else echo TILL_REGISTER_FAILED; printf '%s\\n' "$out" | head -n 5 | sed 's/^/TILL_REGISTER_ERROR /'; fi
fi
set -f; set --; for r in $prune; do set -- "$@" "$B/releases/$r" "$B/hook-output/$r.pre-switch" "$B/hook-output/$r.post-switch" "$B/hook-output/$r.post-rollback"; done
[ "$keep" = 1 ] || set -- "$@" "$B/lock"
rm -rf "$@"
for r in $prune; do [ -e "$B/releases/$r" ] || [ -L "$B/releases/$r" ] || echo "TILL_PRUNED $r"; done; set +f
echo TILL_DONE
exit 0
`),
      args: SWITCH_V5_ARGS,
      encode: switchV5Args,
    },
    {
      name: 'deploy-switch-v4',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; prev=$3; check=$4; prune=$5; run=$6; now=$7; src=$8; inst=$9; shared=\${10}; env=\${11}
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
umask 022
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
till_release() { [ -d "$B/releases/$1" ] && [ ! -L "$B/releases/$1" ]; }
till_ours "$run" || { echo "TILL_ERROR the deploy lock is no longer ours" >&2; exit 33; }
case $inst in -*|*[!A-Za-z0-9._-]*) echo "TILL_ERROR not an installation name: $inst" >&2; exit 31 ;; esac
if [ -L "$B/releases/$id" ]; then echo "TILL_ERROR release $id is a symlink (not made by till)" >&2; exit 31; fi
if [ ! -d "$B/releases/$id" ]; then
  R=$B/releases/$id.partial
  if [ -L "$R" ] || [ ! -d "$R" ]; then echo "TILL_ERROR staging directory missing (or a symlink)" >&2; exit 31; fi
  e=$B/env.till-$$
  rm -f "$e" && printf '%s' "$env" > "$e" && mv -T "$e" "$R/.env.local" || { rm -f "$e"; exit 31; }
  set -f; for s in $shared; do
    [ -d "$B/shared/$s" ] || mkdir -p "$B/shared/$s" || exit 31
    d=$R; r=$s
    while :; do case $r in */*) d=$d/\${r%%/*}; r=\${r#*/}
      if [ -L "$d" ]; then echo "TILL_ERROR shared path $s: $d is a symlink" >&2; exit 31; fi
      [ -d "$d" ] || mkdir "$d" || exit 31 ;; *) break ;; esac; done
    if [ -L "$R/$s" ] && [ "$R/$s" -ef "$B/shared/$s" ]; then continue; fi
    if [ -e "$R/$s" ] || [ -L "$R/$s" ]; then rm -rf "$R/$s"; fi
    till_shtarget "$s"; ln -s "$st" "$R/$s" || exit 31
  done; set +f
  mv -T "$R" "$B/releases/$id" || exit 31
  till_log "$id" staged "$now" "$src"
fi
till_switch "$N.till/releases/$id" || exit 32
echo TILL_SWITCHED
if [ -n "$check" ]; then
  ( cd "$B/releases/$id" && eval "$check" ) </dev/null >&2; rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ -n "$prev" ] && till_release "$prev"; then till_switch "$N.till/releases/$prev" || exit 32; else rm -f "$P"; fi
    till_log "$id" failed "$now" "$src"
    rm -rf "$B/lock"
    echo "TILL_CHECK_FAILED $rc"
    exit 0
  fi
fi
till_log "$id" good "$now" "$src"
if [ -n "$prune" ]; then
  tab='\t'; while IFS= read -r l || [ -n "$l" ]; do keep=1; for r in $prune; do case $l in "$r$tab"*) keep= ;; esac; done; [ -z "$keep" ] || printf '%s\\n' "$l"; done < "$B/releases.log" > "$B/releases.log.tmp"; mv -f "$B/releases.log.tmp" "$B/releases.log"
fi
if [ -n "$inst" ] && [ -x "$HOME/.till/bin/till" ]; then
  mark="$inst $P"; old=; reg="$HOME/.till/installations.json"
  if [ -f "$B/registered" ]; then IFS= read -r old < "$B/registered" || true; fi
  if [ "$old" = "$mark" ] && [ -f "$reg" ] && [ ! "$reg" -nt "$B/registered" ]; then echo TILL_REGISTERED
  elif out=$("$HOME/.till/bin/till" installation add "$P" --name "$inst" --if-absent 2>&1); then printf '%s\\n' "$mark" > "$B/registered"; echo TILL_REGISTERED; else echo TILL_REGISTER_FAILED; printf '%s\\n' "$out" | head -n 5 | sed 's/^/TILL_REGISTER_ERROR /'; fi
fi
set -f; set --; for r in $prune; do set -- "$@" "$B/releases/$r"; done
rm -rf "$@" "$B/lock"
for r in $prune; do [ -e "$B/releases/$r" ] || [ -L "$B/releases/$r" ] || echo "TILL_PRUNED $r"; done; set +f
echo TILL_DONE
exit 0
`),
      args: SWITCH_ARGS,
      encode: switchArgs,
    },
    {
      name: 'deploy-switch-v3',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; prev=$3; check=$4; prune=$5; run=$6; now=$7; src=$8; inst=$9; shared=\${10}; env=\${11}
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
umask 022
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
till_ours "$run" || { echo "TILL_ERROR the deploy lock is no longer ours" >&2; exit 33; }
if [ ! -d "$B/releases/$id" ]; then
  R=$B/releases/$id.partial
  [ -d "$R" ] || { echo "TILL_ERROR staging directory missing" >&2; exit 31; }
  printf '%s' "$env" > "$R/.env.local" || exit 31
  set -f; for s in $shared; do
    [ -d "$B/shared/$s" ] || mkdir -p "$B/shared/$s" || exit 31
    if [ -L "$R/$s" ] && [ "$R/$s" -ef "$B/shared/$s" ]; then continue; fi
    if [ -e "$R/$s" ] || [ -L "$R/$s" ]; then rm -rf "$R/$s"; fi
    case $s in */*) d=$R/\${s%/*} ;; *) d=$R ;; esac; [ -d "$d" ] || mkdir -p "$d" || exit 31
    till_shtarget "$s"; ln -s "$st" "$R/$s" || exit 31
  done; set +f
  mv -T "$R" "$B/releases/$id" || exit 31
  till_log "$id" staged "$now" "$src"
fi
till_switch "$N.till/releases/$id" || exit 32
echo TILL_SWITCHED
if [ -n "$check" ]; then
  ( cd "$B/releases/$id" && eval "$check" ) </dev/null >&2; rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ -n "$prev" ]; then till_switch "$N.till/releases/$prev" || exit 32; else rm -f "$P"; fi
    till_log "$id" failed "$now" "$src"
    rm -rf "$B/lock"
    echo "TILL_CHECK_FAILED $rc"
    exit 0
  fi
fi
till_log "$id" good "$now" "$src"
if [ -n "$prune" ]; then
  tab='\t'; while IFS= read -r l || [ -n "$l" ]; do keep=1; for r in $prune; do case $l in "$r$tab"*) keep= ;; esac; done; [ -z "$keep" ] || printf '%s\\n' "$l"; done < "$B/releases.log" > "$B/releases.log.tmp"; mv -f "$B/releases.log.tmp" "$B/releases.log"
fi
if [ -n "$inst" ] && [ -x "$HOME/.till/bin/till" ]; then
  mark="$inst $P"; old=; reg="$HOME/.till/installations.json"
  if [ -f "$B/registered" ]; then IFS= read -r old < "$B/registered" || true; fi
  if [ "$old" = "$mark" ] && [ -f "$reg" ] && [ ! "$reg" -nt "$B/registered" ]; then echo TILL_REGISTERED
  elif out=$("$HOME/.till/bin/till" installation add "$P" --name "$inst" --if-absent 2>&1); then printf '%s\\n' "$mark" > "$B/registered"; echo TILL_REGISTERED; else echo TILL_REGISTER_FAILED; printf '%s\\n' "$out" | head -n 5 | sed 's/^/TILL_REGISTER_ERROR /'; fi
fi
set -f; set --; for r in $prune; do set -- "$@" "$B/releases/$r"; done
rm -rf "$@" "$B/lock"
for r in $prune; do [ -e "$B/releases/$r" ] || echo "TILL_PRUNED $r"; done; set +f
echo TILL_DONE
exit 0
`),
      args: SWITCH_ARGS,
      encode: switchArgs,
      retired: 'it writes .env.local, and links shared paths, through symlinks an upload may plant',
    },
    {
      name: 'deploy-switch-v2',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; prev=$3; check=$4; prune=$5; run=$6; now=$7; src=$8; inst=$9; shared=\${10}; env=\${11}
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
umask 022
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
till_ours "$run" || { echo "TILL_ERROR the deploy lock is no longer ours" >&2; exit 33; }
if [ ! -d "$B/releases/$id" ]; then
  R=$B/releases/$id.partial
  [ -d "$R" ] || { echo "TILL_ERROR staging directory missing" >&2; exit 31; }
  printf '%s' "$env" > "$R/.env.local" || exit 31
  set -f; for s in $shared; do
    [ -d "$B/shared/$s" ] || mkdir -p "$B/shared/$s" || exit 31
    if [ -L "$R/$s" ] && [ "$R/$s" -ef "$B/shared/$s" ]; then continue; fi
    if [ -e "$R/$s" ] || [ -L "$R/$s" ]; then rm -rf "$R/$s"; fi
    case $s in */*) d=$R/\${s%/*} ;; *) d=$R ;; esac; [ -d "$d" ] || mkdir -p "$d" || exit 31
    till_shtarget "$s"; ln -s "$st" "$R/$s" || exit 31
  done; set +f
  mv -T "$R" "$B/releases/$id" || exit 31
  till_log "$id" staged "$now" "$src"
fi
till_switch "$N.till/releases/$id" || exit 32
echo TILL_SWITCHED
if [ -n "$check" ]; then
  ( cd "$B/releases/$id" && eval "$check" ) </dev/null >&2; rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ -n "$prev" ]; then till_switch "$N.till/releases/$prev" || exit 32; else rm -f "$P"; fi
    till_log "$id" failed "$now" "$src"
    rm -rf "$B/lock"
    echo "TILL_CHECK_FAILED $rc"
    exit 0
  fi
fi
till_log "$id" good "$now" "$src"
if [ -n "$prune" ]; then
  set -f; for r in $prune; do rm -rf "$B/releases/$r" && echo "TILL_PRUNED $r"; done; set +f
  tab=$(printf '\\t'); while IFS= read -r l || [ -n "$l" ]; do keep=1; for r in $prune; do case $l in "$r$tab"*) keep= ;; esac; done; [ -z "$keep" ] || printf '%s\\n' "$l"; done < "$B/releases.log" > "$B/releases.log.tmp"; mv -f "$B/releases.log.tmp" "$B/releases.log"
fi
if [ -n "$inst" ] && [ -x "$HOME/.till/bin/till" ]; then
  mark="$inst $P"; old=; reg="$HOME/.till/installations.json"
  if [ -f "$B/registered" ]; then IFS= read -r old < "$B/registered" || true; fi
  if [ "$old" = "$mark" ] && [ -f "$reg" ] && [ ! "$reg" -nt "$B/registered" ]; then echo TILL_REGISTERED
  elif out=$("$HOME/.till/bin/till" installation add "$P" --name "$inst" --if-absent 2>&1); then printf '%s\\n' "$mark" > "$B/registered"; echo TILL_REGISTERED; else echo TILL_REGISTER_FAILED; printf '%s\\n' "$out" | head -n 5 | sed 's/^/TILL_REGISTER_ERROR /'; fi
fi
rm -rf "$B/lock"
echo TILL_DONE
exit 0
`),
      args: SWITCH_ARGS,
      encode: switchArgs,
      retired: 'it writes .env.local, and links shared paths, through symlinks an upload may plant',
    },
    {
      name: 'deploy-switch',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; prev=$3; check=$4; prune=$5; run=$6; now=$7; src=$8; inst=$9; shared=\${10}; env=\${11}
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
umask 022
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
till_ours "$run" || { echo "TILL_ERROR the deploy lock is no longer ours" >&2; exit 33; }
if [ ! -d "$B/releases/$id" ]; then
  R=$B/releases/$id.partial
  [ -d "$R" ] || { echo "TILL_ERROR staging directory missing" >&2; exit 31; }
  printf '%s' "$env" > "$R/.env.local" || exit 31
  set -f; for s in $shared; do
    [ -d "$B/shared/$s" ] || mkdir -p "$B/shared/$s" || exit 31
    if [ -e "$R/$s" ] || [ -L "$R/$s" ]; then rm -rf "$R/$s"; fi
    d=$(dirname "$R/$s"); [ -d "$d" ] || mkdir -p "$d" || exit 31
    till_shtarget "$s"; ln -s "$st" "$R/$s" || exit 31
  done; set +f
  mv -T "$R" "$B/releases/$id" || exit 31
  till_log "$id" staged "$now" "$src"
fi
till_switch "$N.till/releases/$id" || exit 32
echo TILL_SWITCHED
if [ -n "$check" ]; then
  ( cd "$B/releases/$id" && eval "$check" ) </dev/null >&2; rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ -n "$prev" ]; then till_switch "$N.till/releases/$prev" || exit 32; else rm -f "$P"; fi
    till_log "$id" failed "$now" "$src"
    rm -rf "$B/lock"
    echo "TILL_CHECK_FAILED $rc"
    exit 0
  fi
fi
till_log "$id" good "$now" "$src"
if [ -n "$prune" ]; then
  set -f; for r in $prune; do rm -rf "$B/releases/$r" && echo "TILL_PRUNED $r"; done; set +f
  tab=$(printf '\\t'); while IFS= read -r l || [ -n "$l" ]; do keep=1; for r in $prune; do case $l in "$r$tab"*) keep= ;; esac; done; [ -z "$keep" ] || printf '%s\\n' "$l"; done < "$B/releases.log" > "$B/releases.log.tmp"; mv -f "$B/releases.log.tmp" "$B/releases.log"
fi
if [ -n "$inst" ] && [ -x "$HOME/.till/bin/till" ]; then
  if out=$("$HOME/.till/bin/till" installation add "$P" --name "$inst" 2>&1); then echo TILL_REGISTERED; else echo TILL_REGISTER_FAILED; printf '%s\\n' "$out" | head -n 5 | sed 's/^/TILL_REGISTER_ERROR /'; fi
fi
rm -rf "$B/lock"
echo TILL_DONE
exit 0
`),
      args: SWITCH_ARGS,
      encode: switchArgs,
      retired: 'it writes .env.local, and links shared paths, through symlinks an upload may plant',
    },
  ],
  parse: parseSwitchReport,
};
