/** What a finished lab or demo may leave behind, read from /etc/passwd and /proc, for the clean-up tests. */
import { readdirSync, readFileSync } from 'node:fs';

export function userExists(name: string): boolean {
  return readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .some((l) => l.split(':')[0] === name);
}

/** Pids of processes whose command line mentions `text` (a lab folder: its sshd listeners). */
export function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(text)) out.push(Number(p));
    } catch {
      // ended while we looked
    }
  }
  return out;
}

/** Pids of processes running as `uid`. */
export function processesOfUid(uid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(readFileSync(`/proc/${p}/status`, 'utf8'))) out.push(Number(p));
    } catch {
      // ended while we looked
    }
  }
  return out;
}

/**
 * Is `pid` a live process? A zombie (exited, not yet reaped: its parent, or PID 1 for an
 * orphan, has not waited for it) or a process in its last exit step keeps its /proc
 * entry but runs nothing more: not live.
 */
export function isLive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X' && state !== 'x';
}
