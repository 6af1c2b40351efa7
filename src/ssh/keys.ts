import { chmod, readFile, writeFile } from 'node:fs/promises';
import { pathExists } from '../core/fs.js';
import { hostname, userInfo } from 'node:os';
import type { TillPaths } from '../core/paths.js';
import { SetupError } from '../core/errors.js';
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

/** Creates till's Ed25519 key pair unless it exists; never replaces a key. */
export async function ensureKeyPair(paths: TillPaths): Promise<{ created: boolean }> {
  if (await pathExists(paths.privateKey)) {
    await chmod(paths.privateKey, 0o600);
    if (!(await pathExists(paths.publicKey))) {
      const derived = await runProcess('ssh-keygen', ['-y', '-f', paths.privateKey]);
      if (derived.exitCode !== 0) throw new SetupError(`cannot read ${paths.privateKey}: ${derived.stderr.trim()}`);
      await writeFile(paths.publicKey, derived.stdout, { mode: 0o644 });
    }
    return { created: false };
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
