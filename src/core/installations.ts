import { readFile, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import * as z from 'zod';
import './state/zod.js';
import { registryNameOf, REGISTRY_KEY } from './dotenv.js';
import { UsageError } from './errors.js';
import type { TillPaths } from './paths.js';
import { JsonFileStore } from './state/store.js';
import { didYouMean } from './suggest.js';
import { NAME_RE, validateName } from './validate.js';

/**
 * The installations registry, `$TILL_HOME/installations.json`: the local directory
 * trees (Tekton checkouts) till deploys and syncs. Paths are stored absolute and kept
 * wherever they are (the original tool lost those outside ~/projects/github).
 * The remote till keeps the same file on its side.
 */
const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO-8601 time');

export const installationSchema = z.looseObject({
  path: z.string().refine((p) => p.startsWith('/') && !/[\n\r\0]/.test(p), 'not an absolute path'),
  added: isoTime,
});
export type Installation = z.output<typeof installationSchema>;

export const installationsFileSchema = z
  .looseObject({
    installations: z.record(z.string().regex(NAME_RE, 'not a valid name'), installationSchema),
    default: z.string().nullable().optional(),
  })
  .superRefine((file, ctx) => {
    if (file.default != null && !(file.default in file.installations)) {
      ctx.addIssue({
        code: 'custom',
        path: ['default'],
        message: `default ${file.default} is not a registered installation`,
      });
    }
  });
export type InstallationsFile = z.output<typeof installationsFileSchema>;

export function emptyInstallationsFile(): InstallationsFile {
  return { installations: {}, default: null };
}

export function installationsStore(paths: TillPaths) {
  return new JsonFileStore(paths.installationsFile, installationsFileSchema, emptyInstallationsFile);
}

export interface InstallationView {
  name: string;
  path: string;
  added: string;
  default: boolean;
}

export function listInstallations(file: InstallationsFile): InstallationView[] {
  return Object.keys(file.installations)
    .sort()
    .map((name) => ({
      name,
      path: file.installations[name]!.path,
      added: file.installations[name]!.added,
      default: file.default === name,
    }));
}

export { REGISTRY_KEY };

async function readEnvLocal(dir: string): Promise<string | undefined> {
  try {
    return await readFile(join(dir, '.env.local'), 'utf8');
  } catch {
    return undefined;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The name an installation gets without --name: its registry name, else its folder's name. */
export async function defaultInstallationName(dir: string): Promise<string> {
  const env = await readEnvLocal(dir);
  const fromEnv = env === undefined ? undefined : registryNameOf(env);
  const name = fromEnv ?? basename(dir);
  if (!NAME_RE.test(name)) {
    throw new UsageError(
      `cannot use ${JSON.stringify(name)} (${fromEnv ? `${REGISTRY_KEY} in ${join(dir, '.env.local')}` : 'the folder name'}) as an installation name`,
      'give one with --name <name> (letters, digits, . _ -)',
    );
  }
  return name;
}

export interface AddInstallationInput {
  path: string;
  name?: string;
  makeDefault?: boolean;
  /** Succeed without a change when this name is already registered at this path. */
  ifAbsent?: boolean;
  /**
   * Name no other installation's path or name in a refusal: a deploy's switch through a
   * restricted key's gate runs this and prints its words back to the key, which must not
   * learn the owner's other installations by guessing names.
   */
  discreet?: boolean;
}

/** Registers a directory; the first one registered becomes the default. */
export async function addInstallation(
  paths: TillPaths,
  input: AddInstallationInput,
  now = new Date(),
): Promise<InstallationView & { existed: boolean }> {
  const dir = resolve(input.path);
  if (/[\n\r\0]/.test(dir)) throw new UsageError('an installation path cannot contain a newline or NUL');
  if (!(await isDirectory(dir))) throw new UsageError(`not a directory: ${dir}`);
  const name = input.name !== undefined ? validateName(input.name, 'installation') : await defaultInstallationName(dir);
  if (input.ifAbsent) {
    // Read-only first: an installation already registered as asked is not rewritten.
    const current = await installationsStore(paths).read();
    const entry = Object.hasOwn(current.installations, name) ? current.installations[name]! : undefined;
    if (entry !== undefined && entry.path === dir)
      return { name, path: dir, added: entry.added, default: current.default === name, existed: true };
  }
  return installationsStore(paths).update((file) => {
    const same = Object.entries(file.installations).find(([, i]) => i.path === dir);
    // One sentence for both refusals: which of the two it was would say whether a name is taken.
    if (input.discreet && (name in file.installations || same))
      throw new UsageError(`cannot register ${dir} as ${name}: that name, or this path, is already registered`);
    if (name in file.installations)
      throw new UsageError(
        `installation ${name} already exists (${file.installations[name]!.path})`,
        `choose another name with --name, or: till installation remove ${name}`,
      );
    if (same) throw new UsageError(`${dir} is already registered as ${same[0]}`);
    file.installations[name] = { path: dir, added: now.toISOString() };
    if (input.makeDefault || file.default == null) file.default = name;
    return { name, path: dir, added: now.toISOString(), default: file.default === name, existed: false };
  });
}

/** "no such installation", with the nearest names as the hint. */
export function noSuchInstallation(
  file: { installations: Record<string, unknown> },
  name: string,
  fallback = 'see: till installation list',
): UsageError {
  return new UsageError(`no such installation: ${name}`, didYouMean(name, Object.keys(file.installations), fallback));
}

export async function removeInstallation(paths: TillPaths, name: string): Promise<Installation> {
  validateName(name, 'installation');
  return installationsStore(paths).update((file) => {
    const entry = file.installations[name];
    if (!entry) throw noSuchInstallation(file, name);
    delete file.installations[name];
    if (file.default === name) file.default = null;
    return entry;
  });
}

export async function setDefaultInstallation(paths: TillPaths, name: string): Promise<void> {
  validateName(name, 'installation');
  await installationsStore(paths).update((file) => {
    if (!(name in file.installations)) throw noSuchInstallation(file, name);
    file.default = name;
  });
}

export interface Discovered {
  name: string | null;
  registryName: string;
  path: string;
}

export const DISCOVER_DEPTH = 3;
const SKIP_DIRS = new Set(['node_modules', '__pycache__', '.git', '.venv', 'venv']);

export function defaultDiscoverRoot(): string {
  return join(homedir(), 'projects', 'github');
}

/**
 * Folders under `root` (at most `depth` levels down) whose `.env.local` names a
 * `TEKTON_REGISTRY_NAME`. A found installation is not searched further. `name` is
 * null when the registry name is not usable as a till name.
 */
export async function discoverInstallations(root: string, depth = DISCOVER_DEPTH): Promise<Discovered[]> {
  const found: Discovered[] = [];
  const walk = async (dir: string, level: number): Promise<void> => {
    const env = await readEnvLocal(dir);
    const registryName = env === undefined ? undefined : registryNameOf(env);
    if (registryName !== undefined) {
      found.push({ name: NAME_RE.test(registryName) ? registryName : null, registryName, path: dir });
      return;
    }
    if (level >= depth) return;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // unreadable: nothing to find there
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory() || e.name.startsWith('.') || SKIP_DIRS.has(e.name)) continue;
      await walk(join(dir, e.name), level + 1);
    }
  };
  const top = resolve(root);
  if (!(await isDirectory(top))) throw new UsageError(`not a directory: ${top}`, 'give another one with --root <dir>');
  await walk(top, 0);
  return found;
}
