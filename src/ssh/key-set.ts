import { readFileSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { pathExists } from '../core/fs.js';
import { SetupError } from '../core/errors.js';
import type { TillPaths } from '../core/paths.js';
import type { OtherKey } from './config.js';
import { keyComment } from './keys.js';
import { parsePublicKey, type PublicKeyLine } from './known-hosts.js';
import { runProcess } from './process.js';

/**
 * till's key files during a rotation. `till_federation_ed25519` is the current key;
 * `.new` is the next one while hosts are being moved to it; `.old` is the previous one
 * after the local switch, kept while any host is still on it. The order of the
 * renames lets `recoverKeyFiles` finish a switch that was interrupted at any point.
 */
export type KeySlot = 'current' | 'next' | 'old';

export interface TillKey {
  slot: KeySlot;
  file: string;
  pubFile: string;
  /** The public key line (`ssh-ed25519 AAAA… comment`). */
  line: string;
  key: PublicKeyLine;
}

export function keyFile(paths: TillPaths, slot: KeySlot): string {
  return slot === 'current' ? paths.privateKey : `${paths.privateKey}.${slot === 'next' ? 'new' : 'old'}`;
}

// The reads are synchronous (small local files): `host list` reads the key set, and an
// asynchronous first file operation costs a start node:fs/promises and libuv's threads.
async function readPub(pubFile: string): Promise<string | undefined> {
  try {
    return readFileSync(pubFile, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** One key of the set, or undefined when its private key or a valid public key is missing. */
export async function readTillKey(paths: TillPaths, slot: KeySlot): Promise<TillKey | undefined> {
  const file = keyFile(paths, slot);
  const pubFile = `${file}.pub`;
  if (!(await pathExists(file))) return undefined;
  const line = await readPub(pubFile);
  const key = line === undefined ? undefined : parsePublicKey(line);
  if (line === undefined || key === undefined) return undefined;
  return { slot, file, pubFile, line, key };
}

/** The keys other than the current one, for the hosts recorded on them (ssh/config). */
export async function otherTillKeys(paths: TillPaths): Promise<OtherKey[]> {
  const out: OtherKey[] = [];
  for (const slot of ['next', 'old'] as const) {
    const pubFile = `${keyFile(paths, slot)}.pub`;
    const line = await readPub(pubFile);
    const key = line === undefined ? undefined : parsePublicKey(line);
    if (key) out.push({ fingerprint: key.fingerprint, file: keyFile(paths, slot) });
  }
  return out;
}

/** When the current key file was made: its age is what `host list` shows. */
export async function currentKeyCreated(paths: TillPaths): Promise<Date | undefined> {
  try {
    return statSync(paths.privateKey).mtime;
  } catch {
    return undefined;
  }
}

async function derivePub(file: string): Promise<void> {
  const derived = await runProcess('ssh-keygen', ['-y', '-f', file]);
  if (derived.exitCode !== 0) throw new SetupError(`cannot read ${file}: ${derived.stderr.trim()}`);
  await writeFile(`${file}.pub`, derived.stdout, { mode: 0o644 });
}

/**
 * Finishes a local switch that was interrupted (see `switchToNextKey` for the order)
 * and re-derives any missing public key file from its private key.
 */
export async function recoverKeyFiles(paths: TillPaths): Promise<void> {
  const cur = keyFile(paths, 'current');
  const next = keyFile(paths, 'next');
  const old = keyFile(paths, 'old');
  if (!(await pathExists(cur)) && (await pathExists(next))) {
    // Interrupted between "current → old" and "next → current".
    if ((await pathExists(`${cur}.pub`)) && !(await pathExists(`${old}.pub`))) await rename(`${cur}.pub`, `${old}.pub`);
    await rename(next, cur);
  }
  if (!(await pathExists(next)) && (await pathExists(`${next}.pub`)) && !(await pathExists(`${cur}.pub`)))
    await rename(`${next}.pub`, `${cur}.pub`);
  for (const file of [cur, next, old]) {
    if ((await pathExists(file)) && !(await pathExists(`${file}.pub`))) await derivePub(file);
  }
}

/** Creates the next key pair beside the current one. */
export async function createNextKey(paths: TillPaths): Promise<TillKey> {
  const file = keyFile(paths, 'next');
  await rm(file, { force: true });
  await rm(`${file}.pub`, { force: true });
  const result = await runProcess('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', keyComment(), '-f', file]);
  if (result.exitCode !== 0)
    throw new SetupError(
      `ssh-keygen failed: ${result.stderr.trim() || result.spawnError || `exit ${result.exitCode}`}`,
    );
  const key = await readTillKey(paths, 'next');
  if (!key) throw new SetupError(`ssh-keygen did not write ${file}.pub`);
  return key;
}

/**
 * The local switch: current → old, then next → current, private key before public
 * key each time, so `recoverKeyFiles` can tell from the files where it stopped.
 */
export async function switchToNextKey(paths: TillPaths): Promise<void> {
  const cur = keyFile(paths, 'current');
  const next = keyFile(paths, 'next');
  const old = keyFile(paths, 'old');
  await rename(cur, old);
  await rename(`${cur}.pub`, `${old}.pub`);
  await rename(next, cur);
  await rename(`${next}.pub`, `${cur}.pub`);
}

export async function deleteOldKey(paths: TillPaths): Promise<void> {
  const old = keyFile(paths, 'old');
  await rm(old, { force: true });
  await rm(`${old}.pub`, { force: true });
}

export interface KeyInfo {
  fingerprint: string;
  /** ISO time the current key file was written (by init or rotate-key). */
  created: string;
  ageDays: number;
}

/** The current key's fingerprint and age, for `host list` (the seed asks for annual rotation). */
export async function currentKeyInfo(paths: TillPaths, now = Date.now()): Promise<KeyInfo | null> {
  const key = await readTillKey(paths, 'current');
  const created = await currentKeyCreated(paths);
  if (!key || !created) return null;
  return {
    fingerprint: key.key.fingerprint,
    created: created.toISOString(),
    ageDays: Math.floor((now - created.getTime()) / 86_400_000),
  };
}

/** Keys older than this are flagged in `host list`. */
export const KEY_ROTATE_AFTER_DAYS = 365;
