import type { HostJob, JobOutcome } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { lifecycleOf, raiseTo, type HostEntry } from '../core/state/hosts.js';
import {
  NODE_FALLBACKS,
  remoteBundlePath,
  setupActivate,
  setupCheck,
  setupPrepare,
  VERSION_RE,
  type HostCheck,
} from '../protocol/host.js';
import { buildRsyncPushArgs } from '../rsync/args.js';
import { classifyRsync } from '../rsync/outcome.js';
import { remoteFailure } from '../ssh/outcome.js';
import { runProcess, type ProcessResult } from '../ssh/process.js';
import { saysDiskFull } from '../core/errors.js';
import { formatBytes } from '../core/units.js';
import { stat } from 'node:fs/promises';
import { runScript, scriptFailure, scriptOutcome } from '../ssh/run-script.js';

/**
 * `till host setup`: installs this till on a host as one self-contained file,
 * `~/.till/lib/till-<version>.mjs`, behind the launcher `~/.till/bin/till`.
 * Versions live side by side; the launcher is switched with one rename, and only
 * after the new file has answered `--version`, so a failed upgrade leaves the
 * previous version working. A host that already runs this version is left alone
 * (unless forced: rsync then copies the bundle only if its size or mtime differ).
 * The scripts it sends are src/protocol/host.ts's.
 */
export const MIN_NODE_MAJOR = 20;
export const NODE_HINT = 'https://nodejs.org or your package manager';
export { VERSION_RE };

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

export function setupJob(paths: TillPaths, opts: SetupOptions): HostJob<SetupData> {
  if (!VERSION_RE.test(opts.version)) throw new Error(`version ${JSON.stringify(opts.version)} cannot name a file`);
  const ssh = { connectTimeout: opts.connectTimeout, timeoutMs: opts.timeoutMs };
  return async ({ name, signal }): Promise<JobOutcome<SetupData>> => {
    const checked = await runScript(paths, name, setupCheck, undefined, { signal, ...ssh });
    if (checked.failure) return scriptOutcome(checked);
    const check = checked.value;
    const fail = (message: string) => scriptFailure<SetupData>(checked, remoteFailure(message));
    if (!check) return fail('connected, but the host check printed nothing (a noisy or restricted login shell?)');
    const problem = checkProblem(check);
    if (problem) return fail(problem);
    const node = check.node!;
    const base = {
      tillVersion: opts.version,
      previousVersion: check.tillVersion,
      node,
      nodeVersion: check.nodeVersion!,
    };
    if (check.tillVersion === opts.version && opts.force !== true)
      return scriptOutcome(checked, { ...base, changed: false });

    if ([...node].some((c) => c < ' ' || c === '\x7f') || !node.startsWith('/'))
      return fail(`the node found on the host has an unusable path: ${JSON.stringify(node)}`);
    // A full disk on the host: said as such, with what the bundle needs; the previous till was not touched.
    const still =
      check.tillVersion !== null
        ? `till ${check.tillVersion} is still installed there`
        : 'no till was installed there before';
    const diskFull = (r: ProcessResult, what: string): JobOutcome<SetupData> => ({
      ok: false,
      failure: remoteFailure(`disk full on ${name}: ${what}; ${still}`),
      exitCode: r.exitCode,
      stdout: r.stdout,
      stderr: r.stderr,
    });
    const needs = async () =>
      `till ${opts.version} needs ${formatBytes((await stat(opts.bundlePath)).size)} in ~/.till/lib`;
    const prepared = await runScript(paths, name, setupPrepare, undefined, { signal, ...ssh });
    if (prepared.failure && saysDiskFull(prepared.result.stderr)) return diskFull(prepared.result, await needs());
    if (prepared.failure) return scriptOutcome(prepared);
    const copy = await runProcess(
      'rsync',
      buildRsyncPushArgs(paths, name, [opts.bundlePath], remoteBundlePath(opts.version), {
        connectTimeout: opts.connectTimeout,
      }),
      { signal, timeoutMs: opts.timeoutMs },
    );
    const copyFailure = classifyRsync(copy);
    // rsync removes its temp file when a write fails: nothing of the new version is left.
    if (copyFailure && saysDiskFull(copy.stderr)) return diskFull(copy, await needs());
    if (copyFailure)
      return { ok: false, failure: copyFailure, exitCode: copy.exitCode, stdout: copy.stdout, stderr: copy.stderr };

    const activated = await runScript(paths, name, setupActivate, { version: opts.version, node }, { signal, ...ssh });
    if (activated.failure) {
      if (activated.failure.kind !== 'remote' || activated.refused !== undefined) return scriptOutcome(activated);
      if (saysDiskFull(activated.result.stderr))
        return diskFull(
          activated.result,
          `could not write the launcher for till ${opts.version}; the previous launcher was left in place`,
        );
      return scriptFailure(
        activated,
        remoteFailure(
          `could not switch to till ${opts.version}: ${activated.failure.message}; the previous launcher was left in place`,
        ),
      );
    }
    if (activated.value !== opts.version)
      return scriptFailure(
        activated,
        remoteFailure(
          `after setup ~/.till/bin/till --version prints ${JSON.stringify(activated.value)}, expected ${opts.version}`,
        ),
      );
    return scriptOutcome(activated, { ...base, changed: true });
  };
}

/** A host where setup succeeded (or found this version): till-ready, never lowering deployed. */
export function applySetup(entry: HostEntry, data: SetupData | undefined): void {
  if (!data) return;
  entry.status = raiseTo(lifecycleOf(entry), 'till-ready');
  entry.till_version = data.tillVersion;
}
