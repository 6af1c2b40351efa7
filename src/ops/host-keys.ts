import { statSync } from 'node:fs';
import { open, readFile, truncate } from 'node:fs/promises';
import { writeFileAtomic } from '../core/fs.js';
import { asWriteError, FailedError, UsageError } from '../core/errors.js';
import type { TillPaths } from '../core/paths.js';
import type { HostEntry } from '../core/state/hosts.js';
import { withFileLock } from '../core/state/store.js';
import { buildControlExitArgs } from '../ssh/args.js';
import { knownHostsName, lineNamesHost, parseKeyscan, withoutHost, type ScannedKey } from '../ssh/known-hosts.js';
import { runProcess } from '../ssh/process.js';

/**
 * Host keys in till's own known_hosts: forgetting a host's key on the operator's word,
 * and pinning one before the first contact (for operators who do not want trust on
 * first use).
 */
async function knownHostsText(paths: TillPaths): Promise<string> {
  try {
    return await readFile(paths.knownHosts, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Rewrites till's known_hosts in one atomic write (temp file + rename): a write that
 * cannot complete (disk full) leaves it exactly as it was. Not `ssh-keygen -R`: on a full
 * disk it empties the file, says it updated it, and keeps the old text only in
 * `known_hosts.old`. Other tills' rewrites wait on its lock; ssh appends a key it learns
 * without any lock, so the file is read again just before the rename, and the change
 * made again on the new text when it moved (a rename over it would erase that key).
 */
async function rewriteKnownHosts(paths: TillPaths, change: (text: string) => string): Promise<void> {
  await withFileLock(paths.knownHosts, async () => {
    for (;;) {
      const text = await knownHostsText(paths);
      const renamed = await writeFileAtomic(paths.knownHosts, change(text), {
        mode: 0o600,
        beforeRename: async () => (await knownHostsText(paths)) === text,
      }).catch((err: unknown) => {
        throw asWriteError(paths.knownHosts, err);
      });
      if (renamed) return;
    }
  });
}

/** Lines of till's known_hosts that name this host (as ssh writes them: unhashed). */
export async function knownEntriesFor(paths: TillPaths, entry: HostEntry): Promise<string[]> {
  const name = knownHostsName(entry.host, entry.port);
  return (await knownHostsText(paths)).split('\n').filter((l) => lineNamesHost(l, name));
}

/** `till host forget`: closes the host's master and removes its keys from till's known_hosts. */
export async function forgetHostKey(paths: TillPaths, name: string, entry: HostEntry): Promise<{ removed: number }> {
  const before = (await knownEntriesFor(paths, entry)).length;
  await runProcess('ssh', buildControlExitArgs(paths, name));
  if (before > 0) await rewriteKnownHosts(paths, (text) => withoutHost(text, knownHostsName(entry.host, entry.port)));
  return { removed: before };
}

export interface TrustResult {
  pinned: ScannedKey;
  offered: ScannedKey[];
}

/**
 * `till host trust --fingerprint`: fetches the host's public keys with ssh-keyscan (a
 * contact that authenticates nothing and runs nothing), and writes the one whose
 * fingerprint matches to known_hosts, replacing the host's old entries. No match:
 * nothing is written, and the error lists what the host offered.
 */
export async function trustHostKey(
  paths: TillPaths,
  name: string,
  entry: HostEntry,
  fingerprint: string,
  timeoutSeconds = 5,
): Promise<TrustResult> {
  if (entry.jump !== undefined) {
    throw new UsageError(
      `host ${name} is reached through ${entry.jump}; ssh-keyscan cannot go through a jump host`,
      `pin it by hand: ssh -F ${paths.sshConfig} till-${entry.jump} ssh-keyscan -p ${entry.port} ${entry.host}, compare, then append to ${paths.knownHosts}`,
    );
  }
  const scan = await runProcess(
    'ssh-keyscan',
    ['-p', String(entry.port), '-T', String(timeoutSeconds), '--', entry.host],
    { timeoutMs: (timeoutSeconds + 10) * 1000 },
  );
  if (scan.spawnError !== undefined) throw new UsageError('ssh-keyscan is not installed', 'install the OpenSSH client');
  const offered = parseKeyscan(scan.stdout);
  if (offered.length === 0) {
    throw new FailedError(
      `could not fetch the host keys of ${name} (${knownHostsName(entry.host, entry.port)}): ${scan.stderr.trim().split('\n').pop() || 'no answer'}`,
    );
  }
  const match = offered.find((k) => k.fingerprint === fingerprint);
  if (!match) {
    throw new FailedError(
      `no host key of ${name} has fingerprint ${fingerprint}; the host offered:\n${offered.map((k) => `  ${k.type} ${k.fingerprint}`).join('\n')}\nnothing was written`,
    );
  }
  await runProcess('ssh', buildControlExitArgs(paths, name));
  // The host's old entries out and the pinned one in, in one write.
  const hostName = knownHostsName(entry.host, entry.port);
  await rewriteKnownHosts(paths, (text) => {
    const rest = withoutHost(text, hostName);
    const sep = rest === '' || rest.endsWith('\n') ? '' : '\n';
    return `${rest}${sep}${hostName} ${match.type} ${match.blob}\n`;
  });
  return { pinned: match, offered };
}

/** Where till's known_hosts ends before a run (0 when it does not exist). */
export async function knownHostsSize(paths: TillPaths): Promise<number> {
  // Synchronous: every fan-out asks this before its first ssh, and one stat is not worth
  // starting libuv's thread pool and loading node:fs/promises for (a start's cost).
  try {
    return statSync(paths.knownHosts).size;
  } catch {
    return 0;
  }
}

/** How long a line ssh appends may stay unfinished before it counts as a failed write (ssh writes one in µs). */
const UNFINISHED_APPEND_MS = 1_000;

/**
 * ssh appends a new host's key to known_hosts itself (accept-new). On a full disk that
 * append stops part-way and leaves a cut line (ssh goes on, and ignores the line later).
 * After a run, a line appended since `sizeBefore` that still has no newline a moment
 * later is cut off, so the file holds exactly what it did before the failed append.
 * Bytes from before the run are never touched. Returns whether it cut anything.
 */
export async function cutUnfinishedAppend(paths: TillPaths, sizeBefore: number): Promise<boolean> {
  const tail = async (): Promise<{ size: number; text: string } | undefined> => {
    const size = await knownHostsSize(paths);
    if (size <= sizeBefore) return undefined;
    const handle = await open(paths.knownHosts, 'r');
    try {
      const buf = Buffer.alloc(size - sizeBefore);
      const { bytesRead } = await handle.read(buf, 0, buf.length, sizeBefore);
      return { size, text: buf.subarray(0, bytesRead).toString('latin1') };
    } finally {
      await handle.close();
    }
  };
  const first = await tail().catch(() => undefined);
  if (!first || first.text.endsWith('\n')) return false;
  // Another till's ssh may be writing a line this very moment: give it time to end it.
  await new Promise((r) => setTimeout(r, UNFINISHED_APPEND_MS));
  const now = await tail().catch(() => undefined);
  if (!now || now.size !== first.size || now.text.endsWith('\n')) return false;
  const cutAt = sizeBefore + now.text.lastIndexOf('\n') + 1;
  await truncate(paths.knownHosts, cutAt);
  return true;
}
