import { ARG } from './args.js';
import { LISTING_FIND } from './listing.js';
import { frozen, parseMarkers, type Markers, type Operation } from './wire.js';

/**
 * A deploy's staging on a host, next to its tekton_path P (src/deploy/layout.ts draws
 * the layout): read the state (deploy-state), look at a --check first (deploy-check),
 * take the lock, adopt a plain directory and say what is there (deploy-prepare), release
 * the lock (deploy-unlock). "$1" is always tekton_path as stored: a `~/` value arrives
 * literally and is expanded with "$HOME". The switch and rollback are in switch.ts.
 *
 * Every script prints markers (`TILL_<WORD> [value]`, wire.ts) on stdout:
 *   TILL_HOME_DIR <home>, TILL_CURRENT <link> | TILL_PLAIN | TILL_NOTDIR, TILL_DIR <name>…,
 *   TILL_LOG <releases.log line>…, TILL_LOCK_HELD / TILL_LOCKED, TILL_HOLDER <lock/info line>…,
 *   TILL_BROKE_LOCK + TILL_OLDLOCK …, TILL_ADOPTED <id>, TILL_COMPLETE, TILL_COPIED <id>,
 *   TILL_UNLOCKED; and TILL_ERROR <why> on stderr.
 */

/** What a deploy script reported, as printed (src/deploy/releases.ts reads releases from it). */
export interface DeployReport {
  home?: string;
  /** The symlink's target at P, as read. */
  link?: string;
  plain: boolean;
  notDir: boolean;
  dirs: string[];
  /** releases.log, line by line. */
  logLines: string[];
  lockHeld: boolean;
  /** lock/info of the lock's holder, line by line. */
  holderLines: string[];
  /** lock/info of a lock broken by --force-unlock. */
  oldLockLines?: string[];
  adopted?: string;
  complete: boolean;
  locked: boolean;
  copiedFrom?: string;
  /** A manual lock (`till host lock`, P.till/hold) is on the host: its info lines. */
  hold?: string[];
  /** The kept output of each hook run (deploy-state-v2), by `<release>.<hook>`, line by line. */
  hookOutputs: Map<string, string[]>;
  markers: Markers;
}

export function parseDeployReport(stdout: string): DeployReport {
  const m = parseMarkers(stdout);
  const one = (k: string) => m.values.get(k)?.[0];
  const link = one('CURRENT');
  return {
    ...(one('HOME_DIR') !== undefined ? { home: one('HOME_DIR') } : {}),
    ...(link !== undefined ? { link } : {}),
    plain: m.flags.has('PLAIN'),
    notDir: m.flags.has('NOTDIR'),
    dirs: m.values.get('DIR') ?? [],
    logLines: m.values.get('LOG') ?? [],
    lockHeld: m.flags.has('LOCK_HELD') || m.flags.has('LOCKED'),
    holderLines: m.values.get('HOLDER') ?? [],
    ...(m.flags.has('BROKE_LOCK') ? { oldLockLines: m.values.get('OLDLOCK') ?? [] } : {}),
    ...(one('ADOPTED') !== undefined ? { adopted: one('ADOPTED') } : {}),
    complete: m.flags.has('COMPLETE'),
    locked: m.flags.has('LOCKED'),
    ...(one('COPIED') !== undefined ? { copiedFrom: one('COPIED') } : {}),
    ...(m.flags.has('HELD') ? { hold: m.values.get('HOLD') ?? [] } : {}),
    hookOutputs: hookOutputsOf(m.values.get('HOOKFILE') ?? [], m.values.get('HOOKOUT') ?? []),
    markers: m,
  };
}

function hookOutputsOf(files: readonly string[], lines: readonly string[]): Map<string, string[]> {
  // A file is named even when it is empty (a hook that printed nothing): its output is "".
  const out = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const value of lines) {
    const at = value.indexOf(' ');
    const key = at === -1 ? value : value.slice(0, at);
    const list = out.get(key) ?? [];
    list.push(at === -1 ? '' : value.slice(at + 1));
    out.set(key, list);
  }
  return out;
}

/**
 * The current link, release directories, the log and the lock (for releases, rollback,
 * dry-run). Read-only. v2 (what this till sends) also reports the manual lock
 * (TILL_HELD, TILL_HOLD <line>…) and the kept output of each hook run
 * (TILL_HOOKFILE <release>.<hook>, then TILL_HOOKOUT <release>.<hook> <line>…).
 */
export const deployState: Operation<{ path: string }, DeployReport> = {
  name: 'deploy-state',
  versions: [
    {
      name: 'deploy-state-v2',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
echo "TILL_HOME_DIR $HOME"
if [ -L "$P" ]; then echo "TILL_CURRENT $(readlink "$P")"; elif [ -d "$P" ]; then echo TILL_PLAIN; elif [ -e "$P" ]; then echo TILL_NOTDIR; fi
if [ -d "$B/releases" ]; then for d in "$B/releases"/*; do [ -d "$d" ] && echo "TILL_DIR \${d##*/}"; done; fi
till_prefix TILL_LOG "$B/releases.log"
if [ -d "$B/lock" ]; then echo TILL_LOCK_HELD; till_prefix TILL_HOLDER "$B/lock/info"; fi
if [ -d "$B/hold" ]; then echo TILL_HELD; till_prefix TILL_HOLD "$B/hold/info"; fi
if [ -d "$B/hook-output" ] && [ ! -L "$B/hook-output" ]; then for f in "$B/hook-output"/*; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  echo "TILL_HOOKFILE \${f##*/}"
  till_prefix "TILL_HOOKOUT \${f##*/}" "$f"
done; fi
exit 0
`),
      args: [ARG.deployRoot],
      encode: (p) => [p.path],
    },
    {
      name: 'deploy-state',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
echo "TILL_HOME_DIR $HOME"
if [ -L "$P" ]; then echo "TILL_CURRENT $(readlink "$P")"; elif [ -d "$P" ]; then echo TILL_PLAIN; elif [ -e "$P" ]; then echo TILL_NOTDIR; fi
if [ -d "$B/releases" ]; then for d in "$B/releases"/*; do [ -d "$d" ] && echo "TILL_DIR \${d##*/}"; done; fi
till_prefix TILL_LOG "$B/releases.log"
if [ -d "$B/lock" ]; then echo TILL_LOCK_HELD; till_prefix TILL_HOLDER "$B/lock/info"; fi
exit 0
`),
      args: [ARG.deployRoot],
      encode: (p) => [p.path],
    },
  ],
  parse: parseDeployReport,
};

/**
 * A deploy's `--check`, looked at before anything else happens on the host. The script
 * itself does nothing: on a restricted host the gate first checks "$2" against gate.json
 * "checks", so a check the host does not allow fails before the lock, the upload and
 * the `<id>.partial` release. Without a gate it is one round trip that passes.
 * v2 (what this till sends) also takes "$3", 1 when the release has hooks: a host whose
 * gate.json does not say `"hooks": true` refuses it there, before anything changes.
 */
export const deployCheck: Operation<{ path: string; check: string; hooks: boolean }, boolean> = {
  name: 'deploy-check',
  versions: [
    {
      name: 'deploy-check-v2',
      form: 'script',
      text: frozen(`
# till host deploy --check/hooks: the gate of a restricted host checks "$2" against ~/.till/gate.json "checks", and "$3" (1: the release has hooks) against its "hooks", before it runs this
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
echo TILL_CHECK_ALLOWED
`),
      args: [ARG.deployRoot, ARG.check, ARG.hooks],
      encode: (p) => [p.path, p.check, p.hooks ? '1' : '0'],
    },
    {
      name: 'deploy-check',
      form: 'script',
      text: frozen(`
# till host deploy --check: the gate of a restricted host compares "$2" with ~/.till/gate.json "checks" before it runs this
echo TILL_CHECK_ALLOWED
`),
      args: [ARG.deployRoot, ARG.check],
      encode: (p) => [p.path, p.check],
    },
  ],
  parse: (stdout) => parseMarkers(stdout).flags.has('CHECK_ALLOWED'),
};

export interface PrepareParams {
  path: string;
  id: string;
  /** lock/info's text (src/deploy/layout.ts renderLockInfo). */
  lockInfo: string;
  run: string;
  forceUnlock: boolean;
  shared: readonly string[];
  adoptId: string;
  now: string;
  /** The new release's content hash (the last 6 hex digits of its id), or ''. */
  contentHash: string;
}

const PREPARE_ARGS = [
  ARG.deployRoot,
  ARG.releaseId,
  ARG.lockInfo,
  ARG.runId,
  ARG.flag,
  ARG.sharedPaths,
  ARG.releaseId,
  ARG.time,
] as const;

const prepareArgs = (p: PrepareParams) => [
  p.path,
  p.id,
  p.lockInfo,
  p.run,
  p.forceUnlock ? '1' : '0',
  p.shared.join(' '),
  p.adoptId,
  p.now,
];

/**
 * Phase 1, before the transfer: take (or, for a resumed run, keep) the lock; adopt a
 * plain directory at P as the first release; say whether `<id>` is already complete, and
 * the state (the current release is the transfer's --link-dest). Version 2 adds "$9",
 * the content hash: when the live release has the same one, `<id>.partial` starts as its
 * hard-linked copy (`cp -al`), and rsync then only verifies. Version 3 treats a release
 * name that is a symlink (an upload may plant one) as no release: it refuses a `<id>` or
 * `<id>.partial` that is one, and never copies from one. Version 4 refuses a host under a
 * manual lock (`till host lock`, P.till/hold): TILL_HELD, its info as TILL_HOLD lines,
 * exit 24; `--force-unlock` breaks only the deploy lock, never that one. Version 5 (what
 * this till sends) removes a lock whose info it could not write (a full disk left it
 * empty: no deploy could ever tell it was its own) and says "No space left on device"
 * when df finds none free.
 */
export const deployPrepare: Operation<PrepareParams, DeployReport> = {
  name: 'deploy-prepare',
  versions: [
    {
      name: 'deploy-prepare-v5',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; info=$3; run=$4; force=$5; shared=$6; A=$7; now=$8; h=$9
umask 022
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
till_release() { [ -d "$B/releases/$1" ] && [ ! -L "$B/releases/$1" ]; }
if [ -d "$B/hold" ]; then echo TILL_HELD; till_prefix TILL_HOLD "$B/hold/info"; exit 24; fi
till_full() { f=$(df -Pk "$B" 2>/dev/null | awk 'NR == 2 { print $4 }'); if [ "$f" = 0 ]; then echo "TILL_ERROR $1: No space left on device" >&2; else echo "TILL_ERROR $1" >&2; fi; }
[ -d "$B/releases" ] && [ -d "$B/shared" ] || mkdir -p "$B/releases" "$B/shared" || { till_full "cannot create $B/releases"; exit 20; }
if [ "$force" = 1 ] && [ -d "$B/lock" ] && ! till_ours "$run"; then echo TILL_BROKE_LOCK; till_prefix TILL_OLDLOCK "$B/lock/info"; rm -rf "$B/lock"; fi
if mkdir "$B/lock" 2>/dev/null; then printf '%s' "$info" > "$B/lock/info" || { rm -rf "$B/lock"; till_full "cannot write the deploy lock $B/lock/info"; exit 20; }
elif ! till_ours "$run"; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi
if [ -L "$B/releases/$id" ] || [ -L "$B/releases/$id.partial" ]; then echo "TILL_ERROR release $id is a symlink (not made by till): remove it" >&2; exit 22; fi
if [ -e "$P" ] && [ ! -L "$P" ] && [ ! -d "$P" ]; then echo "TILL_ERROR $P exists and is not a directory or symlink" >&2; exit 22; fi
if [ -d "$P" ] && [ ! -L "$P" ]; then
  R=$B/releases/$A
  mv "$P" "$R" || exit 22
  set -f; for s in $shared; do
    if [ -e "$R/$s" ] && [ ! -L "$R/$s" ] && [ ! -e "$B/shared/$s" ]; then till_shtarget "$s"; mkdir -p "$(dirname "$B/shared/$s")" && mv "$R/$s" "$B/shared/$s" && ln -s "$st" "$R/$s"; fi
  done; set +f
  till_log "$A" adopted "$now" 'existing directory'
  till_switch "$N.till/releases/$A" || exit 22
  echo "TILL_ADOPTED $A"
fi
if till_release "$id"; then echo TILL_COMPLETE; fi
if [ -n "$h" ] && [ -L "$P" ] && [ ! -e "$B/releases/$id" ] && [ ! -e "$B/releases/$id.partial" ]; then
  l=$(readlink "$P"); c=\${l#"$N.till/releases/"}
  case $c in */*|"$l") ;; *"-$h") if till_release "$c" && cp -al "$B/releases/$c" "$B/releases/$id.partial" 2>/dev/null && rm -f "$B/releases/$id.partial/.env.local"; then echo "TILL_COPIED $c"; else rm -rf "$B/releases/$id.partial"; fi ;; esac
fi
echo "TILL_HOME_DIR $HOME"
if [ -L "$P" ]; then echo "TILL_CURRENT $(readlink "$P")"; elif [ -d "$P" ]; then echo TILL_PLAIN; elif [ -e "$P" ]; then echo TILL_NOTDIR; fi
if [ -d "$B/releases" ]; then for d in "$B/releases"/*; do [ -d "$d" ] && echo "TILL_DIR \${d##*/}"; done; fi
till_prefix TILL_LOG "$B/releases.log"
if [ -d "$B/lock" ]; then echo TILL_LOCK_HELD; till_prefix TILL_HOLDER "$B/lock/info"; fi
exit 0
`),
      args: [...PREPARE_ARGS, ARG.contentHash],
      encode: (p) => [...prepareArgs(p), p.contentHash],
    },
    {
      name: 'deploy-prepare-v4',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; info=$3; run=$4; force=$5; shared=$6; A=$7; now=$8; h=$9
umask 022
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
till_release() { [ -d "$B/releases/$1" ] && [ ! -L "$B/releases/$1" ]; }
if [ -d "$B/hold" ]; then echo TILL_HELD; till_prefix TILL_HOLD "$B/hold/info"; exit 24; fi
[ -d "$B/releases" ] && [ -d "$B/shared" ] || mkdir -p "$B/releases" "$B/shared" || exit 20
if [ "$force" = 1 ] && [ -d "$B/lock" ] && ! till_ours "$run"; then echo TILL_BROKE_LOCK; till_prefix TILL_OLDLOCK "$B/lock/info"; rm -rf "$B/lock"; fi
if mkdir "$B/lock" 2>/dev/null; then printf '%s' "$info" > "$B/lock/info" || exit 20
elif ! till_ours "$run"; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi
if [ -L "$B/releases/$id" ] || [ -L "$B/releases/$id.partial" ]; then echo "TILL_ERROR release $id is a symlink (not made by till): remove it" >&2; exit 22; fi
if [ -e "$P" ] && [ ! -L "$P" ] && [ ! -d "$P" ]; then echo "TILL_ERROR $P exists and is not a directory or symlink" >&2; exit 22; fi
if [ -d "$P" ] && [ ! -L "$P" ]; then
  R=$B/releases/$A
  mv "$P" "$R" || exit 22
  set -f; for s in $shared; do
    if [ -e "$R/$s" ] && [ ! -L "$R/$s" ] && [ ! -e "$B/shared/$s" ]; then till_shtarget "$s"; mkdir -p "$(dirname "$B/shared/$s")" && mv "$R/$s" "$B/shared/$s" && ln -s "$st" "$R/$s"; fi
  done; set +f
  till_log "$A" adopted "$now" 'existing directory'
  till_switch "$N.till/releases/$A" || exit 22
  echo "TILL_ADOPTED $A"
fi
if till_release "$id"; then echo TILL_COMPLETE; fi
if [ -n "$h" ] && [ -L "$P" ] && [ ! -e "$B/releases/$id" ] && [ ! -e "$B/releases/$id.partial" ]; then
  l=$(readlink "$P"); c=\${l#"$N.till/releases/"}
  case $c in */*|"$l") ;; *"-$h") if till_release "$c" && cp -al "$B/releases/$c" "$B/releases/$id.partial" 2>/dev/null && rm -f "$B/releases/$id.partial/.env.local"; then echo "TILL_COPIED $c"; else rm -rf "$B/releases/$id.partial"; fi ;; esac
fi
echo "TILL_HOME_DIR $HOME"
if [ -L "$P" ]; then echo "TILL_CURRENT $(readlink "$P")"; elif [ -d "$P" ]; then echo TILL_PLAIN; elif [ -e "$P" ]; then echo TILL_NOTDIR; fi
if [ -d "$B/releases" ]; then for d in "$B/releases"/*; do [ -d "$d" ] && echo "TILL_DIR \${d##*/}"; done; fi
till_prefix TILL_LOG "$B/releases.log"
if [ -d "$B/lock" ]; then echo TILL_LOCK_HELD; till_prefix TILL_HOLDER "$B/lock/info"; fi
exit 0
`),
      args: [...PREPARE_ARGS, ARG.contentHash],
      encode: (p) => [...prepareArgs(p), p.contentHash],
    },
    {
      name: 'deploy-prepare-v3',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; info=$3; run=$4; force=$5; shared=$6; A=$7; now=$8; h=$9
umask 022
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
till_release() { [ -d "$B/releases/$1" ] && [ ! -L "$B/releases/$1" ]; }
[ -d "$B/releases" ] && [ -d "$B/shared" ] || mkdir -p "$B/releases" "$B/shared" || exit 20
if [ "$force" = 1 ] && [ -d "$B/lock" ] && ! till_ours "$run"; then echo TILL_BROKE_LOCK; till_prefix TILL_OLDLOCK "$B/lock/info"; rm -rf "$B/lock"; fi
if mkdir "$B/lock" 2>/dev/null; then printf '%s' "$info" > "$B/lock/info" || exit 20
elif ! till_ours "$run"; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi
if [ -L "$B/releases/$id" ] || [ -L "$B/releases/$id.partial" ]; then echo "TILL_ERROR release $id is a symlink (not made by till): remove it" >&2; exit 22; fi
if [ -e "$P" ] && [ ! -L "$P" ] && [ ! -d "$P" ]; then echo "TILL_ERROR $P exists and is not a directory or symlink" >&2; exit 22; fi
if [ -d "$P" ] && [ ! -L "$P" ]; then
  R=$B/releases/$A
  mv "$P" "$R" || exit 22
  set -f; for s in $shared; do
    if [ -e "$R/$s" ] && [ ! -L "$R/$s" ] && [ ! -e "$B/shared/$s" ]; then till_shtarget "$s"; mkdir -p "$(dirname "$B/shared/$s")" && mv "$R/$s" "$B/shared/$s" && ln -s "$st" "$R/$s"; fi
  done; set +f
  till_log "$A" adopted "$now" 'existing directory'
  till_switch "$N.till/releases/$A" || exit 22
  echo "TILL_ADOPTED $A"
fi
if till_release "$id"; then echo TILL_COMPLETE; fi
if [ -n "$h" ] && [ -L "$P" ] && [ ! -e "$B/releases/$id" ] && [ ! -e "$B/releases/$id.partial" ]; then
  l=$(readlink "$P"); c=\${l#"$N.till/releases/"}
  case $c in */*|"$l") ;; *"-$h") if till_release "$c" && cp -al "$B/releases/$c" "$B/releases/$id.partial" 2>/dev/null && rm -f "$B/releases/$id.partial/.env.local"; then echo "TILL_COPIED $c"; else rm -rf "$B/releases/$id.partial"; fi ;; esac
fi
echo "TILL_HOME_DIR $HOME"
if [ -L "$P" ]; then echo "TILL_CURRENT $(readlink "$P")"; elif [ -d "$P" ]; then echo TILL_PLAIN; elif [ -e "$P" ]; then echo TILL_NOTDIR; fi
if [ -d "$B/releases" ]; then for d in "$B/releases"/*; do [ -d "$d" ] && echo "TILL_DIR \${d##*/}"; done; fi
till_prefix TILL_LOG "$B/releases.log"
if [ -d "$B/lock" ]; then echo TILL_LOCK_HELD; till_prefix TILL_HOLDER "$B/lock/info"; fi
exit 0
`),
      args: [...PREPARE_ARGS, ARG.contentHash],
      encode: (p) => [...prepareArgs(p), p.contentHash],
    },
    {
      name: 'deploy-prepare-v2',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; info=$3; run=$4; force=$5; shared=$6; A=$7; now=$8; h=$9
umask 022
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
[ -d "$B/releases" ] && [ -d "$B/shared" ] || mkdir -p "$B/releases" "$B/shared" || exit 20
if [ "$force" = 1 ] && [ -d "$B/lock" ] && ! till_ours "$run"; then echo TILL_BROKE_LOCK; till_prefix TILL_OLDLOCK "$B/lock/info"; rm -rf "$B/lock"; fi
if mkdir "$B/lock" 2>/dev/null; then printf '%s' "$info" > "$B/lock/info" || exit 20
elif ! till_ours "$run"; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi
if [ -e "$P" ] && [ ! -L "$P" ] && [ ! -d "$P" ]; then echo "TILL_ERROR $P exists and is not a directory or symlink" >&2; exit 22; fi
if [ -d "$P" ] && [ ! -L "$P" ]; then
  R=$B/releases/$A
  mv "$P" "$R" || exit 22
  set -f; for s in $shared; do
    if [ -e "$R/$s" ] && [ ! -L "$R/$s" ] && [ ! -e "$B/shared/$s" ]; then till_shtarget "$s"; mkdir -p "$(dirname "$B/shared/$s")" && mv "$R/$s" "$B/shared/$s" && ln -s "$st" "$R/$s"; fi
  done; set +f
  till_log "$A" adopted "$now" 'existing directory'
  till_switch "$N.till/releases/$A" || exit 22
  echo "TILL_ADOPTED $A"
fi
if [ -d "$B/releases/$id" ]; then echo TILL_COMPLETE; fi
if [ -n "$h" ] && [ -L "$P" ] && [ ! -d "$B/releases/$id" ] && [ ! -e "$B/releases/$id.partial" ]; then
  l=$(readlink "$P"); c=\${l#"$N.till/releases/"}
  case $c in */*|"$l") ;; *"-$h") if [ -d "$B/releases/$c" ] && cp -al "$B/releases/$c" "$B/releases/$id.partial" 2>/dev/null && rm -f "$B/releases/$id.partial/.env.local"; then echo "TILL_COPIED $c"; else rm -rf "$B/releases/$id.partial"; fi ;; esac
fi
echo "TILL_HOME_DIR $HOME"
if [ -L "$P" ]; then echo "TILL_CURRENT $(readlink "$P")"; elif [ -d "$P" ]; then echo TILL_PLAIN; elif [ -e "$P" ]; then echo TILL_NOTDIR; fi
if [ -d "$B/releases" ]; then for d in "$B/releases"/*; do [ -d "$d" ] && echo "TILL_DIR \${d##*/}"; done; fi
till_prefix TILL_LOG "$B/releases.log"
if [ -d "$B/lock" ]; then echo TILL_LOCK_HELD; till_prefix TILL_HOLDER "$B/lock/info"; fi
exit 0
`),
      args: [...PREPARE_ARGS, ARG.contentHash],
      encode: (p) => [...prepareArgs(p), p.contentHash],
      retired: 'it copies a release and reports one as complete through a symlink an upload may plant',
    },
    {
      name: 'deploy-prepare',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; info=$3; run=$4; force=$5; shared=$6; A=$7; now=$8
umask 022
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
[ -d "$B/releases" ] && [ -d "$B/shared" ] || mkdir -p "$B/releases" "$B/shared" || exit 20
if [ "$force" = 1 ] && [ -d "$B/lock" ] && ! till_ours "$run"; then echo TILL_BROKE_LOCK; till_prefix TILL_OLDLOCK "$B/lock/info"; rm -rf "$B/lock"; fi
if mkdir "$B/lock" 2>/dev/null; then printf '%s' "$info" > "$B/lock/info" || exit 20
elif ! till_ours "$run"; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi
if [ -e "$P" ] && [ ! -L "$P" ] && [ ! -d "$P" ]; then echo "TILL_ERROR $P exists and is not a directory or symlink" >&2; exit 22; fi
if [ -d "$P" ] && [ ! -L "$P" ]; then
  R=$B/releases/$A
  mv "$P" "$R" || exit 22
  set -f; for s in $shared; do
    if [ -e "$R/$s" ] && [ ! -L "$R/$s" ] && [ ! -e "$B/shared/$s" ]; then till_shtarget "$s"; mkdir -p "$(dirname "$B/shared/$s")" && mv "$R/$s" "$B/shared/$s" && ln -s "$st" "$R/$s"; fi
  done; set +f
  till_log "$A" adopted "$now" 'existing directory'
  till_switch "$N.till/releases/$A" || exit 22
  echo "TILL_ADOPTED $A"
fi
if [ -d "$B/releases/$id" ]; then echo TILL_COMPLETE; fi
echo "TILL_HOME_DIR $HOME"
if [ -L "$P" ]; then echo "TILL_CURRENT $(readlink "$P")"; elif [ -d "$P" ]; then echo TILL_PLAIN; elif [ -e "$P" ]; then echo TILL_NOTDIR; fi
if [ -d "$B/releases" ]; then for d in "$B/releases"/*; do [ -d "$d" ] && echo "TILL_DIR \${d##*/}"; done; fi
till_prefix TILL_LOG "$B/releases.log"
if [ -d "$B/lock" ]; then echo TILL_LOCK_HELD; till_prefix TILL_HOLDER "$B/lock/info"; fi
exit 0
`),
      args: PREPARE_ARGS,
      encode: prepareArgs,
      retired: 'it reports a release as complete through a symlink an upload may plant',
    },
  ],
  parse: parseDeployReport,
};

/**
 * Version 4 of the prepare step fused with the transfer: what `--rsync-path` runs on a
 * host reached with an unrestricted key, so staging costs one connection per host
 * instead of two. Its report goes to stderr (stdout is rsync's protocol); a failure
 * before the exec prints `TILL_EXIT <code>`; then it execs the host's rsync with the
 * server arguments rsync appended, adding `--link-dest=../<current>` unless the release
 * was staged as a hard-linked copy (rsync would look up every file again to link
 * nothing). P is read once. A gate never runs it (it starts rsync's server itself):
 * restricted hosts get deploy-prepare, then a plain rsync. v3 is deploy-prepare-v5's
 * (a full disk leaves no lock); it replaced v2, which no gate ever compares.
 */
export const deployPrepareFused: Operation<PrepareParams, DeployReport> = {
  name: 'deploy-prepare-rsync',
  versions: [
    {
      name: 'deploy-prepare-rsync-v3',
      form: 'script',
      text: frozen(`
exec 3>&1 1>&2
trap 'e=$?; [ "$e" = 0 ] || echo "TILL_EXIT $e"' EXIT
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
id=$2; info=$3; run=$4; force=$5; shared=$6; A=$7; now=$8; h=$9
umask 022
till_switch() { t="$P.till-tmp-$$"; if [ -e "$t" ] || [ -L "$t" ]; then rm -f "$t"; fi; ln -s "$1" "$t" && mv -T "$t" "$P"; }
till_log() { printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" >> "$B/releases.log"; }
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
till_shtarget() { st=../../; r=$1; while :; do case $r in */*) r=\${r#*/}; st=../$st ;; *) break ;; esac; done; st=\${st}shared/$1; }
till_release() { [ -d "$B/releases/$1" ] && [ ! -L "$B/releases/$1" ]; }
if [ -d "$B/hold" ]; then echo TILL_HELD; till_prefix TILL_HOLD "$B/hold/info"; exit 24; fi
till_full() { f=$(df -Pk "$B" 2>/dev/null | awk 'NR == 2 { print $4 }'); if [ "$f" = 0 ]; then echo "TILL_ERROR $1: No space left on device" >&2; else echo "TILL_ERROR $1" >&2; fi; }
[ -d "$B/releases" ] && [ -d "$B/shared" ] || mkdir -p "$B/releases" "$B/shared" || { till_full "cannot create $B/releases"; exit 20; }
if [ "$force" = 1 ] && [ -d "$B/lock" ] && ! till_ours "$run"; then echo TILL_BROKE_LOCK; till_prefix TILL_OLDLOCK "$B/lock/info"; rm -rf "$B/lock"; fi
if mkdir "$B/lock" 2>/dev/null; then printf '%s' "$info" > "$B/lock/info" || { rm -rf "$B/lock"; till_full "cannot write the deploy lock $B/lock/info"; exit 20; }
elif ! till_ours "$run"; then echo TILL_LOCKED; till_prefix TILL_HOLDER "$B/lock/info"; exit 21; fi
if [ -L "$B/releases/$id" ] || [ -L "$B/releases/$id.partial" ]; then echo "TILL_ERROR release $id is a symlink (not made by till): remove it" >&2; exit 22; fi
if [ -e "$P" ] && [ ! -L "$P" ] && [ ! -d "$P" ]; then echo "TILL_ERROR $P exists and is not a directory or symlink" >&2; exit 22; fi
if [ -d "$P" ] && [ ! -L "$P" ]; then
  R=$B/releases/$A
  mv "$P" "$R" || exit 22
  set -f; for s in $shared; do
    if [ -e "$R/$s" ] && [ ! -L "$R/$s" ] && [ ! -e "$B/shared/$s" ]; then till_shtarget "$s"; mkdir -p "$(dirname "$B/shared/$s")" && mv "$R/$s" "$B/shared/$s" && ln -s "$st" "$R/$s"; fi
  done; set +f
  till_log "$A" adopted "$now" 'existing directory'
  till_switch "$N.till/releases/$A" || exit 22
  echo "TILL_ADOPTED $A"
fi
if till_release "$id"; then echo TILL_COMPLETE; fi
cl=; if [ -L "$P" ]; then cl=$(readlink "$P"); fi
cp=; if [ -n "$h" ] && [ -n "$cl" ] && [ ! -e "$B/releases/$id" ] && [ ! -e "$B/releases/$id.partial" ]; then
  c=\${cl#"$N.till/releases/"}
  case $c in */*|"$cl") ;; *"-$h") if till_release "$c" && cp -al "$B/releases/$c" "$B/releases/$id.partial" 2>/dev/null; then cp=1; echo "TILL_COPIED $c"; else rm -rf "$B/releases/$id.partial"; fi ;; esac
fi
echo "TILL_HOME_DIR $HOME"
if [ -L "$P" ]; then echo "TILL_CURRENT $cl"; elif [ -d "$P" ]; then echo TILL_PLAIN; elif [ -e "$P" ]; then echo TILL_NOTDIR; fi
if [ -d "$B/releases" ]; then for d in "$B/releases"/*; do [ -d "$d" ] && echo "TILL_DIR \${d##*/}"; done; fi
till_prefix TILL_LOG "$B/releases.log"
if [ -d "$B/lock" ]; then echo TILL_LOCK_HELD; till_prefix TILL_HOLDER "$B/lock/info"; fi
ld=; if [ -z "$cp" ]; then case $cl in "$N.till/releases/"*/*) ;; "$N.till/releases/"*) ld=\${cl#"$N.till/releases/"} ;; esac; fi
[ "$ld" != "$id" ] || ld=
shift 9
[ "\${1-}" = --server ] || { echo "TILL_ERROR rsync did not start this script as its server" >&2; exit 23; }
shift
if [ -n "$ld" ]; then exec rsync --server "--link-dest=../$ld" "$@" >&3 3>&-; fi
exec rsync --server "$@" >&3 3>&-
`),
      args: [...PREPARE_ARGS, ARG.contentHash],
      encode: (p) => [...prepareArgs(p), p.contentHash],
      ungated: 'it starts rsync --server itself, with arguments no gate has checked',
    },
  ],
  parse: parseDeployReport,
};

/** Releases the lock only if this run holds it (a later deploy's lock is not ours to remove). */
export const deployUnlock: Operation<{ path: string; run: string }, boolean> = {
  name: 'deploy-unlock',
  versions: [
    {
      name: 'deploy-unlock',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
if till_ours "$2"; then rm -rf "$B/lock"; echo TILL_UNLOCKED; fi
exit 0
`),
      args: [ARG.deployRoot, ARG.runId],
      encode: (p) => [p.path, p.run],
    },
  ],
  parse: (stdout) => parseMarkers(stdout).flags.has('UNLOCKED'),
};

export interface DiscardReport {
  /** `<id>.partial` was there and is gone. */
  discarded: boolean;
  /** Free space where releases go, in KiB (`df -Pk`), when df answered. */
  freeKb: number | null;
  /** The live release (P's symlink target's last segment), or null when P is no symlink. */
  current: string | null;
}

/**
 * After a transfer that ran out of space (ENOSPC, EDQUOT): removes the run's
 * `<id>.partial` release, only while this run holds the lock (a later deploy's staging
 * is not ours) and only a real directory (never through a symlink), so the space it took
 * is free again; then says how much is free where releases go, and what P points at.
 * Nothing live is touched: P still points at the release it pointed at.
 */
export const deployDiscard: Operation<{ path: string; id: string; run: string }, DiscardReport> = {
  name: 'deploy-discard',
  versions: [
    {
      name: 'deploy-discard',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
id=$2; run=$3
till_lockrun() { lr=; if [ -f "$B/lock/info" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in run=*) lr=\${l#run=} ;; esac; done < "$B/lock/info"; fi; }
till_ours() { till_lockrun; [ "$lr" = "$1" ]; }
R=$B/releases/$id.partial
if till_ours "$run" && [ -d "$R" ] && [ ! -L "$R" ]; then rm -rf "$R" && echo TILL_DISCARDED; fi
f=$(df -Pk "$B" 2>/dev/null | awk 'NR == 2 { print $4 }')
case $f in ''|*[!0-9]*) ;; *) echo "TILL_FREE_KB $f" ;; esac
if [ -L "$P" ]; then echo "TILL_CURRENT $(readlink "$P")"; fi
exit 0
`),
      args: [ARG.deployRoot, ARG.releaseId, ARG.runId],
      encode: (p) => [p.path, p.id, p.run],
    },
  ],
  parse: (stdout) => {
    const m = parseMarkers(stdout);
    const free = m.values.get('FREE_KB')?.[0];
    const link = m.values.get('CURRENT')?.[0];
    return {
      discarded: m.flags.has('DISCARDED'),
      freeKb: free !== undefined ? Number(free) : null,
      current: link !== undefined ? (link.split('/').pop() ?? null) : null,
    };
  },
};

export interface CompareParams {
  path: string;
  /** The new tree's content hash (the last 6 hex digits of the release id). */
  contentHash: string;
  shared: readonly string[];
  /** The installation a switch would register ('' none). */
  installation: string;
  /** The host's `.env.local` as a switch would write it: the text before and after TEKTON_ROOT's value (P). */
  envBefore: string;
  envAfter: string;
}

const COMPARE_ARGS = [
  ARG.deployRoot,
  ARG.contentHash,
  ARG.sharedPaths,
  ARG.installationOrEmpty,
  ARG.envFile,
  ARG.envFile,
] as const;

const compareArgs = (p: CompareParams) => [
  p.path,
  p.contentHash,
  p.shared.join(' '),
  p.installation,
  p.envBefore,
  p.envAfter,
];

/**
 * What an unchanged redeploy checks on a host before it compares the tree, reading only:
 * the host is not under a manual lock (TILL_HELD + TILL_HOLD lines) nor a deploy's lock
 * (TILL_LOCK_HELD + TILL_HOLDER lines); P is till's symlink to a real release made from
 * a tree of the same content hash ("$2"); that release's `.env.local` is byte for byte
 * the one a switch would write ("$5", P, "$6"); each shared path ("$3") is its link into
 * P.till/shared; the installation ("$4") is registered with the host's till as a switch
 * would leave it. Any of those not so: TILL_DIFFERS <why>. All so: TILL_SAME_SETUP, and
 * the live release's log lines (TILL_CURRENT, TILL_DIR, TILL_LOG) for its record.
 */
const COMPARE_CHECKS = `
h=$2; shared=$3; inst=$4
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
till_release() { [ -d "$B/releases/$1" ] && [ ! -L "$B/releases/$1" ]; }
echo "TILL_HOME_DIR $HOME"
if [ -d "$B/hold" ]; then echo TILL_HELD; till_prefix TILL_HOLD "$B/hold/info"; till_stop 24; fi
if [ -d "$B/lock" ]; then echo TILL_LOCK_HELD; till_prefix TILL_HOLDER "$B/lock/info"; echo "TILL_DIFFERS a deploy holds the lock"; till_stop 25; fi
[ -L "$P" ] || { echo "TILL_DIFFERS no release is live"; till_stop 25; }
l=$(readlink "$P"); c=\${l#"$N.till/releases/"}
echo "TILL_CURRENT $l"
case $c in */*|"$l") echo "TILL_DIFFERS the live release is not one of till's"; till_stop 25 ;; *"-$h") ;; *) echo "TILL_DIFFERS the live release was made from another tree"; till_stop 25 ;; esac
till_release "$c" || { echo "TILL_DIFFERS the live release is not a directory"; till_stop 25; }
R=$B/releases/$c
e=$5$P$6
if [ ! -f "$R/.env.local" ] || [ -L "$R/.env.local" ] || [ "$(cat "$R/.env.local"; echo x)" != "\${e}x" ]; then echo "TILL_DIFFERS .env.local differs"; till_stop 25; fi
set -f; for s in $shared; do
  if [ ! -L "$R/$s" ] || [ ! "$R/$s" -ef "$B/shared/$s" ]; then echo "TILL_DIFFERS shared path $s is not linked"; till_stop 25; fi
done; set +f
if [ -n "$inst" ] && [ -x "$HOME/.till/bin/till" ]; then
  mark="$inst $P"; old=; reg="$HOME/.till/installations.json"
  if [ -f "$B/registered" ]; then IFS= read -r old < "$B/registered" || true; fi
  if [ "$old" != "$mark" ] || [ ! -f "$reg" ] || [ "$reg" -nt "$B/registered" ]; then echo "TILL_DIFFERS installation $inst is not registered"; till_stop 25; fi
fi
echo "TILL_DIR $c"
till_prefix TILL_LOG "$B/releases.log"
echo TILL_SAME_SETUP`;

/**
 * `host deploy` of a tree whose content hash is the live release's: the checks above
 * (read-only; "differs" and "held" exit 0 with their markers). v2 (what this till
 * sends) then lists the live release as rsync would compare it with the source, and
 * prints the listing's sha256 (TILL_TREE <hex>): the release folder and every entry but
 * what a deploy never transfers (the seed's excludes, `.env.local`, the shared paths:
 * rsync's --delete leaves those too), sorted bytewise; a folder as its mode, a symlink
 * as its target, anything else as type, mode, size and mtime to the nanosecond (rsync's
 * quick check with --modify-window=-1). The client compares it with the same listing of
 * its source (`listSource`): equal, the host is left as it is; not equal, a normal
 * deploy. No GNU find or sha256sum on the host, or the user is root (rsync -a then also
 * keeps owners, which the listing leaves out): TILL_TREE_UNKNOWN, and the client compares
 * with a dry-run rsync instead (as always with v1: an older gate refuses v2, and the
 * client falls back to it).
 * Nothing is written on the host.
 */
export const deployCompare: Operation<CompareParams, DeployReport> = {
  name: 'deploy-compare',
  versions: [
    {
      name: 'deploy-compare-v2',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
till_stop() { exit 0; }${COMPARE_CHECKS}
[ "$(id -u)" != 0 ] && cd "$R" 2>/dev/null && find . -maxdepth 0 -printf '' 2>/dev/null && command -v sha256sum >/dev/null 2>&1 || { echo TILL_TREE_UNKNOWN; exit 0; }
set -f; set --
for s in $shared; do set -- "$@" -o -path "./$s"; done
set +f
t=$( { ${LISTING_FIND} 2>/dev/null || printf 'find failed\\0'; } | LC_ALL=C sort -z | sha256sum)
echo "TILL_TREE \${t%% *}"
exit 0
`),
      args: COMPARE_ARGS,
      encode: compareArgs,
    },
    {
      name: 'deploy-compare',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
till_stop() { exit 0; }${COMPARE_CHECKS}
exit 0
`),
      args: COMPARE_ARGS,
      encode: compareArgs,
    },
  ],
  parse: parseDeployReport,
};

/**
 * The same checks as rsync's `--rsync-path` on an unrestricted host, so an unchanged
 * redeploy costs one connection: the report goes to stderr (stdout is rsync's
 * protocol); a host that differs or is held stops there (`TILL_EXIT <code>`); else it
 * enters the live release and execs the host's rsync, only as a dry run (`-n` in the
 * client's option cluster, or it refuses), which compares the tree and writes nothing.
 */
export const deployCompareRsync: Operation<CompareParams, DeployReport> = {
  name: 'deploy-compare-rsync',
  versions: [
    {
      name: 'deploy-compare-rsync',
      form: 'script',
      text: frozen(`
exec 3>&1 1>&2
trap 'e=$?; [ "$e" = 0 ] || echo "TILL_EXIT $e"' EXIT
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
N=\${P##*/}
till_stop() { exit "$1"; }${COMPARE_CHECKS}
shift 6
[ "\${1-}" = --server ] || { echo "TILL_ERROR rsync did not start this script as its server" >&2; exit 23; }
case \${2-} in -*e.*) o=\${2%%e.*} ;; *) o=\${2-} ;; esac
case $o in --*) o= ;; esac
case $o in -*n*) ;; *) echo "TILL_ERROR not a dry run: the compare never writes" >&2; exit 23 ;; esac
cd "$R" || exit 25
exec rsync "$@" >&3 3>&-
`),
      args: COMPARE_ARGS,
      encode: compareArgs,
      ungated: 'it starts rsync --server itself, with arguments no gate has checked',
    },
  ],
  parse: parseDeployReport,
};
