import { mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/fs.js';
import type { TillPaths } from '../core/paths.js';

/**
 * The hosts whose login shell turned out to be csh or tcsh (sendScriptLine in
 * run-script.ts), or said so by host test's test-v2: state/csh-hosts, one alias per
 * line. Kept across runs, so that a host's first multi-line script in a later run goes
 * in the one-line form at once: the plain form makes such a shell run lines of the text
 * itself (measured: a stray file named `2` in the home, `~/.till/bin` made, a
 * `TILL_DONE` on stdout, the marker of a rollback that ran, when none did) before till
 * knows to send it again. Read once per process; written only when it changes. A lost
 * write (two tills at once) only costs that host one plain try more; a wrong entry only
 * sends the one-line form, which every POSIX sh runs and a gate refuses (then the plain
 * line goes, and the entry is dropped).
 */
const loaded = new Map<string, Set<string>>();

function fileOf(paths: TillPaths): string {
  return join(paths.stateDir, 'csh-hosts');
}

function setOf(paths: TillPaths): Set<string> {
  const file = fileOf(paths);
  let hosts = loaded.get(file);
  if (hosts === undefined) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // none yet (or unreadable: then every host gets its plain try first, as before)
    }
    hosts = new Set(text.split('\n').filter((l) => l !== ''));
    loaded.set(file, hosts);
  }
  return hosts;
}

export function isCshHost(paths: TillPaths, host: string): boolean {
  return setOf(paths).has(host);
}

/** The last write of each file in this process: writes go one after the other, each with the set as it is then. */
const writing = new Map<string, Promise<void>>();

async function save(paths: TillPaths, hosts: Set<string>): Promise<void> {
  try {
    await mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(fileOf(paths), [...hosts].map((h) => `${h}\n`).join(''), { mode: 0o600, fsync: false });
  } catch {
    // not kept: the next run tries the plain line first, as before
  }
}

/**
 * Adds or drops a host; best effort (the set in this process changes either way). Many
 * hosts of one fan-out (`host test --all`) may change it at once: the writes are chained,
 * so that an earlier, smaller set never lands after a later one.
 */
export async function markCshHost(paths: TillPaths, host: string, csh: boolean): Promise<void> {
  const hosts = setOf(paths);
  if (hosts.has(host) === csh) return;
  if (csh) hosts.add(host);
  else hosts.delete(host);
  const file = fileOf(paths);
  const next = (writing.get(file) ?? Promise.resolve()).then(() => save(paths, hosts));
  writing.set(file, next);
  await next;
}
