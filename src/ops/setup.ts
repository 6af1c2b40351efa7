import type { HostJob, JobOutcome } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { lifecycleOf, raiseTo, type HostEntry } from '../core/state/hosts.js';
import { buildRsyncPushArgs } from '../rsync/args.js';
import { classifyRsync } from '../rsync/outcome.js';
import { sshRun, toOutcome } from '../ssh/client.js';
import type { Failure } from '../ssh/outcome.js';
import { runProcess } from '../ssh/process.js';
import { markerLine, remoteScript } from '../remote/script.js';
import { shQuote } from '../ssh/quote.js';

/**
 * `till host setup`: installs this till on a host as one self-contained file,
 * `~/.till/lib/till-<version>.mjs`, behind the launcher `~/.till/bin/till`.
 * Versions live side by side; the launcher is switched with one rename, and only
 * after the new file has answered `--version`, so a failed upgrade leaves the
 * previous version working. A host that already runs this version is left alone
 * (unless forced: rsync then copies the bundle only if its size or mtime differ).
 */
export const MIN_NODE_MAJOR = 20;
export const NODE_HINT = 'https://nodejs.org or your package manager';
const CHECK_MARKER = 'TILL_SETUP_CHECK';

/** Where node may live when a non-login shell's PATH does not have it. */
export const NODE_FALLBACKS = [
  '/usr/local/bin/node',
  '/opt/homebrew/bin/node',
  '/opt/local/bin/node',
  '$HOME/.volta/bin/node',
  '$HOME/.local/bin/node',
];

/** Version strings become file names on the host: keep them plain. */
export const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;

export function remoteBundlePath(version: string): string {
  return `.till/lib/till-${version}.mjs`;
}

/**
 * One round trip: rsync and node (with their paths), node's version, and the
 * installed till's version if any. Read-only. Runs under `sh` whatever the login shell.
 */
export function buildCheckScript(): string {
  const fallbacks = NODE_FALLBACKS.map((p) =>
    p.startsWith('$HOME/') ? `"$HOME"/${shQuote(p.slice(6))}` : shQuote(p),
  ).join(' ');
  return [
    'r=$(command -v rsync 2>/dev/null) || r=',
    'n=$(command -v node 2>/dev/null) || n=',
    `if [ -z "$n" ]; then for c in ${fallbacks}; do if [ -x "$c" ]; then n=$c; break; fi; done; fi`,
    'v=; if [ -n "$n" ]; then v=$("$n" --version 2>/dev/null) || v=; fi',
    't=$("$HOME"/.till/bin/till --version 2>/dev/null) || t=',
    `printf '%s\\nrsync=%s\\nnode=%s\\nnode_version=%s\\ntill_version=%s\\n' ${CHECK_MARKER} "$r" "$n" "$v" "$t"`,
  ].join('\n');
}

export interface HostCheck {
  rsync: string | null;
  node: string | null;
  nodeVersion: string | null;
  tillVersion: string | null;
}

export function parseCheckOutput(stdout: string): HostCheck | undefined {
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
  return { rsync: get('rsync'), node: get('node'), nodeVersion: get('node_version'), tillVersion: get('till_version') };
}

/** What the host lacks, as one sentence naming what to install; undefined when it has it all. */
export function checkProblem(check: HostCheck): string | undefined {
  const problems: string[] = [];
  if (check.rsync === null) problems.push('rsync not found: install rsync (e.g. apt-get install rsync)');
  if (check.node === null) {
    problems.push(
      `Node.js not found (not on the PATH of a non-login shell, nor in ${NODE_FALLBACKS.join(', ')}): till needs Node.js ${MIN_NODE_MAJOR} or newer (${NODE_HINT})`,
    );
  } else {
    const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(check.nodeVersion ?? '');
    if (!m) {
      problems.push(
        `${check.node} does not report a Node.js version: till needs Node.js ${MIN_NODE_MAJOR} or newer (${NODE_HINT})`,
      );
    } else if (Number(m[1]) < MIN_NODE_MAJOR) {
      problems.push(
        `node ${m[1]}.${m[2]}.${m[3]} found at ${check.node}; till needs Node.js ${MIN_NODE_MAJOR} or newer (${NODE_HINT})`,
      );
    }
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/** The launcher's node line: always single-quoted, as the activate script writes it. */
function quoteAlways(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The launcher: a POSIX sh script. It runs the node that setup found (a
 * non-login shell's PATH may not have it, e.g. under nvm), falling back to PATH.
 * The activate script writes exactly this text on the host.
 */
export function renderLauncher(version: string, nodePath: string): string {
  return [
    '#!/bin/sh',
    '# till launcher, written by `till host setup`. Versions live side by side in',
    '# ~/.till/lib; this file is replaced atomically (written as till.new, then renamed).',
    `node=${quoteAlways(nodePath)}`,
    '[ -x "$node" ] || node=node',
    `exec "$node" "$HOME/${remoteBundlePath(version)}" "$@"`,
    '',
  ].join('\n');
}

/**
 * `host remove --clean-remote`: till's own folder on the host and nothing else. An exact
 * line (the gate of a restricted host allows it as `clean-remote`); the text is what
 * every till has sent, so it is frozen.
 */
export const CLEAN_REMOTE_COMMAND = 'rm -rf -- "$HOME"/.till';

/** Creates ~/.till/lib before the copy (rsync creates no parent folders, and a restricted key allows no --rsync-path). */
export const PREPARE_SCRIPT = 'mkdir -p "$HOME"/.till/lib';

/**
 * Proves the copied file runs, then switches the launcher in one rename and asks it
 * for its version (the last line of output). A constant text: $1 is the version,
 * $2 the absolute path of node (a restricted key's gate allows it byte for byte).
 * Frozen: an older gate must still accept it, or an upgrade of a restricted host
 * would be refused; a change must add a new script and keep this one allowed.
 */
export const ACTIVATE_SCRIPT = [
  'set -e',
  'cd "$HOME"',
  'v=$1',
  'node=$2',
  "nl='",
  "'",
  `case $v in ''|[!0-9A-Za-z]*|*[!0-9A-Za-z.+_-]*) echo "invalid version $v" >&2; exit 2;; esac`,
  `case $node in /*) ;; *) echo "node path must be absolute: $node" >&2; exit 2;; esac`,
  'case $node in *"$nl"*) echo "node path contains a newline" >&2; exit 2;; esac',
  'bundle=.till/lib/till-$v.mjs',
  // stderr stays out of the comparison (a node warning must not fail it); on failure it is the reason.
  'if ! got=$("$node" "$bundle" --version 2>/dev/null); then',
  `  out=$("$node" "$bundle" --version 2>&1) || true; why=$(printf '%s\\n' "$out" | grep -m 1 Error || printf '%s\\n' "$out" | tail -n 1)`,
  '  echo "the copied till does not start: $why" >&2; exit 3',
  'fi',
  '[ "$got" = "$v" ] || { echo "the copied till reports version $got, expected $v" >&2; exit 3; }',
  'mkdir -p .till/bin',
  `q=$(printf '%s\\n' "$node" | sed "s/'/'\\\\\\\\''/g")`,
  '{',
  `  printf '%s\\n' '#!/bin/sh' '# till launcher, written by \`till host setup\`. Versions live side by side in' '# ~/.till/lib; this file is replaced atomically (written as till.new, then renamed).'`,
  `  printf "node='%s'\\n" "$q"`,
  `  printf '%s\\n' '[ -x "$node" ] || node=node'`,
  `  printf 'exec "$node" "$HOME/.till/lib/till-%s.mjs" "$@"\\n' "$v"`,
  '} > .till/bin/till.new',
  'chmod 755 .till/bin/till.new',
  'mv -f .till/bin/till.new .till/bin/till',
  '"$HOME"/.till/bin/till --version',
].join('\n');

/** The check, as sent: constant. */
export const CHECK_SCRIPT = buildCheckScript();

export interface SetupData {
  /** False when the host already ran this version: nothing was copied or written. */
  changed: boolean;
  tillVersion: string;
  previousVersion: string | null;
  node: string;
  nodeVersion: string;
}

export interface SetupOptions {
  /** This till's version (`VERSION`). */
  version: string;
  /** The self-contained bundle of the running till, copied as is. */
  bundlePath: string;
  /** Install even when the host already runs this version (a rebuilt bundle of the same version). */
  force?: boolean;
  connectTimeout?: number;
  timeoutMs?: number;
}

function remoteFailure(message: string): Failure {
  return { kind: 'remote', connection: false, retryable: false, message };
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines[lines.length - 1] ?? '';
}

export function setupJob(paths: TillPaths, opts: SetupOptions): HostJob<SetupData> {
  if (!VERSION_RE.test(opts.version)) throw new Error(`version ${JSON.stringify(opts.version)} cannot name a file`);
  const ssh = { connectTimeout: opts.connectTimeout, timeoutMs: opts.timeoutMs };
  return async ({ name, signal }): Promise<JobOutcome<SetupData>> => {
    const checked = await sshRun(paths, name, remoteScript(CHECK_SCRIPT), { signal, ...ssh });
    const checkOutcome = toOutcome<SetupData>(checked);
    if (!checkOutcome.ok) return checkOutcome;
    const check = parseCheckOutput(checked.stdout);
    if (!check)
      return {
        ...checkOutcome,
        ok: false,
        failure: remoteFailure('connected, but the host check printed nothing (a noisy or restricted login shell?)'),
      };
    const problem = checkProblem(check);
    if (problem) return { ...checkOutcome, ok: false, failure: remoteFailure(problem) };
    const node = check.node!;
    const base = {
      tillVersion: opts.version,
      previousVersion: check.tillVersion,
      node,
      nodeVersion: check.nodeVersion!,
    };
    if (check.tillVersion === opts.version && opts.force !== true)
      return { ...checkOutcome, data: { ...base, changed: false } };

    if ([...node].some((c) => c < ' ' || c === '\x7f') || !node.startsWith('/'))
      return {
        ...checkOutcome,
        ok: false,
        failure: remoteFailure(`the node found on the host has an unusable path: ${JSON.stringify(node)}`),
      };
    const prepared = await sshRun(paths, name, remoteScript(PREPARE_SCRIPT), { signal, ...ssh });
    const preparedOutcome = toOutcome<SetupData>(prepared);
    if (!preparedOutcome.ok) return preparedOutcome;
    const copy = await runProcess(
      'rsync',
      buildRsyncPushArgs(paths, name, [opts.bundlePath], remoteBundlePath(opts.version), {
        connectTimeout: opts.connectTimeout,
      }),
      { signal, timeoutMs: opts.timeoutMs },
    );
    const copyFailure = classifyRsync(copy);
    if (copyFailure)
      return { ok: false, failure: copyFailure, exitCode: copy.exitCode, stdout: copy.stdout, stderr: copy.stderr };

    const activated = await sshRun(paths, name, remoteScript(ACTIVATE_SCRIPT, [opts.version, node]), {
      signal,
      ...ssh,
    });
    const outcome = toOutcome<SetupData>(activated);
    if (!outcome.ok) {
      if (outcome.failure?.kind !== 'remote') return outcome;
      const why = lastLine(activated.stderr);
      return {
        ...outcome,
        failure: remoteFailure(
          `could not switch to till ${opts.version}${why !== '' ? `: ${why}` : ''}; the previous launcher was left in place`,
        ),
      };
    }
    const answered = lastLine(activated.stdout);
    if (answered !== opts.version) {
      return {
        ...outcome,
        ok: false,
        failure: remoteFailure(
          `after setup ~/.till/bin/till --version prints ${JSON.stringify(answered)}, expected ${opts.version}`,
        ),
      };
    }
    return { ...outcome, data: { ...base, changed: true } };
  };
}

/** A host where setup succeeded (or found this version): till-ready, never lowering deployed. */
export function applySetup(entry: HostEntry, data: SetupData | undefined): void {
  if (!data) return;
  entry.status = raiseTo(lifecycleOf(entry), 'till-ready');
  entry.till_version = data.tillVersion;
}
