import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readlinkSync, statSync, type BigIntStats, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import { NAME_RE } from '../core/validate.js';
import { registryNameOf } from '../core/dotenv.js';
import { installationsStore, noSuchInstallation } from '../core/installations.js';
import type { TillPaths } from '../core/paths.js';
import { LISTING_FIND } from '../protocol/listing.js';
import { HOOK_NAMES } from '../protocol/hooks.js';
import { runProcess } from '../ssh/process.js';

/**
 * What to deploy: `--source <dir>`, or an installation from the local registry
 * (`till installation add`; the default one when neither is given).
 */
export interface DeploySource {
  dir: string;
  /** The installation name recorded on hosts and registered with the remote till. */
  name: string;
  envLocal?: string;
}

export async function resolveSource(
  paths: TillPaths,
  opts: { source?: string; installation?: string },
): Promise<DeploySource> {
  let dir: string;
  let name: string | undefined;
  if (opts.source !== undefined) {
    if (opts.installation !== undefined) throw new UsageError('give --source or --installation, not both');
    dir = resolve(opts.source);
  } else {
    const registry = await installationsStore(paths).read();
    if (opts.installation !== undefined) {
      const entry = Object.hasOwn(registry.installations, opts.installation)
        ? registry.installations[opts.installation]
        : undefined;
      if (!entry)
        throw noSuchInstallation(
          registry,
          opts.installation,
          'see: till installation list, or deploy a directory with --source <dir>',
        );
      dir = entry.path;
      name = opts.installation;
    } else {
      const fallback = registry.default ?? undefined;
      if (fallback === undefined) {
        throw new UsageError(
          'nothing to deploy: no --source and no default installation',
          'use --source <dir>, or: till installation add <path> --default',
        );
      }
      dir = registry.installations[fallback]!.path;
      name = fallback;
    }
  }
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new UsageError(`source ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new UsageError(`source ${dir} is not a directory`);
  let envLocal: string | undefined;
  try {
    envLocal = await readFile(join(dir, '.env.local'), 'utf8');
  } catch {
    envLocal = undefined;
  }
  if (name === undefined) {
    const fromEnv = registryNameOf(envLocal);
    const base = basename(dir)
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 63);
    name = fromEnv !== undefined && NAME_RE.test(fromEnv) ? fromEnv : base || 'installation';
  }
  return { dir, name, ...(envLocal !== undefined ? { envLocal } : {}) };
}

/** What a release record says of a source that is a git checkout. */
export interface GitRecord {
  commit: string;
  /** Uncommitted changes (tracked or untracked, not ignored) under the source folder. */
  dirty: boolean;
}

/**
 * The commit and dirtiness of a source inside a git checkout, or null when it is not in
 * one (or git is missing, or refuses the folder). git runs no hook or fsmonitor here,
 * takes no optional lock (status would otherwise refresh the index), and never prompts.
 */
export async function gitRecord(dir: string): Promise<GitRecord | null> {
  const env = { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', GIT_OPTIONAL_LOCKS: '0' };
  const git = (args: string[]) =>
    runProcess('git', ['-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null', '-C', dir, ...args], {
      env,
      timeoutMs: 30_000,
    });
  const head = await git(['rev-parse', '--verify', '--quiet', 'HEAD']);
  const commit = head.stdout.trim();
  if (head.exitCode !== 0 || !/^[0-9a-f]{7,64}$/.test(commit)) return null;
  const status = await git(['status', '--porcelain', '--untracked-files=normal', '--', '.']);
  if (status.exitCode !== 0) return null;
  return { commit, dirty: status.stdout.trim() !== '' };
}

/** Whether the source carries release hooks (`.till/hooks/<name>`, docs/deploy.md "Hooks"). */
export function hooksIn(dir: string): string[] {
  return HOOK_NAMES.filter((name) => {
    try {
      lstatSync(join(dir, '.till', 'hooks', name));
      return true;
    } catch {
      return false;
    }
  });
}

const SKIP_NAMES = new Set(['.git', '__pycache__', 'logs', 'tmp']);

/** Every entry of the tree as rsync will see it (what the seed's excludes and shared paths leave), in a fixed order. */
function walkTree(dir: string, shared: readonly string[], visit: (path: string, st: Stats) => void): void {
  const skipTop = new Set(shared.map((s) => s.split('/')[0]!));
  const walk = (rel: string): void => {
    const entries = readdirSync(join(dir, rel)).sort();
    for (const name of entries) {
      if (SKIP_NAMES.has(name) || name.endsWith('.pyc') || (rel === '' && (skipTop.has(name) || name === '.env.local')))
        continue;
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(dir, path));
      visit(path, st);
      if (st.isDirectory()) walk(path);
    }
  };
  walk('');
}

/** One record of the listing as GNU find prints it: a folder, a link, or anything else with its size and mtime. */
const LISTING_RECORD = /^(?:d [0-7]+ |l |[fpscbDU] [0-7]+ \d+ -?\d+\.\d{10} )/;

/**
 * The source's listing as deploy-compare-v2 lists a release on a host (`treeListing`
 * says what it holds): its sha256, hex. Listed by the controller's own GNU find with the
 * host's text (LISTING_FIND) where it has one, so the listing is the host's by construction; the
 * find runs beside till (the deploy starts its looks meanwhile) and till only sorts and
 * hashes what it prints, as the host's `sort -z | sha256sum` do. Where there is no GNU
 * find (BSD, busybox) or it fails, till walks the tree itself (`treeListing`). The first
 * 6 hex digits are also the release id's content hash: two deploys of the same tree, as
 * rsync sees it, share it.
 */
export async function listSource(dir: string, shared: readonly string[]): Promise<string> {
  const out: Buffer[] = [];
  // The host's own text, through sh; the shared paths' prunes go in as its arguments (a
  // shared path holds no glob character: sharedPathProblem).
  const prunes = shared.flatMap((s) => ['-o', '-path', `./${s}`]);
  const found = await runProcess('sh', ['-c', LISTING_FIND, 'sh', ...prunes], {
    cwd: dir,
    env: { ...process.env, LC_ALL: 'C' },
    onStdout: (chunk) => out.push(chunk),
  });
  if (found.exitCode === 0 && found.spawnError === undefined) {
    // latin1: one char per byte, so the sort below is bytewise (LC_ALL=C sort -z) and the hash sees the bytes find printed.
    const records = Buffer.concat(out).toString('latin1').split('\0');
    if (records.pop() === '' && /^d [0-7]+ $/.test(records[0] ?? '') && records.every((r) => LISTING_RECORD.test(r)))
      return createHash('sha256')
        .update(`${records.sort().join('\0')}\0`, 'latin1')
        .digest('hex');
  }
  return treeListing(dir, shared);
}

/**
 * The tree's listing as deploy-compare-v2 lists a release on a host (sha256, hex), walked
 * here: the folder itself (path "") and the entries rsync transfers with the deploy's
 * excludes (the seed's, `/.env.local`, each `/<shared>`; a folder named logs or tmp, not
 * a file), one record each, sorted bytewise: `d <mode> <path>`, `l <path>\n<target>`,
 * else `<type> <mode> <size> <mtime s.ns0> <path>` (GNU find's %y %m %s %T@ %P), each
 * ended by a NUL. A .tillignore adds rsync filter rules this does not read: the caller
 * then compares with rsync instead. Synchronous on purpose: thousands of lstat calls
 * through the thread pool cost far more than the calls themselves.
 */
export function treeListing(dir: string, shared: readonly string[]): string {
  const listTop = new Set(['.env.local', ...shared]);
  const records: Buffer[] = [];
  const mode = (st: BigIntStats) => (st.mode & 0o7777n).toString(8);
  // Paths are built by hand: path.join's normalising of ~2 per entry showed in a deploy's profile.
  const base = dir.endsWith('/') ? dir : `${dir}/`;
  // The folder itself through a link to it, as `rsync -a <source>/` (and find's `.`) see it.
  records.push(Buffer.from(`d ${mode(statSync(dir, { bigint: true }))} \0`));
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel === '' ? dir : base + rel).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (name === '.git' || name === '__pycache__' || name.endsWith('.pyc') || listTop.has(path)) continue;
      const st = lstatSync(base + path, { bigint: true });
      if (st.isDirectory()) {
        if (name === 'logs' || name === 'tmp') continue;
        records.push(Buffer.from(`d ${mode(st)} ${path}\0`));
        walk(path);
      } else if (st.isSymbolicLink()) records.push(Buffer.from(`l ${path}\n${readlinkSync(base + path)}\0`));
      else {
        const ns = st.mtimeNs;
        const frac = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0');
        const at = `${floorDiv(ns, 1_000_000_000n)}.${frac}0`;
        records.push(Buffer.from(`${typeLetter(st)} ${mode(st)} ${st.size} ${at} ${path}\0`));
      }
    }
  };
  walk('');
  records.sort(Buffer.compare);
  const listing = createHash('sha256');
  for (const r of records) listing.update(r);
  return listing.digest('hex');
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b < 0n ? q - 1n : q;
}

function typeLetter(st: BigIntStats): string {
  if (st.isFile()) return 'f';
  if (st.isFIFO()) return 'p';
  if (st.isSocket()) return 's';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  return 'U';
}

/** What a release of the tree takes on a host: its files and their bytes (a .tillignore aside). */
export function treeSize(dir: string, shared: readonly string[]): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  walkTree(dir, shared, (_path, st) => {
    if (!st.isFile()) return;
    files += 1;
    bytes += st.size;
  });
  return { files, bytes };
}
