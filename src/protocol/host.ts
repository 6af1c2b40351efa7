import { ARG, VERSION_RE } from './args.js';
import { frozen, markerLine, type Operation } from './wire.js';

/**
 * The host's own till: `host test`'s echo, `host setup`'s check, copy and activation,
 * `host remove --clean-remote`, and the remote half of `till sync`. setup's scripts are
 * what an upgrade sends to the *old* gate: their texts never change.
 */

/**
 * A version as a host's till reports it (`till --version`), which the views show and
 * compare: digits first, then only what a version is spelled with, at most 64 characters
 * (anything else is recorded as no version: a host's text is shown, never obeyed).
 */
export const REPORTED_VERSION_RE = /^(?=.{5,64}$)\d+\.\d+\.\d+[0-9A-Za-z.+_-]*$/;

/** The remote till's launcher, relative to the remote home. */
export const REMOTE_TILL = '.till/bin/till';
export { VERSION_RE };

/** `~/.till/lib/till-<version>.mjs`, relative to the remote home: where setup copies the bundle. */
export function remoteBundlePath(version: string): string {
  return `.till/lib/till-${version}.mjs`;
}

// ---------------------------------------------------------------- test

export const TEST_MARKER = 'TILL_TEST_SUCCESS';

/** What test-v2 prints when the login shell that ran it is csh or tcsh, and no gate is in between. */
export const LOGIN_CSH_MARKER = 'TILL_LOGIN_CSH';

export interface TestReport {
  /** The marker was echoed: a shell ran the command. */
  ok: boolean;
  tillVersion: string | null;
  /** test-v2 said the login shell is csh or tcsh (run-script.ts's one-line form); always false from `test`, which cannot tell. */
  loginCsh: boolean;
}

/**
 * The seed's echo, and the remote till's version if it is installed: one round trip.
 *
 * test-v2 is the same as a script (`sh -c TEXT till`), so that the login shell passes
 * it to sh whatever that shell is: the `test` line is run by the login shell itself,
 * and csh or tcsh read its `2>/dev/null` as an argument `2` and stdout sent to
 * /dev/null, so the version never printed. It also says whether that shell is csh or
 * tcsh (sshd sets SHELL to it; not through a gate, which runs the text with sh), so that
 * a host's first multi-line script already goes in the form such a shell passes on.
 * An older gate does not know it and refuses it as an unknown script: then the line goes.
 */
export const test: Operation<void, TestReport> = {
  name: 'test',
  versions: [
    {
      name: 'test-v2',
      form: 'script',
      text: `echo TILL_TEST_SUCCESS; "$HOME"/.till/bin/till --version 2>/dev/null || true; case \${TILL_GATE-}:\${SHELL-} in :*csh) echo TILL_LOGIN_CSH ;; esac`,
      args: [],
      encode: () => [],
    },
    {
      name: 'test',
      form: 'line',
      text: `echo TILL_TEST_SUCCESS; "$HOME"/.till/bin/till --version 2>/dev/null || true`,
      args: [],
      encode: () => [],
    },
  ],
  parse(stdout) {
    const lines = stdout.split('\n').map((l) => l.trim());
    const at = markerLine(lines, TEST_MARKER);
    if (at === -1) return { ok: false, tillVersion: null, loginCsh: false };
    const after = lines.slice(at + 1);
    const version = after.find((l) => REPORTED_VERSION_RE.test(l));
    return { ok: true, tillVersion: version ?? null, loginCsh: after.includes(LOGIN_CSH_MARKER) };
  },
};

// ---------------------------------------------------------------- setup

const CHECK_MARKER = 'TILL_SETUP_CHECK';

/** Where node may live when a non-login shell's PATH does not have it (as the check script tries them). */
export const NODE_FALLBACKS = [
  '/usr/local/bin/node',
  '/opt/homebrew/bin/node',
  '/opt/local/bin/node',
  '$HOME/.volta/bin/node',
  '$HOME/.local/bin/node',
];

export interface HostCheck {
  rsync: string | null;
  node: string | null;
  nodeVersion: string | null;
  tillVersion: string | null;
}

/**
 * rsync and node (with their paths), node's version, and the installed till's version
 * if any, in one read-only round trip. Undefined: the check printed nothing.
 */
export const setupCheck: Operation<void, HostCheck | undefined> = {
  name: 'setup-check',
  versions: [
    {
      name: 'setup-check',
      form: 'script',
      text: frozen(`
r=$(command -v rsync 2>/dev/null) || r=
n=$(command -v node 2>/dev/null) || n=
if [ -z "$n" ]; then for c in /usr/local/bin/node /opt/homebrew/bin/node /opt/local/bin/node "$HOME"/.volta/bin/node "$HOME"/.local/bin/node; do if [ -x "$c" ]; then n=$c; break; fi; done; fi
v=; if [ -n "$n" ]; then v=$("$n" --version 2>/dev/null) || v=; fi
t=$("$HOME"/.till/bin/till --version 2>/dev/null) || t=
printf '%s\\nrsync=%s\\nnode=%s\\nnode_version=%s\\ntill_version=%s\\n' TILL_SETUP_CHECK "$r" "$n" "$v" "$t"
`),
      args: [],
      encode: () => [],
    },
  ],
  parse(stdout) {
    const lines = stdout.split('\n');
    const at = markerLine(lines, CHECK_MARKER);
    if (at === -1) return undefined;
    const values = new Map<string, string>();
    for (const line of lines.slice(at + 1)) {
      const eq = line.indexOf('=');
      if (eq === -1) continue;
      const key = line.slice(0, eq);
      if (!values.has(key)) values.set(key, line.slice(eq + 1).trim());
    }
    const get = (k: string) => {
      const v = values.get(k);
      return v === undefined || v === '' ? null : v;
    };
    return {
      rsync: get('rsync'),
      node: get('node'),
      nodeVersion: get('node_version'),
      tillVersion: get('till_version'),
    };
  },
};

/** Creates ~/.till/lib before the copy (rsync creates no parent folders, and a restricted key allows no --rsync-path). */
export const setupPrepare: Operation<void, void> = {
  name: 'setup-prepare',
  versions: [
    {
      name: 'setup-prepare',
      form: 'script',
      text: `mkdir -p "$HOME"/.till/lib`,
      args: [],
      encode: () => [],
      upgrade: true,
    },
  ],
  parse: () => undefined,
};

/**
 * Proves the copied file runs, then switches the launcher in one rename and asks it
 * for its version (the last line of output): what `host setup` answers with. v2 (what
 * this till sends) removes a launcher it could not write whole (a full disk) and says
 * "No space left on device" when df finds none free; the previous launcher stays.
 */
export const setupActivate: Operation<{ version: string; node: string }, string> = {
  name: 'setup-activate',
  versions: [
    {
      name: 'setup-activate-v2',
      form: 'script',
      text: frozen(`
set -e
cd "$HOME"
v=$1
node=$2
nl='
'
case $v in ''|[!0-9A-Za-z]*|*[!0-9A-Za-z.+_-]*) echo "invalid version $v" >&2; exit 2;; esac
case $node in /*) ;; *) echo "node path must be absolute: $node" >&2; exit 2;; esac
case $node in *"$nl"*) echo "node path contains a newline" >&2; exit 2;; esac
bundle=.till/lib/till-$v.mjs
if ! got=$("$node" "$bundle" --version 2>/dev/null); then
  out=$("$node" "$bundle" --version 2>&1) || true; why=$(printf '%s\\n' "$out" | grep -m 1 Error || printf '%s\\n' "$out" | tail -n 1)
  echo "the copied till does not start: $why" >&2; exit 3
fi
[ "$got" = "$v" ] || { echo "the copied till reports version $got, expected $v" >&2; exit 3; }
mkdir -p .till/bin
q=$(printf '%s\\n' "$node" | sed "s/'/'\\\\\\\\''/g")
if ! {
  printf '%s\\n' '#!/bin/sh' '# till launcher, written by \`till host setup\`. Versions live side by side in' '# ~/.till/lib; this file is replaced atomically (written as till.new, then renamed).'
  printf "node='%s'\\n" "$q"
  printf '%s\\n' '[ -x "$node" ] || node=node'
  printf 'exec "$node" "$HOME/.till/lib/till-%s.mjs" "$@"\\n' "$v"
} > .till/bin/till.new; then
  rm -f .till/bin/till.new
  f=$(df -Pk .till/bin 2>/dev/null | awk 'NR == 2 { print $4 }')
  if [ "$f" = 0 ]; then echo "cannot write the launcher .till/bin/till.new: No space left on device" >&2; else echo "cannot write the launcher .till/bin/till.new" >&2; fi
  exit 4
fi
chmod 755 .till/bin/till.new
mv -f .till/bin/till.new .till/bin/till
"$HOME"/.till/bin/till --version
`),
      args: [ARG.version, ARG.nodePath],
      encode: (p) => [p.version, p.node],
      upgrade: true,
    },
    {
      name: 'setup-activate',
      form: 'script',
      text: frozen(`
set -e
cd "$HOME"
v=$1
node=$2
nl='
'
case $v in ''|[!0-9A-Za-z]*|*[!0-9A-Za-z.+_-]*) echo "invalid version $v" >&2; exit 2;; esac
case $node in /*) ;; *) echo "node path must be absolute: $node" >&2; exit 2;; esac
case $node in *"$nl"*) echo "node path contains a newline" >&2; exit 2;; esac
bundle=.till/lib/till-$v.mjs
if ! got=$("$node" "$bundle" --version 2>/dev/null); then
  out=$("$node" "$bundle" --version 2>&1) || true; why=$(printf '%s\\n' "$out" | grep -m 1 Error || printf '%s\\n' "$out" | tail -n 1)
  echo "the copied till does not start: $why" >&2; exit 3
fi
[ "$got" = "$v" ] || { echo "the copied till reports version $got, expected $v" >&2; exit 3; }
mkdir -p .till/bin
q=$(printf '%s\\n' "$node" | sed "s/'/'\\\\\\\\''/g")
{
  printf '%s\\n' '#!/bin/sh' '# till launcher, written by \`till host setup\`. Versions live side by side in' '# ~/.till/lib; this file is replaced atomically (written as till.new, then renamed).'
  printf "node='%s'\\n" "$q"
  printf '%s\\n' '[ -x "$node" ] || node=node'
  printf 'exec "$node" "$HOME/.till/lib/till-%s.mjs" "$@"\\n' "$v"
} > .till/bin/till.new
chmod 755 .till/bin/till.new
mv -f .till/bin/till.new .till/bin/till
"$HOME"/.till/bin/till --version
`),
      args: [ARG.version, ARG.nodePath],
      encode: (p) => [p.version, p.node],
      upgrade: true,
    },
  ],
  parse: (stdout) => lastLine(stdout),
};

/** `host remove --clean-remote`: till's own folder on the host and nothing else (the gate goes with it). */
export const cleanRemote: Operation<void, void> = {
  name: 'clean-remote',
  versions: [{ name: 'clean-remote', form: 'line', text: `rm -rf -- "$HOME"/.till`, args: [], encode: () => [] }],
  parse: () => undefined,
};

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines[lines.length - 1] ?? '';
}

// ---------------------------------------------------------------- sync

export type LocalSyncStatus = 'updated' | 'up-to-date' | 'would-update' | 'skipped' | 'failed';

/** One installation's sync, as `till sync --json` reports it (the remote till's report uses the same shape). */
export interface LocalSyncResult {
  name: string;
  path: string;
  status: LocalSyncStatus;
  /** Why it was skipped or failed; a note for the others (e.g. local commits not pushed). */
  reason: string | null;
  branch: string | null;
  upstream: string | null;
  /** Commit before and after (after = before unless updated; the upstream commit in a dry run). */
  from: string | null;
  to: string | null;
  /** Upstream commits not in HEAD (known only after a fetch, or in a dry run when already fetched). */
  behind: number | null;
  durationMs: number;
}

export interface RemoteSyncReport {
  ok: boolean;
  local: LocalSyncResult[];
}

/** How many places a document could start at are tried before giving up (noise is short). */
const MAX_CANDIDATES = 20;

function asSyncReport(text: string): RemoteSyncReport | undefined {
  try {
    const doc = JSON.parse(text) as { ok?: unknown; local?: unknown };
    if (typeof doc !== 'object' || doc === null || typeof doc.ok !== 'boolean' || !Array.isArray(doc.local))
      return undefined;
    return { ok: doc.ok, local: doc.local as LocalSyncResult[] };
  } catch {
    return undefined;
  }
}

/**
 * The remote till's one JSON document; undefined when stdout holds none. A noisy login
 * shell may print before it, even without a newline (`welcome {`), or after it: the till
 * prints the document pretty, opening with `{` and a newline and closing with a line
 * that is exactly `}`, so each such `{` is tried up to the last such `}`.
 */
export function parseRemoteSync(stdout: string): RemoteSyncReport | undefined {
  const whole = asSyncReport(stdout);
  if (whole) return whole;
  const end = stdout.lastIndexOf('\n}');
  if (end === -1) return undefined;
  let tried = 0;
  for (
    let at = stdout.indexOf('{\n');
    at !== -1 && at < end && tried < MAX_CANDIDATES;
    at = stdout.indexOf('{\n', at + 1)
  ) {
    tried += 1;
    const found = asSyncReport(stdout.slice(at, end + 2));
    if (found) return found;
  }
  return undefined;
}

/** The remote side of a host sync. Always --local-only: a host never reaches on to hosts of its own (no transitive trust). */
export const sync: Operation<void, RemoteSyncReport | undefined> = {
  name: 'sync',
  versions: [
    {
      name: 'sync',
      form: 'line',
      text: `"$HOME"/.till/bin/till sync --local-only --json --trigger remote`,
      args: [],
      encode: () => [],
    },
  ],
  parse: parseRemoteSync,
};

/** The same, changing nothing on the host. */
export const syncDryRun: Operation<void, RemoteSyncReport | undefined> = {
  name: 'sync --dry-run',
  versions: [
    {
      name: 'sync --dry-run',
      form: 'line',
      text: `"$HOME"/.till/bin/till sync --local-only --json --dry-run --trigger remote`,
      args: [],
      encode: () => [],
    },
  ],
  parse: parseRemoteSync,
};
