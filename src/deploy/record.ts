import { hostname, userInfo } from 'node:os';
import type { HostEntry } from '../core/state/hosts.js';
import { MAX_DEPLOYER } from '../protocol/args.js';
import { flat, type HoldInfo } from './layout.js';

/**
 * Who did what, as till records it: the controller's `user@machine` (deployer, lock
 * holder), and the manual lock a host showed, as a host entry keeps it.
 */

/** `user@machine`: who holds a lock, deploys, rolls back. One line, at most MAX_DEPLOYER characters. */
export function lockOwner(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry
  }
  return flat(`${user}@${hostname()}`).slice(0, MAX_DEPLOYER);
}

/** Host text kept in the database: bounded, like everything a host says. */
export function boundedHold(hold: Partial<HoldInfo>): Partial<HoldInfo> {
  const out: Partial<HoldInfo> = {};
  for (const k of ['by', 'when', 'from', 'message'] as const)
    if (hold[k] !== undefined) out[k] = hold[k].slice(0, 1024);
  return out;
}

/** The entry's record of a manual lock: the one seen on the host, or none. */
export function recordHold(entry: HostEntry, hold: Partial<HoldInfo> | null, now = new Date()): void {
  if (hold === null) delete entry.manual_lock;
  else entry.manual_lock = { ...boundedHold(hold), seen: now.toISOString() };
}
