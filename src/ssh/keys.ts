import { chmod, readFile, rename, rm, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../core/fs.js';
import { pathExists } from '../core/fs.js';
import { hostname, userInfo } from 'node:os';
import type { TillPaths } from '../core/paths.js';
import { asWriteError, DiskFullError, SetupError } from '../core/errors.js';
import { runProcess } from './process.js';

export function keyComment(): string {
  let user = 'user';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep the generic name
  }
  return `till-federation@${user}@${hostname()}`;
}

/**
 * The private key is gone while TILL_HOME is set up: hosts trust that key, so a new one
 * (what `host init` would make) locks till out of all of them; rotate-key needs the old
 * key to reach them too.
 */
export function missingKeyError(paths: TillPaths): SetupError {
  return new SetupError(
    `till's private key ${paths.privateKey} is missing: till cannot reach its hosts without it (they accept only that key)`,
    `restore that file from a backup (mode 0600); only if it is lost for good: till host init --new-key, then authorize the new key on every host again (till host rotate-key needs the old key)`,
  );
}

/**
 * Whether a key rotation interrupted between its renames (the private key moved to
 * `.old`, the next one still at `.new`) was finished here, leaving a private key in
 * place (recoverKeyFiles, as rotate-key does first). False when there is no `.new`.
 */
export async function finishedKeySwitch(paths: TillPaths): Promise<boolean> {
  if (!(await pathExists(`${paths.privateKey}.new`))) return false;
  // Loaded only here: key-set imports this file.
  const { recoverKeyFiles } = await import('./key-set.js');
  await recoverKeyFiles(paths);
  return pathExists(paths.privateKey);
}

/**
 * Creates till's Ed25519 key pair unless it exists; never replaces a key. A public key
 * left without its private key is refused unless `newKey` (it is then kept beside, as
 * `<pub>.lost-<time>`, the record of what hosts still accept).
 */
export async function ensureKeyPair(paths: TillPaths, opts: { newKey?: boolean } = {}): Promise<{ created: boolean }> {
  if (await pathExists(paths.privateKey)) {
    await chmod(paths.privateKey, 0o600);
    // Missing, or left empty by an ssh-keygen that ran out of disk: derive it again.
    const publicSize = (await stat(paths.publicKey).catch(() => undefined))?.size ?? 0;
    if (publicSize === 0) {
      const derived = await runProcess('ssh-keygen', ['-y', '-f', paths.privateKey]);
      if (derived.exitCode !== 0) throw new SetupError(`cannot read ${paths.privateKey}: ${derived.stderr.trim()}`);
      await writeFileAtomic(paths.publicKey, derived.stdout, { mode: 0o644 }).catch((err: unknown) => {
        throw asWriteError(paths.publicKey, err, '');
      });
    }
    return { created: false };
  }
  if (await finishedKeySwitch(paths)) return ensureKeyPair(paths);
  if (((await stat(paths.publicKey).catch(() => undefined))?.size ?? 0) > 0) {
    if (opts.newKey !== true) throw missingKeyError(paths);
    const kept = `${paths.publicKey}.lost-${new Date().toISOString().replace(/[:.]/g, '')}`;
    await rename(paths.publicKey, kept);
  }
  const result = await runProcess('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    keyComment(),
    '-f',
    paths.privateKey,
  ]);
  if (result.spawnError !== undefined)
    throw new SetupError(
      'ssh-keygen is not installed',
      'install the OpenSSH client (Debian: apt-get install openssh-client)',
    );
  if (result.exitCode !== 0) {
    // On a full disk ssh-keygen may have saved the private key and an empty public one: no half key pair stays.
    if (/No space left on device|Disk quota exceeded/i.test(result.stderr)) {
      await rm(paths.privateKey, { force: true });
      await rm(paths.publicKey, { force: true });
      throw new DiskFullError(paths.privateKey, '; no key was made');
    }
    // ssh-keygen refuses (silently, without a terminal) when the file appeared meanwhile: keep that key.
    if (await pathExists(paths.privateKey)) return ensureKeyPair(paths);
    throw new SetupError(`ssh-keygen failed: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
  }
  await chmod(paths.privateKey, 0o600);
  return { created: true };
}

export async function readPublicKey(paths: TillPaths): Promise<string> {
  try {
    return (await readFile(paths.publicKey, 'utf8')).trim();
  } catch {
    throw new SetupError(`till has no key yet (${paths.publicKey} is missing)`, 'run: till host init');
  }
}
