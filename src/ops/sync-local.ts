import { readFileSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import pLimit from 'p-limit';
import type { InstallationView } from '../core/installations.js';
import { parseGateFile } from '../protocol/args.js';
import type { LocalSyncResult, LocalSyncStatus } from '../protocol/host.js';
import { runProcess, type ProcessResult } from '../ssh/process.js';
import { plural } from '../core/format.js';

/**
 * `till sync`, step 1, on this machine (and, as `till sync --local-only`, on every
 * host): fast-forward every installation that is a git checkout, never forcing,
 * stashing or resetting. An installation that till deployed (a release under
 * `<tekton_path>.till/releases/`, or anything under a deploy root of this host's
 * gate.json) is content someone uploaded, not a checkout: git never runs there, so a
 * `.git/config` in an upload (core.fsmonitor, hooks…) can run nothing.
 */
export type { LocalSyncResult, LocalSyncStatus };

const GIT_TIMEOUT_MS = 120_000;

interface GitRun {
  (args: string[]): Promise<ProcessResult>;
}

/**
 * On a host (a sync its manager started), git also runs no hook and no fsmonitor of the
 * checkout: the host's till pulls for someone else.
 */
const HOST_GIT_CONFIG = ['-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null'];

function gitIn(dir: string, signal?: AbortSignal, onHost = false): GitRun {
  // No prompts (a fetch must never wait for a password); C locale for stable messages.
  // No optional locks: `git status` would otherwise refresh .git/index under index.lock,
  // a write that a dry run (which takes no run lock) must not make.
  const env = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C', GIT_OPTIONAL_LOCKS: '0' };
  const pre = onHost ? HOST_GIT_CONFIG : [];
  return (args) => runProcess('git', [...pre, '-C', dir, ...args], { env, signal, timeoutMs: GIT_TIMEOUT_MS });
}

/** The deploy roots of this host's gate.json (absolute), if it has one that parses. */
export function gateDeployRoots(tillHome: string, home: string): string[] {
  try {
    return parseGateFile(JSON.parse(readFileSync(join(tillHome, 'gate.json'), 'utf8')), home).deployRoots;
  } catch {
    return [];
  }
}

/**
 * Why git must not run in an installation (its path as registered and as resolved), or
 * undefined: a release till deployed, or anything under a deploy root, holds what an
 * upload put there, `.git/config` included.
 */
export function deployedReason(path: string, real: string, deployRoots: readonly string[]): string | undefined {
  if (/\/[^/]+\.till\/releases(\/|$)/.test(real) || /\/[^/]+\.till\/releases(\/|$)/.test(path))
    return 'a release deployed by till, not a checkout: never git-pulled';
  const under = (p: string, root: string) =>
    p === root || p.startsWith(`${root}${sep}`) || p.startsWith(`${root}.till${sep}`);
  if (deployRoots.some((r) => under(path, r) || under(real, r)))
    return 'under a deploy root of gate.json (uploaded content, not a checkout): never git-pulled';
  return undefined;
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  );
}

function gitError(what: string, r: ProcessResult): string {
  if (r.spawnError !== undefined) return `could not run git: ${r.spawnError}`;
  if (r.timedOut) return `${what} timed out`;
  const msg = firstLine(r.stderr.replace(/^(fatal|error): /gm, ''));
  return `${what} failed${msg !== '' ? `: ${msg}` : ` (exit ${r.exitCode})`}`;
}

/** Brings one installation up to date with its upstream, or says why not. */
export interface LocalSyncOptions {
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Deploy roots of this host's gate.json: nothing under them is git-pulled. */
  deployRoots?: readonly string[];
  /** A sync on a host, started by its manager: git runs no hook or fsmonitor there. */
  onHost?: boolean;
}

export async function syncInstallation(
  inst: Pick<InstallationView, 'name' | 'path'>,
  opts: LocalSyncOptions = {},
): Promise<LocalSyncResult> {
  const started = performance.now();
  const result: LocalSyncResult = {
    name: inst.name,
    path: inst.path,
    status: 'failed',
    reason: null,
    branch: null,
    upstream: null,
    from: null,
    to: null,
    behind: null,
    durationMs: 0,
  };
  const done = (status: LocalSyncStatus, reason: string | null = null): LocalSyncResult => {
    result.status = status;
    result.reason = reason;
    result.durationMs = Math.round(performance.now() - started);
    return result;
  };

  try {
    if (!(await stat(inst.path)).isDirectory()) return done('failed', `not a directory: ${inst.path}`);
  } catch {
    return done('failed', `directory not found: ${inst.path}`);
  }
  const deployed = deployedReason(inst.path, await realpath(inst.path).catch(() => inst.path), opts.deployRoots ?? []);
  if (deployed !== undefined) return done('skipped', deployed);
  const git = gitIn(inst.path, opts.signal, opts.onHost === true);

  const top = await git(['rev-parse', '--show-toplevel']);
  if (top.spawnError !== undefined) return done('failed', gitError('git', top));
  if (top.exitCode !== 0) return done('skipped', 'not a git checkout');
  const [real, topReal] = await Promise.all([
    realpath(inst.path),
    realpath(top.stdout.trim()).catch(() => top.stdout.trim()),
  ]);
  if (real !== topReal) return done('skipped', `not the top of a git checkout (inside ${topReal})`);

  const branch = await git(['symbolic-ref', '-q', '--short', 'HEAD']);
  if (branch.exitCode !== 0) return done('skipped', 'detached HEAD (not on a branch)');
  result.branch = branch.stdout.trim();

  const upstream = await git(['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{upstream}']);
  if (upstream.exitCode !== 0) return done('skipped', `branch ${result.branch} has no upstream`);
  result.upstream = upstream.stdout.trim();

  const head = await git(['rev-parse', 'HEAD']);
  if (head.exitCode !== 0) return done('failed', gitError('git rev-parse HEAD', head));
  result.from = head.stdout.trim();
  result.to = result.from;

  // Tracked changes only: untracked files (logs, caches) are common in an installation,
  // and one that a fast-forward would overwrite makes git refuse, which is reported.
  const status = await git(['status', '--porcelain', '--untracked-files=no']);
  if (status.exitCode !== 0) return done('failed', gitError('git status', status));
  const changed = status.stdout.split('\n').filter((l) => l.trim() !== '').length;
  if (changed > 0)
    return done('skipped', `uncommitted changes in ${plural(changed, 'file')} (commit or stash them yourself)`);

  if (opts.dryRun) return dryRunCompare(git, result, done);

  // `git pull --ff-only` in its two halves, so a diverged branch is told apart before anything changes.
  const fetch = await git(['fetch', '--quiet']);
  if (fetch.exitCode !== 0) return done('failed', gitError('git fetch', fetch));
  const counts = await git(['rev-list', '--left-right', '--count', 'HEAD...@{upstream}']);
  if (counts.exitCode !== 0) return done('failed', gitError('git rev-list', counts));
  const [ahead, behind] = counts.stdout.trim().split(/\s+/).map(Number) as [number, number];
  result.behind = behind;
  if (behind === 0) return done('up-to-date', ahead > 0 ? `${plural(ahead, 'local commit')} not pushed` : null);
  if (ahead > 0)
    return done(
      'skipped',
      `diverged from ${result.upstream} (${ahead} local, ${behind} upstream commits); merge or rebase it yourself`,
    );
  const merge = await git(['merge', '--ff-only', '--quiet', '@{upstream}']);
  if (merge.exitCode !== 0) return done('failed', gitError('git merge --ff-only', merge));
  const after = await git(['rev-parse', 'HEAD']);
  result.to = after.stdout.trim();
  return done('updated');
}

/**
 * Dry run: asks the upstream for its commit with `git ls-remote` (which changes no
 * ref, unlike `git fetch`) and compares it with HEAD.
 */
async function dryRunCompare(
  git: GitRun,
  result: LocalSyncResult,
  done: (s: LocalSyncStatus, reason?: string | null) => LocalSyncResult,
): Promise<LocalSyncResult> {
  const remote = (await git(['config', '--get', `branch.${result.branch}.remote`])).stdout.trim();
  const mergeRef = (await git(['config', '--get', `branch.${result.branch}.merge`])).stdout.trim();
  let upstreamSha: string;
  if (remote === '.' || remote === '') {
    const local = await git(['rev-parse', '@{upstream}']);
    if (local.exitCode !== 0) return done('failed', gitError('git rev-parse @{upstream}', local));
    upstreamSha = local.stdout.trim();
  } else {
    const ls = await git(['ls-remote', '--quiet', '--', remote, mergeRef]);
    if (ls.exitCode !== 0) return done('failed', gitError('git ls-remote', ls));
    const line = ls.stdout.split('\n').find((l) => l.endsWith(`\t${mergeRef}`));
    if (!line) return done('failed', `${mergeRef} not found on remote ${remote}`);
    upstreamSha = line.split('\t')[0]!;
  }
  result.to = upstreamSha;
  if (upstreamSha === result.from) return done('up-to-date');
  const known = await git(['cat-file', '-e', `${upstreamSha}^{commit}`]);
  if (known.exitCode !== 0)
    return done(
      'would-update',
      'upstream has commits not fetched yet (a real sync fetches them; it skips the checkout if they diverge)',
    );
  if ((await git(['merge-base', '--is-ancestor', 'HEAD', upstreamSha])).exitCode === 0) {
    const n = await git(['rev-list', '--count', `HEAD..${upstreamSha}`]);
    result.behind = Number(n.stdout.trim());
    return done('would-update');
  }
  if ((await git(['merge-base', '--is-ancestor', upstreamSha, 'HEAD'])).exitCode === 0) {
    result.to = result.from;
    return done('up-to-date', 'local commits not pushed');
  }
  return done('skipped', `diverged from ${result.upstream}; a sync would skip it`);
}

/** Every installation, a few at a time (each is a git fetch), in registry order. */
export async function syncInstallations(
  list: ReadonlyArray<Pick<InstallationView, 'name' | 'path'>>,
  opts: LocalSyncOptions & { parallel?: number } = {},
): Promise<LocalSyncResult[]> {
  const limit = pLimit(Math.max(1, opts.parallel ?? 4));
  return Promise.all(list.map((inst) => limit(() => syncInstallation(inst, opts))));
}

/** Only a failure fails a run; skipped checkouts are reported, not failed. */
export function localFailed(results: readonly LocalSyncResult[]): LocalSyncResult[] {
  return results.filter((r) => r.status === 'failed');
}
