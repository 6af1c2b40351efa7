import { ARG } from './args.js';
import { parseHookRuns, type HookRun } from './hooks.js';
import { frozen, parseMarkers, type Operation } from './wire.js';

/**
 * Going back to an earlier release: `host rollback` (rollback) and a progressive deploy
 * switching back the hosts it switched when its failure budget is exceeded
 * (deploy-revert). "$1" is tekton_path as stored. The scripts print markers (wire.ts):
 * rollback TILL_LOCKED + TILL_HOLDER …, TILL_FROM <id>, TILL_TO <id>, TILL_NO_TARGET,
 * TILL_ALREADY, TILL_NO_SUCH, TILL_DONE; since rollback-v4 also TILL_HELD + TILL_HOLD …
 * (a manual lock), TILL_HOOK_FAILED post-rollback, the hook markers of hooks.ts and
 * TILL_LOG <releases.log line>…; deploy-revert TILL_REVERTED or TILL_NOT_CURRENT; and
 * TILL_ERROR <why> on stderr.
 */

export interface RollbackParams {
  path: string;
  /** '' chooses: the release that went live most recently, other than the current one. */
  to: string;
  lockInfo: string;
  now: string;
  /** Who rolls back and why, for the release record (since rollback-v4). */
  record: { host: string; deployer: string; message: string };
  /** The post-rollback hook of the release switched to (since rollback-v4). */
  hooks: { run: boolean; timeoutSec: number };
}

const ROLLBACK_ARGS = [ARG.deployRoot, ARG.releaseIdOrEmpty, ARG.lockInfo, ARG.time] as const;
const rollbackArgs = (p: RollbackParams) => [p.path, p.to, p.lockInfo, p.now];

const ROLLBACK_V4_ARGS = [
  ...ROLLBACK_ARGS,
  ARG.hostName,
  ARG.deployer,
  ARG.message,
  ARG.hooks,
  ARG.hookTimeout,
] as const;
const rollbackV4Args = (p: RollbackParams) => [
  ...rollbackArgs(p),
  p.record.host,
  p.record.deployer,
  p.record.message,
  p.hooks.run ? '1' : '0',
  String(p.hooks.timeoutSec),
];

export interface RollbackReport {
  locked: boolean;
  holderLines: string[];
  /** A manual lock (`till host lock`) stopped it: its info lines. */
  held?: string[];
  from: string | null;
  to: string | null;
  noTarget: boolean;
  already: boolean;
  noSuch: boolean;
  done: boolean;
  /** The post-rollback hook failed (the switch itself was made). */
  hookFailed: boolean;
  hooks: HookRun[];
  /** releases.log after the rollback, line by line (the target's record: who deployed it). */
  logLines: string[];
}

export function parseRollbackReport(stdout: string): RollbackReport {
  const m = parseMarkers(stdout);
  const from = m.values.get('FROM')?.[0];
  return {
    locked: m.flags.has('LOCKED'),
    holderLines: m.values.get('HOLDER') ?? [],
    ...(m.flags.has('HELD') ? { held: m.values.get('HOLD') ?? [] } : {}),
    from: from === undefined || from === '' ? null : from,
    to: m.values.get('TO')?.[0] ?? null,
    noTarget: m.flags.has('NO_TARGET'),
    already: m.flags.has('ALREADY'),
    noSuch: m.flags.has('NO_SUCH'),
    done: m.flags.has('DONE'),
    hookFailed: m.values.get('HOOK_FAILED') !== undefined,
    hooks: parseHookRuns(m),
    logLines: m.values.get('LOG') ?? [],
  };
}

/**
 * `host rollback` in one round trip: under the lock, choose the target from till's
 * record (the release that went live most recently, other than the current one, whose
 * last state is good or adopted, and whose directory exists: never directory order,
 * never a failed or rolled-back release), or take `--to`; switch; record.
 * v2: the target is found with shell builtins instead of awk | sort | while.
 * v3: a release name that is a symlink is no release.
 * v4 (what this till sends): refuses a host under a manual lock (P.till/hold); runs the
 * target's post-rollback hook (when "$8" is 1, bound by "$9" seconds); writes nine-field
 * releases.log lines (who rolled back, and why); prints releases.log.
 */
export const rollback: Operation<RollbackParams, RollbackReport> = {
  name: 'rollback',
  versions: [
    {
      name: 'rollback-v4',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
to=$2; info=$3; now=$4; host=$5; who=$6; msg=$7; hooks=$8; tmo=$9
hk=
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$now" "$3" "$who" "$4" "$5" "$msg" "$hk" >> "$B/releases.log"; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_release() { case $1 in ''|.*|*/*) return 1 ;; esac; [ -d "$B/releases/$1" ] && [ ! -L "$B/releases/$1" ]; }
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
[ -d "$B" ] || mkdir -p "$B"
if [ -d "$B/hold" ]; then echo TILL_HELD; till_prefix TILL_HOLD "$B/hold/info"; exit 24; fi
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
if [ -n "$auto" ] && [ -n "$cur" ]; then till_log "$cur" rolled-back '' '' ''; fi
till_hook post-rollback "$to" "$cur" || echo "TILL_HOOK_FAILED post-rollback"
till_log "$to" good '' '' ''
echo "TILL_TO $to"
till_prefix TILL_LOG "$B/releases.log"
echo TILL_DONE
exit 0
`),
      args: ROLLBACK_V4_ARGS,
      encode: rollbackV4Args,
    },
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

export interface RevertParams {
  path: string;
  /** The release this run switched to, to leave. */
  id: string;
  /** The release to go back to ('' none: P is removed, as before the first deploy). */
  previous: string;
  run: string;
  now: string;
  record: { host: string; deployer: string; message: string };
  hooks: { run: boolean; timeoutSec: number };
}

export interface RevertReport {
  reverted: boolean;
  /** P no longer points at the release: someone switched the host since; left alone. */
  notCurrent: boolean;
  hookFailed: boolean;
  hooks: HookRun[];
}

/**
 * A progressive deploy's way back (`host deploy --canary/--batch-size/--max-fail`): when a
 * canary failed or the run's failure budget was exceeded, every host this run switched
 * is switched back to the release it had, under the run's own deploy lock (the switch
 * kept it), the release is recorded `rolled-back` and the previous one `good` again, and
 * the previous release's post-rollback hook runs. A host whose P no longer points at the
 * release (switched by hand since) is left as it is. A manual lock does not stop it: it
 * undoes what this run did.
 */
export const deployRevert: Operation<RevertParams, RevertReport> = {
  name: 'deploy-revert',
  versions: [
    {
      name: 'deploy-revert',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; prev=$3; run=$4; now=$5; host=$6; who=$7; msg=$8; hooks=$9; tmo=\${10}
hk=
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$now" "$3" "$who" "$4" "$5" "$msg" "$hk" >> "$B/releases.log"; }
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
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
till_ours "$run" || { echo "TILL_ERROR the deploy lock is no longer ours" >&2; exit 33; }
link=$(readlink "$P" 2>/dev/null || true)
[ "$link" = "$N.till/releases/$id" ] || { echo TILL_NOT_CURRENT; exit 0; }
back=; if [ -n "$prev" ] && till_release "$prev"; then till_switch "$N.till/releases/$prev" || exit 32; back=1; else rm -f "$P"; fi
till_log "$id" rolled-back '' '' ''
echo TILL_REVERTED
if [ -n "$back" ]; then till_hook post-rollback "$prev" "$id" || echo "TILL_HOOK_FAILED post-rollback"; till_log "$prev" good '' '' ''; fi
exit 0
`),
      args: [
        ARG.deployRoot,
        ARG.releaseId,
        ARG.releaseIdOrEmpty,
        ARG.runId,
        ARG.time,
        ARG.hostName,
        ARG.deployer,
        ARG.message,
        ARG.hooks,
        ARG.hookTimeout,
      ],
      encode: (p) => [
        p.path,
        p.id,
        p.previous,
        p.run,
        p.now,
        p.record.host,
        p.record.deployer,
        p.record.message,
        p.hooks.run ? '1' : '0',
        String(p.hooks.timeoutSec),
      ],
    },
  ],
  parse: (stdout) => {
    const m = parseMarkers(stdout);
    return {
      reverted: m.flags.has('REVERTED'),
      notCurrent: m.flags.has('NOT_CURRENT'),
      hookFailed: m.values.get('HOOK_FAILED') !== undefined,
      hooks: parseHookRuns(m),
    };
  },
};
