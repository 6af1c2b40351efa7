import { ARG } from './args.js';
import { frozen, parseMarkers, type Markers, type Operation } from './wire.js';

/**
 * Phase 2 of a deploy (deploy-switch) and `host rollback`: the scripts that move P, the
 * symlink at tekton_path, between releases. "$1" is tekton_path as stored. They print
 * markers (wire.ts): TILL_SWITCHED, TILL_CHECK_FAILED <exit>, TILL_REGISTERED /
 * TILL_REGISTER_FAILED + TILL_REGISTER_ERROR <line>…, TILL_PRUNED <id>…, TILL_DONE;
 * rollback TILL_LOCKED + TILL_HOLDER …, TILL_FROM <id>, TILL_TO <id>, TILL_NO_TARGET,
 * TILL_ALREADY, TILL_NO_SUCH; and TILL_ERROR <why> on stderr.
 *
 * Since deploy-switch-v4 and rollback-v3 a release is a real directory: a release name
 * that is a symlink (an upload may plant one) is never switched to, written into or
 * completed; `.env.local` is written to a new file in P.till and renamed into the
 * release; a shared link is only made where every folder on its way is a real one.
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

export interface SwitchReport {
  switched: boolean;
  done: boolean;
  /** The check's exit code when it failed (the host was switched back). */
  checkFailed?: number;
  registered: boolean | null;
  registerErrors: string[];
  pruned: string[];
  markers: Markers;
}

export function parseSwitchReport(stdout: string): SwitchReport {
  const m = parseMarkers(stdout);
  const failed = m.values.get('CHECK_FAILED')?.[0];
  return {
    switched: m.flags.has('SWITCHED'),
    done: m.flags.has('DONE'),
    ...(failed !== undefined ? { checkFailed: Number(failed) } : {}),
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
 * v4 (what this till sends): never follows a symlink it did not make (see above).
 */
export const deploySwitch: Operation<SwitchParams, SwitchReport> = {
  name: 'deploy-switch',
  versions: [
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

export interface RollbackParams {
  path: string;
  /** '' chooses: the release that went live most recently, other than the current one. */
  to: string;
  lockInfo: string;
  now: string;
}

const ROLLBACK_ARGS = [ARG.deployRoot, ARG.releaseIdOrEmpty, ARG.lockInfo, ARG.time] as const;
const rollbackArgs = (p: RollbackParams) => [p.path, p.to, p.lockInfo, p.now];

export interface RollbackReport {
  locked: boolean;
  holderLines: string[];
  from: string | null;
  to: string | null;
  noTarget: boolean;
  already: boolean;
  noSuch: boolean;
  done: boolean;
}

export function parseRollbackReport(stdout: string): RollbackReport {
  const m = parseMarkers(stdout);
  const from = m.values.get('FROM')?.[0];
  return {
    locked: m.flags.has('LOCKED'),
    holderLines: m.values.get('HOLDER') ?? [],
    from: from === undefined || from === '' ? null : from,
    to: m.values.get('TO')?.[0] ?? null,
    noTarget: m.flags.has('NO_TARGET'),
    already: m.flags.has('ALREADY'),
    noSuch: m.flags.has('NO_SUCH'),
    done: m.flags.has('DONE'),
  };
}

/**
 * `host rollback` in one round trip: under the lock, choose the target from till's
 * record (the release that went live most recently, other than the current one, whose
 * last state is good or adopted, and whose directory exists: never directory order,
 * never a failed or rolled-back release), or take `--to`; switch; record.
 * v2: the target is found with shell builtins instead of awk | sort | while.
 * v3 (what this till sends): a release name that is a symlink is no release.
 */
export const rollback: Operation<RollbackParams, RollbackReport> = {
  name: 'rollback',
  versions: [
    {
      name: 'rollback-v3',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
to=$2; info=$3; now=$4
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_release() { case $1 in ''|.*|*/*) return 1 ;; esac; [ -d "$B/releases/$1" ] && [ ! -L "$B/releases/$1" ]; }
[ -d "$B" ] || mkdir -p "$B"
if ! mkdir "$B/lock" 2>/dev/null; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi
trap 'rm -rf "$B/lock"' EXIT
printf '%s' "$info" > "$B/lock/info"
link=$(readlink "$P" 2>/dev/null || true)
case "$link" in "$N.till/releases/"*) cur=\${link#"$N.till/releases/"} ;; *) cur= ;; esac
auto=; if [ -z "$to" ]; then auto=1
  cand=; tab='\t'
  if [ -f "$B/releases.log" ]; then while IFS= read -r l || [ -n "$l" ]; do
    i=\${l%%"$tab"*}; r=\${l#*"$tab"}; st=\${r%%"$tab"*}
    case " $cand " in *" $i "*) c=" $cand "; c="\${c%%" $i "*} \${c#*" $i "}"; c=\${c# }; cand=\${c% } ;; esac
    case $st in good|adopted) cand="\${cand:+$cand }$i" ;; esac
  done < "$B/releases.log"; fi
  set -f; for i in $cand; do if [ "$i" != "$cur" ] && till_release "$i"; then to=$i; fi; done; set +f
fi
echo "TILL_FROM $cur"
[ -n "$to" ] || { echo TILL_NO_TARGET; exit 0; }
[ "$to" != "$cur" ] || { echo TILL_ALREADY; exit 0; }
till_release "$to" || { echo TILL_NO_SUCH; exit 0; }
till_switch "$N.till/releases/$to" || exit 32
if [ -n "$auto" ] && [ -n "$cur" ]; then till_log "$cur" rolled-back "$now" ''; fi
till_log "$to" good "$now" ''
echo "TILL_TO $to"
echo TILL_DONE
exit 0
`),
      args: ROLLBACK_ARGS,
      encode: rollbackArgs,
    },
    {
      name: 'rollback-v2',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
to=$2; info=$3; now=$4
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
[ -d "$B" ] || mkdir -p "$B"
if ! mkdir "$B/lock" 2>/dev/null; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi
trap 'rm -rf "$B/lock"' EXIT
printf '%s' "$info" > "$B/lock/info"
link=$(readlink "$P" 2>/dev/null || true)
case "$link" in "$N.till/releases/"*) cur=\${link#"$N.till/releases/"} ;; *) cur= ;; esac
auto=; if [ -z "$to" ]; then auto=1
  cand=; tab='\t'
  if [ -f "$B/releases.log" ]; then while IFS= read -r l || [ -n "$l" ]; do
    i=\${l%%"$tab"*}; r=\${l#*"$tab"}; st=\${r%%"$tab"*}
    case " $cand " in *" $i "*) c=" $cand "; c="\${c%%" $i "*} \${c#*" $i "}"; c=\${c# }; cand=\${c% } ;; esac
    case $st in good|adopted) cand="\${cand:+$cand }$i" ;; esac
  done < "$B/releases.log"; fi
  set -f; for i in $cand; do if [ "$i" != "$cur" ] && [ -d "$B/releases/$i" ]; then to=$i; fi; done; set +f
fi
echo "TILL_FROM $cur"
[ -n "$to" ] || { echo TILL_NO_TARGET; exit 0; }
[ "$to" != "$cur" ] || { echo TILL_ALREADY; exit 0; }
[ -d "$B/releases/$to" ] || { echo TILL_NO_SUCH; exit 0; }
till_switch "$N.till/releases/$to" || exit 32
if [ -n "$auto" ] && [ -n "$cur" ]; then till_log "$cur" rolled-back "$now" ''; fi
till_log "$to" good "$now" ''
echo "TILL_TO $to"
echo TILL_DONE
exit 0
`),
      args: ROLLBACK_ARGS,
      encode: rollbackArgs,
      retired: 'it switches to a release name that is a symlink an upload may plant',
    },
    {
      name: 'rollback',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
to=$2; info=$3; now=$4
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
[ -d "$B" ] || mkdir -p "$B"
if ! mkdir "$B/lock" 2>/dev/null; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi
trap 'rm -rf "$B/lock"' EXIT
printf '%s' "$info" > "$B/lock/info"
link=$(readlink "$P" 2>/dev/null || true)
case "$link" in "$N.till/releases/"*) cur=\${link#"$N.till/releases/"} ;; *) cur= ;; esac
auto=; if [ -z "$to" ]; then auto=1
  to=$(awk -F '\t' -v cur="$cur" '{ st[$1]=$2; if ($2=="good"||$2=="adopted") ord[$1]=NR } END { for (i in ord) if (i!=cur && (st[i]=="good"||st[i]=="adopted")) print ord[i], i }' "$B/releases.log" 2>/dev/null |
    sort -rn | while read -r _ id; do if [ -d "$B/releases/$id" ]; then echo "$id"; break; fi; done)
fi
echo "TILL_FROM $cur"
[ -n "$to" ] || { echo TILL_NO_TARGET; exit 0; }
[ "$to" != "$cur" ] || { echo TILL_ALREADY; exit 0; }
[ -d "$B/releases/$to" ] || { echo TILL_NO_SUCH; exit 0; }
till_switch "$N.till/releases/$to" || exit 32
if [ -n "$auto" ] && [ -n "$cur" ]; then till_log "$cur" rolled-back "$now" ''; fi
till_log "$to" good "$now" ''
echo "TILL_TO $to"
echo TILL_DONE
exit 0
`),
      args: ROLLBACK_ARGS,
      encode: rollbackArgs,
      retired: 'it switches to a release name that is a symlink an upload may plant',
    },
  ],
  parse: parseRollbackReport,
};
