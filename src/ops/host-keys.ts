import { readFile, rm } from 'node:fs/promises';
import { FailedError, UsageError } from '../core/errors.js';
import { writeFileAtomically } from '../core/fs.js';
import type { TillPaths } from '../core/paths.js';
import type { HostEntry } from '../core/state/hosts.js';
import { buildControlExitArgs } from '../ssh/args.js';
import { knownHostsName, parseKeyscan, type ScannedKey } from '../ssh/known-hosts.js';
import { runProcess } from '../ssh/process.js';

/**
 * Host keys in till's own known_hosts: forgetting a host's key on the operator's word,
 * and pinning one before the first contact (for operators who do not want trust on
 * first use).
 */
async function removeKnownHost(paths: TillPaths, entry: HostEntry): Promise<void> {
  const result = await runProcess('ssh-keygen', ['-R', knownHostsName(entry.host, entry.port), '-f', paths.knownHosts]);
  // ssh-keygen keeps a backup beside the file; till's known_hosts is regenerated knowledge, not worth one.
  await rm(`${paths.knownHosts}.old`, { force: true });
  if (result.exitCode !== 0 && !/not found/i.test(result.stderr)) {
    throw new FailedError(
      `ssh-keygen -R failed: ${result.stderr.trim() || result.spawnError || `exit ${result.exitCode}`}`,
    );
  }
}

async function knownHostsText(paths: TillPaths): Promise<string> {
  try {
    return await readFile(paths.knownHosts, 'utf8');
  } catch {
    return '';
  }
}

/** Lines of till's known_hosts that name this host (as ssh writes them: unhashed). */
export async function knownEntriesFor(paths: TillPaths, entry: HostEntry): Promise<string[]> {
  const name = knownHostsName(entry.host, entry.port);
  return (await knownHostsText(paths)).split('\n').filter((l) => {
    const fields = l.trim().split(/\s+/);
    const names = (fields[0]?.startsWith('@') ? fields[1] : fields[0])?.split(',') ?? [];
    return names.includes(name);
  });
}

/** `till host forget`: closes the host's master and removes its keys from till's known_hosts. */
export async function forgetHostKey(paths: TillPaths, name: string, entry: HostEntry): Promise<{ removed: number }> {
  const before = (await knownEntriesFor(paths, entry)).length;
  await runProcess('ssh', buildControlExitArgs(paths, name));
  if (before > 0) await removeKnownHost(paths, entry);
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
  await removeKnownHost(paths, entry);
  const text = await knownHostsText(paths);
  const sep = text === '' || text.endsWith('\n') ? '' : '\n';
  await writeFileAtomically(
    paths.knownHosts,
    `${text}${sep}${knownHostsName(entry.host, entry.port)} ${match.type} ${match.blob}\n`,
    { mode: 0o600 },
  );
  return { pinned: match, offered };
}
