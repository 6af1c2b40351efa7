import { ARG } from './args.js';
import { frozen, parseMarkers, type Operation } from './wire.js';

/**
 * The manual lock of `till host lock -m "why"` / `till host unlock`: a folder
 * `P.till/hold/` beside the deploy lock (`P.till/lock/`), with `hold/info`:
 *
 *   by=<user@machine>
 *   when=<ISO time>
 *   from=<the client address sshd saw (SSH_CONNECTION), written by the host>
 *   message=<why>
 *
 * While it exists, deploy-prepare-v4, deploy-switch-v5 and rollback-v4 refuse the host
 * (TILL_HELD, exit 24). `--force-unlock` breaks the deploy lock only, never this one.
 * "$1" is tekton_path as stored. Markers: TILL_HELD_NOW (locked by this call), TILL_HELD
 * (already locked: nothing changed), TILL_HOLD <info line>…, TILL_UNHELD (removed),
 * TILL_NOT_HELD (there was none).
 */

export interface HoldParams {
  path: string;
  by: string;
  when: string;
  message: string;
}

export interface HoldReport {
  /** This call placed the lock. */
  placed: boolean;
  /** This call removed a lock. */
  removed: boolean;
  /** The lock's info lines: the one in place (lock), or the one removed (unlock). */
  info: string[];
}

export function parseHoldReport(stdout: string): HoldReport {
  const m = parseMarkers(stdout);
  return {
    placed: m.flags.has('HELD_NOW'),
    removed: m.flags.has('UNHELD'),
    info: m.values.get('HOLD') ?? [],
  };
}

/** Places the manual lock unless one is there (then reports whose it is and changes nothing). */
export const hostLock: Operation<HoldParams, HoldReport> = {
  name: 'host-lock',
  versions: [
    {
      name: 'host-lock',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
by=$2; when=$3; msg=$4
umask 022
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
[ -d "$B" ] || mkdir -p "$B" || exit 20
if mkdir "$B/hold" 2>/dev/null; then
  from=\${SSH_CONNECTION:-}; from=\${from%% *}
  printf 'by=%s\\nwhen=%s\\nfrom=%s\\nmessage=%s\\n' "$by" "$when" "$from" "$msg" > "$B/hold/info" || { rm -rf "$B/hold"; exit 20; }
  echo TILL_HELD_NOW
else
  echo TILL_HELD
fi
till_prefix TILL_HOLD "$B/hold/info"
exit 0
`),
      args: [ARG.deployRoot, ARG.deployer, ARG.time, ARG.message],
      encode: (p) => [p.path, p.by, p.when, p.message],
    },
  ],
  parse: parseHoldReport,
};

/** Removes the manual lock, whoever placed it, and says whose it was. */
export const hostUnlock: Operation<{ path: string }, HoldReport> = {
  name: 'host-unlock',
  versions: [
    {
      name: 'host-unlock',
      form: 'script',
      text: frozen(`
set -u
case $1 in "~/"*) P=$HOME/\${1#"~/"} ;; *) P=$1 ;; esac
B=$P.till
till_prefix() { if [ -f "$2" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\\n' "$1" "$l"; done < "$2"; fi; }
if [ -d "$B/hold" ] || [ -L "$B/hold" ]; then
  echo TILL_UNHELD
  [ -L "$B/hold" ] || till_prefix TILL_HOLD "$B/hold/info"
  rm -rf "$B/hold" || exit 20
else
  echo TILL_NOT_HELD
fi
exit 0
`),
      args: [ARG.deployRoot],
      encode: (p) => [p.path],
    },
  ],
  parse: parseHoldReport,
};
